import { EventEmitter } from 'node:events';
import type { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import pRetry from 'p-retry';
import { linkSignals, raceAbort, throwIfAborted } from './abort.js';
import type { Acquired, RenewEnd } from './acquire-loop.js';
import { AcquireLoop, isTransient } from './acquire-loop.js';
import { AcquireCancelledError, AlreadyLockedError, InvalidConfigError, LeaseExpiredError, LockLostError, lockLoss } from './errors.js';
import type { LeaseLockerError, LockLoss } from './errors.js';
import type { Hold } from './hold.js';
import { LeaseLock } from './lease-lock.js';
import type { LeaseRef } from './lease-ref.js';
import { log } from './log.js';
import { LockerMetrics } from './metrics.js';
import type { LeaseLockerOptions, ResolvedOptions } from './options.js';
import { resolveOptions } from './options.js';
import type { LockSnapshot, ResourceLock } from './resource-lock.js';
import { processWatches } from './shared-watch.js';
import { processWakeups } from './wakeups.js';

/** Payload of the `'acquired'` event. */
export interface AcquiredEvent {
  /** The fencing token of the new hold (see {@link Hold.fencingToken}). */
  readonly fencingToken: number;
  /** The new hold, as `lock()` or `tryLock()` resolves it. */
  readonly hold: Hold;
}

/** Payload of the `'renewed'` event. */
export interface RenewedEvent {
  /** The `renewTime` written. */
  readonly renewTime: Date | undefined;
}

/** Payload of the `'renewFailed'` event. */
export interface RenewFailedEvent {
  /** Why the attempt failed: no answer, a 5xx or a 429 (a conflict is not a failure: the lease is read to learn whether it is still ours). */
  readonly error: LeaseLockerError;
  /** How long until the hold is declared lost unless a renewal succeeds (the renew deadline), in milliseconds. */
  readonly remainingMs: number;
}

/** Payload of the `'released'` event. */
export interface ReleasedEvent {
  /** The fencing token of the hold that ended. */
  readonly fencingToken: number;
}

/** Payload of the `'holderChanged'` event. */
export interface HolderChangedEvent {
  /** The identity now named holder, or undefined when the lease is free or was deleted. */
  readonly holder: string | undefined;
}

/** Events of a {@link LeaseLocker}. */
export interface LeaseLockerEvents {
  /** This locker now holds the lease. */
  acquired: [event: AcquiredEvent];
  /** A renewal succeeded. */
  renewed: [event: RenewedEvent];
  /**
   * A renewal attempt failed and will be retried: alert on it before a loss. The hold stays
   * trusted until its renew deadline.
   */
  renewFailed: [event: RenewFailedEvent];
  /**
   * The hold ended without `unlock()`: stop the guarded work. Same error as the hold's
   * `signal.reason`; a normal `unlock()` is not a loss and emits `'released'` instead.
   */
  lost: [error: LockLoss];
  /** `unlock()` released the lease. */
  released: [event: ReleasedEvent];
  /**
   * The holder this locker sees changed (see {@link LeaseLocker.holder}): from what its own
   * reads, writes and watch show, at no extra request.
   */
  holderChanged: [event: HolderChangedEvent];
}

/** Options of the calls that wait. */
export interface CallOptions {
  /** Aborts the call, which then rejects with `signal.reason`. */
  readonly signal?: AbortSignal | undefined;
}

/** A hold as the locker keeps it; `handle` is what the caller gets. */
interface HoldState {
  readonly fencingToken: number;
  readonly handle: Hold;
  /** When the acquisition write started (monotonic): hold durations count from here. */
  readonly startedAt: number;
  /** Aborts when the hold ends; what `locker.signal` returns. */
  readonly controller: AbortController;
  /** Aborted to stop renewal. */
  readonly stop: AbortController;
  snapshot: LockSnapshot;
  renewedAt: number;
  renewing: Promise<RenewEnd<LockSnapshot>>;
  readonly cleanup: () => void;
}

type State =
  | { readonly kind: 'idle' }
  /** `cancel` aborts the acquisition (unlock() meanwhile); `settled` resolves once it ended and left nothing held. */
  | { readonly kind: 'acquiring'; readonly cancel: AbortController; readonly settled: Promise<void> }
  | { readonly kind: 'held'; readonly hold: HoldState }
  /**
   * The hold ended because renewal failed (no success in time, or an error no retry can heal),
   * so the lease may still show our acquisition: `unlock()` releases it on condition that nobody
   * wrote since, sparing waiters the expiry.
   */
  | { readonly kind: 'lost'; readonly hold: HoldState }
  | { readonly kind: 'releasing'; readonly hold: HoldState; readonly done: Promise<boolean> }
  /** unlock() failed to write the release; the lease may still name us until it expires. */
  | { readonly kind: 'unreleased'; readonly hold: HoldState };

/**
 * A distributed mutex over a Kubernetes Lease.
 *
 * @example
 * ```ts
 * const locker = new LeaseLocker(kubeConfig, { namespace: 'default', name: 'nightly-report' }, podName);
 * await locker.withLock(async (signal) => {
 *   await buildReport({ signal }); // stop when signal aborts: the lock was lost
 * });
 * ```
 */
export class LeaseLocker extends EventEmitter<LeaseLockerEvents> implements AsyncDisposable {
  readonly #options: ResolvedOptions;
  readonly #lock: ResourceLock;
  readonly #loop: AcquireLoop<LockSnapshot>;
  #state: State = { kind: 'idle' };
  /** The signal of the most recent hold. */
  #signal: AbortSignal;
  /**
   * When our last renewal started while we may still be named holder (held, or lost by
   * timeout); undefined once we know the lease is not ours. `check()` reads it.
   */
  #believedRenewAt: number | undefined;
  readonly #metrics: LockerMetrics;

  /**
   * @param kubeConfig - cluster access; a `CoordinationV1Api` is made from it. Nothing is sent until `lock()` or `tryLock()`.
   * @param lease - the Lease to lock; the name is lowercased and must then be a DNS subdomain.
   * @param owner - this process's identity, unique among contenders (e.g. the pod name).
   * @param options - timing and behaviour; see {@link LeaseLockerOptions}.
   * @throws InvalidConfigError on any invalid argument, before any I/O.
   */
  constructor(kubeConfig: KubeConfig | CoordinationV1Api, lease: LeaseRef, owner: string, options?: LeaseLockerOptions);
  /**
   * Builds a locker over any {@link ResourceLock}.
   * @throws InvalidConfigError on any invalid argument, before any I/O.
   */
  constructor(resourceLock: ResourceLock, options?: LeaseLockerOptions);
  constructor(
    client: KubeConfig | CoordinationV1Api | ResourceLock,
    leaseOrOptions?: LeaseRef | LeaseLockerOptions,
    owner?: string,
    lockerOptions?: LeaseLockerOptions,
  ) {
    super();
    let lock: ResourceLock;
    let options: LeaseLockerOptions | undefined;
    if (isResourceLock(client)) {
      lock = client;
      options = leaseOrOptions;
      // Events are the ResourceLock's to record: a LeaseLock has its own recordEvents option.
      if (options?.recordEvents === true) throw new InvalidConfigError('recordEvents', 'applies to a locker built from a KubeConfig; over a ResourceLock, set it on the LeaseLock');
    } else {
      options = lockerOptions;
      // Options first, so that a bad timing is reported even alongside a bad lease reference.
      const { requestTimeoutMs, recordEvents } = resolveOptions(options, 'lease');
      lock = new LeaseLock(client, leaseOrOptions as LeaseRef, owner as string, { requestTimeoutMs, recordEvents });
    }
    this.#options = resolveOptions(options, `${lock.describe()}: ${lock.identity}`);
    this.#lock = lock;
    const onHolderChange = (holder: string | undefined): void => this.#tell('holderChanged', { holder });
    this.#loop = new AcquireLoop(lock, { ...this.#options, onHolderChange }, processWakeups, processWatches);
    this.#metrics = new LockerMetrics(lock.describe());
    this.#signal = AbortSignal.abort(new LockLostError(this.#options.name, 'not-held'));
  }

  /** The identity this locker writes as holder. */
  get identity(): string {
    return this.#lock.identity;
  }

  /**
   * The holder of the lease as this locker last saw it (undefined: free, deleted, or not seen
   * yet), kept current at no extra request while it waits (by its watch) or holds (by its
   * renewals); between calls it is what was last seen. `'holderChanged'` tells of each change.
   * Another locker with the same identity shows as that identity.
   */
  get holder(): string | undefined {
    return this.#loop.observedHolder;
  }

  /**
   * True while this locker holds the lease and its last renewal is within the renew deadline,
   * judged on the clock: also right after a blocked event loop, before timers could run.
   */
  get isLocked(): boolean {
    return this.#trustedHold() !== undefined;
  }

  /**
   * The signal of the current (or most recent) hold, as {@link Hold.signal}. It aborts with a {@link LockLostError}
   * the moment the hold can no longer be trusted, and when `unlock()` begins (reason
   * `'released'`), before the lease is released. Before the first hold it is already aborted.
   * After a blocked event loop it aborts when the timers run, or earlier when `assertHeld()`,
   * `check()` or `unlock()` is called. Pass it to the guarded work.
   */
  get signal(): AbortSignal {
    return this.#signal;
  }

  /**
   * The lease's `leaseTransitions` as written when this hold was acquired, or undefined when
   * not holding. It grows with every acquisition, so a resource that remembers the highest
   * token it has seen can refuse a paused, former holder. Caveat: it starts again from 0 if
   * the Lease object is deleted and recreated; Kubernetes itself does not enforce fencing.
   */
  get fencingToken(): number | undefined {
    return this.#trustedHold()?.fencingToken;
  }

  /**
   * Waits until this locker holds the lease and resolves the {@link Hold}. Retries transient
   * API errors (no answer, 429, 5xx); rejects at once on others (e.g. 403 Forbidden) and with
   * `signal.reason` when `signal` or the locker's lifetime signal aborts, leaving nothing running.
   * @throws AlreadyLockedError when this locker is already holding or acquiring.
   * @example
   * ```ts
   * await using hold = await locker.lock({ signal: AbortSignal.timeout(60_000) });
   * await migrate({ signal: hold.signal, fencingToken: hold.fencingToken });
   * ```
   */
  async lock(options: CallOptions = {}): Promise<Hold> {
    const hold = await this.#acquire(options.signal, 'lock');
    if (hold === undefined) throw new Error('unreachable: lock() resolved without a hold');
    return hold;
  }

  /**
   * One attempt, no waiting: resolves the {@link Hold} when this locker now holds the lease,
   * undefined when someone else holds it (or won a race for it). Rejects on API errors.
   * @throws AlreadyLockedError when this locker is already holding or acquiring.
   * @example
   * ```ts
   * await using guard = await locker.tryLock();
   * if (!guard) return; // another replica is on it
   * ```
   */
  async tryLock(options: CallOptions = {}): Promise<Hold | undefined> {
    return this.#acquire(options.signal, 'tryLock');
  }

  /**
   * Stops renewing (after an in-flight renewal settles), aborts `signal`, and releases the
   * lease so the next contender gets it at once. Never clears a lease someone else holds.
   * Resolves true when the lease is no longer ours, false when this locker was not holding it
   * (no API call is made) or it turned out to be held by someone else. Rejects when the
   * release could not be written; calling again retries it.
   *
   * While `lock()` or `tryLock()` is still acquiring, it cancels the acquisition (which rejects
   * with {@link AcquireCancelledError}), waits until anything that acquisition may have written
   * is released, and resolves false. After a hold was lost because renewals failed, it still
   * tries one release on condition that nobody wrote since our last renewal.
   */
  async unlock(options: CallOptions = {}): Promise<boolean> {
    this.#expireIfStale();
    const state = this.#state;
    switch (state.kind) {
      case 'idle':
        return false;
      case 'acquiring':
        state.cancel.abort(new AcquireCancelledError(this.#options.name));
        await raceAbort(state.settled, options.signal);
        return false;
      case 'releasing': {
        // Join the release in progress; if it failed (its own caller may have given up), try again.
        const joined = await raceAbort(state.done.then((released) => ({ released }), () => undefined), options.signal);
        return joined === undefined ? this.unlock(options) : joined.released;
      }
      case 'held':
      case 'lost':
      case 'unreleased': {
        const done = this.#release(state.hold, state.kind !== 'unreleased', options.signal);
        this.#state = { kind: 'releasing', hold: state.hold, done };
        return raceAbort(done, options.signal);
      }
    }
  }

  /**
   * `unlock()`, retried with jittered `retryPeriodMs` pauses on transient errors for up to
   * `unlockWithRetryPeriodMs`. Errors that cannot heal (403, 404, ...) reject at once.
   */
  async unlockWithRetry(options: CallOptions = {}): Promise<boolean> {
    return this.#retrying(async () => this.unlock(options), options.signal);
  }

  /** `release`, retried with jittered `retryPeriodMs` pauses on transient errors for up to `unlockWithRetryPeriodMs`. */
  async #retrying(release: () => Promise<boolean>, signal: AbortSignal | undefined): Promise<boolean> {
    const { retryPeriodMs, unlockWithRetryPeriodMs } = this.#options;
    return pRetry(release, {
      retries: Number.POSITIVE_INFINITY,
      factor: 1,
      minTimeout: retryPeriodMs,
      randomize: true,
      maxRetryTime: unlockWithRetryPeriodMs,
      signal,
      shouldRetry: ({ error }) => isTransient(error),
      onFailedAttempt: ({ error, attemptNumber }) => {
        log.release('%s: unlock attempt %d failed: %s', this.#options.name, attemptNumber, error.message);
      },
    });
  }

  /**
   * A liveness check with the meaning of client-go's leader-election health check
   * (`HealthzAdaptor`): throws {@link LeaseExpiredError} when we believe we hold the lease
   * (holding, or lost it only by failing to renew) and more than
   * `leaseDurationMs + maxTolerableExpiredLeaseMs` has passed since our last successful renewal
   * started; returns otherwise, also when not holding (a waiting replica is healthy). Wire it to
   * a liveness probe so that a replica stuck holding a lease it cannot renew gets restarted. It
   * is not a hold check: before an irreversible step use {@link Hold.assertHeld}.
   */
  check(maxTolerableExpiredLeaseMs: number): void {
    if (typeof maxTolerableExpiredLeaseMs !== 'number' || !Number.isFinite(maxTolerableExpiredLeaseMs) || maxTolerableExpiredLeaseMs < 0) {
      throw new InvalidConfigError('maxTolerableExpiredLeaseMs', `must be a non-negative number of milliseconds, got ${String(maxTolerableExpiredLeaseMs)}`);
    }
    this.#expireIfStale();
    if (this.#believedRenewAt === undefined) return;
    const since = this.#options.clock.now() - this.#believedRenewAt;
    const allowed = this.#options.leaseDurationMs + maxTolerableExpiredLeaseMs;
    if (since > allowed) throw new LeaseExpiredError(this.#options.name, since, allowed);
  }

  /**
   * Runs `fn` while holding the lock: `lock()`, then `fn(signal, hold)`, then always release
   * (with retries). `signal` (the hold's) aborts if the lock is lost meanwhile; `fn` should stop then. Resolves
   * with what `fn` returns; rejects with the {@link LockLostError} when the hold was lost while
   * `fn` ran, even if `fn` resolved: a critical section that outlived its lock is an error.
   * If `fn` throws, that error wins over a failed release.
   */
  async withLock<T>(fn: (signal: AbortSignal, hold: Hold) => Promise<T> | T, options: CallOptions = {}): Promise<T> {
    const hold = await this.lock(options);
    const signal = hold.signal;
    let result: T;
    // Only this hold is released: if fn released it early and the locker went on to another
    // hold, that one is not ours to end.
    try {
      result = await fn(signal, hold);
    } catch (error) {
      await hold.release().catch((unlockError: unknown) => {
        log.release('%s: release after a failed critical section also failed: %O', this.#options.name, unlockError);
      });
      throw error;
    }
    if (this.#state.kind === 'held' && this.#state.hold.handle === hold) this.#expireIfStale();
    const lost: unknown = signal.aborted ? signal.reason : undefined;
    if (lost instanceof LockLostError && lost.reason !== 'released') {
      // Still release what may name us (a loss by renew deadline), but the loss is what the caller must see.
      await hold.release().catch((unlockError: unknown) => {
        log.release('%s: release after a lost hold failed: %O', this.#options.name, unlockError);
      });
      throw lost;
    }
    await hold.release();
    return result;
  }

  /**
   * Throws the {@link LockLostError} of the current hold unless this locker holds the lease and
   * its last renewal is within the renew deadline. Call it right before an irreversible step:
   * unlike `signal`, which aborts only when the timers phase of the event loop runs, it also
   * sees a deadline that passed while the event loop was blocked.
   * @throws LockLostError when the hold cannot be trusted (reason `'not-held'` when there is none).
   */
  assertHeld(): void {
    this.#expireIfStale();
    if (this.#state.kind === 'held') return;
    const reason: unknown = this.#signal.reason;
    throw reason instanceof LockLostError ? reason : new LockLostError(this.#options.name, 'not-held');
  }

  /** Releases the lease if held (`await using locker = new LeaseLocker(...)`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.unlock();
  }

  async #acquire(callSignal: AbortSignal | undefined, operation: 'lock' | 'tryLock'): Promise<Hold | undefined> {
    const state = this.#state;
    if (state.kind === 'held' || state.kind === 'acquiring' || state.kind === 'releasing') {
      this.#expireIfStale();
      const now = this.#state.kind;
      if (now === 'held' || now === 'acquiring' || now === 'releasing') throw new AlreadyLockedError(this.#options.name, now);
    }
    const lifetime = this.#options.signal;
    throwIfAborted(callSignal);
    throwIfAborted(lifetime);
    const previous = this.#state;
    if (previous.kind === 'lost' || previous.kind === 'unreleased') {
      // The lease may still show our previous acquisition: take it afresh rather than wait it
      // out, or release it if this acquisition fails.
      previous.hold.cleanup();
      this.#loop.adopt(previous.hold.snapshot.record);
    }
    const cancel = new AbortController();
    let settle!: () => void;
    let fail!: (error: unknown) => void;
    const settled = new Promise<void>((resolve, reject) => { settle = resolve; fail = reject; });
    settled.catch(() => undefined); // observed by unlock(), if anyone calls it
    this.#state = { kind: 'acquiring', cancel, settled };
    const linked = linkSignals(callSignal, lifetime, cancel.signal);
    const { clock } = this.#options;
    const startedAt = clock.now();
    let acquired: Acquired<LockSnapshot> | undefined;
    try {
      if (operation === 'lock') {
        acquired = await this.#loop.acquire(linked.signal);
      } else {
        const attempt = await this.#loop.attempt(linked.signal);
        acquired = attempt.kind === 'acquired' ? attempt.acquired : undefined;
      }
    } catch (error) {
      this.#metrics.lockSettled(operation, linked.signal.aborted ? 'aborted' : 'error', (clock.now() - startedAt) / 1000);
      this.#state = { kind: 'idle' };
      // A write in flight may have landed: release it in the background, without delaying this rejection.
      void this.#loop.abandon().then(settle);
      throw error;
    } finally {
      linked.dispose();
    }
    if (acquired === undefined) {
      this.#metrics.lockSettled(operation, 'busy', (clock.now() - startedAt) / 1000);
      this.#state = { kind: 'idle' };
      settle();
      log.state('%s: tryLock: held by %s', this.#options.name, this.#loop.observedHolder ?? '');
      return undefined;
    }
    const ended = cancel.signal.aborted ? cancel.signal : lifetime?.aborted === true ? lifetime : undefined;
    if (ended !== undefined) {
      // Cancelled while our write was in flight: do not start a hold nobody will end.
      this.#metrics.lockSettled(operation, 'aborted', (clock.now() - startedAt) / 1000);
      this.#state = { kind: 'idle' };
      try {
        await this.#loop.release(acquired.snapshot, undefined);
        settle();
      } catch (error) {
        // Still named holder: a later unlock() retries the release, this one rejects with why.
        this.#state = { kind: 'unreleased', hold: this.#endedHold(acquired) };
        fail(error);
      }
      throw ended.reason;
    }
    this.#metrics.lockSettled(operation, 'acquired', (clock.now() - startedAt) / 1000);
    const hold = this.#startHold(acquired);
    settle();
    return hold.handle;
  }

  #startHold(acquired: Acquired<LockSnapshot>): HoldState {
    const { name, clock } = this.#options;
    const controller = new AbortController();
    const stop = new AbortController();
    const lifetime = this.#options.signal;
    const onLifetimeAbort = (): void => this.#cancel(hold);
    const hold: HoldState = {
      fencingToken: acquired.snapshot.record.leaseTransitions,
      handle: this.#handle(() => hold, acquired),
      startedAt: acquired.startedAt,
      controller,
      stop,
      snapshot: acquired.snapshot,
      renewedAt: acquired.startedAt,
      renewing: Promise.resolve({ kind: 'stopped', snapshot: acquired.snapshot }),
      cleanup: () => lifetime?.removeEventListener('abort', onLifetimeAbort),
    };
    const isCurrent = (): boolean => this.#state.kind === 'held' && this.#state.hold === hold;
    hold.renewing = this.#loop.renew(acquired, stop.signal, {
      renewed: (snapshot, startedAt) => {
        hold.snapshot = snapshot;
        this.#metrics.renewed((clock.now() - startedAt) / 1000);
        // A renewal answered after the hold was declared lost revives nothing: no 'renewed' after 'lost'.
        if (!isCurrent()) return;
        hold.renewedAt = startedAt;
        this.#believedRenewAt = startedAt;
        this.#tell('renewed', { renewTime: snapshot.record.renewTime });
      },
      failed: (error, deadlineAt) => {
        if (!isCurrent()) return;
        this.#metrics.renewFailed();
        this.#tell('renewFailed', { error, remainingMs: Math.max(0, deadlineAt - clock.now()) });
      },
    });
    void hold.renewing.then((end) => {
      if (end.kind === 'lost' && this.#state.kind === 'held' && this.#state.hold === hold) this.#lose(hold, end.error);
    });
    lifetime?.addEventListener('abort', onLifetimeAbort, { once: true });
    this.#state = { kind: 'held', hold };
    this.#signal = controller.signal;
    this.#believedRenewAt = acquired.startedAt;
    this.#metrics.acquired();
    log.state('%s: acquired, fencing token %d', name, hold.fencingToken);
    this.#tell('acquired', { fencingToken: hold.fencingToken, hold: hold.handle });
    return hold;
  }

  /**
   * The caller's view of a hold. It acts on the locker only while that hold is the locker's
   * current one, so a stale handle can never end a later hold.
   */
  #handle(state: () => HoldState, acquired: Acquired<LockSnapshot>): Hold {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the handle's methods act on this locker
    const locker = this;
    const acquiredAt = new Date(acquired.snapshot.record.acquireTime?.getTime() ?? Number.NaN);
    const owns = (): boolean => {
      const current = locker.#state;
      return current.kind !== 'idle' && current.kind !== 'acquiring' && current.hold === state();
    };
    return {
      get signal() {
        return state().controller.signal;
      },
      fencingToken: acquired.snapshot.record.leaseTransitions,
      acquiredAt,
      get isHeld() {
        return locker.#trustedHold() === state();
      },
      assertHeld() {
        if (owns()) {
          locker.assertHeld();
          return;
        }
        const reason: unknown = state().controller.signal.reason;
        throw reason instanceof LockLostError ? reason : new LockLostError(locker.#options.name, 'released');
      },
      async release(options: CallOptions = {}) {
        return locker.#retrying(async () => (owns() ? locker.unlock(options) : false), options.signal);
      },
      async [Symbol.asyncDispose]() {
        await this.release();
      },
    };
  }

  /** A hold that never ran: what an unlock() after a failed release needs. */
  #endedHold(acquired: Acquired<LockSnapshot>): HoldState {
    const controller = new AbortController();
    controller.abort(new LockLostError(this.#options.name, 'released'));
    const hold: HoldState = {
      fencingToken: acquired.snapshot.record.leaseTransitions,
      handle: this.#handle(() => hold, acquired),
      startedAt: acquired.startedAt,
      controller,
      stop: controller,
      snapshot: acquired.snapshot,
      renewedAt: acquired.startedAt,
      renewing: Promise.resolve({ kind: 'stopped', snapshot: acquired.snapshot }),
      cleanup: () => undefined,
    };
    return hold;
  }

  /**
   * Emits an event. A listener that throws must not corrupt the hold's state nor crash the
   * renew loop: its error is logged and reported as a process warning.
   */
  #tell<K extends keyof LeaseLockerEvents>(event: K, ...args: LeaseLockerEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: LeaseLockerEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      log.state('%s: a %s listener threw: %O', this.#options.name, event, error);
      // A string warning: Node drops `code` and `detail` when given an Error.
      const message = error instanceof Error ? error.message : String(error);
      const detail = error instanceof Error ? error.stack : undefined;
      process.emitWarning(`a '${event}' listener of ${this.#options.name} threw: ${message}`, { code: 'LEASELOCKER_LISTENER', ...(detail !== undefined && { detail }) });
    }
  }

  /** The current hold, if it is held and within its renew deadline on the clock. No side effect. */
  #trustedHold(): HoldState | undefined {
    const state = this.#state;
    if (state.kind !== 'held') return undefined;
    return this.#options.clock.now() < state.hold.renewedAt + this.#options.renewDeadlineMs ? state.hold : undefined;
  }

  /** Ends a hold that can no longer be trusted: abort its signal, stop renewing, tell listeners. */
  #lose(hold: HoldState, error: LockLoss): void {
    // A lease we could not renew may still show our acquisition: unlock() can release it.
    const mayStillNameUs = error.reason === 'renew-deadline' || error.reason === 'fatal';
    this.#state = mayStillNameUs ? { kind: 'lost', hold } : { kind: 'idle' };
    this.#forgetIfNotOurs(error);
    if (!mayStillNameUs) hold.cleanup(); // else the lifetime signal may still release it (releaseOnCancel)
    hold.stop.abort();
    hold.controller.abort(error);
    // Each hold's end is recorded once, where its signal aborts.
    this.#metrics.holdEnded(error.reason, (this.#options.clock.now() - hold.startedAt) / 1000, { lost: true });
    log.state('%s: %s', this.#options.name, error.message);
    try {
      const why = error.reason === 'taken' && error.holder ? `taken: now held by ${error.holder}` : error.reason;
      this.#lock.recordEvent(`lost the lock (${why})`, { kind: 'lost', reason: error.reason, holder: error.holder });
    } catch (recordError) {
      log.state('%s: recordEvent threw: %O', this.#options.name, recordError);
    }
    this.#tell('lost', error);
  }

  /** check() guards only a hold we may still believe in: one that ended by failing to renew in time. */
  #forgetIfNotOurs(error: LockLostError): void {
    if (error.reason !== 'renew-deadline') this.#believedRenewAt = undefined;
  }

  /** Declares the hold lost at once when its renew deadline passed but the timer has not run yet (a blocked event loop). */
  #expireIfStale(): void {
    const state = this.#state;
    if (state.kind !== 'held') return;
    if (this.#options.clock.now() >= state.hold.renewedAt + this.#options.renewDeadlineMs) {
      this.#lose(state.hold, lockLoss(this.#options.name, 'renew-deadline'));
    }
  }

  /** The locker's lifetime signal aborted while holding. */
  #cancel(hold: HoldState): void {
    const state = this.#state;
    if ((state.kind !== 'held' && state.kind !== 'lost') || state.hold !== hold) return;
    if (state.kind === 'held') this.#lose(hold, lockLoss(this.#options.name, 'cancelled', { cause: this.#options.signal?.reason }));
    hold.cleanup();
    if (!this.#options.releaseOnCancel) return;
    const done = this.#release(hold, true, undefined);
    this.#state = { kind: 'releasing', hold, done };
    done.catch((error: unknown) => log.release('%s: release on cancel failed: %O', this.#options.name, error));
  }

  async #release(hold: HoldState, stopRenewal: boolean, signal: AbortSignal | undefined): Promise<boolean> {
    const { name } = this.#options;
    // Guarded work must stop before anyone else can get the lease.
    if (!hold.controller.signal.aborted) {
      hold.controller.abort(new LockLostError(name, 'released'));
      this.#metrics.holdEnded('released', (this.#options.clock.now() - hold.startedAt) / 1000, { lost: false });
    }
    hold.cleanup();
    let snapshot: LockSnapshot | undefined = hold.snapshot;
    if (stopRenewal) {
      hold.stop.abort();
      const end = await hold.renewing;
      // A hold lost to a renew deadline can still be released over the last version we wrote.
      snapshot = end.kind === 'stopped' ? end.snapshot : end.lastKnown;
      if (snapshot === undefined) {
        this.#state = { kind: 'idle' };
        if (end.kind === 'lost') {
          this.#forgetIfNotOurs(end.error);
          log.release('%s: not released: %s', name, end.error.message);
        }
        return false;
      }
      hold.snapshot = snapshot;
    }
    try {
      const released = await this.#loop.release(snapshot, signal);
      this.#state = { kind: 'idle' };
      this.#believedRenewAt = undefined;
      if (released) this.#tell('released', { fencingToken: hold.fencingToken });
      return released;
    } catch (error) {
      this.#state = { kind: 'unreleased', hold };
      throw error;
    }
  }
}

function isResourceLock(value: unknown): value is ResourceLock {
  if (typeof value !== 'object' || value === null) return false;
  const lock = value as Partial<Record<keyof ResourceLock, unknown>>;
  return typeof lock.get === 'function' && typeof lock.create === 'function' && typeof lock.update === 'function'
    && typeof lock.recordEvent === 'function' && typeof lock.describe === 'function' && typeof lock.identity === 'string';
}
