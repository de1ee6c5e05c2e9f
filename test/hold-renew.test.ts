import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LeaseExpiredError, LeaseRequestError, LockLostError } from '../src/errors.js';
import { settle } from './helpers/fake-clock.js';
import { apiError } from './helpers/memory-lock.js';
import { memoryFixture } from './helpers/memory-locker.js';

describe('holding: renewal and loss', () => {
  it('renews every retryPeriod with one write and no read, keeping acquireTime and transitions', async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('a');
    await a.lock();
    const acquired = { ...store.record };
    const renewals: number[] = [];
    a.on('renewed', () => renewals.push(clock.now()));
    store.calls.length = 0;
    await clock.advance(2_000);
    await clock.advance(2_000);
    assert.deepEqual(store.calls.map((c) => c.op), ['update', 'update']);
    assert.equal(renewals.length, 2);
    assert.equal(store.record?.acquireTime?.getTime(), acquired.acquireTime?.getTime());
    assert.equal(store.record?.leaseTransitions, acquired.leaseTransitions);
    assert.equal(store.record?.renewTime?.getTime(), clock.wallTime());
    await a.unlock();
  });

  it('loses the lock when a read after a conflict shows another holder: signal, event, state', async () => {
    const { store, clock, locker, heldBy } = memoryFixture();
    const a = locker('a');
    await a.lock();
    const { signal } = a;
    const lost: LockLostError[] = [];
    a.on('lost', (e) => lost.push(e));
    store.writeOutside(heldBy('intruder'));
    store.calls.length = 0;
    await clock.advance(2_000);
    assert.deepEqual(store.calls.map((c) => c.op), ['update', 'get']);
    assert.equal(signal.aborted, true);
    assert.ok(signal.reason instanceof LockLostError);
    assert.equal(signal.reason.reason, 'taken');
    assert.equal(signal.reason.holder, 'intruder');
    assert.equal(signal.reason.code, 'LOCK_LOST');
    assert.deepEqual(lost, [signal.reason]);
    assert.equal(a.isLocked, false);
    assert.equal(a.fencingToken, undefined);
    assert.equal(await a.unlock(), false, 'nothing to release: it is not ours');
    assert.equal(store.record?.holderIdentity, 'intruder');
    assert.equal(clock.pending, 0, 'renewal stopped');
  });

  it('keeps the lock when an outside write leaves us the holder (conflict, read, renew)', async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('a');
    await a.lock();
    store.writeOutside(store.record); // e.g. someone added a label: new version, same spec
    store.calls.length = 0;
    await clock.advance(2_000);
    assert.deepEqual(store.calls.map((c) => c.op), ['update', 'get', 'update']);
    assert.equal(a.isLocked, true);
    await a.unlock();
  });

  it('loses the lock when the lease was deleted', async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('a');
    await a.lock();
    store.writeOutside(undefined);
    await clock.advance(2_000);
    assert.equal(a.isLocked, false);
    assert.equal((a.signal.reason as LockLostError).reason, 'deleted');
    assert.equal(store.record, undefined, 'a renewal never recreates a deleted lease');
  });

  it('declares the loss at the renew deadline, before the lease can expire for others', async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('a');
    await a.lock();
    const acquiredAt = clock.now();
    for (let i = 0; i < 10; i += 1) store.failNext('update', apiError(503, 'ServiceUnavailable'));
    let lostAt: number | undefined;
    a.on('lost', () => { lostAt = clock.now(); });
    await clock.advance(9_999);
    assert.equal(a.isLocked, true);
    assert.equal(store.count('update', 'a') >= 4, true, 'kept retrying');
    await clock.advance(1);
    assert.equal(lostAt, acquiredAt + 10_000);
    assert.equal((a.signal.reason as LockLostError).reason, 'renew-deadline');
    assert.ok(lostAt < acquiredAt + 15_000);
  });

  it('declares the loss at the deadline even while a renewal request hangs', async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('a');
    await a.lock();
    const gate = store.holdNext('update');
    await clock.advance(2_000);
    await gate.reached;
    await clock.advance(8_000);
    assert.equal(a.isLocked, false);
    assert.equal((a.signal.reason as LockLostError).reason, 'renew-deadline');
    gate.release();
    await settle();
    assert.equal(clock.pending, 0);
  });

  it('after a timed-out renewal, reads before writing again (the write may have landed)', async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('a');
    await a.lock();
    store.loseAnswerNext('update', new LeaseRequestError('update', { timedOut: true }));
    store.calls.length = 0;
    await clock.advance(2_000);
    await clock.advance(2_000);
    assert.deepEqual(store.calls.map((c) => c.op), ['update', 'get', 'update']);
    assert.equal(a.isLocked, true);
    await a.unlock();
    assert.equal(store.record?.holderIdentity, '');
  });

  it('ends the hold on an error retrying cannot heal (403 on renewal)', async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('a');
    await a.lock();
    store.failNext('update', apiError(403, 'Forbidden'));
    await clock.advance(2_000);
    const reason = a.signal.reason as LockLostError;
    assert.equal(reason.reason, 'fatal');
    assert.equal((reason.cause as { statusCode: number }).statusCode, 403);
  });

  it('isLocked turns false at the deadline even when timers could not run (blocked event loop)', async () => {
    const { clock, locker } = memoryFixture();
    const a = locker('a');
    await a.lock();
    const { signal } = a;
    clock.jump(10_000);
    assert.equal(a.isLocked, false);
    assert.equal(a.fencingToken, undefined);
    assert.equal(signal.aborted, false, 'getters have no side effect: the signal aborts when timers run');
    assert.throws(() => a.assertHeld(), LockLostError);
    assert.equal(signal.aborted, true, 'assertHeld() declared the loss');
  });

  it('check() throws LeaseExpiredError once leaseDuration + tolerance passed since the last renewal', async () => {
    const { clock, locker } = memoryFixture();
    const a = locker('a');
    a.check(0); // not holding: nothing to check
    await a.lock();
    a.check(0);
    clock.jump(16_000); // the process was frozen for 16 s
    a.check(5_000);
    assert.throws(() => a.check(500), (e: unknown) => e instanceof LeaseExpiredError && e.code === 'LEASE_EXPIRED' && e.sinceRenewMs === 16_000);
    assert.throws(() => a.check(-1), /maxTolerableExpiredLeaseMs/);
  });

  it('check() stays quiet after the lease was seen taken by someone else', async () => {
    const { store, clock, locker, heldBy } = memoryFixture();
    const a = locker('a');
    await a.lock();
    store.writeOutside(heldBy('b'));
    await clock.advance(2_000);
    clock.jump(60_000);
    a.check(0);
  });
});
