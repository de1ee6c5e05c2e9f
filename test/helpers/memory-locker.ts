import { LeaseLocker } from '../../src/lease-locker.js';
import type { LeaseLockerOptions } from '../../src/options.js';
import type { LockRecord } from '../../src/record.js';
import { FakeClock } from './fake-clock.js';
import { MemoryStore } from './memory-lock.js';

/** A store, a fake clock and a factory of lockers over them. */
export function memoryFixture(options: LeaseLockerOptions = {}) {
  const store = new MemoryStore();
  const clock = new FakeClock();
  const locker = (identity: string, extra: LeaseLockerOptions = {}): LeaseLocker =>
    new LeaseLocker(store.lockFor(identity), { clock, ...options, ...extra });
  const heldBy = (holder: string, at = clock.wallTime()): LockRecord => ({
    holderIdentity: holder,
    leaseDurationSeconds: 15,
    acquireTime: new Date(at),
    renewTime: new Date(at),
    leaseTransitions: 3,
  });
  return { store, clock, locker, heldBy };
}
