// The emulator answers create, read, replace and delete of leases as a
// kube-apiserver does: codes, Status bodies, optimistic concurrency, validation.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { V1MicroTime, type V1Lease } from '@kubernetes/client-node';

import { failure, leasePath, leasesApi, raw, startEmulator } from './helpers/emulator-client.js';

const NS = 'default';
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

function lease(name: string, spec: V1Lease['spec'] = {}): V1Lease {
  return { metadata: { name }, spec };
}

describe('create and read', () => {
  test('POST answers 201 with the fields the server sets', async (t) => {
    // With the CoordinatedLeaderElection feature on, strategy and preferredHolder are kept.
    const emulator = await startEmulator(t, { coordinatedLeaderElection: true });
    const answer = await raw(emulator, 'POST', leasePath(NS), {
      body: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: 'lock', labels: { app: 'x' }, annotations: { note: 'y' } },
        spec: {
          holderIdentity: 'me',
          leaseDurationSeconds: 15,
          acquireTime: '2026-01-02T15:04:05.123456Z',
          renewTime: '2026-01-02T15:04:06.000001Z',
          leaseTransitions: 0,
          strategy: 'OldestEmulationVersion',
          preferredHolder: 'other',
        },
      },
    });
    assert.equal(answer.status, 201);
    assert.equal(answer.headers.get('content-type'), 'application/json');
    const created = answer.json<{ apiVersion: string; kind: string; metadata: Record<string, unknown>; spec: unknown }>();
    assert.deepEqual(Object.keys(created), ['kind', 'apiVersion', 'metadata', 'spec']);
    assert.equal(created.apiVersion, 'coordination.k8s.io/v1');
    assert.equal(created.kind, 'Lease');
    const meta = created.metadata;
    assert.equal(meta['name'], 'lock');
    assert.equal(meta['namespace'], NS);
    assert.match(String(meta['uid']), /^[0-9a-f-]{36}$/);
    assert.match(String(meta['resourceVersion']), /^\d+$/);
    assert.match(String(meta['creationTimestamp']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal((meta['managedFields'] as unknown[]).length, 1);
    assert.deepEqual(meta['labels'], { app: 'x' });
    assert.deepEqual(meta['annotations'], { note: 'y' });
    assert.deepEqual(created.spec, {
      holderIdentity: 'me',
      leaseDurationSeconds: 15,
      acquireTime: '2026-01-02T15:04:05.123456Z',
      renewTime: '2026-01-02T15:04:06.000001Z',
      leaseTransitions: 0,
      strategy: 'OldestEmulationVersion',
      preferredHolder: 'other',
    });
    // Field order follows Go's struct order, as a real server's JSON does.
    assert.deepEqual(Object.keys(meta).slice(0, 5), ['name', 'namespace', 'uid', 'resourceVersion', 'creationTimestamp']);
  });

  test('client-sent uid, creationTimestamp and managedFields are replaced on create', async (t) => {
    const emulator = await startEmulator(t);
    const created = await leasesApi(emulator).createNamespacedLease({
      namespace: NS,
      body: {
        metadata: {
          name: 'lock',
          uid: 'mine',
          creationTimestamp: new Date('2001-01-01T00:00:00Z'),
          managedFields: [{ manager: 'me', operation: 'Apply' }],
        },
      },
    });
    assert.notEqual(created.metadata?.uid, 'mine');
    assert.notEqual(created.metadata?.creationTimestamp?.toISOString(), '2001-01-01T00:00:00.000Z');
    assert.notEqual(created.metadata?.managedFields?.[0]?.manager, 'me');
  });

  test('GET returns the stored lease; a missing one is 404 NotFound', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    const created = await api.createNamespacedLease({ namespace: NS, body: lease('lock', { holderIdentity: 'a' }) });
    const read = await api.readNamespacedLease({ name: 'lock', namespace: NS });
    assert.equal(read.metadata?.resourceVersion, created.metadata?.resourceVersion);
    assert.equal(read.spec?.holderIdentity, 'a');

    const missing = await failure(api.readNamespacedLease({ name: 'nope', namespace: NS }));
    assert.equal(missing.code, 404);
    assert.deepEqual(missing.status, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'leases.coordination.k8s.io "nope" not found',
      reason: 'NotFound',
      details: { name: 'nope', group: 'coordination.k8s.io', kind: 'leases' },
      code: 404,
    });
  });

  test('POST of a taken name is 409 AlreadyExists', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    await api.createNamespacedLease({ namespace: NS, body: lease('lock') });
    const taken = await failure(api.createNamespacedLease({ namespace: NS, body: lease('lock') }));
    assert.equal(taken.code, 409);
    assert.deepEqual(taken.status, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'leases.coordination.k8s.io "lock" already exists',
      reason: 'AlreadyExists',
      details: { name: 'lock', group: 'coordination.k8s.io', kind: 'leases' },
      code: 409,
    });
  });

  test('POST carrying a resourceVersion is a 500 without reason', async (t) => {
    const emulator = await startEmulator(t);
    const answer = await failure(
      leasesApi(emulator).createNamespacedLease({ namespace: NS, body: { metadata: { name: 'lock', resourceVersion: '42' } } }),
    );
    assert.equal(answer.code, 500);
    assert.deepEqual(answer.status, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'resourceVersion should not be set on objects to be created',
      code: 500,
    });
  });

  test('generateName gives a name with a random suffix', async (t) => {
    const emulator = await startEmulator(t);
    const created = await leasesApi(emulator).createNamespacedLease({ namespace: NS, body: { metadata: { generateName: 'lock-' } } });
    assert.match(created.metadata?.name ?? '', /^lock-[a-z0-9]{5}$/);
  });

  test('dryRun=All answers as a create would, and stores nothing', async (t) => {
    const emulator = await startEmulator(t);
    const revision = emulator.resourceVersion;
    const answer = await raw(emulator, 'POST', `${leasePath(NS)}?dryRun=All`, { body: lease('lock', { holderIdentity: 'a' }) });
    assert.equal(answer.status, 201);
    assert.equal(answer.json<V1Lease>().spec?.holderIdentity, 'a');
    assert.equal(emulator.getLease(NS, 'lock'), undefined);
    assert.equal(emulator.resourceVersion, revision);
  });

  test('unknown fields are dropped with a Warning header', async (t) => {
    const emulator = await startEmulator(t);
    const answer = await raw(emulator, 'POST', leasePath(NS), { body: { metadata: { name: 'lock' }, spec: { colour: 'red' } } });
    assert.equal(answer.status, 201);
    assert.equal(answer.headers.get('warning'), '299 - "unknown field \\"spec.colour\\""');
    assert.deepEqual(answer.json()['spec'], {});
  });
});

