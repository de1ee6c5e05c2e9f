// What a stored lease looks like and how writes change it: system fields,
// field order, resourceVersion, create-on-PUT, the coordinated-election fields.

import assert from 'node:assert/strict';
import { it } from 'node:test';

import { uniqueLeaseName } from '../lease-server.js';
import { assertStatus, DECIMAL, failureStatus, leaseDetails, SECONDS_TIME, UUID, type Conformance, type LeaseJson, type ManagedFieldsJson } from './context.js';
import { FIELD_MANAGER } from './raw-http.js';

export function objectShape(suite: () => Conformance): void {
  it('a created lease carries the system fields, in the order a Go server writes them', async () => {
    const c = suite();
    const name = uniqueLeaseName('shape');
    const spec = { holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: '2024-01-02T03:04:05.000001Z', renewTime: '2024-01-02T03:04:06.000002Z', leaseTransitions: 0 };
    const answer = await c.request('POST', c.path(), { body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, labels: { app: 'x' } }, spec } });
    assert.equal(answer.status, 201, answer.text);
    assert.equal(answer.headers['content-type'], 'application/json');
    const lease = answer.json<LeaseJson>();
    assert.deepEqual(Object.keys(lease), ['kind', 'apiVersion', 'metadata', 'spec']);
    assert.equal(lease.kind, 'Lease');
    assert.equal(lease.apiVersion, 'coordination.k8s.io/v1');
    const meta = lease.metadata;
    assert.deepEqual(Object.keys(meta), ['name', 'namespace', 'uid', 'resourceVersion', 'creationTimestamp', 'labels', 'managedFields']);
    assert.equal(meta.name, name);
    assert.equal(meta.namespace, c.namespace);
    assert.match(meta.uid, UUID);
    assert.match(meta.resourceVersion, DECIMAL);
    assert.match(meta.creationTimestamp, SECONDS_TIME);
    assert.deepEqual(meta.labels, { app: 'x' });
    assert.deepEqual(lease.spec, spec);
    assert.deepEqual(Object.keys(lease.spec), Object.keys(spec));
    const [entry, ...more] = meta.managedFields ?? [];
    assert.equal(more.length, 0);
    assert.match(entry?.time ?? '', SECONDS_TIME);
    assert.deepEqual({ ...entry, time: 'T' }, {
      manager: FIELD_MANAGER,
      operation: 'Update',
      apiVersion: 'coordination.k8s.io/v1',
      time: 'T',
      fieldsType: 'FieldsV1',
      fieldsV1: {
        'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
        'f:spec': { 'f:acquireTime': {}, 'f:holderIdentity': {}, 'f:leaseDurationSeconds': {}, 'f:leaseTransitions': {}, 'f:renewTime': {} },
      },
    });
    assert.deepEqual(await c.read(name), lease);
  });

  it('the resourceVersion grows with every write; a write that changes nothing keeps it', async () => {
    const c = suite();
    const name = uniqueLeaseName('versions');
    const created = await c.create(name, { holderIdentity: 'a' });
    const first = await c.put(name, { resourceVersion: created.metadata.resourceVersion }, { holderIdentity: 'b' });
    assert.equal(first.status, 200, first.text);
    const updated = first.json<LeaseJson>();
    const second = await c.put(name, { resourceVersion: updated.metadata.resourceVersion }, { holderIdentity: 'c' });
    const again = second.json<LeaseJson>();
    const versions = [created, updated, again].map((lease) => BigInt(lease.metadata.resourceVersion));
    assert.ok(versions[0]! < versions[1]! && versions[1]! < versions[2]!, `resourceVersions ${versions.join(' < ')}`);

    // Byte-identical to what is stored: no write, the same resourceVersion, by any manager.
    for (const userAgent of [undefined, 'another-manager/2.0']) {
      const same = await c.put(name, { resourceVersion: again.metadata.resourceVersion }, { holderIdentity: 'c' }, userAgent === undefined ? {} : { userAgent });
      assert.equal(same.status, 200, same.text);
      assert.deepEqual(same.json(), again);
    }
    assert.deepEqual(await c.read(name), again);
  });

  it('a lease deleted and created again has a new uid and a later resourceVersion', async () => {
    const c = suite();
    const name = uniqueLeaseName('recreated');
    const before = await c.create(name);
    assert.equal((await c.request('DELETE', c.path(name))).status, 200);
    const after = await c.create(name);
    assert.notEqual(after.metadata.uid, before.metadata.uid);
    assert.ok(BigInt(after.metadata.resourceVersion) > BigInt(before.metadata.resourceVersion));
  });

  it('PUT of a missing name creates it (201), whatever stale resourceVersion it carries', async () => {
    const c = suite();
    const name = uniqueLeaseName('create-on-put');
    const answer = await c.put(name, {}, { holderIdentity: 'a' });
    assert.equal(answer.status, 201, answer.text);
    const created = answer.json<LeaseJson>();
    assert.equal(created.metadata.name, name);
    assert.match(created.metadata.uid, UUID);
    assert.deepEqual(created.spec, { holderIdentity: 'a' });

    const other = uniqueLeaseName('create-on-put-stale');
    const stale = await c.put(other, { resourceVersion: '1' }, { holderIdentity: 'b' });
    assert.equal(stale.status, 201, stale.text);
    assert.notEqual(stale.json<LeaseJson>().metadata.resourceVersion, '1');
    // Once it exists, that resourceVersion is checked like any other.
    assertStatus(
      await c.put(other, { resourceVersion: '1' }, { holderIdentity: 'c' }),
      failureStatus(
        409,
        'Conflict',
        `Operation cannot be fulfilled on leases.coordination.k8s.io "${other}": the object has been modified; please apply your changes to the latest version and try again`,
        leaseDetails(other),
      ),
    );
  });

  it('managedFields: each manager owns what it last changed; a manager left with nothing disappears', async () => {
    const c = suite();
    const name = uniqueLeaseName('managers');
    const a = { userAgent: 'manager-a/1.0' };
    const b = { userAgent: 'manager-b/1.0' };
    const created = await c.put(name, { labels: { app: 'x' } }, { holderIdentity: 'a', leaseDurationSeconds: 15 }, a);
    assert.equal(created.status, 201, created.text);
    const taken = await c.put(
      name,
      { resourceVersion: created.json<LeaseJson>().metadata.resourceVersion, labels: { app: 'x' } },
      { holderIdentity: 'b', leaseDurationSeconds: 15, leaseTransitions: 1 },
      b,
    );
    assert.equal(taken.status, 200, taken.text);
    const afterTake = managers(taken.json<LeaseJson>());
    assert.deepEqual(withoutTimes(afterTake), [
      entry('manager-a', { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:leaseDurationSeconds': {} } }),
      entry('manager-b', { 'f:spec': { 'f:holderIdentity': {}, 'f:leaseTransitions': {} } }),
    ]);

    // Removing fields takes nothing: manager-b's entry keeps its time; manager-a owns nothing any more.
    const trimmed = await c.put(name, { resourceVersion: taken.json<LeaseJson>().metadata.resourceVersion }, { holderIdentity: 'b', leaseTransitions: 1 }, b);
    assert.equal(trimmed.status, 200, trimmed.text);
    assert.deepEqual(managers(trimmed.json<LeaseJson>()), [afterTake[1]]);

    // With every field gone, no manager is left, and managedFields is left out.
    const emptied = await c.put(name, { resourceVersion: trimmed.json<LeaseJson>().metadata.resourceVersion }, {}, a);
    assert.equal(emptied.status, 200, emptied.text);
    assert.equal(emptied.json<LeaseJson>().metadata.managedFields, undefined);
  });

  it('managedFields: a lease created without fields is never tracked afterwards', async () => {
    const c = suite();
    const name = uniqueLeaseName('untracked');
    const created = await c.create(name);
    assert.equal(created.metadata.managedFields, undefined);
    const updated = await c.put(name, { resourceVersion: created.metadata.resourceVersion, labels: { app: 'x' } }, { holderIdentity: 'a' });
    assert.equal(updated.status, 200, updated.text);
    const lease = updated.json<LeaseJson>();
    assert.deepEqual(lease.spec, { holderIdentity: 'a' });
    assert.equal(lease.metadata.managedFields, undefined);
  });

  it('spec.strategy and spec.preferredHolder are dropped (CoordinatedLeaderElection is off) but show in managedFields', async () => {
    const c = suite();
    const name = uniqueLeaseName('strategy');
    const created = await c.create(name, { holderIdentity: 'a', strategy: 'OldestEmulationVersion', preferredHolder: 'b' });
    assert.deepEqual(created.spec, { holderIdentity: 'a' });
    assert.deepEqual(created.metadata.managedFields?.[0]?.fieldsV1, {
      'f:spec': { 'f:holderIdentity': {}, 'f:preferredHolder': {}, 'f:strategy': {} },
    });
    // Dropped before validation: values that would be invalid pass too.
    const loose = await c.create(uniqueLeaseName('strategy-loose'), { strategy: 'NoSuchStrategy', preferredHolder: 'b' });
    assert.deepEqual(loose.spec, {});
    const updated = await c.put(name, { resourceVersion: created.metadata.resourceVersion }, { holderIdentity: 'a', strategy: 'OldestEmulationVersion' });
    assert.equal(updated.status, 200, updated.text);
    assert.deepEqual(updated.json<LeaseJson>().spec, { holderIdentity: 'a' });
  });
}

/** The managedFields entries, by manager (the server orders them by time, which a test cannot pin). */
function managers(lease: LeaseJson): ManagedFieldsJson[] {
  return [...(lease.metadata.managedFields ?? [])].sort((x, y) => x.manager.localeCompare(y.manager));
}

function withoutTimes(entries: ManagedFieldsJson[]): ManagedFieldsJson[] {
  return entries.map((item) => {
    assert.match(item.time, SECONDS_TIME);
    return { ...item, time: 'T' };
  });
}

function entry(manager: string, fieldsV1: unknown): ManagedFieldsJson {
  return { manager, operation: 'Update', apiVersion: 'coordination.k8s.io/v1', time: 'T', fieldsType: 'FieldsV1', fieldsV1 };
}
