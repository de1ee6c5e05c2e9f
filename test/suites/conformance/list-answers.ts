// Lists of leases by field selector, as a client reads one lease and the
// resourceVersion to start a watch from.

import assert from 'node:assert/strict';
import { it } from 'node:test';

import { uniqueLeaseName } from '../lease-server.js';
import { assertStatus, DECIMAL, failureStatus, type Conformance, type LeaseJson } from './context.js';

interface LeaseListJson {
  kind: string;
  apiVersion: string;
  metadata: { resourceVersion?: string };
  items: Record<string, unknown>[];
}

export function listAnswers(suite: () => Conformance): void {
  it('a list by metadata.name is a LeaseList with a resourceVersion and the lease without kind and apiVersion', async () => {
    const c = suite();
    const name = uniqueLeaseName('listed');
    const lease = await c.create(name, { holderIdentity: 'a' });
    await c.create(uniqueLeaseName('not-listed'));
    const answer = await c.request('GET', c.path(undefined, { fieldSelector: `metadata.name=${name}` }));
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.headers['content-type'], 'application/json');
    const list = answer.json<LeaseListJson>();
    assert.deepEqual(Object.keys(list), ['kind', 'apiVersion', 'metadata', 'items']);
    assert.equal(list.kind, 'LeaseList');
    assert.equal(list.apiVersion, 'coordination.k8s.io/v1');
    assert.deepEqual(Object.keys(list.metadata), ['resourceVersion']);
    assert.match(list.metadata.resourceVersion ?? '', DECIMAL);
    assert.ok(BigInt(list.metadata.resourceVersion ?? '0') >= BigInt(lease.metadata.resourceVersion));
    // Items of a built-in list carry no kind and apiVersion.
    assert.deepEqual(list.items, [{ metadata: lease.metadata, spec: lease.spec }]);
  });

  it('a list of a name that does not exist is empty and still has a resourceVersion', async () => {
    const c = suite();
    const answer = await c.request('GET', c.path(undefined, { fieldSelector: `metadata.name=${uniqueLeaseName('absent')}` }));
    assert.equal(answer.status, 200, answer.text);
    const list = answer.json<LeaseListJson>();
    assert.deepEqual(list.items, []);
    assert.match(list.metadata.resourceVersion ?? '', DECIMAL);
  });

  it('the list resourceVersion is "now": later writes have greater ones', async () => {
    const c = suite();
    const name = uniqueLeaseName('list-now');
    await c.create(name);
    const listed = BigInt(await c.listResourceVersion(name));
    const updated = await c.put(name, { resourceVersion: (await c.read(name)).metadata.resourceVersion }, { holderIdentity: 'b' });
    assert.ok(BigInt(updated.json<LeaseJson>().metadata.resourceVersion) > listed);
  });

  it('a list at a resourceVersion the server has not reached waits, then answers 504 with Retry-After', async () => {
    const c = suite();
    const name = uniqueLeaseName('list-future');
    const now = BigInt(await c.listResourceVersion(name));
    const future = String(now + 1_000_000n);
    const answer = await c.request('GET', c.path(undefined, { fieldSelector: `metadata.name=${name}`, resourceVersion: future }));
    const message = String(answer.json()['message']);
    const current = /^Timeout: Too large resource version: (\d+), current: (\d+)$/.exec(message);
    assert.ok(current, message);
    assert.equal(current[1], future);
    assert.ok(BigInt(current[2] ?? '0') >= now);
    assertStatus(
      answer,
      failureStatus(504, 'Timeout', message, {
        causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
        retryAfterSeconds: 1,
      }),
    );
    assert.equal(answer.headers['retry-after'], '1');
  });

  it('unreadable selectors and resourceVersions answer 400', async () => {
    const c = suite();
    assertStatus(
      await c.request('GET', c.path(undefined, { fieldSelector: 'spec.holderIdentity=a' })),
      failureStatus(400, 'BadRequest', '"spec.holderIdentity" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    );
    assertStatus(
      await c.request('GET', c.path(undefined, { fieldSelector: 'metadata.name' })),
      failureStatus(400, 'BadRequest', "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
    );
    assertStatus(
      await c.request('GET', c.path(undefined, { fieldSelector: 'metadata.name=a', resourceVersion: 'abc' })),
      failureStatus(400, 'BadRequest', 'invalid resource version: resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax'),
    );
  });
}
