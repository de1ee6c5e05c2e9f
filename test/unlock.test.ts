import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LeaseApiError, LeaseRequestError, LockLostError } from '../src/errors.js';
import { settle } from './helpers/fake-clock.js';
import { apiError } from './helpers/memory-lock.js';
import { memoryFixture } from './helpers/memory-locker.js';

describe('unlock(), unlockWithRetry(), withLock(), dispose', () => {
  it('makes no API call and returns false when not holding', async () => {
    const { store, locker } = memoryFixture();
    const a = locker('a');
    assert.equal(await a.unlock(), false);
    assert.equal(store.calls.length, 0);
  });

  it('writes an empty holder with a 1 s duration, keeping transitions; aborts the signal first', async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('a');
    await a.lock();
    const { signal } = a;
    const transitions = store.record?.leaseTransitions;
    const gate = store.holdNext('update');
    const released: number[] = [];
    a.on('released', (e) => released.push(e.fencingToken));
    const unlocking = a.unlock();
    await gate.reached;
    const abortedBeforeWrite = signal.aborted;
    gate.release();
    assert.equal(await unlocking, true);
    assert.equal(abortedBeforeWrite, true);
    assert.equal((signal.reason as LockLostError).reason, 'released');
    assert.equal(store.record?.holderIdentity, '');
    assert.equal(store.record?.leaseDurationSeconds, 1);
    assert.equal(store.record?.leaseTransitions, transitions);
    assert.deepEqual(released, [0]);
    assert.equal(clock.pending, 0);
    assert.equal(await a.unlock(), false, 'a second unlock has nothing to do');
  });

  it('waits for an in-flight renewal to settle before releasing', async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('a');
    await a.lock();
    const gate = store.holdNext('update');
    await clock.advance(2_000);
    await gate.reached; // renewal in flight
    let settled = false;
    const unlocking = a.unlock().then((v) => { settled = true; return v; });
    await settle();
    assert.equal(settled, false);
    assert.equal(store.count('update', 'a'), 1, 'no release written while the renewal is in flight');
    gate.release();
    assert.equal(await unlocking, true);
    assert.equal(store.record?.holderIdentity, '');
    assert.equal(store.count('update', 'a'), 2);
  });

  it('releases after a renewal whose answer was lost: conflict, read, release (no stale-version loop)', async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('a');
    await a.lock();
    store.loseAnswerNext('update', new LeaseRequestError('update', { timedOut: true }));
    await clock.advance(2_000);
    store.calls.length = 0;
    assert.equal(await a.unlock(), true);
    assert.deepEqual(store.calls.map((c) => c.op), ['update', 'get', 'update']);
    assert.equal(store.record?.holderIdentity, '');
  });

  it('never clears a lease someone else took in the meantime', async () => {
    const { store, locker, heldBy } = memoryFixture();
    const a = locker('a');
    await a.lock();
    const gate = store.holdNext('update');
    const unlocking = a.unlock();
    await gate.reached;
    store.writeOutside(heldBy('b'));
    gate.release();
    assert.equal(await unlocking, false);
    assert.equal(store.record?.holderIdentity, 'b');
  });

  it('a failed release can be retried by calling unlock() again', async () => {
    const { store, locker } = memoryFixture();
    const a = locker('a');
    await a.lock();
    store.failNext('update', apiError(503, 'ServiceUnavailable'));
    await assert.rejects(a.unlock(), (e: unknown) => e instanceof LeaseApiError && e.statusCode === 503);
    assert.equal(a.isLocked, false);
    assert.equal(await a.unlock(), true);
    assert.equal(store.record?.holderIdentity, '');
  });

  it('unlockWithRetry retries transient errors and stops at once on 403', async () => {
    const { store, locker } = memoryFixture({ leaseDurationMs: 1_000, renewDeadlineMs: 500, retryPeriodMs: 10, unlockWithRetryPeriodMs: 5_000 });
    const a = locker('a');
    await a.lock();
    store.failNext('update', apiError(503, 'ServiceUnavailable'));
    store.failNext('update', new LeaseRequestError('update', { timedOut: false }));
    assert.equal(await a.unlockWithRetry(), true);
    assert.equal(store.record?.holderIdentity, '');

    const b = locker('b');
    await b.lock();
    const before = store.count('update', 'b');
    store.failNext('update', apiError(403, 'Forbidden'));
    await assert.rejects(b.unlockWithRetry(), (e: unknown) => e instanceof LeaseApiError && e.statusCode === 403);
    assert.equal(store.count('update', 'b'), before + 1, 'one attempt only');
  });

  it('unlockWithRetry gives up after unlockWithRetryPeriodMs with the last error', async () => {
    const { store, locker } = memoryFixture({ leaseDurationMs: 1_000, renewDeadlineMs: 500, retryPeriodMs: 10, unlockWithRetryPeriodMs: 60 });
    const a = locker('a');
    await a.lock();
    for (let i = 0; i < 50; i += 1) store.failNext('update', apiError(500, 'InternalError'));
    await assert.rejects(a.unlockWithRetry(), (e: unknown) => e instanceof LeaseApiError && e.statusCode === 500);
  });

  it('withLock runs the function while holding and always releases', async () => {
    const { store, locker } = memoryFixture();
    const a = locker('a');
    const result = await a.withLock((signal) => {
      assert.equal(a.isLocked, true);
      assert.equal(signal.aborted, false);
      return 42;
    });
    assert.equal(result, 42);
    assert.equal(store.record?.holderIdentity, '');
    await assert.rejects(a.withLock(() => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(store.record?.holderIdentity, '');
    assert.equal(a.isLocked, false);
  });

  it('withLock hands the function a signal that aborts when the lock is lost', async () => {
    const { store, clock, locker, heldBy } = memoryFixture();
    const a = locker('a');
    let seen: unknown;
    await assert.rejects(a.withLock(async (signal) => {
      store.writeOutside(heldBy('b'));
      await clock.advance(2_000);
      seen = signal.reason;
    }), LockLostError);
    assert.ok(seen instanceof LockLostError);
    assert.equal(store.record?.holderIdentity, 'b', 'not cleared');
  });

  it('await using releases at the end of the scope', async () => {
    const { store, locker } = memoryFixture();
    {
      await using a = locker('a');
      await a.lock();
      assert.equal(store.record?.holderIdentity, 'a');
    }
    assert.equal(store.record?.holderIdentity, '');
  });

  it('the lifetime signal ends the hold: left to expire by default, released with releaseOnCancel', async () => {
    const { store, clock, locker } = memoryFixture();
    const lifetime = new AbortController();
    const a = locker('a', { signal: lifetime.signal });
    await a.lock();
    const lost: string[] = [];
    a.on('lost', (e) => lost.push(e.reason));
    lifetime.abort(new Error('shutting down'));
    assert.deepEqual(lost, ['cancelled']);
    assert.equal(a.isLocked, false);
    await settle();
    assert.equal(store.record?.holderIdentity, 'a', 'left to expire');
    assert.equal(clock.pending, 0);
    await assert.rejects(a.lock(), /shutting down/);

    const lifetime2 = new AbortController();
    const b = locker('b', { signal: lifetime2.signal, releaseOnCancel: true });
    const locking = b.lock();
    await settle();
    await clock.advance(15_100); // a stopped renewing: its lease expires for b
    await locking;
    lifetime2.abort();
    assert.equal(await b.unlock(), true, 'unlock joins the release in progress');
    assert.equal(store.record?.holderIdentity, '');
  });
});
