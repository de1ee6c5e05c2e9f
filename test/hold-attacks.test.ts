// Attacks on a hold: throwing listeners, losses followed by unexpected calls, writes that land
// late or are answered after a freeze, call signals, releaseOnCancel after a loss, 410 storms.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LeaseLocker } from '../src/index.js';
import { startLeaseApiEmulator } from '../src/testing/index.js';
import type { LeaseApiEmulator } from '../src/testing/index.js';
import { uniqueLeaseName } from './suites/lease-server.js';
import { LeaseExpiredError, LeaseRequestError, LockLostError } from '../src/errors.js';
import type { LockRecord } from '../src/record.js';
import type { LockSnapshot, ResourceLockCallOptions } from '../src/resource-lock.js';
import { FakeClock, settle } from './helpers/fake-clock.js';
import { MemoryLock, apiError } from './helpers/memory-lock.js';
import type { MemoryStore } from './helpers/memory-lock.js';
import { LeaseLocker as Locker } from '../src/lease-locker.js';
import { memoryFixture } from './helpers/memory-locker.js';

/** Collects unhandled rejections while `fn` runs (and a little after). */
async function unhandledDuring(fn: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const onRejection = (reason: unknown): void => { seen.push(reason); };
  const listeners = process.listeners('unhandledRejection');
  process.removeAllListeners('unhandledRejection');
  process.on('unhandledRejection', onRejection);
  try {
    await fn();
    await settle(10);
  } finally {
    process.off('unhandledRejection', onRejection);
    for (const l of listeners) process.on('unhandledRejection', l);
  }
  return seen;
}

describe('attacks on a hold (memory)', () => {
  it('fencingToken is undefined at once after a blocked event loop passed the renew deadline (README: "At once")', async () => {
    const { clock, locker } = memoryFixture();
    const holder = locker('pod-0');
    await holder.lock();
    assert.notEqual(holder.fencingToken, undefined);
    clock.jump(60_000); // frozen far past renewDeadlineMs and leaseDurationMs; no timer has run
    // README "A blocked event loop": isLocked, fencingToken, assertHeld(), check() and unlock() see the deadline at once.
    assert.equal(holder.fencingToken, undefined, 'a stale hold hands out its fencing token');
    assert.equal(holder.isLocked, false);
    await holder.unlock();
  });

  it("an 'acquired' listener that throws does not leave a hold that lock()'s caller cannot know of", async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('pod-a');
    a.once('acquired', () => { throw new Error('listener bug'); });
    const outcome = await a.lock().then(() => 'resolved', (e: unknown) => `rejected: ${(e as Error).message}`);
    if (outcome !== 'resolved') {
      // lock() rejected: its caller rightly believes it holds nothing and will never unlock().
      await clock.advance(60_000);
      await settle(10);
      const stillHeld = a.isLocked;
      const renewals = store.count('update', 'pod-a');
      await a.unlock();
      assert.equal(stillHeld, false, `lock() ${outcome}, yet the locker holds the lease and renewed it ${renewals} times: held for ever by nobody who knows`);
    }
  });

  it("a 'lost' listener that throws causes no unhandled rejection (the process would crash)", async () => {
    const { store, clock, locker, heldBy } = memoryFixture();
    const a = locker('pod-a');
    await a.lock();
    a.on('lost', () => { throw new Error('listener bug'); });
    const seen = await unhandledDuring(async () => {
      store.writeOutside(heldBy('pod-b')); // taken: the next renewal conflicts, reads, and loses
      await clock.advance(2_000);
      await settle(10);
    });
    assert.equal(a.isLocked, false);
    assert.deepEqual(seen.map((e) => (e as Error).message), [], 'unhandled rejection(s) from the renew loop');
  });

  it('check() does not report an expired lease for a hold ended by the lifetime signal (the locker does not believe it holds)', async () => {
    const controller = new AbortController();
    const { clock, locker } = memoryFixture();
    const a = locker('pod-a', { signal: controller.signal, releaseOnCancel: false });
    await a.lock();
    controller.abort(new Error('shutting down'));
    await settle();
    assert.equal(a.isLocked, false);
    await clock.advance(120_000);
    // check(): throws "when we believe we hold the lease (holding, or lost it only by failing to renew)".
    assert.doesNotThrow(() => a.check(0), LeaseExpiredError);
  });

  it('check() does not report an expired lease after a fatal renewal error ended the hold', async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('pod-a');
    await a.lock();
    store.failNext('update', apiError(403, 'Forbidden'));
    await clock.advance(2_000);
    await settle();
    assert.equal((a.signal.reason as LockLostError).reason, 'fatal');
    await clock.advance(120_000);
    assert.doesNotThrow(() => a.check(0), LeaseExpiredError);
  });
});

