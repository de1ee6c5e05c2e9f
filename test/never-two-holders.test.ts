// Attacks on the hold: lockers sharing an owner, outside edits, silent watches, answers lost or
// aborted mid-flight, unlock() racing lock(), critical sections outliving their lock, and a
// blocked event loop. Each test pins one way two holders could meet or a holder stay unaware.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AcquireCancelledError, LeaseRequestError, LockLostError } from '../src/errors.js';
import { LeaseLocker } from '../src/lease-locker.js';
import type { LockRecord } from '../src/record.js';
import type { LockSnapshot, LockWatchHandlers, ResourceLockCallOptions } from '../src/resource-lock.js';
import { settle } from './helpers/fake-clock.js';
import { MemoryLock, apiError } from './helpers/memory-lock.js';
import type { MemoryStore } from './helpers/memory-lock.js';
import { memoryFixture } from './helpers/memory-locker.js';

const timedOut = (): LeaseRequestError => new LeaseRequestError('memory', { timedOut: true });

/** Resolves when `signal` aborts. */
async function untilAborted(signal: AbortSignal | undefined): Promise<void> {
  await new Promise<void>((resolve) => {
    if (signal === undefined) return;
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** A lock whose next create/update lands in the store, but whose caller hears nothing until it gives up. */
class LateAnswers extends MemoryLock {
  swallowNext = false;

  override async create(record: LockRecord, options: ResourceLockCallOptions = {}): Promise<LockSnapshot> {
    const result = await super.create(record, options);
    return this.#maybeSwallow(result, options.signal);
  }

  override async update(record: LockRecord, base: LockSnapshot, options: ResourceLockCallOptions = {}): Promise<LockSnapshot> {
    const result = await super.update(record, base, options);
    return this.#maybeSwallow(result, options.signal);
  }

  async #maybeSwallow(result: LockSnapshot, signal: AbortSignal | undefined): Promise<LockSnapshot> {
    if (!this.swallowNext) return result;
    this.swallowNext = false;
    await untilAborted(signal);
    throw signal?.reason as Error;
  }
}

/** A watchable memory lock whose watch opens and then stays silent: a half-open connection. */
class SilentWatch extends MemoryLock {
  watches = 0;
  /** Streams that end with a silence timeout before the next one stays open. */
  silenceTimeouts = 0;

  constructor(store: MemoryStore, identity: string) {
    super(store, identity);
  }

  readonly list = async (options: ResourceLockCallOptions = {}): Promise<{ snapshot: LockSnapshot | undefined; version: string }> => {
    const snapshot = await this.get(options);
    return { snapshot, version: String(this.store.version) };
  };

  readonly watch = async (_from: string, handlers: LockWatchHandlers<LockSnapshot>, options: ResourceLockCallOptions = {}): Promise<void> => {
    this.watches += 1;
    handlers.onOpen();
    if (this.silenceTimeouts > 0) {
      this.silenceTimeouts -= 1;
      throw timedOut();
    }
    await untilAborted(options.signal);
  };
}

describe('never two holders', () => {
  it('a second locker with the same owner waits for the first to release (no shared hold)', async () => {
    const { store, clock, locker } = memoryFixture();
    const first = locker('pod-0');
    const second = locker('pod-0');
    await first.lock();
    let secondHolds = false;
    const locking = second.lock().then(() => { secondHolds = true; });
    for (let i = 0; i < 20; i += 1) await clock.advance(2_000); // 40 s: first renews throughout
    assert.equal(secondHolds, false, 'the same owner string must not make the lease ours');
    assert.equal(first.isLocked, true);
    const firstToken = first.fencingToken ?? -1;
    assert.equal(await first.unlock(), true);
    await clock.advance(0);
    await locking;
    assert.equal(second.isLocked, true);
    assert.equal(store.record?.holderIdentity, 'pod-0');
    assert.equal(second.fencingToken, firstToken + 1);
    await second.unlock();
  });

  it('a lease naming our owner but not our acquisition (a previous run) is waited out, not taken', async () => {
    const { store, clock, locker, heldBy } = memoryFixture();
    store.writeOutside(heldBy('pod-0')); // a restarted pod with a stable name finds its old lease
    const a = locker('pod-0');
    let done = false;
    const locking = a.lock().then(() => { done = true; });
    await settle();
    await clock.advance(14_000);
    assert.equal(done, false);
    await clock.advance(1_100);
    await locking;
    assert.equal(store.record?.leaseTransitions, 4);
    await a.unlock();
  });

  it('a holder learns of an acquisition by another locker with its own owner: lost, taken', async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('pod-0');
    await a.lock();
    const { signal } = a;
    const current = store.record;
    assert.ok(current !== undefined);
    // Another process with the same identity took the lease over (e.g. after it saw it expire).
    store.writeOutside({ ...current, acquireTime: new Date(clock.wallTime() + 1), leaseTransitions: current.leaseTransitions + 1 });
    await clock.advance(2_000);
    assert.equal(signal.aborted, true);
    assert.ok(signal.reason instanceof LockLostError);
    assert.equal(signal.reason.reason, 'taken');
    assert.equal(a.isLocked, false);
    assert.equal(store.record?.leaseTransitions, current.leaseTransitions + 1, 'the other acquisition is left alone');
  });

  it('two lockers with the same owner racing a free lease never both hold it', async () => {
    const { clock, locker } = memoryFixture();
    const lockers = [locker('pod-0'), locker('pod-0'), locker('pod-0')];
    const results = await Promise.all(lockers.map(async (l) => l.tryLock()));
    assert.equal(results.filter(Boolean).length, 1);
    await clock.advance(4_000);
    assert.equal(lockers.filter((l) => l.isLocked).length, 1);
    for (const l of lockers) await l.unlock();
  });

  it('every renewal writes our own duration over an outside edit, and waiters never trust a shorter one', async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('a');
    await a.lock();
    const current = store.record;
    assert.ok(current !== undefined);
    store.writeOutside({ ...current, leaseDurationSeconds: 1 }); // kubectl edit
    const b = locker('b');
    let bHolds = false;
    const locking = b.lock().then(() => { bHolds = true; });
    await settle();
    await clock.advance(1_500); // past the edited 1 s, before a's next renewal
    assert.equal(bHolds, false, 'a waiter took the lease on an outside-edited duration');
    await clock.advance(500); // a renews: conflict, read, write
    assert.equal(store.record?.leaseDurationSeconds, 15);
    assert.equal(a.isLocked, true);
    await a.unlock();
    await clock.advance(0);
    await locking;
    await b.unlock();
  });

  it('a conflict on a silent watch view makes the waiter read: a release is taken after the next expiry, not never', async () => {
    const { store, clock, heldBy } = memoryFixture();
    store.writeOutside(heldBy('other'));
    const lock = new SilentWatch(store, 'a');
    const a = new LeaseLocker(lock, { clock });
    let done = false;
    const locking = a.lock().then(() => { done = true; });
    await settle();
    assert.equal(lock.watches, 1);
    // The holder renews once, then releases; the watch shows neither.
    await clock.advance(5_000);
    store.writeOutside(heldBy('other', clock.wallTime()));
    store.writeOutside({ ...heldBy('', clock.wallTime()), leaseDurationSeconds: 1 });
    await clock.advance(10_100); // the expiry the stale view predicts: a write over it conflicts
    assert.equal(done, false);
    await clock.advance(2_100); // within a retry period: a read, then the lease
    await locking;
    assert.equal(store.record?.holderIdentity, 'a');
    assert.ok(store.count('update', 'a') <= 2, `writes over the stale view: ${store.count('update', 'a')}`);
    await a.unlock();
  });
});

