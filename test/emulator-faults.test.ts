// Fault injection and the request log.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { V1Lease } from '@kubernetes/client-node';

import { failure, leasePath, leasesApi, raw, startEmulator } from './helpers/emulator-client.js';

const NS = 'default';

describe('faults', () => {
  test('latency delays the matching requests only', async (t) => {
    const emulator = await startEmulator(t);
    emulator.putLease(NS, { metadata: { name: 'lock' } });
    const api = leasesApi(emulator);
    const slow = emulator.faults.latency(300, { verb: 'get', name: 'lock' });
    const started = performance.now();
    await api.readNamespacedLease({ name: 'lock', namespace: NS });
    assert.ok(performance.now() - started >= 290, 'the matching read waited');
    await api.listNamespacedLease({ namespace: NS });
    await api.readNamespacedLease({ name: 'other', namespace: NS }).catch(() => undefined);
    assert.equal(slow.hits, 1, 'neither the list nor another name matched');
    slow.clear();
    assert.equal(slow.active, false);
  });

  test('response-phase latency: the write happens although the client gives up first', async (t) => {
    const emulator = await startEmulator(t);
    emulator.faults.latency(2000, { verb: 'create', phase: 'response' });
    await assert.rejects(
      raw(emulator, 'POST', leasePath(NS), { body: { metadata: { name: 'lock' } }, signal: AbortSignal.timeout(200) }),
      { name: 'TimeoutError' },
    );
    // The server acted before its delayed answer: the lease exists all the same.
    await emulator.waitFor((e) => e.getLease(NS, 'lock') !== undefined, { timeoutMs: 1000 });
  });

  test('fail answers a Status error for the next `times` matching requests', async (t) => {
    const emulator = await startEmulator(t);
    emulator.putLease(NS, { metadata: { name: 'lock' } });
    const api = leasesApi(emulator);
    const fault = emulator.faults.fail({ status: 503, times: 2 }, { verb: 'get' });
    for (let i = 0; i < 2; i++) {
      const answer = await failure(api.readNamespacedLease({ name: 'lock', namespace: NS }));
      assert.equal(answer.code, 503);
      assert.deepEqual(answer.status, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'the server is currently unable to handle the request',
        reason: 'ServiceUnavailable',
        code: 503,
      });
    }
    await api.readNamespacedLease({ name: 'lock', namespace: NS });
    assert.equal(fault.hits, 2);
    assert.equal(fault.active, false);
  });

  test('fail with 429 and retryAfterSeconds sends Retry-After; a raw body replaces the Status', async (t) => {
    const emulator = await startEmulator(t);
    const throttled = emulator.faults.fail({ status: 429, retryAfterSeconds: 3, times: 1 });
    const answer = await raw(emulator, 'GET', leasePath(NS));
    assert.equal(answer.status, 429);
    assert.equal(answer.headers.get('retry-after'), '3');
    assert.deepEqual(answer.json(), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Too many requests, please try again later.',
      reason: 'TooManyRequests',
      details: { retryAfterSeconds: 3 },
      code: 429,
    });
    assert.equal(throttled.active, false);

    emulator.faults.fail({ status: 429, retryAfterSeconds: 1, body: 'Too many requests, please try again later.\n', times: 1 });
    const text = await raw(emulator, 'GET', leasePath(NS));
    assert.equal(text.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(text.text, 'Too many requests, please try again later.\n');
  });

  test('fail words lease-specific codes as the server does, and takes a custom reason and message', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    emulator.faults.fail({ status: 403, times: 1 }, { verb: 'update', name: 'lock' });
    const forbidden = await failure(api.replaceNamespacedLease({ name: 'lock', namespace: NS, body: { metadata: { name: 'lock' } } }));
    assert.equal(
      forbidden.status.message,
      'leases.coordination.k8s.io "lock" is forbidden: User "kubernetes-admin" cannot update resource "leases" in API group "coordination.k8s.io" in the namespace "default"',
    );
    emulator.faults.fail({ status: 500, reason: 'InternalError', message: 'etcdserver: request timed out', times: 1 });
    const custom = await failure(api.listNamespacedLease({ namespace: NS }));
    assert.equal(custom.code, 500);
    assert.equal(custom.status.message, 'etcdserver: request timed out');
    assert.throws(() => emulator.faults.fail({ status: 200 }), RangeError);
  });

  test('blackhole holds requests until the client gives up, the fault is cleared, or the emulator closes', async (t) => {
    const emulator = await startEmulator(t);
    const hole = emulator.faults.blackhole({ verb: 'get' });
    await assert.rejects(raw(emulator, 'GET', leasePath(NS, 'lock'), { signal: AbortSignal.timeout(150) }), { name: 'TimeoutError' });
    await emulator.waitFor((e) => e.heldRequests === 0, { timeoutMs: 1000 });

    const pending = raw(emulator, 'GET', leasePath(NS, 'lock'));
    await emulator.waitFor((e) => e.heldRequests === 1);
    hole.clear();
    // Cleared with the default onClear "destroy": the held connection is reset.
    await assert.rejects(pending);
    assert.equal((await raw(emulator, 'GET', leasePath(NS, 'lock'))).status, 404, 'later requests pass');
  });

  test('a blackhole cleared with onClear "deliver" lets the held request through late', async (t) => {
    const emulator = await startEmulator(t);
    const hole = emulator.faults.blackhole({ verb: 'create', onClear: 'deliver' });
    const pending = leasesApi(emulator).createNamespacedLease({ namespace: NS, body: { metadata: { name: 'lock' } } });
    await emulator.waitFor((e) => e.heldRequests === 1);
    assert.equal(emulator.getLease(NS, 'lock'), undefined, 'nothing happened while held');
    hole.clear();
    const created = await pending;
    assert.equal(created.metadata?.name, 'lock');
  });

  test('requests held at close() are reset, so close() does not hang', async (t) => {
    const emulator = await startEmulator(t);
    emulator.faults.blackhole();
    const pending = raw(emulator, 'GET', leasePath(NS));
    await emulator.waitFor((e) => e.heldRequests === 1);
    await emulator.close();
    await assert.rejects(pending);
  });

  test('onRequest can change the lease between a read and a write, provoking a conflict', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    const created = await api.createNamespacedLease({ namespace: NS, body: { metadata: { name: 'lock' }, spec: { holderIdentity: 'me' } } });
    const hook = emulator.faults.onRequest(
      () => {
        emulator.putLease(NS, { metadata: { name: 'lock' }, spec: { holderIdentity: 'thief' } });
      },
      { verb: 'update', name: 'lock', times: 1 },
    );
    const answer = await failure(
      api.replaceNamespacedLease({ name: 'lock', namespace: NS, body: { ...created, spec: { holderIdentity: 'me', leaseDurationSeconds: 5 } } }),
    );
    assert.equal(answer.code, 409);
    assert.equal(emulator.getLease(NS, 'lock')?.spec.holderIdentity, 'thief');
    assert.equal(hook.hits, 1);
  });

  test('onRequest sees the request and may answer an error instead', async (t) => {
    const emulator = await startEmulator(t);
    const seen: string[] = [];
    emulator.faults.onRequest((request) => {
      seen.push(`${request.verb} ${request.namespace} ${request.name ?? '-'} ${request.user}`);
      return request.verb === 'create' ? { status: 504 } : undefined;
    });
    const api = leasesApi(emulator);
    const answer = await failure(api.createNamespacedLease({ namespace: NS, body: { metadata: { name: 'lock' } } }));
    assert.equal(answer.code, 504);
    assert.equal(answer.status.reason, 'Timeout');
    await failure(api.readNamespacedLease({ name: 'lock', namespace: NS }));
    assert.deepEqual(seen, ['create default - kubernetes-admin', 'get default lock kubernetes-admin']);
    emulator.faults.clear();
    await api.createNamespacedLease({ namespace: NS, body: { metadata: { name: 'lock' } } });
    assert.equal(seen.length, 2, 'cleared hooks run no more');
  });
});

