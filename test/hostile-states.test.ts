// Lock records in odd states, driven through the loop on a fake clock: some a real API server
// refuses to store (they reach a locker through a ResourceLock of one's own), some a hand edit can
// leave behind; and fields of the Lease that the locker does not own, through the emulator.
// Never two holders, no crash.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { LeaseLocker, MicroTime } from '../src/index.js';
import type { LockRecord } from '../src/index.js';
import { startLeaseApiEmulator } from '../src/testing/index.js';
import type { LeaseApiEmulator } from '../src/testing/index.js';
import type { FakeClock } from './helpers/fake-clock.js';
import { memoryFixture } from './helpers/memory-locker.js';
import { waitFor } from './helpers/wait-for.js';
import { fastTiming } from './suites/locker-behaviour.js';
import { uniqueLeaseName } from './suites/lease-server.js';

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => { unhandled.push(reason); };
before(() => { process.on('unhandledRejection', onUnhandled); });
after(() => {
  process.off('unhandledRejection', onUnhandled);
  assert.deepEqual(unhandled, [], 'no unhandled rejection');
});

/** Advances `clock` in `stepMs` steps up to `totalMs`, failing as soon as `bad()` holds. */
async function advanceChecking(clock: FakeClock, totalMs: number, stepMs: number, bad: () => string | undefined): Promise<void> {
  for (let elapsed = 0; elapsed < totalMs; elapsed += stepMs) {
    await clock.advance(stepMs);
    const problem = bad();
    if (problem !== undefined) assert.fail(`after ${elapsed + stepMs} ms: ${problem}`);
  }
}

/** How `promise` settled; a wait that never ends here would end the test run instead of failing it. */
async function settled(promise: Promise<unknown>): Promise<'resolved' | 'rejected'> {
  return promise.then(() => 'resolved' as const, () => 'rejected' as const);
}

describe('odd lock records left by others (fake clock)', () => {
  const odd: Array<[string, (record: LockRecord) => LockRecord]> = [
    ['leaseDurationSeconds 0', (r) => ({ ...r, leaseDurationSeconds: 0 })],
    ['leaseDurationSeconds -5', (r) => ({ ...r, leaseDurationSeconds: -5 })],
    ['leaseDurationSeconds NaN', (r) => ({ ...r, leaseDurationSeconds: Number.NaN })],
    ['no renewTime, no acquireTime', (r) => ({ ...r, renewTime: undefined, acquireTime: undefined })],
    ['an invalid renewTime', (r) => ({ ...r, renewTime: new Date(Number.NaN), acquireTime: new Date(Number.NaN) })],
  ];
  for (const useObservedTime of [true, false]) {
    for (const [what, edit] of odd) {
      it(`a holder with ${what} (useObservedTime ${String(useObservedTime)}) is presumed alive for our lease duration`, async () => {
        const { store, clock, locker, heldBy } = memoryFixture({ useObservedTime });
        store.writeOutside(edit(heldBy('other')));
        const a = locker('a');
        assert.equal(await a.tryLock(), undefined, 'someone is named holder: not free at once');
        const seenAt = clock.now();
        const locking = settled(a.lock({ signal: AbortSignal.timeout(5_000) }));
        await advanceChecking(clock, 14_900, 100, () => (a.isLocked ? 'taken before our own lease duration passed' : undefined));
        await clock.advance(2_500);
        assert.equal(a.isLocked, true, 'taken once our own lease duration passed');
        assert.equal(await locking, 'resolved');
        assert.ok(clock.now() - seenAt >= 15_000);
        assert.equal(store.record?.holderIdentity, 'a');
        assert.equal(store.record?.leaseDurationSeconds, 15);
        await a.unlock();
      });
    }
  }

  it('a holder with leaseDurationSeconds 2^31 - 1 is waited for (ten minutes here), with one read per retry period', async () => {
    const { store, clock, locker, heldBy } = memoryFixture();
    store.writeOutside({ ...heldBy('forever'), leaseDurationSeconds: 2_147_483_647 });
    const a = locker('a');
    const controller = new AbortController();
    const locking = a.lock({ signal: controller.signal });
    await advanceChecking(clock, 600_000, 10_000, () => (a.isLocked ? 'taken' : undefined));
    const reads = store.count('get', 'a');
    assert.ok(reads >= 250 && reads <= 301, `${reads} reads in ten minutes at one per 2-2.4 s`);
    controller.abort(new Error('enough'));
    await assert.rejects(locking, /enough/);
    assert.equal(clock.pending, 0, 'nothing left running');
  });

  it('an outside write of leaseDurationSeconds 0 over our hold: we keep it and write our own duration again', async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('a');
    const b = locker('b');
    await a.lock();
    const locking = settled(b.lock({ signal: AbortSignal.timeout(5_000) }));
    store.writeOutside({ ...store.record!, leaseDurationSeconds: 0 });
    await advanceChecking(clock, 12_000, 100, () => (b.isLocked ? 'a waiter took the lease beside its holder' : undefined));
    assert.equal(a.isLocked, true);
    assert.equal(store.record?.leaseDurationSeconds, 15);
    await a.unlock();
    await clock.advance(2_500);
    assert.equal(await locking, 'resolved');
    assert.equal(b.isLocked, true);
    await b.unlock();
  });

  it('useObservedTime: false trusts renewTime: a waiter whose wall clock runs 14 s ahead takes a live lease; with true it does not', async () => {
    for (const useObservedTime of [false, true]) {
      const { store, clock } = memoryFixture();
      const holder = new LeaseLocker(store.lockFor('holder'), { clock });
      const waiter = new LeaseLocker(store.lockFor('waiter'), { clock: clock.skewed(14_000), useObservedTime });
      await holder.lock();
      const controller = new AbortController();
      const waiting = waiter.lock({ signal: controller.signal }).then(() => 'acquired', () => 'aborted');
      let bothAt: number | undefined;
      let acquiredAt: number | undefined;
      for (let t = 0; t < 10_000; t += 50) {
        await clock.advance(50);
        if (waiter.isLocked && acquiredAt === undefined) acquiredAt = t + 50;
        if (waiter.isLocked && holder.isLocked && bothAt === undefined) bothAt = t + 50;
      }
      controller.abort(new Error('enough'));
      const outcome = await waiting;
      if (useObservedTime) {
        assert.equal(outcome, 'aborted', 'with observed time the live holder keeps its lease');
        assert.equal(acquiredAt, undefined);
        assert.equal(holder.isLocked, true);
      } else {
        // The holder's renewTime looks 14 s old to the skewed waiter: 1 s left of 15. It takes the
        // lease between two renewals (every 2 s), while the holder still believes it holds it.
        assert.equal(outcome, 'acquired', 'with renewTime the skewed waiter took the lease early');
        assert.ok(acquiredAt !== undefined && acquiredAt <= 2_500, `acquired after ${String(acquiredAt)} ms`);
        assert.ok(bothAt !== undefined, 'the documented hazard: both held the lease for a while');
        await waiter.unlock();
      }
      await holder.unlock();
    }
  });
});

