import { linkSignals, raceAbort, throwIfAborted } from './abort.js';
import type { Clock } from './clock.js';
import { Deadline } from './deadline.js';
import { LeaseApiError, LeaseRequestError, LockLostError, lockLoss } from './errors.js';
import type { LeaseLockerError, LockLoss } from './errors.js';
import { log } from './log.js';
import { Observation } from './observation.js';
import { randomInt } from 'node:crypto';
import type { LockRecord } from './record.js';
import { MicroTime, sameAcquisition, toLeaseSeconds } from './record.js';
import type { LockSnapshot, ResourceLock } from './resource-lock.js';
import type { WatchHub, WatchSeed, WatchSubscription } from './shared-watch.js';
import type { Wakeups } from './wakeups.js';

/** The timing a loop runs on (validated options). */
export interface LoopSettings {
  readonly name: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly useObservedTime: boolean;
  readonly clock: Clock;
  /** Called when the holder seen on the lock changes (undefined: free or deleted), whoever wrote it. */
  readonly onHolderChange?: ((holder: string | undefined) => void) | undefined;
}

/** A hold just taken: the snapshot we wrote and when that write started (the hold's lease counts from then). */
export interface Acquired<S extends LockSnapshot> {
  readonly snapshot: S;
  readonly startedAt: number;
}

/** The result of one acquisition attempt. `seed` is set when the attempt read a version to watch from. */
export type Attempt<S extends LockSnapshot> =
  | { readonly kind: 'acquired'; readonly acquired: Acquired<S> }
  /** Someone else holds a live lease until `expiresAt` (monotonic). */
  | { readonly kind: 'busy'; readonly holder: string; readonly expiresAt: number; readonly seed: WatchSeed<S> | undefined }
  /** Our write lost a race with another writer; the watch (or a new read) tells who won. */
  | { readonly kind: 'contended'; readonly seed: WatchSeed<S> | undefined };

/** The lock's state as a live watch shows it, used instead of a read. */
interface Known<S extends LockSnapshot> {
  readonly snapshot: S | undefined;
}

/** How renewal ended. */
export type RenewEnd<S extends LockSnapshot> =
  | { readonly kind: 'stopped'; readonly snapshot: S }
  /**
   * `lastKnown`: when the hold ended only because no renewal succeeded in time, the newest
   * version known to be ours; a release written over it is safe (it fails if anyone wrote since).
   */
  | { readonly kind: 'lost'; readonly error: LockLoss; readonly lastKnown?: S | undefined };

/** An acquisition write whose outcome is unknown (no answer, or aborted in flight): it may have landed. */
interface PendingWrite {
  readonly record: LockRecord;
  readonly startedAt: number;
}

/** What renewal tells its hold as it goes. */
export interface RenewHandlers<S extends LockSnapshot> {
  /** After every successful renewal, with the stored snapshot and when the write started. */
  renewed(snapshot: S, startedAt: number): void;
  /** After a renewal attempt that failed and will be retried, with the instant the hold is lost unless one succeeds. */
  failed(error: LeaseLockerError, deadlineAt: number): void;
}

