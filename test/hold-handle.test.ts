import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LockLostError } from '../src/errors.js';
import type { LockLossReason } from '../src/errors.js';
import type { Hold } from '../src/hold.js';
import { settle } from './helpers/fake-clock.js';
import { apiError } from './helpers/memory-lock.js';
import { memoryFixture } from './helpers/memory-locker.js';

describe('the hold handle', () => {
  it('lock() resolves a Hold with the token, the acquireTime written, a live signal; release() ends it', async () => {
    const { store, locker } = memoryFixture();
    const a = locker('a');
    const hold = await a.lock();
    assert.equal(hold.fencingToken, store.record?.leaseTransitions);
    assert.equal(hold.acquiredAt.getTime(), store.record?.acquireTime?.getTime());
    assert.equal(hold.isHeld, true);
    assert.equal(hold.signal, a.signal);
    assert.doesNotThrow(() => hold.assertHeld());
    assert.equal(await hold.release(), true);
    assert.equal(store.record?.holderIdentity, '');
    assert.equal(hold.isHeld, false);
    assert.equal(hold.signal.aborted, true);
    assert.equal((hold.signal.reason as LockLostError).reason, 'released');
    assert.throws(() => hold.assertHeld(), (e: unknown) => e instanceof LockLostError && e.reason === 'released');
    assert.equal(await hold.release(), false, 'a released hold has nothing left to release');
  });

  it('tryLock() resolves a Hold when acquired and undefined when the lease is held elsewhere', async () => {
    const { locker } = memoryFixture();
    const a = locker('a');
    const b = locker('b');
    const hold = await a.tryLock();
    assert.ok(hold);
    assert.equal(await b.tryLock(), undefined);
    await hold.release();
  });

  it('a stale handle never ends a later hold of the same locker', async () => {
    const { store, locker } = memoryFixture();
    const a = locker('a');
    const first = await a.lock();
    await first.release();
    const second = await a.lock();
    const writes = store.calls.length;
    assert.equal(await first.release(), false);
    await first[Symbol.asyncDispose]();
    assert.equal(store.calls.length, writes, 'no request for a stale handle');
    assert.equal(second.isHeld, true);
    assert.equal(first.isHeld, false);
    assert.notEqual(first.signal, second.signal);
    assert.equal(second.signal.aborted, false);
    assert.ok(second.fencingToken > first.fencingToken);
    await second.release();
  });

  it('await using releases at scope exit, also when the body throws', async () => {
    const { store, locker } = memoryFixture();
    const a = locker('a');
    await assert.rejects(async () => {
      await using hold = await a.lock();
      assert.equal(hold.isHeld, true);
      throw new Error('the migration failed');
    }, /the migration failed/);
    assert.equal(store.record?.holderIdentity, '');
    assert.equal(a.isLocked, false);
  });

  it('a lost hold: isHeld false, assertHeld() throws the loss, release() still releases over our last write', async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('a');
    const hold = await a.lock();
    const gate = store.holdNext('update'); // a renewal that never answers
    await clock.advance(2_000);
    await gate.reached;
    await clock.advance(8_000);
    gate.release();
    await settle();
    assert.equal(hold.isHeld, false);
    assert.throws(() => hold.assertHeld(), (e: unknown) => e instanceof LockLostError && e.reason === 'renew-deadline');
    assert.equal(await hold.release(), true, 'nobody wrote since our last renewal: released');
    assert.equal(store.record?.holderIdentity, '');
  });

  it('isHeld turns false at once after a blocked event loop, and reading it changes nothing', async () => {
    const { clock, locker } = memoryFixture();
    const a = locker('a');
    const lost: LockLostError[] = [];
    a.on('lost', (e) => lost.push(e));
    const hold = await a.lock();
    clock.jump(10_000); // the renew deadline passes without any timer running
    assert.equal(hold.isHeld, false);
    assert.equal(hold.signal.aborted, false, 'a getter has no side effect');
    assert.equal(lost.length, 0);
    assert.throws(() => hold.assertHeld(), (e: unknown) => e instanceof LockLostError && e.reason === 'renew-deadline');
    assert.equal(hold.signal.aborted, true, 'assertHeld() declares the loss');
    assert.equal(lost.length, 1);
    await a.unlock();
  });

  it("'acquired' carries the hold; 'lost' carries only real losses, never a normal unlock()", async () => {
    const { store, clock, locker, heldBy } = memoryFixture();
    const a = locker('a');
    const acquired: Hold[] = [];
    const lost: LockLossReason[] = [];
    a.on('acquired', (event) => acquired.push(event.hold));
    a.on('lost', (error) => lost.push(error.reason));
    const first = await a.lock();
    assert.equal(acquired[0], first);
    await first.release();
    assert.deepEqual(lost, [], 'unlock() is not a loss');
    await a.lock();
    store.writeOutside(heldBy('intruder'));
    await clock.advance(2_000);
    assert.deepEqual(lost, ['taken']);
  });

  it("'renewFailed' tells of each failed renewal attempt with the time left, before any loss", async () => {
    const { store, clock, locker } = memoryFixture();
    const a = locker('a');
    await a.lock();
    const failures: { status: unknown; remainingMs: number }[] = [];
    a.on('renewFailed', (event) => failures.push({ status: 'statusCode' in event.error ? event.error.statusCode : undefined, remainingMs: event.remainingMs }));
    store.failNext('update', apiError(503, 'ServiceUnavailable'));
    await clock.advance(2_000);
    assert.deepEqual(failures, [{ status: 503, remainingMs: 8_000 }]);
    assert.equal(a.isLocked, true);
    await clock.advance(2_000);
    assert.equal(failures.length, 1, 'the retry succeeded');
    await a.unlock();
  });
});

describe('the holder as seen', () => {
  it("holder and 'holderChanged' follow what the locker reads and writes", async () => {
    const { store, clock, locker, heldBy } = memoryFixture();
    const a = locker('a');
    const b = locker('b');
    const seen: (string | undefined)[] = [];
    b.on('holderChanged', (event) => seen.push(event.holder));
    assert.equal(b.holder, undefined, 'nothing seen yet');
    const hold = await a.lock();
    assert.equal(a.holder, 'a');
    assert.equal(await b.tryLock(), undefined);
    assert.equal(b.holder, 'a');
    const waiting = b.lock();
    store.writeOutside(heldBy('c'));
    await clock.advance(2_000);
    assert.equal(b.holder, 'c', 'the waiter saw the outside write');
    assert.equal(hold.isHeld, false, 'a lost its hold to c');
    await clock.advance(20_000);
    const bHold = await waiting;
    assert.equal(b.holder, 'b');
    await bHold.release();
    assert.equal(b.holder, undefined, 'free');
    assert.deepEqual(seen, ['a', 'c', 'b', undefined]);
  });
});
