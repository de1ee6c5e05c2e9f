import { linkSignals, raceAbort, throwIfAborted } from './abort.js';
import type { Clock } from './clock.js';
import { Deadline } from './deadline.js';
import { LeaseApiError, LeaseRequestError, LockLostError } from './errors.js';
import { log } from './log.js';
import { Observation } from './observation.js';
import type { LockRecord } from './record.js';
import { toLeaseSeconds } from './record.js';
import type { LockSnapshot, ResourceLock } from './resource-lock.js';
import type { Wakeups } from './wakeups.js';

/** The timing a loop runs on (validated options). */
export interface LoopSettings {
  readonly name: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly useObservedTime: boolean;
  readonly clock: Clock;
}

/** A hold just taken: the snapshot we wrote and when that write started (the hold's lease counts from then). */
export interface Acquired<S extends LockSnapshot> {
  readonly snapshot: S;
  readonly startedAt: number;
}

/** The result of one acquisition attempt. */
export type Attempt<S extends LockSnapshot> =
  | { readonly kind: 'acquired'; readonly acquired: Acquired<S> }
  /** Someone else holds a live lease until `expiresAt` (monotonic). */
  | { readonly kind: 'busy'; readonly holder: string; readonly expiresAt: number }
  /** Our write lost a race with another writer; read again to see who won. */
  | { readonly kind: 'contended' };

/** How renewal ended. */
export type RenewEnd<S extends LockSnapshot> =
  | { readonly kind: 'stopped'; readonly snapshot: S }
  | { readonly kind: 'lost'; readonly error: LockLostError };

/** Called after every successful renewal with the stored snapshot and when the write started. */
export type OnRenewed<S extends LockSnapshot> = (snapshot: S, startedAt: number) => void;

// A conflict storm on release (someone rewriting the lease as fast as we read it) is not worth chasing forever.
const maxReleaseConflicts = 5;
const waitJitter = 0.2;

/**
 * The one acquire/renew loop of a locker. It owns what this process has seen of the lock and
 * drives the ResourceLock: acquire (read, then create or take over), renew (a single
 * conditional write per period, reading only after a conflict or an unknown outcome), and
 * release. It knows nothing of events or of the caller's signal beyond aborting.
 */
export class AcquireLoop<S extends LockSnapshot> {
  readonly #lock: ResourceLock<S>;
  readonly #settings: LoopSettings;
  readonly #wakeups: Wakeups;
  readonly #observation: Observation;

  constructor(lock: ResourceLock<S>, settings: LoopSettings, wakeups: Wakeups) {
    this.#lock = lock;
    this.#settings = settings;
    this.#wakeups = wakeups;
    this.#observation = new Observation(settings.clock, settings.useObservedTime);
  }

  /** The holder as last seen, or undefined when never seen or deleted. */
  get observedHolder(): string | undefined {
    return this.#observation.record?.holderIdentity;
  }

  /** Attempts until the lock is ours. Transient errors are retried; others reject. */
  async acquire(signal: AbortSignal | undefined): Promise<Acquired<S>> {
    const { clock, retryPeriodMs, name } = this.#settings;
    for (;;) {
      throwIfAborted(signal);
      let waitMs: number;
      try {
        const attempt = await this.attempt(signal);
        if (attempt.kind === 'acquired') return attempt.acquired;
        if (attempt.kind === 'contended') continue;
        // Wake at the holder's expiry if that comes before the next poll.
        const untilExpiry = attempt.expiresAt - clock.now();
        waitMs = Math.max(0, Math.min(retryPeriodMs * (1 + Math.random() * waitJitter), untilExpiry));
        log.acquire('%s: held by %s, next attempt in %d ms', name, attempt.holder, Math.round(waitMs));
      } catch (error) {
        throwIfAborted(signal);
        if (!isTransient(error)) throw error;
        waitMs = retryDelayMs(error, retryPeriodMs);
        log.acquire('%s: attempt failed (%s), retrying in %d ms', name, (error as Error).message, Math.round(waitMs));
      }
      await this.#wakeups.wait(this.#lock.describe(), waitMs, clock, signal);
    }
  }

  /** One attempt: read the lock, then create it or take it over if it is free, expired or ours. */
  async attempt(signal: AbortSignal | undefined): Promise<Attempt<S>> {
    const { clock } = this.#settings;
    const lock = this.#lock;
    const current = await lock.get({ signal });
    this.#observation.see(current?.record);
    if (current === undefined) {
      return this.#write(signal, (record) => lock.create(record, { signal }), 0);
    }
    const holder = current.record.holderIdentity;
    if (holder !== '' && holder !== lock.identity) {
      const expiresAt = this.#observation.expiresAt();
      if (clock.now() < expiresAt) return { kind: 'busy', holder, expiresAt };
    }
    // Every acquisition counts as a transition, also our own re-acquisition of a lease that
    // still names us, so that the fencing token tells holds apart.
    return this.#write(signal, (record) => lock.update(record, current, { signal }), current.record.leaseTransitions + 1);
  }

