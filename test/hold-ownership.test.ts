// Found by review: what a hold's own handle may end, and what the locker reports about it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AcquireCancelledError, LockLostError } from '../src/errors.js';
import type { Hold } from '../src/hold.js';
import { runLeaderElection } from '../src/leader-election.js';
import type { StoppedLeadingEvent } from '../src/leader-election.js';
import { settle } from './helpers/fake-clock.js';
import { memoryFixture } from './helpers/memory-locker.js';

describe('withLock releases its own hold, never a later one', () => {
  it('fn released its hold early; a later hold of the locker taken meanwhile survives withLock’s end', async () => {
    const { store, locker } = memoryFixture();
    const a = locker('a');
    let later: Hold | undefined;
    await a.withLock(async (_signal, hold) => {
      await hold.release(); // done with the critical section: hand over early
      later = await a.lock(); // another job of this process takes the lock again
      // ... some bookkeeping after the critical section, then return
    });
    assert.ok(later);
    assert.equal(later.isHeld, true, 'withLock ended a hold it does not own');
    assert.equal(later.signal.aborted, false);
    assert.equal(store.record?.holderIdentity, 'a');
    await later.release();
  });

  it('fn released its hold early; a lock() pending elsewhere is not cancelled by withLock’s end', async () => {
    const { store, clock, locker, heldBy } = memoryFixture();
    const a = locker('a');
    let pending: Promise<Hold> | undefined;
    await a.withLock(async (_signal, hold) => {
      await hold.release();
      store.writeOutside(heldBy('b')); // someone else takes it at once
      pending = a.lock(); // another job of this process waits for it
      await settle();
    });
    assert.ok(pending);
    const outcome = await Promise.race([pending.then(() => 'acquired', (e: unknown) => e), settle().then(() => 'waiting')]);
    assert.ok(!(outcome instanceof AcquireCancelledError), 'withLock cancelled an unrelated lock()');
    await clock.advance(16_000);
    await (await pending).release();
  });

  it('runLeaderElection: the work released its hold and took a new one; the election’s release leaves the new hold alone', async () => {
    const { locker } = memoryFixture();
    const a = locker('a');
    const stop = new AbortController();
    let later: Hold | undefined;
    await runLeaderElection(a, {
      signal: stop.signal,
      onStartedLeading: async (_signal, hold) => {
        await hold.release();
        later = await a.lock();
      },
    });
    assert.ok(later);
    assert.equal(later.isHeld, true, 'runLeaderElection released a hold it does not own');
    await later.release();
  });
});

describe('runLeaderElection after a blocked event loop', () => {
  it("work that returns after blocking past the renew deadline: onStoppedLeading gets the loss the locker reports, and competing resumes", async () => {
    const { clock, locker } = memoryFixture();
    const a = locker('a');
    const stop = new AbortController();
    const lostEvents: LockLostError[] = [];
    a.on('lost', (e) => lostEvents.push(e));
    const stopped: StoppedLeadingEvent[] = [];
    let runs = 0;
    const election = runLeaderElection(a, {
      signal: stop.signal,
      onStartedLeading: async () => {
        runs += 1;
        if (runs === 1) clock.jump(11_000); // a CPU-bound step blocks the event loop past renewDeadlineMs (10 s), then the work returns
        else await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
      },
      onStoppedLeading: (e) => stopped.push(e),
    });
    await settle();
    await clock.advance(1);
    await settle();
    assert.equal(lostEvents.length, 1, "the locker declared the hold lost ('lost' fired)");
    assert.equal(lostEvents[0]?.reason, 'renew-deadline');
    assert.equal(stopped[0]?.lost?.reason, 'renew-deadline', "onStoppedLeading must not say 'not lost' for a hold the locker reported lost");
    stop.abort();
    await election;
  });
});

describe('a listener that throws', () => {
  it("is reported through process.emitWarning with code LEASELOCKER_LISTENER, as the README promises", async () => {
    const { locker } = memoryFixture();
    const a = locker('a');
    const warnings: Array<Error & { code?: string }> = [];
    const onWarning = (w: Error & { code?: string }): void => { warnings.push(w); };
    process.on('warning', onWarning);
    try {
      a.on('acquired', () => { throw new Error('listener bug'); });
      const hold = await a.lock();
      await settle();
      assert.equal(hold.isHeld, true, 'the lock is not disturbed');
      const ours = warnings.find((w) => w.message.includes('listener bug'));
      assert.ok(ours, 'a warning was emitted');
      assert.equal(ours.code, 'LEASELOCKER_LISTENER', 'the warning carries the documented code');
      await hold.release();
    } finally {
      process.off('warning', onWarning);
    }
  });
});