describe('fields the locker does not own (emulator)', () => {
  let emulator: LeaseApiEmulator;
  let admin: CoordinationV1Api;
  const lockers: LeaseLocker[] = [];
  before(async () => {
    emulator = await startLeaseApiEmulator({ coordinatedLeaderElection: true });
    admin = emulator.kubeConfig().makeApiClient(CoordinationV1Api);
  });
  after(async () => {
    await Promise.all(lockers.map(async (l) => l.unlock().catch(() => false)));
    await emulator.close();
  });
  const locker = (name: string, owner: string): LeaseLocker => {
    const created = new LeaseLocker(emulator.kubeConfig(), { namespace: 'default', name }, owner, fastTiming);
    lockers.push(created);
    return created;
  };

  it('strategy and preferredHolder are kept by acquisition, renewal, takeover and release', async () => {
    const name = uniqueLeaseName('coordinated');
    const renewTime = new MicroTime(Date.now() - 60_000);
    await admin.createNamespacedLease({
      namespace: 'default',
      body: {
        metadata: { name },
        spec: { holderIdentity: 'stale', leaseDurationSeconds: 1, renewTime, acquireTime: renewTime, strategy: 'OldestEmulationVersion', preferredHolder: 'b' },
      },
    });
    const kept = (): void => {
      const spec = emulator.getLease('default', name)?.spec;
      assert.equal(spec?.strategy, 'OldestEmulationVersion');
      assert.equal(spec?.preferredHolder, 'b');
    };
    const a = locker(name, 'a');
    await a.lock();
    kept();
    let renewals = 0;
    a.on('renewed', () => { renewals += 1; });
    await waitFor(() => renewals >= 2, 'two renewals');
    kept();
    assert.equal(await a.unlock(), true);
    kept();
    assert.equal(emulator.getLease('default', name)?.spec.holderIdentity, '');
  });

  it('labels and annotations edited while held are kept, and the hold goes on', async () => {
    const name = uniqueLeaseName('relabelled');
    const a = locker(name, 'a');
    await a.lock();
    // As another client would: read, change, write; again when a renewal wrote in between.
    await waitFor(async () => {
      const lease = await admin.readNamespacedLease({ name, namespace: 'default' });
      lease.metadata = { ...lease.metadata, labels: { team: 'data' }, annotations: { 'example.com/note': 'x'.repeat(4096) } };
      return admin.replaceNamespacedLease({ name, namespace: 'default', body: lease }).then(() => true, () => false);
    }, 'the outside edit');
    const edited = emulator.getLease('default', name)?.metadata.resourceVersion;
    await waitFor(() => emulator.getLease('default', name)?.metadata.resourceVersion !== edited, 'a renewal after the edit');
    assert.equal(a.isLocked, true);
    const renewed = emulator.getLease('default', name);
    assert.equal(renewed?.spec.holderIdentity, 'a');
    assert.equal(renewed?.metadata.labels?.['team'], 'data');
    assert.equal(renewed?.metadata.annotations?.['example.com/note']?.length, 4096);
    assert.equal(await a.unlock(), true);
  });
});
