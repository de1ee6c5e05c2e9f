// PATCH of a lease (JSON merge, strategic merge, JSON patch): the answers a
// client sees when a patch cannot be applied.

import assert from 'node:assert/strict';
import { it } from 'node:test';

import { uniqueLeaseName } from '../lease-server.js';
import { assertStatus, failureStatus, leaseDetails, type Conformance, type LeaseJson } from './context.js';

const MERGE = 'application/merge-patch+json';
const STRATEGIC = 'application/strategic-merge-patch+json';
const JSON_PATCH = 'application/json-patch+json';

export function patchAnswers(suite: () => Conformance): void {
  it('a patch of a missing lease answers 404; one with a stale resourceVersion 409', async () => {
    const c = suite();
    const missing = uniqueLeaseName('patch-missing');
    assertStatus(
      await c.request('PATCH', c.path(missing), { contentType: MERGE, body: { spec: { holderIdentity: 'x' } } }),
      failureStatus(404, 'NotFound', `leases.coordination.k8s.io "${missing}" not found`, leaseDetails(missing)),
    );
    const name = uniqueLeaseName('patch-stale');
    await c.create(name);
    assertStatus(
      await c.request('PATCH', c.path(name), { contentType: MERGE, body: { metadata: { resourceVersion: '1' }, spec: { holderIdentity: 'x' } } }),
      failureStatus(
        409,
        'Conflict',
        `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        leaseDetails(name),
      ),
    );
  });

  it('a patch that is not JSON answers 400 "invalid JSON patch", before the lease is looked up', async () => {
    const c = suite();
    const name = uniqueLeaseName('patch-syntax');
    await c.create(name);
    for (const contentType of [MERGE, STRATEGIC, JSON_PATCH]) {
      for (const target of [name, uniqueLeaseName('patch-syntax-missing')]) {
        assertStatus(await c.request('PATCH', c.path(target), { contentType, body: '{"spec":' }), failureStatus(400, 'BadRequest', 'invalid JSON patch'));
      }
    }
    assertStatus(await c.request('PATCH', c.path(name), { contentType: MERGE, body: '' }), failureStatus(400, 'BadRequest', 'invalid JSON patch'));
  });

  it('a patch of the wrong JSON type answers 400 naming the Go type', async () => {
    const c = suite();
    const name = uniqueLeaseName('patch-type');
    await c.create(name);
    assertStatus(
      await c.request('PATCH', c.path(name), { contentType: MERGE, body: [1] }),
      failureStatus(400, 'BadRequest', 'error decoding patch: json: cannot unmarshal array into Go value of type map[string]interface {}'),
    );
    assertStatus(
      await c.request('PATCH', c.path(name), { contentType: JSON_PATCH, body: {} }),
      failureStatus(400, 'BadRequest', 'error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp'),
    );
  });

  it('a JSON patch operation that does not apply answers 422 with empty details', async () => {
    const c = suite();
    const name = uniqueLeaseName('patch-test');
    await c.create(name, { holderIdentity: 'a' });
    const rejected = failureStatus(422, 'Invalid', 'the server rejected our request due to an error in our request', {});
    assertStatus(await c.request('PATCH', c.path(name), { contentType: JSON_PATCH, body: [{ op: 'test', path: '/spec/holderIdentity', value: 'b' }] }), rejected);
    assertStatus(await c.request('PATCH', c.path(name), { contentType: JSON_PATCH, body: [{ op: 'remove', path: '/spec/leaseTransitions' }] }), rejected);
    assertStatus(await c.request('PATCH', c.path(name), { contentType: JSON_PATCH, body: [{ op: 'replace', path: '/metadata/labels/x', value: 'y' }] }), rejected);
  });

  it('a patch that leaves a bad MicroTime answers 422 against "patch", quoting the patched object as the patch library wrote it', async () => {
    const c = suite();
    const name = uniqueLeaseName('patch-micro');
    await c.create(name, { holderIdentity: 'a', leaseDurationSeconds: 15, leaseTransitions: 1 });
    const stored = await c.read(name);
    const time = '2024-01-02T03:04:05.123Z';
    // Objects the patch reached into (the root, spec) are written back with sorted
    // keys; metadata is copied as stored.
    const patched =
      `{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":${JSON.stringify(stored.metadata)},` +
      `"spec":{"acquireTime":"${time}","holderIdentity":"a","leaseDurationSeconds":15,"leaseTransitions":1}}`;
    const cause = `Invalid value: ${JSON.stringify(patched)}: parsing time "${time}" as "2006-01-02T15:04:05.000000Z07:00": cannot parse ".123Z" as ".000000"`;
    const expected = failureStatus(422, 'Invalid', ` "" is invalid: patch: ${cause}`, { causes: [{ reason: 'FieldValueInvalid', message: cause, field: 'patch' }] });
    assertStatus(await c.request('PATCH', c.path(name), { contentType: MERGE, body: { spec: { acquireTime: time } } }), expected);
    assertStatus(await c.request('PATCH', c.path(name), { contentType: JSON_PATCH, body: [{ op: 'add', path: '/spec/acquireTime', value: time }] }), expected);
  });

  it('a JSON patch may replace a field the object does not have yet; merge patches merge', async () => {
    const c = suite();
    const name = uniqueLeaseName('patch-apply');
    await c.create(name, { holderIdentity: 'a' });
    const replaced = await c.request('PATCH', c.path(name), { contentType: JSON_PATCH, body: [{ op: 'replace', path: '/spec/leaseDurationSeconds', value: 10 }] });
    assert.equal(replaced.status, 200, replaced.text);
    assert.deepEqual(replaced.json<LeaseJson>().spec, { holderIdentity: 'a', leaseDurationSeconds: 10 });
    const merged = await c.request('PATCH', c.path(name), { contentType: MERGE, body: { spec: { holderIdentity: null, leaseTransitions: 2 } } });
    assert.equal(merged.status, 200, merged.text);
    assert.deepEqual(merged.json<LeaseJson>().spec, { leaseDurationSeconds: 10, leaseTransitions: 2 });
    const invalid = await c.request('PATCH', c.path(name), { contentType: STRATEGIC, body: { spec: { leaseDurationSeconds: 0 } } });
    assert.equal(invalid.status, 422, invalid.text);
    assert.equal(invalid.json()['message'], `Lease.coordination.k8s.io "${name}" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0`);
  });
}
