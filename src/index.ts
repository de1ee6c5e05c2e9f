// The public surface of leaselocker. Named exports only: what is not listed here is internal.
export { LeaseLocker } from './lease-locker.js';
export type { AcquiredEvent, CallOptions, LeaseLockerEvents, ReleasedEvent, RenewedEvent } from './lease-locker.js';
export type { LeaseLockerOptions } from './options.js';
export type { LeaseRef } from './lease-ref.js';
export { LeaseLock } from './lease-lock.js';
export type { LeaseLockOptions, LeaseSnapshot } from './lease-lock.js';
export type { LockSnapshot, ResourceLock, ResourceLockCallOptions } from './resource-lock.js';
export { MicroTime, formatMicroTime, leaseLockRecordToLeaseSpec, leaseSpecToLeaseLockRecord } from './record.js';
export type { LockRecord } from './record.js';
export { systemClock } from './clock.js';
export type { Clock } from './clock.js';
export {
  AcquireCancelledError,
  AlreadyLockedError,
  CredentialError,
  InvalidConfigError,
  LeaseApiError,
  LeaseExpiredError,
  LeaseLockerError,
  LeaseRequestError,
  LockLostError,
} from './errors.js';
export type { LeaseLockerErrorCode, LockLossReason } from './errors.js';
