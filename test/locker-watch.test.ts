// Waiting on the Lease's watch instead of polling: release, deletion, exact expiry, resume,
// 410 re-list, one shared watch per process, and the polling fallback without watch rights.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { LeaseLocker } from '../src/index.js';
import type { LeaseLockerOptions } from '../src/index.js';
import { startLeaseApiEmulator } from '../src/testing/index.js';
import type { LeaseApiEmulator, LeaseVerb } from '../src/testing/index.js';
import { FakeClock } from './helpers/fake-clock.js';
import { waitFor } from './helpers/wait-for.js';
import { uniqueLeaseName } from './suites/lease-server.js';

describe('waiting on the watch (emulator)', () => {
  let emulator: LeaseApiEmulator;
  let users = 0;
  const lockers: LeaseLocker[] = [];
  before(async () => { emulator = await startLeaseApiEmulator({ bookmarkIntervalMs: 0 }); });
  afterEach(async () => {
    await Promise.all(lockers.map(async (l) => l.unlock().catch(() => false)));
    await waitFor(() => emulator.openWatches === 0, 'no watch left open by the test');
  });
  after(async () => { await emulator.close(); });

  /** A waiter on its own identity and a manual clock: its poll timer never fires unless the test advances it. */
  function waiter(name: string, options: LeaseLockerOptions & { verbs?: LeaseVerb[] } = {}) {
    users += 1;
    const user = `waiter-${users}`;
    const { verbs, ...lockerOptions } = options;
    const clock = new FakeClock();
    const kubeConfig = emulator.addUser(user, verbs === undefined ? {} : { verbs });
    const locker = new LeaseLocker(kubeConfig, { namespace: 'default', name }, user, { clock, ...lockerOptions });
    lockers.push(locker);
    const count = (verb: LeaseVerb): number => emulator.countRequests({ user, verb, name });
    return { locker, clock, user, count };
  }

  // Keeps the annotations (the waiting line), as a holder's own renewal does.
  const holdAs = (name: string, holder: string, at: Date = new Date()): void => {
    const annotations = emulator.getLease('default', name)?.metadata.annotations;
    emulator.putLease('default', { metadata: { name, ...(annotations === undefined ? {} : { annotations }) }, spec: { holderIdentity: holder, leaseDurationSeconds: 15, leaseTransitions: 4, acquireTime: at, renewTime: at } });
  };
  const release = (name: string): void => {
    const lease = emulator.getLease('default', name);
    emulator.putLease('default', { metadata: { name }, spec: { ...lease?.spec, holderIdentity: '', leaseDurationSeconds: 1 } });
  };
  // Each test leaves no watch open, so the count is this test's own.
  const watching = async (count = 1): Promise<void> => waitFor(() => emulator.openWatches === count, `${count} open watch(es)`);

  it('acquires as soon as the watch shows the lease released, with one write besides joining the line, and no read', async () => {
    const name = uniqueLeaseName('watch-release');
    holdAs(name, 'other');
    const w = waiter(name);
    const locking = w.locker.lock();
    await watching();
    release(name);
    await locking;
    assert.equal(w.clock.now(), 1_000, 'no timer had to fire');
    // Two writes: joining the line while the lease was held, and the acquisition.
    assert.deepEqual([w.count('list'), w.count('watch'), w.count('get'), w.count('update')], [1, 1, 0, 2]);
    assert.equal(w.locker.fencingToken, 5);
    // A contended hold keeps the watch (others may join the line), until it ends.
    assert.equal(emulator.openWatches, 1);
    await w.locker.unlock();
    await waitFor(() => emulator.openWatches === 0, 'the watch ended with the hold');
  });

  it('creates the lease once a hold the watch shows deleted would have expired, not before', async () => {
    // Its holder learns of the deletion only at its next renewal: taking the lease at once would
    // make two holders until then.
    const name = uniqueLeaseName('watch-delete');
    holdAs(name, 'other');
    const w = waiter(name);
    const start = w.clock.now();
    let acquired = false;
    const locking = w.locker.lock().then(() => { acquired = true; });
    await watching();
    emulator.deleteLease('default', name);
    await waitFor(() => emulator.countRequests({ verb: 'watch', name }) === 1 && w.clock.nextAt === start + 15_000, 'a timer at the deleted hold\'s expiry');
    await w.clock.advance(14_999);
    assert.equal(acquired, false, 'created the lease while its deleted holder may still act');
    await w.clock.advance(1);
    await locking;
    assert.equal(w.locker.fencingToken, 0);
    assert.deepEqual([w.count('get'), emulator.countRequests({ user: w.user, verb: 'create' })], [0, 1]);
    await w.locker.unlock();
  });

  it('takes an abandoned lease at the exact instant it expires, re-armed by every renewal it sees', async () => {
    const name = uniqueLeaseName('watch-expiry');
    holdAs(name, 'other');
    const w = waiter(name);
    const start = w.clock.now();
    let acquired = false;
    const locking = w.locker.lock().then(() => { acquired = true; });
    await watching();
    await waitFor(() => w.clock.nextAt === start + 15_000, 'a timer at the expiry');
    await w.clock.advance(5_000);
    holdAs(name, 'other'); // the holder renews: seen at +5 s
    await waitFor(() => w.clock.nextAt === start + 20_000, 'the timer moved to the new expiry');
    await w.clock.advance(14_999);
    assert.equal(acquired, false);
    await w.clock.advance(1);
    await locking;
    assert.deepEqual([w.count('list'), w.count('get'), w.count('update')], [1, 0, 2], 'waiting cost no request but the watch and joining the line');
    await w.locker.unlock();
  });

  it('several waiters of one process share one watch, and losers learn the winner from it', async () => {
    const name = uniqueLeaseName('watch-shared');
    holdAs(name, 'other');
    // One KubeConfig (one set of credentials): lockers with other credentials never share a watch.
    users += 1;
    const user = `waiter-${users}`;
    const kubeConfig = emulator.addUser(user);
    const waiters = ['a', 'b', 'c'].map((id) => new LeaseLocker(kubeConfig, { namespace: 'default', name }, `${user}-${id}`, { clock: new FakeClock() }));
    lockers.push(...waiters);
    const reads = (): number => emulator.countRequests({ user, verb: 'get', name }) + emulator.countRequests({ user, verb: 'list', name });
    const line = (): number => (JSON.parse(emulator.getLease('default', name)?.metadata.annotations?.['leaselocker/waiting-line'] ?? '[]') as unknown[]).length;
    const locks: Promise<unknown>[] = [];
    for (const w of waiters) {
      locks.push(w.lock());
      await waitFor(() => line() === locks.length, 'the waiter joined the line');
    }
    await watching(1);
    await waitFor(() => reads() === 3, 'every waiter read once');
    release(name);
    const first = await Promise.race(locks.map(async (p, i) => p.then(() => i)));
    assert.equal(reads(), 3, 'no read after the release: the losers saw the winner on the watch');
    assert.equal(emulator.openWatches, 1, 'the others still wait on the shared watch');
    // Each unlock() hands over to the next waiter of this process.
    const remaining = new Set(waiters.keys());
    let holder = first;
    for (;;) {
      remaining.delete(holder);
      await waiters[holder]?.unlock();
      if (remaining.size === 0) break;
      holder = await Promise.race([...remaining].map(async (i) => locks[i]?.then(() => i) ?? i));
    }
    await waitFor(() => emulator.openWatches === 0, 'no watch left');
  });

  it('waiters with different credentials do not share a watch', async () => {
    const name = uniqueLeaseName('watch-per-credentials');
    holdAs(name, 'other');
    const waiters = [waiter(name), waiter(name)];
    const locks = waiters.map((w) => w.locker.lock());
    await watching(2);
    release(name);
    const first = await Promise.race(locks.map(async (p, i) => p.then(() => i)));
    await waiters[first]?.locker.unlock();
    await locks[1 - first];
    await waiters[1 - first]?.locker.unlock();
  });

  it('resumes a dropped watch from the last version, without listing again', async () => {
    const name = uniqueLeaseName('watch-resume');
    holdAs(name, 'other');
    const w = waiter(name);
    const locking = w.locker.lock();
    await watching();
    assert.equal(emulator.faults.dropWatches(), 1);
    await waitFor(() => w.count('watch') === 2 && emulator.openWatches === 1, 'a second watch');
    release(name);
    await locking;
    assert.equal(w.count('list'), 1);
    await w.locker.unlock();
  });

  it('lists again after 410 Expired and still sees the release', async () => {
    const name = uniqueLeaseName('watch-410');
    holdAs(name, 'other');
    const w = waiter(name);
    const locking = w.locker.lock();
    await watching();
    // The watch drops and its resume is held back while the lease changes and history is
    // compacted: the resume's version is then too old, and the server answers 410.
    const hole = emulator.faults.blackhole({ verb: 'watch', name, onClear: 'deliver' });
    emulator.faults.dropWatches();
    await waitFor(() => emulator.heldRequests === 1, 'the resume held back');
    holdAs(name, 'other');
    emulator.compact();
    hole.clear();
    await waitFor(() => w.count('list') === 2 && emulator.openWatches === 1, 'a list and a new watch after 410');
    release(name);
    await locking;
    assert.equal(w.count('get'), 0);
    await w.locker.unlock();
  });

  it('polls when not allowed to list or watch, and still gets the lease', async () => {
    const name = uniqueLeaseName('watch-forbidden');
    holdAs(name, 'other');
    const w = waiter(name, { verbs: ['get', 'create', 'update'] });
    let acquired = false;
    const locking = w.locker.lock().then(() => { acquired = true; });
    await waitFor(() => w.count('get') === 1 && w.clock.nextAt !== undefined, 'a read, then the poll timer');
    release(name);
    await w.clock.advance(2_400); // the poll, retryPeriod plus jitter
    await locking;
    assert.equal(acquired, true);
    assert.equal(emulator.openWatches, 0);
    assert.equal(w.count('get'), 2);
    await w.locker.unlock();
  });

  it('an aborted waiter leaves no watch behind', async () => {
    const name = uniqueLeaseName('watch-abort');
    holdAs(name, 'other');
    const w = waiter(name);
    const controller = new AbortController();
    const locking = w.locker.lock({ signal: controller.signal });
    await watching();
    controller.abort(new Error('enough'));
    await assert.rejects(locking, /enough/);
    await waitFor(() => emulator.openWatches === 0, 'the watch closed');
  });
});