describe('attacks on a hold (memory, release after a failed renewal)', () => {
  it('unlock() after a renewal failed with a non-retryable answer still releases the lease that shows our acquisition', async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('pod-a');
    await a.lock();
    store.failNext('update', apiError(403, 'Forbidden')); // one refused renewal (say, RBAC being re-applied)
    await clock.advance(2_000);
    await settle();
    assert.equal((a.signal.reason as LockLostError).reason, 'fatal');
    assert.equal(store.record?.holderIdentity, 'pod-a', 'the lease still shows our acquisition, and nobody wrote since');
    // README/unlock(): "After a hold was lost because renewals failed, it still tries one release on
    // condition that nobody wrote since our last renewal."
    const released = await a.unlock();
    assert.equal(store.record?.holderIdentity, '', `unlock() resolved ${String(released)} without trying: waiters wait a whole lease duration for a lease nobody renews`);
  });

  it("a 'renewed' listener that throws does not end the hold as 'fatal' and leave the lease unreleasable", async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('pod-a');
    await a.lock();
    a.once('renewed', () => { throw new Error('listener bug'); });
    await clock.advance(2_000);
    await settle();
    const lostReason = a.signal.aborted ? (a.signal.reason as LockLostError).reason : 'none';
    const released = await a.unlock();
    assert.equal(lostReason, 'none', `a listener bug ended the hold (${lostReason}); unlock() then resolved ${String(released)} and the lease names ${store.record?.holderIdentity ?? ''}`);
  });
});

/**
 * A lock over a slow API server: the first create times out at the client, but the server
 * applies it later — here, just before the next create of the same locker arrives.
 */
class LateCreate extends MemoryLock {
  #late: LockRecord | undefined;
  armed = true;

  constructor(store: MemoryStore, identity: string) { super(store, identity); }

  override async create(record: LockRecord, options: ResourceLockCallOptions = {}): Promise<LockSnapshot> {
    if (this.armed) {
      this.armed = false;
      this.#late = record; // still on its way through the server
      await Promise.resolve();
      throw new LeaseRequestError('memory create', { timedOut: true });
    }
    const late = this.#late;
    this.#late = undefined;
    if (late !== undefined && this.store.record === undefined) this.store.writeOutside(late); // the earlier create lands now
    return super.create(record, options);
  }
}

describe('attacks on a hold (memory, a write with an unknown outcome that lands late)', () => {
  it('a timed-out create that lands after the next read is claimed or released, not left orphaned for a lease duration', async () => {
    const { store, clock } = memoryFixture();
    const lock = new LateCreate(store, 'pod-a');
    const a = new Locker(lock, { clock });
    let acquired = false;
    const locking = a.lock().then(() => { acquired = true; });
    await settle();
    // First create: timed out, outcome unknown; the retry waits one retry period.
    await clock.advance(2_000);
    await settle(10);
    // The next attempt read "no lease", created again, and met the first create (409 AlreadyExists).
    assert.equal(store.record?.holderIdentity, 'pod-a', 'the first create landed');
    await clock.advance(10_000); // well within the lease duration (15 s)
    await settle(10);
    const renewals = store.count('update', 'pod-a');
    const orphaned = !acquired && store.record?.holderIdentity === 'pod-a';
    await clock.advance(60_000);
    await locking;
    await a.unlock();
    assert.equal(orphaned, false, `12 s on, lock() still waits out its own acquisition, which names pod-a and is renewed by nobody (${renewals} updates)`);
  });
});

/** A lock whose requests hang (until aborted) while `partitioned`: a network partition of one process. */
class Partitioned extends MemoryLock {
  partitioned = false;

  constructor(store: MemoryStore, identity: string) { super(store, identity); }

  async #cut(signal: AbortSignal | undefined): Promise<void> {
    if (!this.partitioned) return;
    await new Promise<never>((_resolve, reject) => {
      if (signal?.aborted === true) reject(signal.reason as Error);
      signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    });
  }

  override async get(options: ResourceLockCallOptions = {}): Promise<LockSnapshot | undefined> {
    await this.#cut(options.signal);
    return super.get(options);
  }

  override async update(record: LockRecord, base: LockSnapshot, options: ResourceLockCallOptions = {}): Promise<LockSnapshot> {
    await this.#cut(options.signal);
    return super.update(record, base, options);
  }
}