describe('namespaces', () => {
  test('a write into a namespace that does not exist is 404 namespaces "NS" not found', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    const expected = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'namespaces "elsewhere" not found',
      reason: 'NotFound',
      details: { name: 'elsewhere', kind: 'namespaces' },
      code: 404,
    };
    const post = await failure(api.createNamespacedLease({ namespace: 'elsewhere', body: lease('lock') }));
    assert.equal(post.code, 404);
    assert.deepEqual(post.status, expected);
    const put = await failure(api.replaceNamespacedLease({ name: 'lock', namespace: 'elsewhere', body: lease('lock') }));
    assert.deepEqual(put.status, expected);
  });

  test('a read in a namespace that does not exist is a plain NotFound of the lease (no admission on reads)', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    const read = await failure(api.readNamespacedLease({ name: 'lock', namespace: 'elsewhere' }));
    assert.equal(read.status.message, 'leases.coordination.k8s.io "lock" not found');
    const list = await api.listNamespacedLease({ namespace: 'elsewhere' });
    assert.deepEqual(list.items, []);
  });

  test('createNamespace makes writes succeed; namespaces option sets the initial ones', async (t) => {
    const emulator = await startEmulator(t, { namespaces: ['default', 'kube-system'] });
    const api = leasesApi(emulator);
    await api.createNamespacedLease({ namespace: 'kube-system', body: lease('lock') });
    emulator.createNamespace('team-a');
    await api.createNamespacedLease({ namespace: 'team-a', body: lease('lock') });
    assert.deepEqual(emulator.namespaces, ['default', 'kube-system', 'team-a']);
    assert.throws(() => emulator.createNamespace('Team_A'), RangeError);
  });
});

