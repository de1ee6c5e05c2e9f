// Authentication (401) and RBAC-like authorization (403) with the server's wording.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ApiException, CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';

import { failure, leasePath, raw, startEmulator, WatchRecorder } from './helpers/emulator-client.js';
import { failureStatus } from './suites/conformance/context.js';

const NS = 'default';

function forbiddenBody(message: string, name?: string): Record<string, unknown> {
  const details = { group: 'coordination.k8s.io', kind: 'leases' };
  return failureStatus(403, 'Forbidden', message, name === undefined ? details : { name, ...details });
}

describe('authentication', () => {
  test('a request without a token, or with an unknown one, is 401 Unauthorized', async (t) => {
    const emulator = await startEmulator(t);
    const expected = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    };
    const none = await raw(emulator, 'GET', leasePath(NS, 'lock'), { token: null });
    assert.equal(none.status, 401);
    assert.deepEqual(none.json(), expected);
    const unknown = await raw(emulator, 'GET', leasePath(NS), { token: 'guess' });
    assert.deepEqual(unknown.json(), expected);
    const health = await raw(emulator, 'GET', '/healthz', { token: null });
    assert.equal(health.status, 401);

    // client-node reports a 401 without the body.
    const config = new KubeConfig();
    config.loadFromOptions({
      clusters: [{ name: 'c', server: emulator.url, skipTLSVerify: true }],
      users: [{ name: 'u', token: 'wrong' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    await assert.rejects(
      config.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'lock', namespace: NS }),
      (error) => error instanceof ApiException && error.code === 401,
    );
  });

  test('with anonymousAuth, a request without a token is system:anonymous: health yes, leases no', async (t) => {
    const emulator = await startEmulator(t, { anonymousAuth: true });
    assert.equal((await raw(emulator, 'GET', '/version', { token: null })).status, 200);
    const lease = await raw(emulator, 'GET', leasePath(NS, 'lock'), { token: null });
    assert.equal(lease.status, 403);
    assert.deepEqual(
      lease.json(),
      forbiddenBody(
        'leases.coordination.k8s.io "lock" is forbidden: User "system:anonymous" cannot get resource "leases" in API group "coordination.k8s.io" in the namespace "default"',
        'lock',
      ),
    );
    assert.equal((await raw(emulator, 'GET', leasePath(NS), { token: 'guess' })).status, 401, 'a bad token still fails');
  });
});

describe('authorization', () => {
  test('a forbidden verb is 403 naming user, verb and namespace, and the lease when the request names one', async (t) => {
    const emulator = await startEmulator(t);
    const reader = emulator.addUser('reader', { verbs: ['get'] }).makeApiClient(CoordinationV1Api);
    emulator.putLease(NS, { metadata: { name: 'lock' } });
    const lease = await reader.readNamespacedLease({ name: 'lock', namespace: NS });

    const update = await failure(reader.replaceNamespacedLease({ name: 'lock', namespace: NS, body: lease }));
    assert.equal(update.code, 403);
    assert.deepEqual(
      update.status,
      forbiddenBody(
        'leases.coordination.k8s.io "lock" is forbidden: User "reader" cannot update resource "leases" in API group "coordination.k8s.io" in the namespace "default"',
        'lock',
      ),
    );
    const list = await failure(reader.listNamespacedLease({ namespace: NS }));
    assert.deepEqual(
      list.status,
      forbiddenBody(
        'leases.coordination.k8s.io is forbidden: User "reader" cannot list resource "leases" in API group "coordination.k8s.io" in the namespace "default"',
      ),
    );
    const create = await failure(reader.createNamespacedLease({ namespace: NS, body: { metadata: { name: 'new' } } }));
    assert.equal(
      create.status.message,
      'leases.coordination.k8s.io is forbidden: User "reader" cannot create resource "leases" in API group "coordination.k8s.io" in the namespace "default"',
    );
    const all = await failure(reader.listLeaseForAllNamespaces());
    assert.equal(
      all.status.message,
      'leases.coordination.k8s.io is forbidden: User "reader" cannot list resource "leases" in API group "coordination.k8s.io" at the cluster scope',
    );
  });

  test('a list or watch pinned to one name by fieldSelector is authorized against that name', async (t) => {
    const emulator = await startEmulator(t);
    const config = emulator.addUser('getter', { verbs: ['get'] });
    const answer = await raw(emulator, 'GET', `${leasePath(NS)}?watch=1&fieldSelector=metadata.name%3Dlock`, { token: emulator.token('getter') });
    assert.equal(answer.status, 403);
    assert.equal(
      answer.json()['message'],
      'leases.coordination.k8s.io "lock" is forbidden: User "getter" cannot watch resource "leases" in API group "coordination.k8s.io" in the namespace "default"',
    );
    // client-node's Watch reports a refused watch through its done callback.
    const watch = await WatchRecorder.open(config, leasePath(NS), { fieldSelector: 'metadata.name=lock' });
    assert.equal((await watch.ended()) instanceof Error && ((await watch.done) as { statusCode?: number }).statusCode, 403);
  });

  test('PUT that would create needs "create" as well as "update"', async (t) => {
    const emulator = await startEmulator(t);
    const updater = emulator.addUser('updater', { verbs: ['update'] }).makeApiClient(CoordinationV1Api);
    const answer = await failure(updater.replaceNamespacedLease({ name: 'lock', namespace: NS, body: { metadata: { name: 'lock' } } }));
    assert.equal(answer.code, 403);
    // The handler asks the authorizer for "create" and words the refusal as the filter does.
    assert.deepEqual(
      answer.status,
      forbiddenBody(
        'leases.coordination.k8s.io "lock" is forbidden: User "updater" cannot create resource "leases" in API group "coordination.k8s.io" in the namespace "default"',
        'lock',
      ),
    );
  });

  test('a user limited to namespaces is refused elsewhere; permissions can be changed', async (t) => {
    const emulator = await startEmulator(t, { namespaces: ['default', 'team-a'] });
    emulator.addUser('team', { namespaces: ['team-a'] });
    const api = emulator.kubeConfig({ user: 'team' }).makeApiClient(CoordinationV1Api);
    await api.createNamespacedLease({ namespace: 'team-a', body: { metadata: { name: 'lock' } } });
    assert.equal((await failure(api.createNamespacedLease({ namespace: NS, body: { metadata: { name: 'lock' } } }))).code, 403);
    const token = emulator.token('team');
    emulator.addUser('team', { verbs: ['get'], namespaces: ['team-a'] });
    assert.equal(emulator.token('team'), token, 'the token is kept');
    assert.equal((await failure(api.deleteNamespacedLease({ name: 'lock', namespace: 'team-a' }))).code, 403);
    assert.throws(() => emulator.addUser('x', { verbs: ['frobnicate' as never] }), RangeError);
    assert.throws(() => emulator.kubeConfig({ user: 'nobody' }), RangeError);
  });
});