  async #write(signal: AbortSignal | undefined, write: (record: LockRecord) => Promise<S>, leaseTransitions: number): Promise<Attempt<S>> {
    const now = new Date(this.#settings.clock.wallTime());
    const record: LockRecord = {
      holderIdentity: this.#lock.identity,
      leaseDurationSeconds: toLeaseSeconds(this.#settings.leaseDurationMs),
      acquireTime: now,
      renewTime: now,
      leaseTransitions,
    };
    const startedAt = this.#settings.clock.now();
    try {
      const snapshot = await write(record);
      this.#observation.see(snapshot.record);
      this.#lock.recordEvent('acquired the lock');
      log.acquire('%s: acquired (transitions %d)', this.#settings.name, snapshot.record.leaseTransitions);
      return { kind: 'acquired', acquired: { snapshot, startedAt } };
    } catch (error) {
      throwIfAborted(signal);
      if (isConflict(error)) {
        log.acquire('%s: lost a race for the lease', this.#settings.name);
        return { kind: 'contended' };
      }
      throw error;
    }
  }

  /**
   * Renews every retry period until `stop` aborts (resolving the latest snapshot, after any
   * in-flight renewal settled) or the hold is lost. The hold is lost when no renewal succeeded
   * within the renew deadline of the last successful one (checked by a timer, not by the next
   * attempt), or a read shows another holder or no lease at all.
   */
  async renew(held: Acquired<S>, stop: AbortSignal, onRenewed: OnRenewed<S>): Promise<RenewEnd<S>> {
    const { clock, retryPeriodMs, renewDeadlineMs, name } = this.#settings;
    const lock = this.#lock;
    const deadline = new Deadline(clock);
    const lost = (reason: 'renew-deadline' | 'taken' | 'deleted' | 'fatal', details?: { holder?: string; cause?: unknown }): RenewEnd<S> => {
      log.renew('%s: lost (%s)', name, reason);
      return { kind: 'lost', error: new LockLostError(name, reason, details) };
    };
    let base = held.snapshot;
    let nextAt = held.startedAt + retryPeriodMs;
    let mustRead = false;
    deadline.arm(held.startedAt + renewDeadlineMs, () => new LockLostError(name, 'renew-deadline'));
    try {
      for (;;) {
        const pause = linkSignals(stop, deadline.signal);
        try {
          await clock.sleep(nextAt - clock.now(), pause.signal);
        } catch {
          if (deadline.expired) return lost('renew-deadline');
          return { kind: 'stopped', snapshot: base };
        } finally {
          pause.dispose();
        }
        const startedAt = clock.now();
        try {
          if (mustRead) {
            const current = await raceAbort(lock.get({ signal: deadline.signal }), deadline.signal);
            this.#observation.see(current?.record);
            if (current === undefined) return lost('deleted');
            const holder = current.record.holderIdentity;
            if (holder !== lock.identity) return lost('taken', { holder });
            base = current;
            mustRead = false;
          }
          const record: LockRecord = { ...base.record, holderIdentity: lock.identity, renewTime: new Date(clock.wallTime()) };
          base = await raceAbort(lock.update(record, base, { signal: deadline.signal }), deadline.signal);
          this.#observation.see(base.record);
          deadline.arm(startedAt + renewDeadlineMs, () => new LockLostError(name, 'renew-deadline'));
          nextAt = startedAt + retryPeriodMs;
          log.renew('%s: renewed', name);
          onRenewed(base, startedAt);
        } catch (error) {
          if (deadline.expired) return lost('renew-deadline', { cause: error });
          if (isConflict(error)) {
            // Someone wrote since our last write (or our last write landed after all): read, then decide.
            mustRead = true;
            nextAt = clock.now();
            log.renew('%s: conflict, reading the lease', name);
            continue;
          }
          if (!isTransient(error)) return lost('fatal', { cause: error });
          // A timed-out write may have landed; only a read can tell which version is current.
          if (error instanceof LeaseRequestError && error.timedOut) mustRead = true;
          nextAt = clock.now() + retryDelayMs(error, retryPeriodMs);
          log.renew('%s: renewal failed (%s), retrying', name, (error as Error).message);
        }
      }
    } finally {
      deadline.dispose();
    }
  }

  /**
   * Releases the lock by writing an empty holder with a one-second duration, keeping the
   * transition count. On a conflict it reads again and retries only while the lock is still
   * ours: it never clears someone else's hold. Resolves true when the lock is no longer ours
   * (released, or deleted), false when someone else holds it.
   */
  async release(base: S, signal: AbortSignal | undefined): Promise<boolean> {
    const lock = this.#lock;
    let current = base;
    for (let conflicts = 0; ; conflicts += 1) {
      const now = new Date(this.#settings.clock.wallTime());
      const record: LockRecord = { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: current.record.leaseTransitions };
      try {
        const released = await lock.update(record, current, { signal });
        this.#observation.see(released.record);
        lock.recordEvent('released the lock');
        log.release('%s: released', this.#settings.name);
        this.#wakeups.notify(lock.describe());
        return true;
      } catch (error) {
        if (!isConflict(error) || conflicts >= maxReleaseConflicts) throw error;
      }
      const latest = await lock.get({ signal });
      this.#observation.see(latest?.record);
      if (latest === undefined) return true;
      if (latest.record.holderIdentity !== lock.identity) {
        log.release('%s: not released: now held by %s', this.#settings.name, latest.record.holderIdentity);
        return false;
      }
      current = latest;
    }
  }
}

function isConflict(error: unknown): boolean {
  return error instanceof LeaseApiError && error.statusCode === 409;
}

/** Errors that a later attempt may not meet: no answer, 429, 5xx. */
export function isTransient(error: unknown): boolean {
  return error instanceof LeaseRequestError || (error instanceof LeaseApiError && error.retryable);
}

function retryDelayMs(error: unknown, retryPeriodMs: number): number {
  const retryAfterMs = error instanceof LeaseApiError && error.retryAfterSeconds !== undefined ? error.retryAfterSeconds * 1000 : 0;
  return Math.max(retryPeriodMs, retryAfterMs);
}