describe('replace and optimistic concurrency', () => {
  test('PUT with the current resourceVersion answers 200 and a new resourceVersion', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    const created = await api.createNamespacedLease({ namespace: NS, body: lease('lock', { holderIdentity: 'a' }) });
    const replaced = await api.replaceNamespacedLease({
      name: 'lock',
      namespace: NS,
      body: { ...created, spec: { ...created.spec, holderIdentity: 'b' } },
    });
    assert.equal(replaced.spec?.holderIdentity, 'b');
    assert.notEqual(replaced.metadata?.resourceVersion, created.metadata?.resourceVersion);
    assert.equal(replaced.metadata?.uid, created.metadata?.uid);
  });

  test('resourceVersion is an opaque decimal that grows by varying amounts', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    let current = await api.createNamespacedLease({ namespace: NS, body: lease('lock', { leaseTransitions: 0 }) });
    const versions = [Number(current.metadata?.resourceVersion)];
    for (let i = 1; i <= 12; i++) {
      current = await api.replaceNamespacedLease({ name: 'lock', namespace: NS, body: { ...current, spec: { leaseTransitions: i } } });
      versions.push(Number(current.metadata?.resourceVersion));
    }
    const steps = versions.slice(1).map((version, i) => version - (versions[i] ?? 0));
    assert.ok(steps.every((step) => step > 0), `versions must increase: ${versions.join(', ')}`);
    assert.ok(steps.some((step) => step > 1), `versions must not always step by one: ${versions.join(', ')}`);
  });

  test('PUT with a stale resourceVersion is 409 Conflict', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    const created = await api.createNamespacedLease({ namespace: NS, body: lease('lock', { holderIdentity: 'a' }) });
    await api.replaceNamespacedLease({ name: 'lock', namespace: NS, body: { ...created, spec: { holderIdentity: 'b' } } });
    const stale = await failure(
      api.replaceNamespacedLease({ name: 'lock', namespace: NS, body: { ...created, spec: { holderIdentity: 'c' } } }),
    );
    assert.equal(stale.code, 409);
    assert.deepEqual(stale.status, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'Operation cannot be fulfilled on leases.coordination.k8s.io "lock": the object has been modified; please apply your changes to the latest version and try again',
      reason: 'Conflict',
      details: { name: 'lock', group: 'coordination.k8s.io', kind: 'leases' },
      code: 409,
    });
  });

  test('PUT without resourceVersion on an existing lease is 422: leases allow no unconditional update', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    await api.createNamespacedLease({ namespace: NS, body: lease('lock') });
    const answer = await failure(api.replaceNamespacedLease({ name: 'lock', namespace: NS, body: lease('lock', { holderIdentity: 'x' }) }));
    assert.equal(answer.code, 422);
    assert.deepEqual(answer.status, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'leases.coordination.k8s.io "lock" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update',
      reason: 'Invalid',
      details: {
        name: 'lock',
        group: 'coordination.k8s.io',
        kind: 'leases',
        causes: [
          {
            reason: 'FieldValueInvalid',
            message: 'Invalid value: 0: must be specified for an update',
            field: 'metadata.resourceVersion',
          },
        ],
      },
      code: 422,
    });
  });

  test('PUT to a name that does not exist creates it (201), even with a stale resourceVersion', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    const fresh = await raw(emulator, 'PUT', leasePath(NS, 'lock'), { body: lease('lock', { holderIdentity: 'a' }) });
    assert.equal(fresh.status, 201);
    const created = fresh.json<V1Lease>();
    await api.deleteNamespacedLease({ name: 'lock', namespace: NS });
    // The stale resourceVersion is ignored: without a uid, the PUT recreates the lease.
    const { uid, ...withoutUid } = created.metadata ?? {};
    const again = await raw(emulator, 'PUT', leasePath(NS, 'lock'), { body: { metadata: withoutUid, spec: { holderIdentity: 'b' } } });
    assert.equal(again.status, 201);
    assert.notEqual(again.json<V1Lease>().metadata?.uid, uid);
  });

  test('PUT carrying a uid is conditional on it: the uid of a deleted lease is 409, not a re-create', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    const created = await api.createNamespacedLease({ namespace: NS, body: lease('lock', { holderIdentity: 'a' }) });
    const uid = created.metadata?.uid ?? '';
    await api.deleteNamespacedLease({ name: 'lock', namespace: NS });
    const answer = await failure(api.replaceNamespacedLease({ name: 'lock', namespace: NS, body: created }));
    assert.equal(answer.code, 409);
    assert.deepEqual(answer.status, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `Operation cannot be fulfilled on leases.coordination.k8s.io "lock": StorageError: invalid object, Code: 4, Key: /registry/leases/default/lock, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: ${uid}, UID in object meta: `,
      reason: 'Conflict',
      details: { name: 'lock', group: 'coordination.k8s.io', kind: 'leases' },
      code: 409,
    });
    assert.equal(emulator.getLease(NS, 'lock'), undefined, 'not recreated');
  });

  test('PUT whose body names another lease is 400 BadRequest', async (t) => {
    const emulator = await startEmulator(t);
    const answer = await failure(leasesApi(emulator).replaceNamespacedLease({ name: 'lock', namespace: NS, body: lease('other') }));
    assert.equal(answer.code, 400);
    assert.deepEqual(answer.status, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'the name of the object (other) does not match the name on the URL (lock)',
      reason: 'BadRequest',
      code: 400,
    });
  });

  test('a write that changes nothing keeps the resourceVersion', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    const created = await api.createNamespacedLease({ namespace: NS, body: lease('lock', { holderIdentity: 'a', leaseDurationSeconds: 10 }) });
    const revision = emulator.resourceVersion;
    const same = await api.replaceNamespacedLease({ name: 'lock', namespace: NS, body: created });
    assert.equal(same.metadata?.resourceVersion, created.metadata?.resourceVersion);
    assert.equal(emulator.resourceVersion, revision, 'no write reached the store');
  });

  test('another uid is a 409 on PUT (a precondition) and a 422 on PATCH (immutable); creationTimestamp changes are ignored', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    const created = await api.createNamespacedLease({ namespace: NS, body: lease('lock') });
    const put = await failure(
      api.replaceNamespacedLease({ name: 'lock', namespace: NS, body: { ...created, metadata: { ...created.metadata, uid: 'other' } } }),
    );
    assert.equal(put.code, 409);
    assert.match(put.status.message ?? '', /Precondition failed: UID in precondition: other, UID in object meta: [0-9a-f-]{36}$/);
    const patch = await raw(emulator, 'PATCH', leasePath(NS, 'lock'), {
      body: { metadata: { uid: 'other' } },
      contentType: 'application/merge-patch+json',
    });
    assert.equal(patch.status, 422);
    assert.equal(
      patch.json()['message'],
      'Lease.coordination.k8s.io "lock" is invalid: metadata.uid: Invalid value: "other": field is immutable',
    );
    const moved = await api.replaceNamespacedLease({
      name: 'lock',
      namespace: NS,
      body: { ...created, metadata: { ...created.metadata, creationTimestamp: new Date('2001-01-01T00:00:00Z') }, spec: { holderIdentity: 'b' } },
    });
    assert.deepEqual(moved.metadata?.creationTimestamp, created.metadata?.creationTimestamp);
  });
});

