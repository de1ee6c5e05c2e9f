// PATCH of a lease in the three formats a Lease accepts.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { PatchStrategy, setHeaderOptions, type V1Lease } from '@kubernetes/client-node';

import type { LeaseApiEmulator } from '../src/testing/index.js';
import { failure, leasePath, leasesApi, raw, startEmulator } from './helpers/emulator-client.js';

const NS = 'default';

async function seed(emulator: LeaseApiEmulator): Promise<V1Lease> {
  return leasesApi(emulator).createNamespacedLease({
    namespace: NS,
    body: { metadata: { name: 'lock', labels: { app: 'a' } }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15, leaseTransitions: 3 } },
  });
}

describe('patch', () => {
  test('merge patch changes the given fields and removes nulls', async (t) => {
    const emulator = await startEmulator(t);
    const created = await seed(emulator);
    const patched = await leasesApi(emulator).patchNamespacedLease(
      { name: 'lock', namespace: NS, body: { spec: { holderIdentity: 'b', leaseTransitions: null } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    assert.equal(patched.spec?.holderIdentity, 'b');
    assert.equal(patched.spec?.leaseTransitions, undefined);
    assert.equal(patched.spec?.leaseDurationSeconds, 15);
    assert.notEqual(patched.metadata?.resourceVersion, created.metadata?.resourceVersion);
  });

  test('strategic merge patch behaves as a merge patch for a Lease', async (t) => {
    const emulator = await startEmulator(t);
    await seed(emulator);
    const patched = await leasesApi(emulator).patchNamespacedLease(
      { name: 'lock', namespace: NS, body: { metadata: { labels: { extra: 'x' } }, spec: { holderIdentity: 'c' } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    assert.deepEqual(patched.metadata?.labels, { app: 'a', extra: 'x' });
    assert.equal(patched.spec?.holderIdentity, 'c');
  });

  test('JSON patch (client-node\'s default) applies add, replace, remove and test', async (t) => {
    const emulator = await startEmulator(t);
    const created = await seed(emulator);
    const patched = await leasesApi(emulator).patchNamespacedLease({
      name: 'lock',
      namespace: NS,
      body: [
        { op: 'test', path: '/metadata/resourceVersion', value: created.metadata?.resourceVersion },
        { op: 'replace', path: '/spec/holderIdentity', value: 'b' },
        { op: 'add', path: '/metadata/labels/extra', value: 'x' },
        { op: 'remove', path: '/spec/leaseTransitions' },
      ],
    });
    assert.equal(patched.spec?.holderIdentity, 'b');
    assert.deepEqual(patched.metadata?.labels, { app: 'a', extra: 'x' });
    assert.equal(patched.spec?.leaseTransitions, undefined);
  });

  test('a JSON patch operation that does not apply is 422 without the library\'s message', async (t) => {
    const emulator = await startEmulator(t);
    await seed(emulator);
    const answer = await failure(
      leasesApi(emulator).patchNamespacedLease({
        name: 'lock',
        namespace: NS,
        body: [{ op: 'test', path: '/spec/holderIdentity', value: 'someone-else' }],
      }),
    );
    assert.equal(answer.code, 422);
    assert.deepEqual(answer.status, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'the server rejected our request due to an error in our request',
      reason: 'Invalid',
      details: {},
      code: 422,
    });
    const noParent = await failure(
      leasesApi(emulator).patchNamespacedLease({ name: 'lock', namespace: NS, body: [{ op: 'replace', path: '/metadata/annotations/x', value: 'y' }] }),
    );
    assert.equal(noParent.code, 422);
  });

  test('a JSON patch replace of a key an object does not have adds it, as json-patch v4 does', async (t) => {
    const emulator = await startEmulator(t);
    await seed(emulator);
    const patched = await leasesApi(emulator).patchNamespacedLease({
      name: 'lock',
      namespace: NS,
      body: [{ op: 'replace', path: '/metadata/labels/extra', value: 'x' }],
    });
    assert.deepEqual(patched.metadata?.labels, { app: 'a', extra: 'x' });
  });

  test('a body that is not JSON is 400 "invalid JSON patch", even for a missing lease', async (t) => {
    const emulator = await startEmulator(t);
    for (const name of ['lock', 'missing']) {
      const answer = await raw(emulator, 'PATCH', leasePath(NS, name), { body: '{"spec":', contentType: PatchStrategy.MergePatch });
      assert.equal(answer.status, 400);
      assert.equal(answer.json()['message'], 'invalid JSON patch');
    }
  });

  test('a patch carrying a stale resourceVersion is 409 Conflict', async (t) => {
    const emulator = await startEmulator(t);
    const created = await seed(emulator);
    emulator.putLease(NS, { metadata: { name: 'lock' }, spec: { holderIdentity: 'outsider' } });
    const answer = await failure(
      leasesApi(emulator).patchNamespacedLease(
        { name: 'lock', namespace: NS, body: { metadata: { resourceVersion: created.metadata?.resourceVersion }, spec: { holderIdentity: 'b' } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
    assert.equal(answer.code, 409);
    assert.equal(answer.status.reason, 'Conflict');
  });

  test('a patch of a missing lease is 404; an empty patch changes nothing', async (t) => {
    const emulator = await startEmulator(t);
    const missing = await raw(emulator, 'PATCH', leasePath(NS, 'lock'), { body: {}, contentType: PatchStrategy.MergePatch });
    assert.equal(missing.status, 404);
    assert.equal(missing.json()['message'], 'leases.coordination.k8s.io "lock" not found');
    const created = await seed(emulator);
    const same = await raw(emulator, 'PATCH', leasePath(NS, 'lock'), { body: {}, contentType: PatchStrategy.MergePatch });
    assert.equal(same.status, 200);
    assert.equal(same.json<V1Lease>().metadata?.resourceVersion, created.metadata?.resourceVersion);
  });

  test('a patch that leaves a bad MicroTime is 422 against the field "patch"', async (t) => {
    const emulator = await startEmulator(t);
    await seed(emulator);
    const answer = await raw(emulator, 'PATCH', leasePath(NS, 'lock'), {
      body: { spec: { renewTime: '2026-01-02T15:04:05.123Z' } },
      contentType: PatchStrategy.MergePatch,
    });
    assert.equal(answer.status, 422);
    const status = answer.json<{ message: string; details: { causes: { field: string; message: string }[] } }>();
    assert.match(status.message, /^ "" is invalid: patch: Invalid value: "\{.*\}": parsing time "2026-01-02T15:04:05.123Z"/);
    assert.equal(status.details.causes[0]?.field, 'patch');
  });

  test('a patch renaming the lease is 400; an unknown patch type is 415', async (t) => {
    const emulator = await startEmulator(t);
    await seed(emulator);
    const renamed = await raw(emulator, 'PATCH', leasePath(NS, 'lock'), {
      body: { metadata: { name: 'other' } },
      contentType: PatchStrategy.MergePatch,
    });
    assert.equal(renamed.status, 400);
    assert.equal(renamed.json()['message'], 'the name of the object (other) does not match the name on the URL (lock)');
    const unknown = await raw(emulator, 'PATCH', leasePath(NS, 'lock'), { body: {}, contentType: 'application/json' });
    assert.equal(unknown.status, 415);
    assert.equal(unknown.json()['reason'], 'UnsupportedMediaType');
  });
});
