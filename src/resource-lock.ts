import type { LockLossReason } from './errors.js';
import type { LockRecord } from './record.js';

/** What a lock looked like when read or written: the record plus the version a conditional write must name. */
export interface LockSnapshot {
  /** The record as stored. */
  readonly record: LockRecord;
  /** The opaque version of the stored object (a Lease's `metadata.resourceVersion`). */
  readonly version: string;
}

/** Per-call options of every {@link ResourceLock} operation. */
export interface ResourceLockCallOptions {
  /** Aborts the call; the call then rejects with `signal.reason`. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * A change seen on a watch: the lock's new state (undefined once deleted), or a bookmark.
 * @inline
 */
export type LockWatchEvent<S extends LockSnapshot> =
  | { readonly type: 'change'; readonly snapshot: S | undefined; readonly version: string }
  /** Nothing changed up to `version`; resume from there. */
  | { readonly type: 'bookmark'; readonly version: string };

/**
 * Callbacks of {@link ResourceLock.watch}.
 * @inline
 */
export interface LockWatchHandlers<S extends LockSnapshot> {
  /** The server accepted the watch; events after the start version follow. */
  onOpen(): void;
  /** A change of the lock, or a bookmark: the version to resume from. */
  onEvent(event: LockWatchEvent<S>): void;
}

/**
 * What a {@link ResourceLock.recordEvent} call reports, for a recorder that acts on the kind of
 * change rather than on the message (a `LeaseLock` with `recordEvents` picks the Event's reason
 * and type from it).
 */
export type LockEventDetails =
  | {
    /** This lock's identity acquired the lock. */
    readonly kind: 'acquired';
  }
  | {
    /** This lock's identity released the lock. */
    readonly kind: 'released';
  }
  | {
    /** A hold of this lock's identity ended without a release. */
    readonly kind: 'lost';
    /** Why the hold ended. */
    readonly reason: LockLossReason;
    /** The identity now holding the lock, when known (a loss by `'taken'`). */
    readonly holder?: string | undefined;
  };

/**
 * Storage of a lock record, the counterpart of client-go's `resourcelock.Interface`. The
 * locker's loop drives it; an implementation only reads and writes.
 *
 * Errors: a write on a stale version rejects with a `LeaseApiError` whose `statusCode` is 409
 * (as does `create` of an existing lock); anything that never got an answer rejects with a
 * `LeaseRequestError`; other server answers reject with `LeaseApiError`.
 *
 * @typeParam S - the snapshot type; an implementation may carry the whole stored object in it
 * so that an update keeps fields the locker does not own.
 */
export interface ResourceLock<S extends LockSnapshot = LockSnapshot> {
  /** Reads the lock; resolves `undefined` when it does not exist. */
  get(options?: ResourceLockCallOptions): Promise<S | undefined>;
  /** Creates the lock with `record`. */
  create(record: LockRecord, options?: ResourceLockCallOptions): Promise<S>;
  /** Writes `record` over `base`, on condition that the stored version is still `base.version`. */
  update(record: LockRecord, base: S, options?: ResourceLockCallOptions): Promise<S>;
  /**
   * Notes a change of holder for observers (logs, Kubernetes Events). Must not throw. The
   * locker passes `details` (acquired, released, or lost and why) along with the message; an
   * implementation may ignore it, so `recordEvent(message: string)` still implements this.
   */
  recordEvent(message: string, details?: LockEventDetails): void;
  /** The identity this lock writes as holder. */
  readonly identity: string;
  /** A stable, human-readable name of the locked resource, e.g. `namespace/name`. */
  describe(): string;
  /**
   * Optional, with {@link watch}: reads the lock together with a version to watch from (for a
   * Lease, a list of one: the list's resourceVersion is current even when the object is old).
   */
  readonly list?: ((options?: ResourceLockCallOptions) => Promise<{
    /** The lock, or `undefined` when it does not exist. */
    snapshot: S | undefined;
    /** The version to watch from. */
    version: string;
  }>) | undefined;
  /**
   * Optional: streams the changes after `fromVersion` until the server ends the stream (resolve;
   * resume from the last version seen) or `signal` aborts. Rejects with a `LeaseApiError` whose
   * `statusCode` is 410 when `fromVersion` is too old (list again), and with other errors as
   * the other calls do. Waiting lockers use it to learn of a release at once instead of polling.
   */
  readonly watch?: ((fromVersion: string, handlers: LockWatchHandlers<S>, options?: ResourceLockCallOptions) => Promise<void>) | undefined;
  /**
   * Optional: identifies the watched object across the lockers of this process, so that they
   * share one watch. Lockers of other clusters must not share it.
   * @default describe()
   */
  readonly watchKey?: (() => string) | undefined;
}