describe('validation', () => {
  const nameMessage =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

  test('an invalid name is 422 with the RFC 1123 message', async (t) => {
    const emulator = await startEmulator(t);
    const answer = await failure(leasesApi(emulator).createNamespacedLease({ namespace: NS, body: lease('My_Lock') }));
    assert.equal(answer.code, 422);
    assert.deepEqual(answer.status, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `Lease.coordination.k8s.io "My_Lock" is invalid: metadata.name: Invalid value: "My_Lock": ${nameMessage}`,
      reason: 'Invalid',
      details: {
        name: 'My_Lock',
        group: 'coordination.k8s.io',
        kind: 'Lease',
        causes: [{ reason: 'FieldValueInvalid', message: `Invalid value: "My_Lock": ${nameMessage}`, field: 'metadata.name' }],
      },
      code: 422,
    });
  });

  test('a name over 253 characters is 422', async (t) => {
    const emulator = await startEmulator(t);
    const name = 'a'.repeat(254);
    const answer = await failure(leasesApi(emulator).createNamespacedLease({ namespace: NS, body: lease(name) }));
    assert.equal(answer.code, 422);
    assert.deepEqual(answer.status.details?.causes, [
      { reason: 'FieldValueInvalid', message: `Invalid value: "${name}": must be no more than 253 characters`, field: 'metadata.name' },
    ]);
    await leasesApi(emulator).createNamespacedLease({ namespace: NS, body: lease('a'.repeat(253)) });
  });

  test('leaseDurationSeconds must be > 0 and leaseTransitions >= 0; several errors are listed together', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    const zero = await failure(api.createNamespacedLease({ namespace: NS, body: lease('lock', { leaseDurationSeconds: 0 }) }));
    assert.equal(zero.code, 422);
    assert.equal(zero.status.message, 'Lease.coordination.k8s.io "lock" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0');
    const both = await failure(
      api.createNamespacedLease({ namespace: NS, body: lease('lock', { leaseDurationSeconds: -5, leaseTransitions: -1 }) }),
    );
    assert.equal(
      both.status.message,
      'Lease.coordination.k8s.io "lock" is invalid: [spec.leaseDurationSeconds: Invalid value: -5: must be greater than 0, spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0]',
    );
    assert.deepEqual(
      both.status.details?.causes?.map((cause) => cause.field),
      ['spec.leaseDurationSeconds', 'spec.leaseTransitions'],
    );
  });

  test('validation applies to updates too', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    const created = await api.createNamespacedLease({ namespace: NS, body: lease('lock') });
    const answer = await failure(api.replaceNamespacedLease({ name: 'lock', namespace: NS, body: { ...created, spec: { leaseTransitions: -2 } } }));
    assert.equal(answer.code, 422);
    assert.equal(answer.status.details?.kind, 'Lease');
  });

  test('spec.strategy and spec.preferredHolder are dropped unless the CoordinatedLeaderElection feature is on', async (t) => {
    const emulator = await startEmulator(t);
    const created = await leasesApi(emulator).createNamespacedLease({
      namespace: NS,
      body: lease('lock', { holderIdentity: 'a', strategy: 'Newest', preferredHolder: 'b' }),
    });
    assert.deepEqual({ ...created.spec }, { holderIdentity: 'a' });
    // The field manager saw them: they are listed as the writer's fields.
    assert.deepEqual(created.metadata?.managedFields?.[0]?.fieldsV1, { 'f:spec': { 'f:holderIdentity': {}, 'f:preferredHolder': {}, 'f:strategy': {} } });
    const put = emulator.putLease(NS, { metadata: { name: 'outside' }, spec: { strategy: 'OldestEmulationVersion' } });
    assert.deepEqual(put.spec, {});
  });

  test('with the feature on, preferredHolder needs a strategy and the strategy must be a known one', async (t) => {
    const emulator = await startEmulator(t, { coordinatedLeaderElection: true });
    const api = leasesApi(emulator);
    const orphan = await failure(api.createNamespacedLease({ namespace: NS, body: lease('lock', { preferredHolder: 'b' }) }));
    assert.equal(orphan.status.message, 'Lease.coordination.k8s.io "lock" is invalid: spec.preferredHolder: Forbidden: may only be specified if `strategy` is defined');
    const unknown = await failure(api.createNamespacedLease({ namespace: NS, body: lease('lock', { strategy: 'Newest' }) }));
    assert.deepEqual(unknown.status.details?.causes, [
      {
        reason: 'FieldValueNotSupported',
        message: 'Unsupported value: "Newest": supported values: "OldestEmulationVersion"',
        field: 'spec.strategy.strategy',
      },
    ]);
  });

  test('an invalid label is 422', async (t) => {
    const emulator = await startEmulator(t);
    const answer = await failure(
      leasesApi(emulator).createNamespacedLease({ namespace: NS, body: { metadata: { name: 'lock', labels: { app: 'not ok' } } } }),
    );
    assert.equal(answer.code, 422);
    assert.equal(answer.status.details?.causes?.[0]?.field, 'metadata.labels');
  });
});

