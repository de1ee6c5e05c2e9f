/**
 * Every error leaselocker throws or reports is a {@link LeaseLockerError} with a
 * stable `code`, so callers can branch on `err.code` without parsing messages.
 */

/** Codes of all errors leaselocker raises. Stable across releases. */
export type LeaseLockerErrorCode =
  | 'INVALID_CONFIG'
  | 'ALREADY_LOCKED'
  | 'ACQUIRE_CANCELLED'
  | 'LOCK_LOST'
  | 'LEASE_EXPIRED'
  | 'API_ERROR'
  | 'REQUEST_FAILED'
  | 'CREDENTIALS';

/** Base class of every leaselocker error. */
export class LeaseLockerError extends Error {
  /** A stable, machine-readable identifier of the failure. */
  readonly code: LeaseLockerErrorCode;

  constructor(code: LeaseLockerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option or constructor argument is invalid. Thrown synchronously, before any I/O. */
export class InvalidConfigError extends LeaseLockerError {
  /** The option or argument at fault, e.g. `'renewDeadlineMs'` or `'lease.name'`. */
  readonly field: string;

  constructor(field: string, message: string) {
    super('INVALID_CONFIG', `invalid ${field}: ${message}`);
    this.field = field;
  }
}

/** `lock()` or `tryLock()` was called while this locker already holds or is acquiring the lease. */
export class AlreadyLockedError extends LeaseLockerError {
  constructor(lockName: string, state: 'held' | 'acquiring' | 'releasing') {
    super('ALREADY_LOCKED', `${lockName}: this locker is ${state === 'held' ? 'already holding' : state === 'acquiring' ? 'already acquiring' : 'still releasing'} the lease; a locker holds at most one lock at a time`);
  }
}

/** `unlock()` (or disposal) was called while `lock()` or `tryLock()` was still acquiring: the acquisition was cancelled and nothing is held. */
export class AcquireCancelledError extends LeaseLockerError {
  constructor(lockName: string) {
    super('ACQUIRE_CANCELLED', `${lockName}: the acquisition was cancelled by unlock() before it completed; nothing is held`);
  }
}

/** Why a hold was lost: it ended without `unlock()`. What the `'lost'` event reports. */
export type LockLossReason =
  /** No renewal succeeded within `renewDeadlineMs` of the last successful one. */
  | 'renew-deadline'
  /** The lease shows another holder (someone took it or wrote over it). */
  | 'taken'
  /** The Lease object was deleted. */
  | 'deleted'
  /** The locker's lifetime signal aborted while holding. */
  | 'cancelled'
  /** An error that retrying cannot heal (for example 403 Forbidden on renewal). */
  | 'fatal';

/**
 * Why a hold's `signal` aborted: a {@link LockLossReason}, or one of two ends that are not
 * losses.
 */
export type LockEndReason =
  | LockLossReason
  /** `unlock()` (or `Hold.release()`) ended the hold: the signal aborts before the lease is released, so guarded work stops first. */
  | 'released'
  /** Nothing was acquired yet: the reason of `signal` before the first hold. */
  | 'not-held';

/**
 * The hold can no longer be trusted: stop the guarded work. A hold's `signal` aborts with this
 * error; the `'lost'` event carries it with a {@link LockLossReason} (see {@link LockLoss}).
 */
export class LockLostError extends LeaseLockerError {
  /** What ended the hold. */
  readonly reason: LockEndReason;
  /** The identity now holding the lease, when known. */
  readonly holder: string | undefined;

  constructor(lockName: string, reason: LockEndReason, details?: { holder?: string | undefined; cause?: unknown }) {
    const why: Record<LockEndReason, string> = {
      'renew-deadline': 'no renewal succeeded within the renew deadline',
      taken: `the lease is now held by ${JSON.stringify(details?.holder ?? '')}`,
      deleted: 'the Lease object was deleted',
      cancelled: "the locker's signal aborted",
      fatal: 'renewal failed with an error that retrying cannot heal',
      released: 'the lock was released by unlock()',
      'not-held': 'this locker has not acquired the lock',
    };
    super('LOCK_LOST', `${lockName}: lock lost: ${why[reason]}`, { cause: details?.cause });
    this.reason = reason;
    this.holder = details?.holder;
  }
}

/** A {@link LockLostError} of a real loss, as the `'lost'` event carries it. */
export type LockLoss = LockLostError & {
  /** What ended the hold: a loss. */
  readonly reason: LockLossReason;
};

/** A {@link LockLostError} for a real loss, typed as such. */
export function lockLoss(lockName: string, reason: LockLossReason, details?: { holder?: string | undefined; cause?: unknown }): LockLoss {
  return new LockLostError(lockName, reason, details) as LockLoss;
}

/** `check()` found our hold unrenewed for longer than the lease duration plus the tolerance. */
export class LeaseExpiredError extends LeaseLockerError {
  /** Milliseconds since the last successful renewal started. */
  readonly sinceRenewMs: number;

  constructor(lockName: string, sinceRenewMs: number, allowedMs: number) {
    super('LEASE_EXPIRED', `${lockName}: the lease was last renewed ${Math.round(sinceRenewMs)} ms ago, more than the ${allowedMs} ms tolerated`);
    this.sinceRenewMs = sinceRenewMs;
  }
}

/** The API server answered with a non-2xx status. */
export class LeaseApiError extends LeaseLockerError {
  /** HTTP status code, e.g. 403. */
  readonly statusCode: number;
  /** The Status `reason` (e.g. `'Conflict'`, `'Forbidden'`, `'NotFound'`), or `''` when the body had none. */
  readonly reason: string;
  /** The Status `message` from the server, or `''`. */
  readonly statusMessage: string;
  /** Seconds from a `Retry-After` header, when the server sent one. */
  readonly retryAfterSeconds: number | undefined;

  constructor(operation: string, details: { statusCode: number; reason: string; statusMessage: string; retryAfterSeconds?: number | undefined; cause?: unknown }) {
    const tail = details.statusMessage === '' ? details.reason : details.statusMessage;
    super('API_ERROR', `${operation}: HTTP ${details.statusCode}${details.reason === '' ? '' : ` ${details.reason}`}${tail === '' || tail === details.reason ? '' : `: ${tail}`}`, { cause: details.cause });
    this.statusCode = details.statusCode;
    this.reason = details.reason;
    this.statusMessage = details.statusMessage;
    this.retryAfterSeconds = details.retryAfterSeconds;
  }

  /** True for answers a retry may heal: 429 and 5xx other than 501. */
  get retryable(): boolean {
    return this.statusCode === 429 || (this.statusCode >= 500 && this.statusCode !== 501);
  }
}

/**
 * The request never got an answer: connection refused or reset, DNS failure, the per-request
 * timeout — or it could not be sent at all (no current cluster in the KubeConfig, a server URL
 * that cannot be used, a TLS verification failure such as an unknown CA).
 */
export class LeaseRequestError extends LeaseLockerError {
  /** True when the request was cut off by `requestTimeoutMs`. Its outcome at the server is unknown. */
  readonly timedOut: boolean;
  /**
   * True when a later attempt may succeed (a timeout, a refused or reset connection, a DNS
   * failure); false when no retry can heal it (a configuration, TLS verification or programming
   * error): `lock()`, `tryLock()` and `unlockWithRetry()` then reject at once.
   */
  readonly retryable: boolean;

  /** @param details - `retryable` defaults to true. */
  constructor(operation: string, details: { timedOut: boolean; retryable?: boolean | undefined; cause?: unknown }) {
    const why = details.timedOut ? 'timed out' : `failed: ${errorMessage(details.cause)}`;
    super('REQUEST_FAILED', `${operation}: request ${why}`, { cause: details.cause });
    this.timedOut = details.timedOut;
    this.retryable = details.retryable ?? true;
  }
}

/**
 * The KubeConfig's credentials or TLS material could not be applied, so no request was sent:
 * an exec plugin that cannot be run or that failed, a token, certificate or key file that
 * cannot be read. Not retried: the call that met it rejects at once, and the next call applies
 * the credentials afresh (nothing is cached), so it succeeds once the cause is fixed.
 */
export class CredentialError extends LeaseLockerError {
  constructor(operation: string, details: { cause: unknown }) {
    super('CREDENTIALS', `${operation}: the KubeConfig's credentials could not be applied: ${errorMessage(details.cause)}`, { cause: details.cause });
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