describe('nothing orphaned, nothing silent', () => {
  it('a watch silent past its heartbeat is resumed at once, without a read and without polling', async () => {
    const { store, clock, heldBy } = memoryFixture();
    store.writeOutside(heldBy('other'));
    const lock = new SilentWatch(store, 'a');
    lock.silenceTimeouts = 2;
    const a = new LeaseLocker(lock, { clock });
    const controller = new AbortController();
    const locking = a.lock({ signal: controller.signal });
    await settle();
    assert.equal(lock.watches, 3, 'resumed twice');
    await clock.advance(5_000);
    assert.equal(store.count('get', 'a'), 1, 'the first read only: no re-list, no polling');
    controller.abort(new Error('done'));
    await assert.rejects(locking, /done/);
  });

  it('an aborted lock() whose write landed releases it in the background', async () => {
    const { store, clock } = memoryFixture();
    const lock = new LateAnswers(store, 'a');
    const a = new LeaseLocker(lock, { clock });
    lock.swallowNext = true;
    const controller = new AbortController();
    const locking = a.lock({ signal: controller.signal });
    await settle();
    assert.equal(store.record?.holderIdentity, 'a', 'the create landed');
    controller.abort(new Error('gave up'));
    await assert.rejects(locking, /gave up/);
    await settle();
    assert.equal(store.record?.holderIdentity, '', 'released, so nobody waits a lease duration');
    assert.equal(a.isLocked, false);
    const b = new LeaseLocker(store.lockFor('b'), { clock });
    assert.ok(await b.tryLock(), 'free at once');
    await b.unlock();
  });

  it('a tryLock() whose write timed out releases what landed, and lock() claims its own landed write', async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('a');
    store.loseAnswerNext('create', timedOut());
    await assert.rejects(a.tryLock(), LeaseRequestError);
    await settle();
    assert.equal(store.record?.holderIdentity, '');

    const b = locker('b');
    store.loseAnswerNext('update', timedOut());
    const locking = b.lock();
    await settle();
    const landed = store.record;
    assert.equal(landed?.holderIdentity, 'b');
    await clock.advance(2_500); // retry: the read shows b's own acquisition
    await locking;
    assert.equal(b.isLocked, true);
    assert.equal(b.fencingToken, landed.leaseTransitions, 'claimed the write that landed, no second acquisition');
    assert.equal(store.count('update', 'b'), 2, 'the lost acquisition write, then one renewal');
    await b.unlock();
  });

  it('a landed write found only after its renew deadline is acquired afresh, not trusted', async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('a');
    store.loseAnswerNext('create', timedOut());
    const locking = a.lock();
    await settle();
    assert.equal(store.record?.holderIdentity, 'a', 'the create landed');
    for (let i = 0; i < 6; i += 1) store.failNext('get', apiError(503, 'ServiceUnavailable'));
    for (let i = 0; i < 8; i += 1) await clock.advance(2_000);
    await locking;
    assert.equal(store.record?.leaseTransitions, 1, 'a new acquisition over our stale one');
    assert.equal(a.fencingToken, 1);
    assert.equal(a.isLocked, true);
    await a.unlock();
  });

  it('unlock() while lock() waits cancels it: lock() rejects, nothing is acquired later', async () => {
    const { store, clock, locker, heldBy } = memoryFixture();
    store.writeOutside(heldBy('other'));
    const a = locker('a');
    const locking = a.lock();
    await settle();
    assert.equal(await a.unlock(), false);
    await assert.rejects(locking, (e: unknown) => e instanceof AcquireCancelledError && e.code === 'ACQUIRE_CANCELLED');
    await clock.advance(30_000);
    assert.equal(store.record?.holderIdentity, 'other');
    assert.equal(a.isLocked, false);
    assert.equal(clock.pending, 0, 'nothing left running');
  });

  it('unlock() while the acquiring write is in flight leaves nothing held once it resolves', async () => {
    const { store, clock } = memoryFixture();
    const lock = new LateAnswers(store, 'a');
    const a = new LeaseLocker(lock, { clock });
    lock.swallowNext = true;
    const locking = a.lock();
    await settle();
    assert.equal(store.record?.holderIdentity, 'a');
    {
      await using disposing = a; // scope exit = unlock()
      void disposing;
    }
    await assert.rejects(locking, AcquireCancelledError);
    assert.equal(store.record?.holderIdentity, '', 'released before unlock() resolved');
  });

  it('withLock rejects with the LockLostError when the hold was lost while fn ran', async () => {
    const { store, clock, locker, heldBy } = memoryFixture();
    const a = locker('a');
    await assert.rejects(a.withLock(async () => {
      store.writeOutside(heldBy('b'));
      await clock.advance(2_000);
      return 'done, but without the lock';
    }), (e: unknown) => e instanceof LockLostError && e.reason === 'taken');
    assert.equal(store.record?.holderIdentity, 'b', 'not cleared');
  });

  it('a release whose answer was lost is reported as released', async () => {
    const { store, locker } = memoryFixture();
    const a = locker('a');
    await a.lock();
    const released: number[] = [];
    a.on('released', (e) => released.push(e.fencingToken));
    store.loseAnswerNext('update', timedOut());
    assert.equal(await a.unlockWithRetry(), true);
    assert.equal(store.record?.holderIdentity, '');
    assert.deepEqual(released, [0]);
  });

  it('no renewal is sent once the deadline passed, and no renewed event follows lost', async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('a');
    await a.lock();
    const events: string[] = [];
    a.on('renewed', () => events.push('renewed'));
    a.on('lost', (e) => events.push(`lost:${e.reason}`));
    store.calls.length = 0;
    clock.jump(10_500); // blocked past the deadline; the renewal timer is due now too
    await clock.advance(0);
    assert.equal(store.count('update', 'a'), 0, 'a renewal was sent after the deadline');
    assert.deepEqual(events, ['lost:renew-deadline']);

    // A renewal in flight when the loss is declared: its answer must not revive the hold.
    const b = locker('b');
    const bLocking = b.lock();
    await settle();
    await clock.advance(15_100);
    await bLocking;
    const bEvents: string[] = [];
    b.on('renewed', () => bEvents.push('renewed'));
    b.on('lost', (e) => bEvents.push(`lost:${e.reason}`));
    const gate = store.holdNext('update');
    await clock.advance(2_000);
    await gate.reached;
    clock.jump(9_000); // past b's deadline while its renewal waits on the server
    assert.equal(b.isLocked, false);
    gate.release();
    await settle();
    assert.deepEqual(bEvents, ['lost:renew-deadline']);
    assert.equal(b.isLocked, false);
  });

  it('unlock() after a renew-deadline loss releases over the last version we wrote', async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('a');
    await a.lock();
    store.holdNext('update'); // the renewal hangs until the deadline cuts it off
    await clock.advance(10_100);
    assert.equal(a.isLocked, false);
    assert.equal(store.record?.holderIdentity, 'a', 'the lease still shows our acquisition');
    assert.equal(await a.unlock(), true);
    assert.equal(store.record?.holderIdentity, '');
  });

  it('unlock() after a renew-deadline loss never clears a lease someone wrote since', async () => {
    const { store, clock, locker, heldBy } = memoryFixture();
    const a = locker('a');
    await a.lock();
    store.holdNext('update'); // the renewal hangs until the deadline cuts it off
    await clock.advance(10_100);
    store.writeOutside(heldBy('b'));
    assert.equal(await a.unlock(), false);
    assert.equal(store.record?.holderIdentity, 'b');
  });

  it('assertHeld() throws at once after a blocked event loop, before the signal can abort', async () => {
    const { clock, locker } = memoryFixture();
    const a = locker('a');
    assert.throws(() => a.assertHeld(), (e: unknown) => e instanceof LockLostError && e.reason === 'not-held');
    await a.lock();
    a.assertHeld();
    clock.jump(10_000);
    assert.throws(() => a.assertHeld(), (e: unknown) => e instanceof LockLostError && e.reason === 'renew-deadline');
  });
});