describe('MicroTime and bodies the server cannot read', () => {
  test('a Date.toISOString() MicroTime (three digits) is 400 BadRequest', async (t) => {
    const emulator = await startEmulator(t);
    const body = { metadata: { name: 'lock' }, spec: { renewTime: new Date().toISOString() } };
    const answer = await raw(emulator, 'POST', leasePath(NS), { body });
    assert.equal(answer.status, 400);
    const status = answer.json<{ reason: string; message: string; code: number }>();
    assert.equal(status.reason, 'BadRequest');
    assert.match(status.message, /cannot be handled as a Lease:/);
    assert.match(status.message, /parsing time/);

    const fixed = await raw(emulator, 'POST', leasePath(NS), {
      body: { metadata: { name: 'lock' }, spec: { renewTime: '2026-01-02T15:04:05.123Z' } },
    });
    assert.deepEqual(fixed.json(), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'Lease in version "v1" cannot be handled as a Lease: parsing time "2026-01-02T15:04:05.123Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse ".123Z" as ".000000"',
      reason: 'BadRequest',
      code: 400,
    });
  });

  test('the same plain Date through client-node is refused; V1MicroTime is accepted', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    const refused = await failure(api.createNamespacedLease({ namespace: NS, body: lease('lock', { renewTime: new Date() }) }));
    assert.equal(refused.code, 400);
    const renewTime = new V1MicroTime();
    const created = await api.createNamespacedLease({ namespace: NS, body: lease('lock', { renewTime, acquireTime: renewTime }) });
    // Read back as a string at run time, although typed V1MicroTime.
    const stored = created.spec?.renewTime as unknown as string;
    assert.match(stored, MICRO_TIME);
    assert.equal(stored, renewTime.toISOString());
  });

  test('a MicroTime with an offset is stored in UTC; other digit counts and out-of-range parts are refused', async (t) => {
    const emulator = await startEmulator(t);
    const ok = await raw(emulator, 'POST', leasePath(NS), {
      body: { metadata: { name: 'lock' }, spec: { acquireTime: '2026-01-02T17:04:05.000007+02:00' } },
    });
    assert.equal(ok.status, 201);
    assert.equal(ok.json<{ spec: { acquireTime: string } }>().spec.acquireTime, '2026-01-02T15:04:05.000007Z');
    const cases: Record<string, string> = {
      '2026-01-02T15:04:05Z': 'parsing time "2026-01-02T15:04:05Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" as ".000000"',
      '2026-01-02T15:04:05.123456789Z':
        'parsing time "2026-01-02T15:04:05.123456789Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "789Z" as "Z07:00"',
      '2026-13-02T15:04:05.000000Z': 'parsing time "2026-13-02T15:04:05.000000Z": month out of range',
      '2026-02-30T15:04:05.000000Z': 'parsing time "2026-02-30T15:04:05.000000Z": day out of range',
      '': 'parsing time "" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "" as "2006"',
    };
    for (const [value, reason] of Object.entries(cases)) {
      const answer = await raw(emulator, 'POST', leasePath(NS), { body: { metadata: { name: 'other' }, spec: { renewTime: value } } });
      assert.equal(answer.status, 400, value);
      assert.equal(answer.json()['message'], `Lease in version "v1" cannot be handled as a Lease: ${reason}`, value);
    }
  });

  test('a field of the wrong type is 400 with Go\'s decoding message', async (t) => {
    const emulator = await startEmulator(t);
    const answer = await raw(emulator, 'POST', leasePath(NS), { body: { metadata: { name: 'lock' }, spec: { leaseDurationSeconds: '15' } } });
    assert.equal(answer.status, 400);
    assert.equal(
      answer.json()['message'],
      'Lease in version "v1" cannot be handled as a Lease: json: cannot unmarshal string into Go struct field LeaseSpec.spec.leaseDurationSeconds of type int32',
    );
  });

  test('a body that is not JSON is 400: the object provided is unrecognized', async (t) => {
    const emulator = await startEmulator(t);
    const answer = await raw(emulator, 'POST', leasePath(NS), { body: 'not json' });
    assert.equal(answer.status, 400);
    const status = answer.json<{ reason: string; message: string }>();
    assert.equal(status.reason, 'BadRequest');
    assert.match(status.message, /^the object provided is unrecognized \(must be of type Lease\): couldn't get version\/kind; json parse error: /);
  });

  test('a body of another API version is 400', async (t) => {
    const emulator = await startEmulator(t);
    const answer = await raw(emulator, 'POST', leasePath(NS), {
      body: { apiVersion: 'coordination.k8s.io/v1beta1', kind: 'Lease', metadata: { name: 'lock' } },
    });
    assert.equal(answer.status, 400);
    assert.equal(
      answer.json()['message'],
      'the API version in the data (coordination.k8s.io/v1beta1) does not match the expected API version (coordination.k8s.io/v1)',
    );
  });
});

