import type { CallOptions } from './lease-locker.js';

/**
 * One acquisition of the lock, as `lock()` and `tryLock()` return it: the critical section
 * owns the signal and token of *its* hold, not whatever the long-lived locker holds later.
 *
 * @example
 * ```ts
 * await using hold = await locker.lock(); // released at scope exit, also on throw
 * await migrate({ signal: hold.signal, fencingToken: hold.fencingToken });
 * ```
 */
export interface Hold extends AsyncDisposable {
  /**
   * Aborts with a {@link LockLostError} the moment this hold can no longer be trusted, and when
   * it is released (reason `'released'`), before the lease is written. Pass it to the guarded
   * work. After a blocked event loop it aborts when the timers run, or earlier when
   * {@link Hold.assertHeld} is called.
   */
  readonly signal: AbortSignal;
  /**
   * The lease's `leaseTransitions` as this acquisition wrote it: it grows with every
   * acquisition, so a resource that remembers the highest token it has seen can refuse a
   * paused, former holder.
   */
  readonly fencingToken: number;
  /** The `acquireTime` this acquisition wrote into the Lease (the wall clock of this process). */
  readonly acquiredAt: Date;
  /**
   * True while this hold is held and its last renewal is within the renew deadline, judged on
   * the clock: false once it was lost or released, also right after a blocked event loop. Reading
   * it changes nothing.
   */
  readonly isHeld: boolean;
  /**
   * Throws the {@link LockLostError} that ended this hold unless it is held and its last renewal
   * is within the renew deadline. Call it right before an irreversible step.
   * @throws LockLostError when this hold cannot be trusted.
   */
  assertHeld(): void;
  /**
   * Releases this hold (the locker's `unlock()`), retrying transient errors as
   * `unlockWithRetry()` does (for up to `unlockWithRetryPeriodMs`): resolves true when the
   * lease is no longer ours, false when this hold had already ended, without touching a later
   * hold of the same locker. Rejects when the release could not be written; calling again
   * retries it.
   */
  release(options?: CallOptions): Promise<boolean>;
  /** Releases this hold if it is still held (`await using hold = await locker.lock()`). */
  [Symbol.asyncDispose](): Promise<void>;
}