describe('attacks on a hold (memory, call signals)', () => {
  it('unlock({ signal }) rejects when its signal aborts while a renewal is in flight (CallOptions: "Aborts the call")', async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('pod-a');
    await a.lock();
    const gate = store.holdNext('update');
    await clock.advance(2_000); // the renewal is sent and hangs
    await gate.reached;
    const controller = new AbortController();
    let outcome = 'pending';
    const unlocking = a.unlock({ signal: controller.signal }).then(() => { outcome = 'resolved'; }, () => { outcome = 'rejected'; });
    await settle();
    controller.abort(new Error('shutdown budget spent'));
    await settle(10);
    const seen = outcome;
    gate.release();
    await clock.advance(10_000);
    await unlocking;
    assert.equal(seen, 'rejected', 'unlock() ignored its aborted signal until the renewal in flight settled');
  });

  it('unlock({ signal }) rejects when its signal aborts while it waits for a cancelled acquisition to settle', async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('pod-a');
    const gate = store.holdNext('create');
    const locking = a.lock().catch(() => undefined);
    await gate.reached;
    // The create is in flight; the cancelled acquisition must find out whether it landed (abandon()).
    const getGate = store.holdNext('get');
    const controller = new AbortController();
    let outcome = 'pending';
    const unlocking = a.unlock({ signal: controller.signal }).then(() => { outcome = 'resolved'; }, () => { outcome = 'rejected'; });
    await settle(10);
    controller.abort(new Error('shutdown budget spent'));
    await settle(10);
    const seen = outcome;
    getGate.release();
    gate.release();
    await clock.advance(10_000);
    await Promise.all([locking, unlocking]);
    assert.equal(seen, 'rejected', 'unlock() ignored its aborted signal while the acquisition settled');
  });
});

describe('attacks on a hold (memory, releaseOnCancel)', () => {
  it('releaseOnCancel releases a lease still showing our acquisition after a renew-deadline loss (as unlock() would)', async () => {
    const controller = new AbortController();
    const { store, clock } = memoryFixture();
    const lockA = new Partitioned(store, 'pod-a');
    const a = new Locker(lockA, { clock, signal: controller.signal, releaseOnCancel: true });
    await a.lock();
    lockA.partitioned = true; // an API server blip: renewals hang until the renew deadline
    await clock.advance(11_000);
    await settle();
    assert.equal((a.signal.reason as LockLostError).reason, 'renew-deadline');
    lockA.partitioned = false; // the API is back
    assert.equal(store.record?.holderIdentity, 'pod-a');
    controller.abort(new Error('SIGTERM')); // the process shuts down; releaseOnCancel: "the lease is released"
    await settle(10);
    await clock.advance(5_000);
    await settle(10);
    assert.equal(store.record?.holderIdentity, '', 'the lease still names pod-a (nobody renews it): waiters wait a whole lease duration');
  });
});

describe('attacks on a hold (memory, methods in unexpected orders)', () => {
  it('a failed release is not forgotten by a tryLock() in between: the next unlock() still releases it', async () => {
    const { store, locker } = memoryFixture();
    const a = locker('pod-a');
    await a.lock();
    store.failNext('update', apiError(503, 'ServiceUnavailable'));
    await assert.rejects(a.unlock()); // "Rejects when the release could not be written; calling again retries it."
    assert.ok(await a.tryLock(), 'our own unreleased acquisition is taken afresh, not waited out');
    const released = await a.unlock();
    assert.equal(store.record?.holderIdentity, '', `unlock() resolved ${String(released)} and left the lease naming pod-a, renewed by nobody, until it expires`);
  });

  it('a renew-deadline loss is not forgotten by a tryLock() in between: the next unlock() still releases it', async () => {
    const { store, clock } = memoryFixture();
    const lockA = new Partitioned(store, 'pod-a');
    const a = new Locker(lockA, { clock });
    await a.lock();
    lockA.partitioned = true;
    await clock.advance(11_000);
    await settle();
    assert.equal((a.signal.reason as LockLostError).reason, 'renew-deadline');
    lockA.partitioned = false;
    assert.ok(await a.tryLock(), 'our own previous acquisition is taken afresh, not waited out');
    const released = await a.unlock();
    assert.equal(store.record?.holderIdentity, '', `unlock() resolved ${String(released)} and left the lease naming pod-a until it expires`);
  });
});

