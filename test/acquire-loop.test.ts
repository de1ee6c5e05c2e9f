import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AcquireLoop } from '../src/acquire-loop.js';
import { WatchHub } from '../src/shared-watch.js';
import { Wakeups } from '../src/wakeups.js';
import { FakeClock } from './helpers/fake-clock.js';
import { MemoryStore } from './helpers/memory-lock.js';

function loopFor(store: MemoryStore, identity: string, clock: FakeClock): AcquireLoop<ReturnType<MemoryStore['snapshot']>> {
  const settings = { name: identity, leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, useObservedTime: true, clock };
  return new AcquireLoop(store.lockFor(identity), settings, new Wakeups(), new WatchHub());
}

describe('AcquireLoop.attempt on a state shown by a watch', () => {
  it('judges expiry on the record it would write over, not on an older one it saw', async () => {
    const store = new MemoryStore();
    const clock = new FakeClock();
    const loop = loopFor(store, 'a', clock);
    store.writeOutside({ holderIdentity: '', leaseDurationSeconds: 1, acquireTime: undefined, renewTime: undefined, leaseTransitions: 0 });
    const free = store.snapshot();
    store.writeOutside({ holderIdentity: 'b', leaseDurationSeconds: 15, acquireTime: new Date(), renewTime: new Date(), leaseTransitions: 1 });
    // Our read lags: we saw the lease free, and lose the race for it.
    assert.equal((await loop.attempt(undefined, { snapshot: free })).kind, 'contended');
    // The watch now shows b's live hold at the current version: writing over it would succeed.
    const attempt = await loop.attempt(undefined, { snapshot: store.snapshot() });
    assert.equal(attempt.kind, 'busy');
    assert.equal(store.record?.holderIdentity, 'b');
    assert.equal(store.count('update', 'a'), 1, 'no write over a live hold');
  });
});