describe('list', () => {
  test('LIST answers a LeaseList with the current resourceVersion; items carry no kind', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    await api.createNamespacedLease({ namespace: NS, body: { metadata: { name: 'b', labels: { team: 'x' } } } });
    await api.createNamespacedLease({ namespace: NS, body: { metadata: { name: 'a', labels: { team: 'y' } } } });
    const answer = await raw(emulator, 'GET', leasePath(NS));
    const list = answer.json<{ kind: string; apiVersion: string; metadata: { resourceVersion: string }; items: Record<string, unknown>[] }>();
    assert.equal(list.kind, 'LeaseList');
    assert.equal(list.apiVersion, 'coordination.k8s.io/v1');
    assert.equal(list.metadata.resourceVersion, emulator.resourceVersion);
    assert.deepEqual(
      list.items.map((item) => (item['metadata'] as { name: string }).name),
      ['a', 'b'],
    );
    assert.equal(list.items[0]?.['kind'], undefined);

    const byField = await api.listNamespacedLease({ namespace: NS, fieldSelector: 'metadata.name=b' });
    assert.deepEqual(byField.items.map((item) => item.metadata?.name), ['b']);
    const byLabel = await api.listNamespacedLease({ namespace: NS, labelSelector: 'team in (y)' });
    assert.deepEqual(byLabel.items.map((item) => item.metadata?.name), ['a']);
    const unsupported = await failure(api.listNamespacedLease({ namespace: NS, fieldSelector: 'spec.holderIdentity=x' }));
    assert.equal(unsupported.code, 400);
    assert.equal(unsupported.status.message, '"spec.holderIdentity" is not a known field selector: only "metadata.name", "metadata.namespace"');
  });

  test('the cluster-wide list spans namespaces', async (t) => {
    const emulator = await startEmulator(t, { namespaces: ['default', 'other'] });
    const api = leasesApi(emulator);
    await api.createNamespacedLease({ namespace: 'default', body: lease('a') });
    await api.createNamespacedLease({ namespace: 'other', body: lease('b') });
    const all = await api.listLeaseForAllNamespaces();
    assert.deepEqual(all.items.map((item) => `${item.metadata?.namespace}/${item.metadata?.name}`), ['default/a', 'other/b']);
  });
});

