/**
 * A distributed mutex for Node.js over a Kubernetes `coordination.k8s.io/v1` Lease: see
 * {@link LeaseLocker}.
 * @module leaselocker
 */
// The public surface of leaselocker. Named exports only: what is not listed here is internal.
export { LeaseLocker } from './lease-locker.js';
export type {
  AcquiredEvent,
  CallOptions,
  HolderChangedEvent,
  LeaseLockerEvents,
  ReleasedEvent,
  RenewedEvent,
  RenewFailedEvent,
} from './lease-locker.js';
export type { Hold } from './hold.js';
export { runLeaderElection } from './leader-election.js';
export type { LeaderElectionOptions, StoppedLeadingEvent } from './leader-election.js';
export type { LeaseLockerOptions } from './options.js';
export type { LeaseRef } from './lease-ref.js';
export { LeaseLock } from './lease-lock.js';
export type { LeaseLockOptions, LeaseSnapshot } from './lease-lock.js';
export type { LockEventDetails, LockSnapshot, ResourceLock, ResourceLockCallOptions } from './resource-lock.js';
export { MicroTime, formatMicroTime, leaseLockRecordToLeaseSpec, leaseSpecToLeaseLockRecord } from './record.js';
export type { LockRecord } from './record.js';
export type { WaitingTicket } from './waiting-line.js';
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
export type { LeaseLockerErrorCode, LockEndReason, LockLoss, LockLossReason } from './errors.js';