describe('request log', () => {
  test('records verb, namespace, name, user and status of every lease request', async (t) => {
    const emulator = await startEmulator(t);
    emulator.addUser('alice', { verbs: ['get', 'create', 'update', 'list', 'watch'] });
    const api = leasesApi(emulator, 'alice');
    const created: V1Lease = await api.createNamespacedLease({ namespace: NS, body: { metadata: { name: 'lock' } } });
    await api.readNamespacedLease({ name: 'lock', namespace: NS });
    await failure(api.readNamespacedLease({ name: 'missing', namespace: NS }));
    await api.replaceNamespacedLease({ name: 'lock', namespace: NS, body: { ...created, spec: { holderIdentity: 'alice' } } });
    await failure(api.deleteNamespacedLease({ name: 'lock', namespace: NS }));
    await api.listNamespacedLease({ namespace: NS, fieldSelector: 'metadata.name=lock' });
    await raw(emulator, 'GET', '/version');

    const log = emulator.requests.map(({ verb, namespace, name, user, status }) => ({ verb, namespace, name, user, status }));
    assert.deepEqual(log, [
      { verb: 'create', namespace: NS, name: undefined, user: 'alice', status: 201 },
      { verb: 'get', namespace: NS, name: 'lock', user: 'alice', status: 200 },
      { verb: 'get', namespace: NS, name: 'missing', user: 'alice', status: 404 },
      { verb: 'update', namespace: NS, name: 'lock', user: 'alice', status: 200 },
      { verb: 'delete', namespace: NS, name: 'lock', user: 'alice', status: 403 },
      { verb: 'list', namespace: NS, name: 'lock', user: 'alice', status: 200 },
    ]);
    assert.ok(emulator.requests.every((record) => typeof record.at === 'number' && record.at > 0));
    assert.equal(emulator.countRequests(), 6);
    assert.equal(emulator.countRequests({ verb: 'get' }), 2);
    assert.equal(emulator.countRequests({ verb: ['get', 'update'], status: 200 }), 2);
    assert.equal(emulator.countRequests({ name: 'lock', user: 'alice' }), 4);
    emulator.resetRequests();
    assert.deepEqual(emulator.requests, []);
  });

  test('an unauthenticated request is logged with an empty user', async (t) => {
    const emulator = await startEmulator(t);
    await raw(emulator, 'GET', leasePath(NS, 'lock'), { token: null });
    assert.deepEqual(
      emulator.requests.map(({ verb, user, status }) => ({ verb, user, status })),
      [{ verb: 'get', user: '', status: 401 }],
    );
  });
});
