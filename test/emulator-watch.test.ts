// Watches through client-node's Watch: events, resume, 410 after compaction,
// bookmarks, timeouts and streams cut by the server.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { V1Lease } from '@kubernetes/client-node';

import { leasePath, leasesApi, raw, startEmulator, WatchRecorder } from './helpers/emulator-client.js';

const NS = 'default';
const PATH = leasePath(NS);

function lease(name: string, holderIdentity = 'a'): V1Lease {
  return { metadata: { name }, spec: { holderIdentity } };
}

describe('watch', () => {
  test('headers arrive at once: Watch.watch() resolves although no event is sent', async (t) => {
    const emulator = await startEmulator(t);
    const started = Date.now();
    const watch = await WatchRecorder.open(emulator.kubeConfig(), PATH, { fieldSelector: 'metadata.name=nothing' });
    t.after(() => watch.stop());
    assert.ok(Date.now() - started < 2000, 'resolved promptly');
    assert.equal(emulator.openWatches, 1);
    assert.deepEqual(watch.events, []);
  });

  test('without a resourceVersion: ADDED for what exists, then MODIFIED and DELETED in order', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    const first = await api.createNamespacedLease({ namespace: NS, body: lease('one') });
    const watch = await WatchRecorder.open(emulator.kubeConfig(), PATH, {});
    t.after(() => watch.stop());
    const modified = await api.replaceNamespacedLease({ name: 'one', namespace: NS, body: { ...first, spec: { holderIdentity: 'b' } } });
    const second = await api.createNamespacedLease({ namespace: NS, body: lease('two') });
    await api.deleteNamespacedLease({ name: 'one', namespace: NS });
    const events = await watch.waitForEvents(4);
    assert.deepEqual(
      events.map((event) => `${event.type} ${event.object.metadata?.name}`),
      ['ADDED one', 'MODIFIED one', 'ADDED two', 'DELETED one'],
    );
    assert.equal(events[0]?.object.metadata?.resourceVersion, first.metadata?.resourceVersion);
    assert.equal(events[1]?.object.metadata?.resourceVersion, modified.metadata?.resourceVersion);
    assert.equal(events[2]?.object.metadata?.resourceVersion, second.metadata?.resourceVersion);
    // A DELETED event carries the deletion's revision, newer than any before.
    assert.ok(Number(events[3]?.object.metadata?.resourceVersion) > Number(second.metadata?.resourceVersion));
    assert.equal(events[1]?.object['kind'], 'Lease');
  });

  test('a fieldSelector on metadata.name watches one lease', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    const watch = await WatchRecorder.open(emulator.kubeConfig(), PATH, { fieldSelector: 'metadata.name=mine' });
    t.after(() => watch.stop());
    await api.createNamespacedLease({ namespace: NS, body: lease('other') });
    await api.createNamespacedLease({ namespace: NS, body: lease('mine') });
    const events = await watch.waitForEvents(1);
    assert.equal(events[0]?.object.metadata?.name, 'mine');
    await api.deleteNamespacedLease({ name: 'other', namespace: NS });
    await api.deleteNamespacedLease({ name: 'mine', namespace: NS });
    const all = await watch.waitForEvents(2);
    assert.deepEqual(all.map((event) => event.type), ['ADDED', 'DELETED']);
  });

  test('resuming from a resourceVersion sends only the later events', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    const created = await api.createNamespacedLease({ namespace: NS, body: lease('lock', 'a') });
    const b = await api.replaceNamespacedLease({ name: 'lock', namespace: NS, body: { ...created, spec: { holderIdentity: 'b' } } });
    await api.replaceNamespacedLease({ name: 'lock', namespace: NS, body: { ...b, spec: { holderIdentity: 'c' } } });
    const watch = await WatchRecorder.open(emulator.kubeConfig(), PATH, {
      resourceVersion: created.metadata?.resourceVersion ?? '',
      fieldSelector: 'metadata.name=lock',
    });
    t.after(() => watch.stop());
    const events = await watch.waitForEvents(2);
    assert.deepEqual(
      events.map((event) => `${event.type} ${String(event.object['spec'] && (event.object['spec'] as { holderIdentity: string }).holderIdentity)}`),
      ['MODIFIED b', 'MODIFIED c'],
    );
  });

  test('after compact() a resume from an older resourceVersion gets one ERROR 410 Expired, then the stream ends', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    const created = await api.createNamespacedLease({ namespace: NS, body: lease('lock') });
    await api.replaceNamespacedLease({ name: 'lock', namespace: NS, body: { ...created, spec: { holderIdentity: 'b' } } });
    emulator.compact();
    const rv = created.metadata?.resourceVersion ?? '';
    const watch = await WatchRecorder.open(emulator.kubeConfig(), PATH, { resourceVersion: rv });
    const events = await watch.waitForEvents(1);
    assert.deepEqual(events[0], {
      type: 'ERROR',
      object: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `too old resource version: ${rv} (${emulator.resourceVersion})`,
        reason: 'Expired',
        code: 410,
      },
    });
    assert.equal(await watch.ended(), null);
    assert.equal(watch.events.length, 1);
  });

  test('a resume older than the retained history (historyLimit) is 410 too', async (t) => {
    const emulator = await startEmulator(t, { historyLimit: 2 });
    const api = leasesApi(emulator);
    let current = await api.createNamespacedLease({ namespace: NS, body: lease('lock') });
    const oldest = current.metadata?.resourceVersion ?? '';
    for (const holder of ['b', 'c', 'd']) {
      current = await api.replaceNamespacedLease({ name: 'lock', namespace: NS, body: { ...current, spec: { holderIdentity: holder } } });
    }
    const expired = await WatchRecorder.open(emulator.kubeConfig(), PATH, { resourceVersion: oldest });
    assert.equal((await expired.waitForEvents(1))[0]?.object['code'], 410);
    // From the revision just below the oldest kept event, every later event is still there.
    const recent = await WatchRecorder.open(emulator.kubeConfig(), PATH, { resourceVersion: emulator.resourceVersion });
    t.after(() => recent.stop());
    await api.replaceNamespacedLease({ name: 'lock', namespace: NS, body: { ...current, spec: { holderIdentity: 'e' } } });
    assert.equal((await recent.waitForEvents(1))[0]?.type, 'MODIFIED');
  });

  test('a write that changes nothing sends no event', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    const created = await api.createNamespacedLease({ namespace: NS, body: lease('lock') });
    const watch = await WatchRecorder.open(emulator.kubeConfig(), PATH, { resourceVersion: created.metadata?.resourceVersion ?? '' });
    t.after(() => watch.stop());
    await api.replaceNamespacedLease({ name: 'lock', namespace: NS, body: created });
    await api.replaceNamespacedLease({ name: 'lock', namespace: NS, body: { ...created, spec: { holderIdentity: 'b' } } });
    const events = await watch.waitForEvents(1);
    assert.equal((events[0]?.object['spec'] as { holderIdentity: string }).holderIdentity, 'b');
    await api.createNamespacedLease({ namespace: NS, body: lease('marker') });
    await watch.waitForEvents(2);
    assert.equal(watch.events.length, 2, 'the unchanged write made no event');
  });

  test('bookmarks are empty Leases with the current resourceVersion, sent once the server is past the start', async (t) => {
    const emulator = await startEmulator(t, { bookmarkIntervalMs: 20, namespaces: [NS, 'elsewhere'] });
    await leasesApi(emulator).createNamespacedLease({ namespace: NS, body: lease('lock') });
    const watch = await WatchRecorder.open(emulator.kubeConfig(), PATH, {
      allowWatchBookmarks: true,
      resourceVersion: emulator.resourceVersion,
    });
    t.after(() => watch.stop());
    // Nothing has happened since the start, so no bookmark is due; a write the
    // watch does not select moves the server on.
    emulator.putLease('elsewhere', { metadata: { name: 'mover' } });
    const [event] = await watch.waitForEvents(1);
    assert.deepEqual(event, {
      type: 'BOOKMARK',
      object: { kind: 'Lease', apiVersion: 'coordination.k8s.io/v1', metadata: { resourceVersion: emulator.resourceVersion }, spec: {} },
    });
  });

  test('no bookmarks without allowWatchBookmarks', async (t) => {
    const emulator = await startEmulator(t, { bookmarkIntervalMs: 10, namespaces: [NS, 'elsewhere'] });
    const plain = await WatchRecorder.open(emulator.kubeConfig(), PATH, {});
    t.after(() => plain.stop());
    const withBookmarks = await WatchRecorder.open(emulator.kubeConfig(), PATH, {
      allowWatchBookmarks: true,
      resourceVersion: emulator.resourceVersion,
    });
    t.after(() => withBookmarks.stop());
    emulator.putLease('elsewhere', { metadata: { name: 'mover' } });
    // Three bookmark intervals have passed once the other watch saw three bookmarks.
    await withBookmarks.waitForEvents(3);
    assert.deepEqual(plain.events, []);
  });

  test('without a resourceVersion, a watch that takes bookmarks gets one after the initial events', async (t) => {
    const emulator = await startEmulator(t, { bookmarkIntervalMs: 0 });
    emulator.putLease(NS, { metadata: { name: 'lock' } });
    for (const start of [{}, { resourceVersion: '0' }]) {
      const watch = await WatchRecorder.open(emulator.kubeConfig(), PATH, { allowWatchBookmarks: true, ...start });
      t.after(() => watch.stop());
      const events = await watch.waitForEvents(2);
      assert.deepEqual(events.map((event) => event.type), ['ADDED', 'BOOKMARK']);
      assert.deepEqual(events[1]?.object['metadata'], {
        resourceVersion: emulator.resourceVersion,
        annotations: { 'k8s.io/initial-events-end': 'true' },
      });
    }
  });

  test('timeoutSeconds ends the stream cleanly', async (t) => {
    const emulator = await startEmulator(t);
    const started = Date.now();
    const watch = await WatchRecorder.open(emulator.kubeConfig(), PATH, { timeoutSeconds: 1 });
    assert.equal(await watch.ended(4000), null);
    assert.ok(Date.now() - started >= 900, 'not before the timeout');
    await emulator.waitFor((e) => e.openWatches === 0, { timeoutMs: 1000 });
  });

  test('dropWatches ends every open stream, as an API server restart does', async (t) => {
    const emulator = await startEmulator(t);
    const clean = await WatchRecorder.open(emulator.kubeConfig(), PATH, {});
    const cut = await WatchRecorder.open(emulator.kubeConfig(), PATH, {});
    assert.equal(emulator.faults.dropWatches(), 2);
    assert.equal(await clean.ended(), null);
    assert.equal(await cut.ended(), null);
    await emulator.waitFor((e) => e.openWatches === 0, { timeoutMs: 1000 });

    const abrupt = await WatchRecorder.open(emulator.kubeConfig(), PATH, {});
    assert.equal(emulator.faults.dropWatches({ abrupt: true }), 1);
    // A reset connection reaches client-node as an error, not a clean end.
    assert.ok((await abrupt.ended()) instanceof Error);
  });

  test('a label selector turns leaving the selection into DELETED and entering into ADDED', async (t) => {
    const emulator = await startEmulator(t);
    const api = leasesApi(emulator);
    const watch = await WatchRecorder.open(emulator.kubeConfig(), PATH, { labelSelector: 'team=x' });
    t.after(() => watch.stop());
    const created = await api.createNamespacedLease({ namespace: NS, body: { metadata: { name: 'lock', labels: { team: 'x' } } } });
    const moved = await api.replaceNamespacedLease({ name: 'lock', namespace: NS, body: { ...created, metadata: { ...created.metadata, labels: { team: 'y' } } } });
    await api.replaceNamespacedLease({ name: 'lock', namespace: NS, body: { ...moved, metadata: { ...moved.metadata, labels: { team: 'x' } } } });
    const events = await watch.waitForEvents(3);
    assert.deepEqual(events.map((event) => event.type), ['ADDED', 'DELETED', 'ADDED']);
  });

  test('events are newline-delimited JSON over one chunked response', async (t) => {
    const emulator = await startEmulator(t);
    emulator.putLease(NS, { metadata: { name: 'lock' } });
    const answer = await raw(emulator, 'GET', `${PATH}?watch=1&timeoutSeconds=1`);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('content-type'), 'application/json');
    assert.equal(answer.headers.get('transfer-encoding'), 'chunked');
    const lines = answer.text.split('\n');
    assert.equal(lines.at(-1), '');
    assert.equal((JSON.parse(lines[0] ?? '') as { type: string }).type, 'ADDED');
  });

  test('a resourceVersion the server has not reached: no error, only the changes after it', async (t) => {
    const emulator = await startEmulator(t);
    const ahead = Number(emulator.resourceVersion) + 30;
    const watch = await WatchRecorder.open(emulator.kubeConfig(), PATH, { resourceVersion: String(ahead) });
    t.after(() => watch.stop());
    const written: string[] = [];
    for (let holder = 0; Number(emulator.resourceVersion) <= ahead + 10; holder++) {
      written.push(emulator.putLease(NS, { metadata: { name: 'lock' }, spec: { holderIdentity: String(holder) } }).metadata.resourceVersion);
    }
    const later = written.filter((resourceVersion) => Number(resourceVersion) > ahead);
    const events = await watch.waitForEvents(later.length);
    assert.deepEqual(events.map((event) => event.object.metadata?.resourceVersion), later);
    assert.ok(events.every((event) => event.type !== 'ERROR'));
  });

  test('sendInitialEvents ends the initial ADDED events with an annotated bookmark', async (t) => {
    const emulator = await startEmulator(t, { bookmarkIntervalMs: 0 });
    emulator.putLease(NS, { metadata: { name: 'lock' } });
    const watch = await WatchRecorder.open(emulator.kubeConfig(), PATH, {
      sendInitialEvents: true,
      allowWatchBookmarks: true,
      resourceVersionMatch: 'NotOlderThan',
    });
    t.after(() => watch.stop());
    const events = await watch.waitForEvents(2);
    assert.equal(events[0]?.type, 'ADDED');
    assert.deepEqual(events[1], {
      type: 'BOOKMARK',
      object: {
        kind: 'Lease',
        apiVersion: 'coordination.k8s.io/v1',
        metadata: { resourceVersion: emulator.resourceVersion, annotations: { 'k8s.io/initial-events-end': 'true' } },
        spec: {},
      },
    });
  });

  test('a non-numeric resourceVersion is a 500 with a plain message', async (t) => {
    const emulator = await startEmulator(t);
    const answer = await raw(emulator, 'GET', `${PATH}?watch=true&resourceVersion=abc`);
    assert.equal(answer.status, 500);
    assert.deepEqual(answer.json(), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax',
      code: 500,
    });
  });
});