describe('delete', () => {
  test('DELETE answers 200 with a Success Status naming the uid', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    const created = await api.createNamespacedLease({ namespace: NS, body: lease('lock') });
    const answer = await raw(emulator, 'DELETE', leasePath(NS, 'lock'));
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.json(), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      details: { name: 'lock', group: 'coordination.k8s.io', kind: 'leases', uid: created.metadata?.uid },
    });
    const gone = await failure(api.deleteNamespacedLease({ name: 'lock', namespace: NS }));
    assert.equal(gone.code, 404);
    assert.equal(gone.status.message, 'leases.coordination.k8s.io "lock" not found');
  });

  test('DELETE preconditions that do not match are 409 Conflict; matching ones delete', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    const created = await api.createNamespacedLease({ namespace: NS, body: lease('lock') });
    const uid = created.metadata?.uid ?? '';
    const resourceVersion = created.metadata?.resourceVersion ?? '';
    const wrongUid = await failure(api.deleteNamespacedLease({ name: 'lock', namespace: NS, body: { preconditions: { uid: 'other' } } }));
    assert.equal(wrongUid.code, 409);
    assert.deepEqual(wrongUid.status, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `Operation cannot be fulfilled on Lease.coordination.k8s.io "lock": the UID in the precondition (other) does not match the UID in record (${uid}). The object might have been deleted and then recreated`,
      reason: 'Conflict',
      details: { name: 'lock', group: 'coordination.k8s.io', kind: 'Lease' },
      code: 409,
    });
    const wrongVersion = await failure(
      api.deleteNamespacedLease({ name: 'lock', namespace: NS, body: { preconditions: { resourceVersion: '1' } } }),
    );
    assert.equal(
      wrongVersion.status.message,
      `Operation cannot be fulfilled on Lease.coordination.k8s.io "lock": the ResourceVersion in the precondition (1) does not match the ResourceVersion in record (${resourceVersion}). The object might have been modified`,
    );
    await api.deleteNamespacedLease({ name: 'lock', namespace: NS, body: { preconditions: { uid, resourceVersion } } });
    assert.equal(emulator.getLease(NS, 'lock'), undefined);
  });

  test('deletecollection deletes the selected leases', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    await api.createNamespacedLease({ namespace: NS, body: { metadata: { name: 'a', labels: { tmp: 'yes' } } } });
    await api.createNamespacedLease({ namespace: NS, body: lease('b') });
    await api.deleteCollectionNamespacedLease({ namespace: NS, labelSelector: 'tmp=yes' });
    assert.deepEqual(emulator.listLeases(NS).map((item) => item.metadata.name), ['b']);
  });
});

