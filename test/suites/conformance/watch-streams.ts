// Watches of one lease (list path, fieldSelector=metadata.name): event shapes,
// resuming, bookmarks, timeouts and the 410 of a resume the server cannot serve.

import assert from 'node:assert/strict';
import { it } from 'node:test';

import { uniqueLeaseName } from '../lease-server.js';
import { assertStatus, DECIMAL, failureStatus, type Conformance, type LeaseJson } from './context.js';
import type { WatchEvent } from './raw-http.js';

const INITIAL_EVENTS_END = 'k8s.io/initial-events-end';

export function watchStreams(suite: () => Conformance): void {
  it('without a resourceVersion: ADDED for the stored lease, then MODIFIED and DELETED as it changes', async () => {
    const c = suite();
    const name = uniqueLeaseName('watched');
    await c.create(name, { holderIdentity: 'a' });
    const stored = await c.read(name);
    using watch = await c.watch(c.watchPath(name, { timeoutSeconds: '30' }));
    assert.equal(watch.status, 200);
    assert.equal(watch.headers['content-type'], 'application/json');

    const added = await watch.nextEvent();
    assert.deepEqual(Object.keys(added), ['type', 'object']);
    assert.deepEqual(added, { type: 'ADDED', object: stored });

    const updated = await c.put(name, { resourceVersion: stored.metadata.resourceVersion }, { holderIdentity: 'b' });
    const modified = updated.json<LeaseJson>();
    assert.deepEqual(await watch.nextEvent(), { type: 'MODIFIED', object: modified });

    assert.equal((await c.request('DELETE', c.path(name))).status, 200);
    const deleted = await watch.nextEvent();
    assert.equal(deleted.type, 'DELETED');
    // The last state, at the revision of the deletion.
    const deletedVersion = String(deleted.object.metadata?.['resourceVersion']);
    assert.match(deletedVersion, DECIMAL);
    assert.ok(BigInt(deletedVersion) > BigInt(modified.metadata.resourceVersion));
    assert.deepEqual(deleted.object, { ...modified, metadata: { ...modified.metadata, resourceVersion: deletedVersion } });
  });

  it('answers its headers at once and sends nothing for a name that does not exist until it is created', async () => {
    const c = suite();
    const name = uniqueLeaseName('watched-later');
    using watch = await c.watch(c.watchPath(name, { timeoutSeconds: '30' }));
    assert.equal(watch.status, 200);
    assert.equal(watch.events.length, 0);
    const created = await c.create(name, { holderIdentity: 'a' });
    assert.deepEqual(await watch.nextEvent(), { type: 'ADDED', object: created });
  });

  it('resumed from a resourceVersion: only the changes after it', async () => {
    const c = suite();
    const name = uniqueLeaseName('resumed');
    const created = await c.create(name, { holderIdentity: 'a' });
    const second = (await c.put(name, { resourceVersion: created.metadata.resourceVersion }, { holderIdentity: 'b' })).json<LeaseJson>();
    const third = (await c.put(name, { resourceVersion: second.metadata.resourceVersion }, { holderIdentity: 'c' })).json<LeaseJson>();

    using fromCreate = await c.watch(c.watchPath(name, { resourceVersion: created.metadata.resourceVersion, timeoutSeconds: '30' }));
    assert.deepEqual(await fromCreate.nextEvent(), { type: 'MODIFIED', object: second });
    assert.deepEqual(await fromCreate.nextEvent(), { type: 'MODIFIED', object: third });

    using fromLatest = await c.watch(c.watchPath(name, { resourceVersion: third.metadata.resourceVersion, timeoutSeconds: '30' }));
    const fourth = (await c.put(name, { resourceVersion: third.metadata.resourceVersion }, { holderIdentity: 'd' })).json<LeaseJson>();
    // The first event is the new change: nothing from before the resourceVersion came first.
    assert.deepEqual(await fromLatest.nextEvent(), { type: 'MODIFIED', object: fourth });
    assert.deepEqual(await fromCreate.nextEvent(), { type: 'MODIFIED', object: fourth });
  });

  it('with allowWatchBookmarks and no resourceVersion (or "0"), the initial events end with a BOOKMARK', async () => {
    const c = suite();
    const name = uniqueLeaseName('initial-end');
    const lease = await c.create(name, { holderIdentity: 'a' });
    for (const start of [{}, { resourceVersion: '0' }]) {
      using watch = await c.watch(c.watchPath(name, { allowWatchBookmarks: 'true', timeoutSeconds: '30', ...start }));
      assert.deepEqual(await watch.nextEvent(), { type: 'ADDED', object: lease });
      const bookmark = await watch.nextEvent();
      const resourceVersion = assertBookmark(bookmark, { [INITIAL_EVENTS_END]: 'true' });
      assert.ok(BigInt(resourceVersion) >= BigInt(lease.metadata.resourceVersion));
    }
  });

  it('a resumed watch gets a BOOKMARK before its timeout once the server is past its resourceVersion', async () => {
    const c = suite();
    const name = uniqueLeaseName('bookmarked');
    await c.create(name);
    const start = await c.listResourceVersion(name);
    using watch = await c.watch(c.watchPath(name, { allowWatchBookmarks: 'true', resourceVersion: start, timeoutSeconds: '3' }));
    // A write the watch does not select moves the server past `start`.
    const other = await c.create(uniqueLeaseName('bookmark-mover'));
    const bookmark = await watch.nextEvent(3_000);
    const resourceVersion = assertBookmark(bookmark, undefined);
    assert.ok(BigInt(resourceVersion) >= BigInt(other.metadata.resourceVersion));
    await watch.ended(5_000);
  });

  it('timeoutSeconds ends the stream', async () => {
    const c = suite();
    using watch = await c.watch(c.watchPath(uniqueLeaseName('timeout'), { timeoutSeconds: '1' }));
    await watch.ended(5_000);
    const lasted = (watch.endedAt ?? 0) - watch.openedAt;
    assert.ok(lasted >= 900 && lasted < 3_000, `the watch lasted ${Math.round(lasted)} ms`);
    assert.deepEqual(watch.events, []);
  });

  it('a resume from before the retained history answers an ERROR event with a 410 Expired Status, then ends', async () => {
    const c = suite();
    const name = uniqueLeaseName('expired');
    const created = await c.create(name, { holderIdentity: 'a' });
    const updated = (await c.put(name, { resourceVersion: created.metadata.resourceVersion }, { holderIdentity: 'b' })).json<LeaseJson>();
    await c.server.forgetWatchHistory();
    const now = await c.listResourceVersion(name);

    using watch = await c.watch(c.watchPath(name, { resourceVersion: created.metadata.resourceVersion, timeoutSeconds: '30' }));
    assert.equal(watch.status, 200);
    const error = await watch.nextEvent();
    assert.equal(error.type, 'ERROR');
    const message = String(error.object['message']);
    const match = /^too old resource version: (\d+) \((\d+)\)$/.exec(message);
    assert.ok(match, message);
    assert.equal(match[1], created.metadata.resourceVersion);
    // The oldest revision still served: at least the last write before the history was lost, at most now.
    const oldest = BigInt(match[2] ?? '0');
    assert.ok(oldest >= BigInt(updated.metadata.resourceVersion) && oldest <= BigInt(now), `${oldest} within [${updated.metadata.resourceVersion}, ${now}]`);
    assert.deepEqual(error.object, failureStatus(410, 'Expired', message));
    assert.deepEqual(Object.keys(error.object), ['kind', 'apiVersion', 'metadata', 'status', 'message', 'reason', 'code']);
    await watch.ended();
    assert.equal(watch.events.length, 1);

    // Starting again from a fresh list works.
    using again = await c.watch(c.watchPath(name, { resourceVersion: now, timeoutSeconds: '30' }));
    const latest = (await c.put(name, { resourceVersion: updated.metadata.resourceVersion }, { holderIdentity: 'c' })).json<LeaseJson>();
    assert.deepEqual(await again.nextEvent(), { type: 'MODIFIED', object: latest });
  });

  it('a resourceVersion that is not a number answers 500; a timeoutSeconds that is not one 400', async () => {
    const c = suite();
    assertStatus(
      await c.request('GET', c.watchPath(uniqueLeaseName('bad-rv'), { resourceVersion: 'abc' })),
      failureStatus(500, undefined, 'resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax'),
    );
    const huge = '99999999999999999999999';
    assertStatus(
      await c.request('GET', c.watchPath(uniqueLeaseName('huge-rv'), { resourceVersion: huge })),
      failureStatus(500, undefined, `resourceVersion: Invalid value: "${huge}": strconv.ParseUint: parsing "${huge}": value out of range`),
    );
    assertStatus(
      await c.request('GET', c.watchPath(uniqueLeaseName('bad-timeout'), { timeoutSeconds: 'soon' })),
      failureStatus(400, 'BadRequest', 'strconv.ParseInt: parsing "soon": invalid syntax'),
    );
  });

  it('a watch from a resourceVersion the server has not reached waits silently, skipping changes up to it', async () => {
    const c = suite();
    const name = uniqueLeaseName('future');
    const created = await c.create(name);
    const future = String(BigInt(await c.listResourceVersion(name)) + 1_000_000n);
    using watch = await c.watch(c.watchPath(name, { resourceVersion: future, timeoutSeconds: '4' }));
    assert.equal(watch.status, 200);
    await c.put(name, { resourceVersion: created.metadata.resourceVersion }, { holderIdentity: 'b' });
    await watch.ended(8_000);
    assert.deepEqual(watch.events, []);
  });
}

/** Asserts a BOOKMARK's exact shape and returns its resourceVersion. */
function assertBookmark(event: WatchEvent, annotations: Record<string, string> | undefined): string {
  assert.equal(event.type, 'BOOKMARK', JSON.stringify(event));
  const resourceVersion = String(event.object.metadata?.['resourceVersion']);
  assert.match(resourceVersion, DECIMAL);
  const metadata = annotations === undefined ? { resourceVersion } : { resourceVersion, annotations };
  assert.deepEqual(event.object, { kind: 'Lease', apiVersion: 'coordination.k8s.io/v1', metadata, spec: {} });
  assert.deepEqual(Object.keys(event.object), ['kind', 'apiVersion', 'metadata', 'spec']);
  return resourceVersion;
}
