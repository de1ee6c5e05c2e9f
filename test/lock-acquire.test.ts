import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AlreadyLockedError, LeaseApiError } from '../src/errors.js';
import { settle } from './helpers/fake-clock.js';
import { apiError } from './helpers/memory-lock.js';
import { memoryFixture } from './helpers/memory-locker.js';

describe('lock() and tryLock()', () => {
  it('creates an absent lease with transitions 0 and reports fencing token 0', async () => {
    const { store, locker } = memoryFixture();
    const a = locker('a');
    const acquired: number[] = [];
    a.on('acquired', (e) => acquired.push(e.fencingToken));
    await a.lock();
    assert.equal(a.isLocked, true);
    assert.equal(a.fencingToken, 0);
    assert.deepEqual(acquired, [0]);
    assert.equal(store.record?.holderIdentity, 'a');
    assert.equal(store.record?.leaseDurationSeconds, 15);
    assert.deepEqual(store.calls.map((c) => c.op), ['get', 'create']);
    await a.unlock();
  });

  it('waits a full lease duration from when it first saw a live holder, whatever its renewTime says', async () => {
    const { store, clock, locker, heldBy } = memoryFixture();
    // The holder's renewTime is an hour old: its clock may simply be behind ours.
    store.writeOutside(heldBy('other', clock.wallTime() - 3_600_000));
    const a = locker('a');
    let done = false;
    const locking = a.lock().then(() => { done = true; });
    await settle();
    await clock.advance(14_000);
    assert.equal(done, false, 'took over before leaseDuration elapsed');
    await clock.advance(1_100);
    await locking;
    assert.equal(store.record?.holderIdentity, 'a');
    assert.equal(store.record?.leaseTransitions, 4, 'a change of holder increments transitions');
    assert.equal(a.fencingToken, 4);
    assert.equal(store.record?.acquireTime?.getTime(), store.record?.renewTime?.getTime());
    await a.unlock();
  });

  it('restarts the wait whenever the holder renews', async () => {
    const { store, clock, locker, heldBy } = memoryFixture();
    store.writeOutside(heldBy('other'));
    const a = locker('a');
    let done = false;
    const locking = a.lock().then(() => { done = true; });
    await settle();
    await clock.advance(10_000);
    store.writeOutside(heldBy('other', clock.wallTime())); // renewed
    await clock.advance(10_000); // 20 s after first sight, but only ~10 s after the renewal was seen
    assert.equal(done, false);
    await clock.advance(10_000);
    await locking;
    assert.equal(done, true);
    await a.unlock();
  });

  it('with useObservedTime: false, trusts the holder renewTime against the local wall clock', async () => {
    const { store, clock, locker, heldBy } = memoryFixture({ useObservedTime: false });
    store.writeOutside(heldBy('other', clock.wallTime() - 16_000));
    const a = locker('a');
    await a.lock(); // expired by its own stamp: taken at once
    assert.equal(store.record?.holderIdentity, 'a');
    assert.equal(clock.pending > 0, true, 'renewal timer armed');
    await a.unlock();
  });

  it('takes a released lease (empty holder) at once', async () => {
    const { store, locker, heldBy } = memoryFixture();
    store.writeOutside({ ...heldBy(''), leaseDurationSeconds: 1 });
    const a = locker('a');
    assert.ok(await a.tryLock());
    assert.deepEqual(store.calls.map((c) => c.op), ['get', 'update']);
    await a.unlock();
  });

  it('tryLock makes exactly one read and returns false while someone else holds a live lease', async () => {
    const { store, locker, heldBy, clock } = memoryFixture();
    store.writeOutside(heldBy('other'));
    const a = locker('a');
    assert.equal(await a.tryLock(), undefined);
    assert.deepEqual(store.calls.map((c) => c.op), ['get']);
    assert.equal(a.isLocked, false);
    assert.equal(clock.pending, 0, 'nothing left running');
  });

  it('tryLock returns false when it loses the race for a free lease (409)', async () => {
    const { store, locker } = memoryFixture();
    const gate = store.holdNext('create');
    const a = locker('a');
    const attempt = a.tryLock();
    await gate.reached;
    store.writeOutside({ holderIdentity: 'b', leaseDurationSeconds: 15, acquireTime: undefined, renewTime: undefined, leaseTransitions: 0 });
    gate.release();
    assert.equal(await attempt, undefined);
  });

  it('tryLock rejects on API errors instead of reporting the lease as busy', async () => {
    const { store, locker } = memoryFixture();
    store.failNext('get', apiError(503, 'ServiceUnavailable'));
    await assert.rejects(locker('a').tryLock(), (e: unknown) => e instanceof LeaseApiError && e.statusCode === 503);
  });

  it('retries transient errors while locking and fails at once on 403', async () => {
    const { store, clock, locker } = memoryFixture();
    store.failNext('get', apiError(503, 'ServiceUnavailable'));
    store.failNext('get', apiError(429, 'TooManyRequests'));
    const a = locker('a');
    const locking = a.lock();
    await settle();
    await clock.advance(2_500);
    await clock.advance(2_500);
    await locking;
    assert.equal(a.isLocked, true);
    await a.unlock();

    store.failNext('get', apiError(403, 'Forbidden'));
    const b = locker('b');
    await assert.rejects(b.lock(), (e: unknown) => e instanceof LeaseApiError && e.statusCode === 403 && e.code === 'API_ERROR');
    assert.equal(clock.pending, 0, 'no retry timer left behind');
  });

  it('rejects a second lock()/tryLock() while holding or acquiring, without starting another loop', async () => {
    const { store, clock, locker, heldBy } = memoryFixture();
    const a = locker('a');
    await a.lock();
    await assert.rejects(a.lock(), AlreadyLockedError);
    await assert.rejects(a.tryLock(), (e: unknown) => e instanceof AlreadyLockedError && e.code === 'ALREADY_LOCKED');
    await a.unlock();

    store.writeOutside(heldBy('other'));
    const b = locker('b');
    const controller = new AbortController();
    const waiting = b.lock({ signal: controller.signal });
    await settle();
    await assert.rejects(b.lock(), AlreadyLockedError);
    const reads = store.count('get', 'b');
    await clock.advance(2_500);
    assert.equal(store.count('get', 'b'), reads + 1, 'one loop polls, not two');
    controller.abort(new Error('give up'));
    await assert.rejects(waiting, /give up/);
  });

  it('an aborted lock() rejects with the signal reason and leaves nothing running', async () => {
    const { store, clock, locker, heldBy } = memoryFixture();
    store.writeOutside(heldBy('other'));
    const a = locker('a');
    const controller = new AbortController();
    const reason = new Error('deploy cancelled');
    const waiting = a.lock({ signal: controller.signal });
    await settle();
    assert.equal(clock.pending, 1);
    controller.abort(reason);
    await assert.rejects(waiting, (e: unknown) => e === reason);
    assert.equal(clock.pending, 0);
    assert.equal(a.isLocked, false);
    await assert.rejects(a.lock({ signal: AbortSignal.abort(reason) }), (e: unknown) => e === reason);
    assert.equal(store.count('get', 'a'), 1, 'an already aborted signal makes no request');
  });

  it('hands over at once to a waiter in the same process when the holder unlocks', async () => {
    const { store, locker } = memoryFixture();
    const a = locker('a');
    const b = locker('b');
    await a.lock();
    const waiting = b.lock();
    await settle();
    assert.equal(await a.unlock(), true);
    await waiting; // no clock advance: woken by the release, not by its poll timer
    assert.equal(store.record?.holderIdentity, 'b');
    assert.equal(b.fencingToken, 1, 'release keeps transitions (0); the new holder increments them');
    await b.unlock();
  });
});