describe('other endpoints', () => {
  test('version, health, discovery', async (t) => {
    const emulator = await startEmulator(t);
    const version = await raw(emulator, 'GET', '/version');
    assert.equal(version.status, 200);
    assert.match(version.json<{ gitVersion: string }>().gitVersion, /^v1\.\d+\.\d+/);
    for (const path of ['/healthz', '/readyz', '/livez']) {
      const health = await raw(emulator, 'GET', path);
      assert.equal(health.status, 200);
      assert.equal(health.text, 'ok');
    }
    const discovery = await raw(emulator, 'GET', '/apis/coordination.k8s.io/v1');
    assert.equal(discovery.json<{ resources: { name: string }[] }>().resources[0]?.name, 'leases');
  });

  test('unknown paths: plain 404 outside the API, a Status inside it, 405 for an unserved method', async (t) => {
    const emulator = await startEmulator(t);
    const outside = await raw(emulator, 'GET', '/nothing/here');
    assert.equal(outside.status, 404);
    assert.equal(outside.text, '404 page not found\n');
    const inside = await raw(emulator, 'GET', '/apis/coordination.k8s.io/v1/namespaces/default/widgets');
    assert.equal(inside.status, 404);
    assert.deepEqual(inside.json(), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'the server could not find the requested resource',
      reason: 'NotFound',
      details: {},
      code: 404,
    });
    const method = await raw(emulator, 'POST', leasePath(NS, 'lock'), { body: lease('lock') });
    assert.equal(method.status, 405);
    assert.equal(method.json()['reason'], 'MethodNotAllowed');
    assert.deepEqual(method.json()['details'], {});
  });
});

describe('direct store access', () => {
  test('putLease, getLease and deleteLease write like any client', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    const put = emulator.putLease(NS, { metadata: { name: 'lock' }, spec: { holderIdentity: 'outsider', renewTime: new Date(0) } });
    assert.equal(put.spec.renewTime, '1970-01-01T00:00:00.000000Z');
    const read = await api.readNamespacedLease({ name: 'lock', namespace: NS });
    assert.equal(read.spec?.holderIdentity, 'outsider');

    const copy = emulator.getLease(NS, 'lock');
    assert.ok(copy);
    copy.spec.holderIdentity = 'changed';
    assert.equal(emulator.getLease(NS, 'lock')?.spec.holderIdentity, 'outsider', 'getLease returns a copy');
    const replaced = emulator.putLease(NS, copy);
    assert.notEqual(replaced.metadata.resourceVersion, put.metadata.resourceVersion);
    assert.equal(replaced.metadata.uid, put.metadata.uid);

    assert.throws(() => emulator.putLease(NS, { metadata: { name: 'bad' }, spec: { leaseDurationSeconds: 0 } }), RangeError);
    assert.throws(() => emulator.putLease(NS, { metadata: { name: 'bad' }, spec: { renewTime: '2026-01-02T15:04:05Z' } }), TypeError);
    assert.throws(() => emulator.putLease('elsewhere', { metadata: { name: 'x' } }), RangeError);

    assert.equal(emulator.deleteLease(NS, 'lock'), true);
    assert.equal(emulator.deleteLease(NS, 'lock'), false);
    assert.equal((await failure(api.readNamespacedLease({ name: 'lock', namespace: NS }))).code, 404);
  });
});