describe('attacks on a hold (memory, a process frozen while its acquisition was in flight)', () => {
  it('lock() resolves only with a live hold, not one whose renew deadline passed before its answer was read', async () => {
    const { store, clock } = memoryFixture();
    const lock = new SlowAnswer(store, 'pod-a');
    const a = new Locker(lock, { clock });
    let resolved = false;
    const locking = a.lock().then(() => { resolved = true; });
    await lock.landed; // the create landed ...
    clock.jump(60_000); // ... but this process is frozen for a minute before it reads the answer
    // Meanwhile another process saw the create, waited out the lease and took it over.
    const record = store.record;
    assert.ok(record !== undefined);
    store.writeOutside({ ...record, holderIdentity: 'pod-b', acquireTime: new Date(clock.wallTime()), renewTime: new Date(clock.wallTime()), leaseTransitions: record.leaseTransitions + 1 });
    lock.answer();
    await settle();
    assert.equal(resolved, false, 'lock() resolved with a hold whose renew deadline had passed');
    await clock.advance(2_000); // the next attempt reads: pod-b holds a live lease
    assert.equal(resolved, false);
    assert.equal(store.record?.holderIdentity, 'pod-b');
    await a.unlock();
    await locking.catch(() => undefined);
  });
});

/** A lock whose create lands at once but answers only when `answer()` is called, ignoring the caller's signal. */
class SlowAnswer extends MemoryLock {
  #answer: (() => void) | undefined;
  readonly landed: Promise<void>;
  #onLanded!: () => void;

  constructor(store: MemoryStore, identity: string) {
    super(store, identity);
    this.landed = new Promise((resolve) => { this.#onLanded = resolve; });
  }

  answer(): void { this.#answer?.(); }

  override async create(record: LockRecord): Promise<LockSnapshot> {
    const result = await super.create(record, {});
    this.#onLanded();
    await new Promise<void>((resolve) => { this.#answer = resolve; });
    return result;
  }
}

describe('attacks on a hold (memory, unlock() while acquiring)', () => {
  it('unlock() during an acquisition whose write landed does not resolve while the lease still names our acquisition', async () => {
    const { store, clock } = memoryFixture();
    const lock = new SlowAnswer(store, 'pod-a');
    const a = new Locker(lock, { clock });
    const locking = a.lock().catch((e: unknown) => e);
    await lock.landed;
    const unlocking = a.unlock(); // cancels; "resolves once nothing is held"
    store.failNext('update', apiError(503, 'ServiceUnavailable')); // the release meets a blip
    lock.answer();
    const result = await unlocking.then((v) => `resolved ${String(v)}`, (e: unknown) => `rejected ${(e as Error).message}`);
    await locking;
    const holderAfter = store.record?.holderIdentity;
    const again = await a.unlock();
    assert.ok(!(result.startsWith('resolved') && holderAfter === 'pod-a'), `unlock() ${result} while the lease still shows our acquisition; unlock() again resolves ${String(again)} without a request: orphaned until it expires`);
  });
});

describe('attacks on a hold (emulator)', () => {
  let emulator: LeaseApiEmulator;
  before(async () => { emulator = await startLeaseApiEmulator({ bookmarkIntervalMs: 0 }); });
  after(async () => { await emulator.close(); });

  it('a watch answered 410 every time is not re-listed in a hot loop (quick closes are backed off, 410s are not)', async () => {
    const name = uniqueLeaseName('attack-410');
    const at = new Date();
    emulator.putLease('default', { metadata: { name }, spec: { holderIdentity: 'other', leaseDurationSeconds: 15, leaseTransitions: 1, acquireTime: at, renewTime: at } });
    const kubeConfig = emulator.addUser('waiter-410');
    const clock = new FakeClock(); // no timer of the locker's fires unless advanced
    const waiter = new LeaseLocker(kubeConfig, { namespace: 'default', name }, 'waiter-410', { clock });
    const fault = emulator.faults.fail({ status: 410, reason: 'Expired' }, { verb: 'watch', name });
    const controller = new AbortController();
    const locking = waiter.lock({ signal: controller.signal }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const lists = emulator.countRequests({ user: 'waiter-410', verb: 'list', name });
    const watches = emulator.countRequests({ user: 'waiter-410', verb: 'watch', name });
    controller.abort();
    await locking;
    fault.clear();
    // Without any clock advance (no retry period, no backoff has elapsed), a handful of requests at most.
    assert.ok(lists + watches <= 10, `${lists} lists and ${watches} watches in 500 ms of real time, with no backoff`);
  });
});