// A conflict storm on release (someone rewriting the lease as fast as we read it) is not worth chasing forever.
const maxReleaseConflicts = 5;
// How long an unanswered write may still be applied by the API server (its own request timeout
// is 60 s), beyond the lease duration; and how many such writes we remember.
const pendingLifetimeMs = 60_000;
const maxPending = 16;
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
  readonly #watches: WatchHub;
  readonly #observation: Observation;
  /** Set once listing was refused (no `list` permission): reads fall back to get. */
  #listRefused = false;
  /**
   * Our acquisition writes whose outcome is unknown, newest last: any of them may still land
   * (a request the server holds can be applied after we gave up on it), so each is recognised as
   * ours until it is too old to land ({@link pendingLifetimeMs}).
   */
  #pending: PendingWrite[] = [];
  #holder: string | undefined;

  constructor(lock: ResourceLock<S>, settings: LoopSettings, wakeups: Wakeups, watches: WatchHub) {
    this.#lock = lock;
    this.#settings = settings;
    this.#wakeups = wakeups;
    this.#watches = watches;
    this.#observation = new Observation(settings.clock, { useObservedTime: settings.useObservedTime, minDurationMs: settings.leaseDurationMs });
  }

  /** The holder as last seen, or undefined when free, deleted or never seen. */
  get observedHolder(): string | undefined {
    return this.#holder;
  }

  /** Notes what a read, a write or the watch showed, and tells of a change of holder. */
  #see(snapshot: S | undefined): void {
    this.#observation.see(snapshot);
    const holder = snapshot === undefined || snapshot.record.holderIdentity === '' ? undefined : snapshot.record.holderIdentity;
    if (holder === this.#holder) return;
    this.#holder = holder;
    this.#settings.onHolderChange?.(holder);
  }

  /**
   * Attempts until the lock is ours. While another holds it, waits on the lock's shared watch:
   * a release or deletion wakes it at once, and a single timer fires at the exact instant the
   * holder's lease would expire; no request is made meanwhile. Without a live watch it polls
   * every retry period (with jitter). Transient errors are retried; others reject. The watch
   * subscription ends with this call.
   */
  async acquire(signal: AbortSignal | undefined): Promise<Acquired<S>> {
    const { clock, retryPeriodMs, name } = this.#settings;
    let wake = new AbortController();
    let subscription: WatchSubscription<S> | undefined;
    // Set when a write built from the watch's view met a conflict: that view is stale (a silent
    // or lagging watch) until the watch shows a change again, so the next attempt reads.
    let viewStale = false;
    const onChange = (snapshot: S | undefined): void => {
      this.#see(snapshot);
      viewStale = false;
      wake.abort();
    };
    try {
      for (;;) {
        throwIfAborted(signal);
        wake = new AbortController(); // before the attempt, so that a change during it is not missed
        const live = subscription?.live === true;
        const useView = live && !viewStale;
        let waitMs: number;
        try {
          const attempt = await this.attempt(signal, useView ? { snapshot: subscription?.snapshot } : undefined);
          if (attempt.kind === 'acquired') return attempt.acquired;
          if (subscription === undefined && attempt.seed !== undefined) {
            subscription = this.#watches.subscribe(this.#lock, attempt.seed, this.#settings, onChange);
          }
          if (attempt.kind === 'contended') {
            // The winner's write reaches us through the watch; without a live one, read again now.
            // A conflict on the watch's own view proves that view behind: read before the next write.
            if (useView) viewStale = true;
            waitMs = live ? retryPeriodMs : 0;
          } else {
            const untilExpiry = Math.max(0, attempt.expiresAt - clock.now());
            waitMs = live ? untilExpiry : Math.min(retryPeriodMs * (1 + Math.random() * waitJitter), untilExpiry);
            log.acquire('%s: held by %s, next attempt in %d ms%s', name, attempt.holder, Math.round(waitMs), live ? ' (watching)' : '');
          }
        } catch (error) {
          throwIfAborted(signal);
          if (!isTransient(error)) throw error;
          waitMs = retryDelayMs(error, retryPeriodMs);
          log.acquire('%s: attempt failed (%s), retrying in %d ms', name, (error as Error).message, Math.round(waitMs));
        }
        await this.#wakeups.wait(this.#lock.describe(), waitMs, clock, signal, wake.signal);
      }
    } finally {
      subscription?.unsubscribe();
    }
  }

  /**
   * One attempt: read the lock (or take `known`, what a live watch shows), then create it or
   * take it over if it is free or expired. A lease naming our identity is ours only when it shows
   * our own acquisition (see {@link sameAcquisition}), one whose answer we missed; otherwise it
   * is someone else's (another locker with the same owner, or a previous run of this process)
   * and is waited for like any other.
   */
  async attempt(signal: AbortSignal | undefined, known?: Known<S>): Promise<Attempt<S>> {
    const { clock } = this.#settings;
    const lock = this.#lock;
    let current: S | undefined;
    let seed: WatchSeed<S> | undefined;
    // After a write with an unknown outcome only a read can tell whether it landed.
    this.#forgetOldPending();
    if (known === undefined || this.#pending.length > 0) {
      seed = await this.#read(signal);
      current = seed.snapshot;
      if (seed.version === '') seed = undefined;
    } else {
      current = known.snapshot;
    }
    // Expiry must be judged on the very record we may write over: a record first seen now is
    // presumed alive for its whole duration from now.
    this.#see(current);
    const landed = current === undefined ? undefined : this.#pending.find((p) => sameAcquisition(current.record, p.record));
    if (landed !== undefined && current !== undefined && clock.now() < landed.startedAt + this.#settings.renewDeadlineMs) {
      this.#pending = [];
      log.acquire('%s: our acquisition landed although its answer was lost', this.#settings.name);
      lock.recordEvent('acquired the lock', { kind: 'acquired' });
      return { kind: 'acquired', acquired: { snapshot: current, startedAt: landed.startedAt } };
    }
    if (current === undefined) {
      // Deleted under a live holder, who learns of it only at its next renewal: wait that hold out.
      const expiresAt = this.#observation.expiresAt();
      if (clock.now() < expiresAt) return { kind: 'busy', holder: '', expiresAt, seed };
      return this.#write(signal, (record) => lock.create(record, { signal }), 0, seed);
    }
    const holder = current.record.holderIdentity;
    // Our own landed write, too old to hold on (its renew deadline passed): acquire it afresh.
    if (holder !== '' && landed === undefined) {
      const expiresAt = this.#observation.expiresAt();
      if (clock.now() < expiresAt) return { kind: 'busy', holder, expiresAt, seed };
    }
    // Every acquisition counts as a transition, also our own re-acquisition of a lease that
    // still names us, so that the fencing token tells holds apart.
    const base = current;
    return this.#write(signal, (record) => lock.update(record, base, { signal }), current.record.leaseTransitions + 1, seed);
  }

  /**
   * Ends an acquisition that failed or was aborted while its write was in flight: if that write
   * landed after all, release it (on condition that the lease still shows our acquisition), so
   * that nobody waits a lease duration for a hold nobody renews. Best effort, bounded by the
   * request timeout; never rejects.
   */
  async abandon(): Promise<void> {
    const pending = this.#pending;
    this.#pending = [];
    if (pending.length === 0) return;
    const { name } = this.#settings;
    try {
      const current = await this.#lock.get();
      this.#see(current);
      if (current === undefined || !pending.some((p) => sameAcquisition(current.record, p.record))) return;
      log.acquire('%s: an abandoned acquisition landed; releasing it', name);
      await this.release(current, undefined);
    } catch (error) {
      log.acquire('%s: could not release an abandoned acquisition (it expires by itself): %s', name, (error as Error).message);
    }
  }

  /**
   * Treats `record`, an acquisition of ours that is no longer held (lost, or not released), as an
   * acquisition whose fate is unknown: the next attempt takes the lease afresh if it still shows
   * it, instead of waiting out our own lease, and {@link abandon} releases it.
   */
  adopt(record: LockRecord): void {
    this.#pending.push({ record, startedAt: Number.NEGATIVE_INFINITY });
  }

  #forgetOldPending(): void {
    const oldest = this.#settings.clock.now() - pendingLifetimeMs - this.#settings.leaseDurationMs;
    this.#pending = this.#pending.filter((p) => p.startedAt === Number.NEGATIVE_INFINITY || p.startedAt > oldest).slice(-maxPending);
  }

  /** Reads the lock; through `list` when the lock can be watched, so the read also gives a version to watch from. */
  async #read(signal: AbortSignal | undefined): Promise<WatchSeed<S>> {
    const lock = this.#lock;
    if (lock.list !== undefined && lock.watch !== undefined && !this.#listRefused) {
      try {
        return await lock.list({ signal });
      } catch (error) {
        if (!(error instanceof LeaseApiError && (error.statusCode === 403 || error.statusCode === 405))) throw error;
        this.#listRefused = true;
        log.acquire('%s: listing the lease was refused (%s); reading it instead, and polling while waiting', this.#settings.name, error.message);
      }
    }
    return { snapshot: await lock.get({ signal }), version: '' };
  }

  async #write(signal: AbortSignal | undefined, write: (record: LockRecord) => Promise<S>, leaseTransitions: number, seed: WatchSeed<S> | undefined): Promise<Attempt<S>> {
    // Random microseconds make this acquisition's acquireTime its own, even against a locker
    // with the same owner writing in the same millisecond.
    const acquireTime = new MicroTime(this.#settings.clock.wallTime(), randomInt(1000));
    const record: LockRecord = {
      holderIdentity: this.#lock.identity,
      leaseDurationSeconds: toLeaseSeconds(this.#settings.leaseDurationMs),
      acquireTime,
      renewTime: acquireTime,
      leaseTransitions,
    };
    const startedAt = this.#settings.clock.now();
    const pending: PendingWrite = { record, startedAt };
    this.#pending.push(pending);
    try {
      const snapshot = await write(record);
      this.#see(snapshot);
      if (this.#settings.clock.now() >= startedAt + this.#settings.renewDeadlineMs) {
        // The answer came after the hold's renew deadline (a frozen process): as good as no answer.
        throw new LeaseRequestError('acquire', { timedOut: true, cause: new Error('the answer arrived after the renew deadline') });
      }
      this.#pending = [];
      this.#lock.recordEvent('acquired the lock', { kind: 'acquired' });
      log.acquire('%s: acquired (transitions %d)', this.#settings.name, snapshot.record.leaseTransitions);
      return { kind: 'acquired', acquired: { snapshot, startedAt } };
    } catch (error) {
      // An answer from the server settles this write's outcome, except a server error that may follow it.
      if (error instanceof LeaseApiError && error.statusCode < 500) this.#pending = this.#pending.filter((p) => p !== pending);
      throwIfAborted(signal);
      if (isConflict(error)) {
        log.acquire('%s: lost a race for the lease', this.#settings.name);
        return { kind: 'contended', seed };
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
  async renew(held: Acquired<S>, stop: AbortSignal, handlers: RenewHandlers<S>): Promise<RenewEnd<S>> {
    const { clock, retryPeriodMs, renewDeadlineMs, name } = this.#settings;
    const lock = this.#lock;
    const deadline = new Deadline(clock);
    const ours = held.snapshot.record;
    let base = held.snapshot;
    const lost = (reason: 'renew-deadline' | 'taken' | 'deleted' | 'fatal', details?: { holder?: string; cause?: unknown }): RenewEnd<S> => {
      log.renew('%s: lost (%s)', name, reason);
      // Only a loss that did not show someone else's write leaves a lease we may still release.
      return { kind: 'lost', error: lockLoss(name, reason, details), lastKnown: reason === 'renew-deadline' || reason === 'fatal' ? base : undefined };
    };
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
        // The timer may not have run yet (a blocked event loop): never write once the deadline passed.
        if (deadline.expired) return lost('renew-deadline');
        if (stop.aborted) return { kind: 'stopped', snapshot: base };
        const startedAt = clock.now();
        try {
          if (mustRead) {
            const current = await raceAbort(lock.get({ signal: deadline.signal }), deadline.signal);
            this.#see(current);
            if (current === undefined) return lost('deleted');
            // The holder string is not enough: another locker with our owner may have taken it.
            if (!sameAcquisition(current.record, ours)) return lost('taken', { holder: current.record.holderIdentity });
            base = current;
            mustRead = false;
            if (deadline.expired) return lost('renew-deadline');
            if (stop.aborted) return { kind: 'stopped', snapshot: base };
          }
          // Our own duration, always: an outside edit of it must not outlive the next renewal.
          const record: LockRecord = {
            ...base.record,
            holderIdentity: lock.identity,
            leaseDurationSeconds: toLeaseSeconds(this.#settings.leaseDurationMs),
            renewTime: new Date(clock.wallTime()),
          };
          const renewed = await raceAbort(lock.update(record, base, { signal: deadline.signal }), deadline.signal);
          base = renewed;
          this.#see(base);
          // An answer that arrives after the deadline (the timer could not run) renews nothing we may use.
          if (deadline.expired) return lost('renew-deadline');
          deadline.arm(startedAt + renewDeadlineMs, () => new LockLostError(name, 'renew-deadline'));
          nextAt = startedAt + retryPeriodMs;
          log.renew('%s: renewed', name);
          handlers.renewed(base, startedAt);
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
          handlers.failed(error as LeaseApiError | LeaseRequestError, deadline.at);
        }
      }
    } finally {
      deadline.dispose();
    }
  }

  /**
   * Releases the lock by writing an empty holder with a one-second duration, keeping the
   * transition count. On a conflict it reads again and retries only while the lease still shows
   * our acquisition: it never clears someone else's hold. Resolves true when the lock is no longer
   * ours and free (released — also by an earlier attempt of ours whose answer was lost — or
   * deleted), false when someone else holds it.
   */
  async release(base: S, signal: AbortSignal | undefined): Promise<boolean> {
    const lock = this.#lock;
    const ours = base.record;
    let current = base;
    for (let conflicts = 0; ; conflicts += 1) {
      const now = new Date(this.#settings.clock.wallTime());
      const record: LockRecord = { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: current.record.leaseTransitions };
      try {
        const released = await lock.update(record, current, { signal });
        this.#see(released);
        lock.recordEvent('released the lock', { kind: 'released' });
        log.release('%s: released', this.#settings.name);
        this.#wakeups.notify(lock.describe());
        return true;
      } catch (error) {
        if (!isConflict(error) || conflicts >= maxReleaseConflicts) throw error;
      }
      const latest = await lock.get({ signal });
      this.#see(latest);
      if (latest === undefined || latest.record.holderIdentity === '') {
        // Our own earlier release whose answer was lost, most likely: it is recorded now.
        if (latest !== undefined) lock.recordEvent('released the lock', { kind: 'released' });
        log.release('%s: already released', this.#settings.name);
        this.#wakeups.notify(lock.describe());
        return true;
      }
      if (!sameAcquisition(latest.record, ours)) {
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

/** Errors that a later attempt may not meet: no answer (but not a request that cannot be sent), 429, 5xx. */
export function isTransient(error: unknown): boolean {
  return (error instanceof LeaseRequestError || error instanceof LeaseApiError) && error.retryable;
}

function retryDelayMs(error: unknown, retryPeriodMs: number): number {
  const retryAfterMs = error instanceof LeaseApiError && error.retryAfterSeconds !== undefined ? error.retryAfterSeconds * 1000 : 0;
  return Math.max(retryPeriodMs, retryAfterMs);
}
