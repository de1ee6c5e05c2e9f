import { EventEmitter } from 'node:events';
import type { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import pRetry from 'p-retry';
import { linkSignals, raceAbort, throwIfAborted } from './abort.js';
import type { Acquired, RenewEnd } from './acquire-loop.js';
import { AcquireLoop, isTransient } from './acquire-loop.js';
import { AcquireCancelledError, AlreadyLockedError, InvalidConfigError, LeaseExpiredError, LockLostError } from './errors.js';
import { LeaseLock } from './lease-lock.js';
import type { LeaseRef } from './lease-ref.js';
import { log } from './log.js';
import type { LeaseLockerOptions, ResolvedOptions } from './options.js';
import { resolveOptions } from './options.js';
import type { LockSnapshot, ResourceLock } from './resource-lock.js';
import { processWatches } from './shared-watch.js';
import { processWakeups } from './wakeups.js';

/** Payload of the `'acquired'` event. */
export interface AcquiredEvent {
  /** The fencing token of the new hold (see {@link LeaseLocker.fencingToken}). */
  readonly fencingToken: number;
}

/** Payload of the `'renewed'` event. */
export interface RenewedEvent {
  /** The `renewTime` written. */
  readonly renewTime: Date | undefined;
}

/** Payload of the `'released'` event. */
export interface ReleasedEvent {
  /** The fencing token of the hold that ended. */
  readonly fencingToken: number;
}

/** Events of a {@link LeaseLocker}. */
export interface LeaseLockerEvents {
  /** This locker now holds the lease. */
  acquired: [event: AcquiredEvent];
  /** A renewal succeeded. */
  renewed: [event: RenewedEvent];
  /** The hold ended without `unlock()`: stop the guarded work. Same error as `signal.reason`. */
  lost: [error: LockLostError];
  /** `unlock()` released the lease. */
  released: [event: ReleasedEvent];
}

/** Options of the calls that wait. */
export interface CallOptions {
  /** Aborts the call, which then rejects with `signal.reason`. */
  readonly signal?: AbortSignal | undefined;
}

interface Hold {
  readonly fencingToken: number;
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
  | { readonly kind: 'held'; readonly hold: Hold }
  /**
   * The hold ended because renewal failed (no success in time, or an error no retry can heal),
   * so the lease may still show our acquisition: `unlock()` releases it on condition that nobody
   * wrote since, sparing waiters the expiry.
   */
  | { readonly kind: 'lost'; readonly hold: Hold }
  | { readonly kind: 'releasing'; readonly hold: Hold; readonly done: Promise<boolean> }
  /** unlock() failed to write the release; the lease may still name us until it expires. */
  | { readonly kind: 'unreleased'; readonly hold: Hold };

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
    } else {
      options = lockerOptions;
      // Options first, so that a bad timing is reported even alongside a bad lease reference.
      const { requestTimeoutMs } = resolveOptions(options, 'lease');
      lock = new LeaseLock(client, leaseOrOptions as LeaseRef, owner as string, { requestTimeoutMs });
    }
    this.#options = resolveOptions(options, `${lock.describe()}: ${lock.identity}`);
    this.#lock = lock;
    this.#loop = new AcquireLoop(lock, this.#options, processWakeups, processWatches);
    this.#signal = AbortSignal.abort(new LockLostError(this.#options.name, 'not-held'));
  }

  /** The identity this locker writes as holder. */
  get identity(): string {
    return this.#lock.identity;
  }

  /**
   * True while this locker holds the lease and its last renewal is within the renew deadline,
   * judged on the clock: also right after a blocked event loop, before timers could run.
   */
  get isLocked(): boolean {
    return this.#trustedHold() !== undefined;
  }

  /**
   * The signal of the current (or most recent) hold. It aborts with a {@link LockLostError}
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
   * Waits until this locker holds the lease. Retries transient API errors (no answer, 429, 5xx);
   * rejects at once on others (e.g. 403 Forbidden) and with `signal.reason` when `signal` or the
   * locker's lifetime signal aborts, leaving nothing running.
   * @throws AlreadyLockedError when this locker is already holding or acquiring.
   */
  async lock(options: CallOptions = {}): Promise<void> {
    await this.#acquire(options.signal, 'wait');
  }

  /**
   * One attempt, no waiting: resolves true when this locker now holds the lease, false when
   * someone else holds it (or won a race for it). Rejects on API errors.
   * @throws AlreadyLockedError when this locker is already holding or acquiring.
   */
  async tryLock(options: CallOptions = {}): Promise<boolean> {
    return this.#acquire(options.signal, 'once');
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
    const { retryPeriodMs, unlockWithRetryPeriodMs } = this.#options;
    return pRetry(async () => this.unlock(options), {
      retries: Number.POSITIVE_INFINITY,
      factor: 1,
      minTimeout: retryPeriodMs,
      randomize: true,
      maxRetryTime: unlockWithRetryPeriodMs,
      signal: options.signal,
      shouldRetry: ({ error }) => isTransient(error),
      onFailedAttempt: ({ error, attemptNumber }) => {
        log.release('%s: unlock attempt %d failed: %s', this.#options.name, attemptNumber, error.message);
      },
    });
  }

  /**
   * Throws {@link LeaseExpiredError} when we believe we hold the lease (holding, or lost it only
   * by failing to renew) and more than `leaseDurationMs + maxTolerableExpiredLeaseMs` has
   * passed since our last successful renewal started. Catches a process whose event loop was
   * blocked past its renew deadline: call it before an irreversible step.
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
   * Runs `fn` while holding the lock: `lock()`, then `fn(signal)`, then always release (with
   * retries). `signal` aborts if the lock is lost meanwhile; `fn` should stop then. Resolves
   * with what `fn` returns; rejects with the {@link LockLostError} when the hold was lost while
   * `fn` ran, even if `fn` resolved: a critical section that outlived its lock is an error.
   * If `fn` throws, that error wins over a failed release.
   */
  async withLock<T>(fn: (signal: AbortSignal) => Promise<T> | T, options: CallOptions = {}): Promise<T> {
    await this.lock(options);
    const signal = this.#signal;
    let result: T;
    try {
      result = await fn(signal);
    } catch (error) {
      await this.unlockWithRetry().catch((unlockError: unknown) => {
        log.release('%s: release after a failed critical section also failed: %O', this.#options.name, unlockError);
      });
      throw error;
    }
    this.#expireIfStale();
    const lost: unknown = signal.aborted ? signal.reason : undefined;
    if (lost instanceof LockLostError && lost.reason !== 'released') {
      // Still release what may name us (a loss by renew deadline), but the loss is what the caller must see.
      await this.unlockWithRetry().catch((unlockError: unknown) => {
        log.release('%s: release after a lost hold failed: %O', this.#options.name, unlockError);
      });
      throw lost;
    }
    await this.unlockWithRetry();
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

  async #acquire(callSignal: AbortSignal | undefined, mode: 'wait' | 'once'): Promise<boolean> {
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
    let acquired: Acquired<LockSnapshot> | undefined;
    try {
      if (mode === 'wait') {
        acquired = await this.#loop.acquire(linked.signal);
      } else {
        const attempt = await this.#loop.attempt(linked.signal);
        acquired = attempt.kind === 'acquired' ? attempt.acquired : undefined;
      }
    } catch (error) {
      this.#state = { kind: 'idle' };
      // A write in flight may have landed: release it in the background, without delaying this rejection.
      void this.#loop.abandon().then(settle);
      throw error;
    } finally {
      linked.dispose();
    }
    if (acquired === undefined) {
      this.#state = { kind: 'idle' };
      settle();
      log.state('%s: tryLock: held by %s', this.#options.name, this.#loop.observedHolder ?? '');
      return false;
    }
    const ended = cancel.signal.aborted ? cancel.signal : lifetime?.aborted === true ? lifetime : undefined;
    if (ended !== undefined) {
      // Cancelled while our write was in flight: do not start a hold nobody will end.
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
    this.#startHold(acquired);
    settle();
    return true;
  }

  #startHold(acquired: Acquired<LockSnapshot>): void {
    const { name } = this.#options;
    const controller = new AbortController();
    const stop = new AbortController();
    const lifetime = this.#options.signal;
    const onLifetimeAbort = (): void => this.#cancel(hold);
    const hold: Hold = {
      fencingToken: acquired.snapshot.record.leaseTransitions,
      controller,
      stop,
      snapshot: acquired.snapshot,
      renewedAt: acquired.startedAt,
      renewing: Promise.resolve({ kind: 'stopped', snapshot: acquired.snapshot }),
      cleanup: () => lifetime?.removeEventListener('abort', onLifetimeAbort),
    };
    hold.renewing = this.#loop.renew(acquired, stop.signal, (snapshot, startedAt) => {
      hold.snapshot = snapshot;
      // A renewal answered after the hold was declared lost revives nothing: no 'renewed' after 'lost'.
      if (this.#state.kind !== 'held' || this.#state.hold !== hold) return;
      hold.renewedAt = startedAt;
      this.#believedRenewAt = startedAt;
      this.#tell('renewed', { renewTime: snapshot.record.renewTime });
    });
    void hold.renewing.then((end) => {
      if (end.kind === 'lost' && this.#state.kind === 'held' && this.#state.hold === hold) this.#lose(hold, end.error);
    });
    lifetime?.addEventListener('abort', onLifetimeAbort, { once: true });
    this.#state = { kind: 'held', hold };
    this.#signal = controller.signal;
    this.#believedRenewAt = acquired.startedAt;
    log.state('%s: acquired, fencing token %d', name, hold.fencingToken);
    this.#tell('acquired', { fencingToken: hold.fencingToken });
  }

  /** A hold that never ran: what an unlock() after a failed release needs. */
  #endedHold(acquired: Acquired<LockSnapshot>): Hold {
    const controller = new AbortController();
    controller.abort(new LockLostError(this.#options.name, 'released'));
    return {
      fencingToken: acquired.snapshot.record.leaseTransitions,
      controller,
      stop: controller,
      snapshot: acquired.snapshot,
      renewedAt: acquired.startedAt,
      renewing: Promise.resolve({ kind: 'stopped', snapshot: acquired.snapshot }),
      cleanup: () => undefined,
    };
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
      process.emitWarning(error instanceof Error ? error : new Error(String(error)), { code: 'LEASELOCKER_LISTENER', detail: `a '${event}' listener of ${this.#options.name} threw` });
    }
  }

  /** The current hold, if it is held and within its renew deadline on the clock. No side effect. */
  #trustedHold(): Hold | undefined {
    const state = this.#state;
    if (state.kind !== 'held') return undefined;
    return this.#options.clock.now() < state.hold.renewedAt + this.#options.renewDeadlineMs ? state.hold : undefined;
  }

  /** Ends a hold that can no longer be trusted: abort its signal, stop renewing, tell listeners. */
  #lose(hold: Hold, error: LockLostError): void {
    // A lease we could not renew may still show our acquisition: unlock() can release it.
    const mayStillNameUs = error.reason === 'renew-deadline' || error.reason === 'fatal';
    this.#state = mayStillNameUs ? { kind: 'lost', hold } : { kind: 'idle' };
    this.#forgetIfNotOurs(error);
    if (!mayStillNameUs) hold.cleanup(); // else the lifetime signal may still release it (releaseOnCancel)
    hold.stop.abort();
    hold.controller.abort(error);
    log.state('%s: %s', this.#options.name, error.message);
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
      this.#lose(state.hold, new LockLostError(this.#options.name, 'renew-deadline'));
    }
  }

  /** The locker's lifetime signal aborted while holding. */
  #cancel(hold: Hold): void {
    const state = this.#state;
    if ((state.kind !== 'held' && state.kind !== 'lost') || state.hold !== hold) return;
    if (state.kind === 'held') this.#lose(hold, new LockLostError(this.#options.name, 'cancelled', { cause: this.#options.signal?.reason }));
    hold.cleanup();
    if (!this.#options.releaseOnCancel) return;
    const done = this.#release(hold, true, undefined);
    this.#state = { kind: 'releasing', hold, done };
    done.catch((error: unknown) => log.release('%s: release on cancel failed: %O', this.#options.name, error));
  }

  async #release(hold: Hold, stopRenewal: boolean, signal: AbortSignal | undefined): Promise<boolean> {
    const { name } = this.#options;
    // Guarded work must stop before anyone else can get the lease.
    if (!hold.controller.signal.aborted) hold.controller.abort(new LockLostError(name, 'released'));
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
