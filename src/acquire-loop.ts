import { linkSignals, raceAbort, throwIfAborted } from './abort.js';
import type { Clock } from './clock.js';
import { Deadline } from './deadline.js';
import { LeaseApiError, LeaseRequestError, LockLostError, lockLoss } from './errors.js';
import type { LeaseLockerError, LockLoss } from './errors.js';
import { log } from './log.js';
import { Observation } from './observation.js';
import { randomInt } from 'node:crypto';
import type { LockRecord } from './record.js';
import { MicroTime, sameAcquisition, sameRecord, toLeaseSeconds } from './record.js';
import type { LockSnapshot, ResourceLock } from './resource-lock.js';
import type { WatchHub, WatchSeed, WatchSubscription } from './shared-watch.js';
import type { Wakeups } from './wakeups.js';
import type { WaitingTicket } from './waiting-line.js';
import { lineAfterTurn, maxLineLength, newTicket, placeOf, sameLine, turnMs } from './waiting-line.js';

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
  /**
   * Our write lost a race with another writer; the watch (or a new read) tells who won.
   * `backoffMs`: wait this long before trying again, whatever the watch shows (a crowd joining
   * the waiting line at once spreads out instead of conflicting in rounds).
   */
  | { readonly kind: 'contended'; readonly seed: WatchSeed<S> | undefined; readonly backoffMs?: number }
  /** The lock is free, but others are ahead of us in its waiting line: our turn comes at `turnAt` (monotonic). */
  | { readonly kind: 'queued'; readonly turnAt: number; readonly seed: WatchSeed<S> | undefined };

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
// Conflicts with waiters joining the line are expected (a crowd may join at once), not a storm:
// they are retried up to this many times.
const maxReleaseJoins = 200;
// How long an unanswered write may still be applied by the API server (its own request timeout
// is 60 s), beyond the lease duration; and how many such writes we remember.
const pendingLifetimeMs = 60_000;
const maxPending = 16;
// The versions a hold's watch remembers, to find the newest after one we read or wrote.
const maxShownVersions = 16;
const waitJitter = 0.2;
// After a conflict joining the waiting line, wait a random time up to this before joining again.
const joinBackoffMs = 300;
// The backoff doubles with every conflict of one waiter's joins, up to this.
const maxJoinBackoffMs = 4_800;
// How far another machine's wall clock may be ahead of ours when a single attempt judges, by the
// release's own timestamp, whether the waiters in line have had their turns.
const releaseClockSkewMs = 1_000;
// However far back in line, a waiter writes this long after the lock became free at the latest.
const maxTurnDelayMs = 2_000;

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
  /** This locker's ticket in the lock's waiting line. */
  readonly #ticket = newTicket();
  /** The free version of the lock this loop last saw, and when it first saw it: turns in line count from then. */
  #freeSince: { readonly version: string; readonly at: number } | undefined;
  /** True during the first attempt of an acquisition: what it sees, it has not seen happen. */
  #firstLook = false;
  /** The watch an acquisition hands to its hold while others wait in line (see {@link renew}). */
  #heldWatch: WatchSubscription<S> | undefined;
  /** Our latest join of the line, and the version it was written over: a watch still showing that version has not shown the join yet. */
  #joined: { readonly snapshot: S; readonly over: string } | undefined;
  /** The version our latest join met a conflict on: a view still showing it is stale. */
  #joinConflictedOn: string | undefined;

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
   * every retry period (with jitter). While the lock is held it joins the lock's waiting line (one
   * write), and once the lock is free it writes only when its turn in line comes. Transient
   * errors are retried; others reject. The watch subscription ends with this call, or passes to
   * the hold when others wait in line.
   */
  async acquire(signal: AbortSignal | undefined): Promise<Acquired<S>> {
    const { clock, retryPeriodMs, name } = this.#settings;
    this.#dropHeldWatch();
    this.#firstLook = true;
    let wake = new AbortController();
    let subscription: WatchSubscription<S> | undefined;
    // Set when a write built from the watch's view met a conflict: that view is stale (a silent
    // or lagging watch) until the watch shows a change again, so the next attempt reads.
    let viewStale = false;
    // During a backoff after a conflict joining the line, only a release (or deletion) wakes us.
    let wakeWhenFreeOnly = false;
    let joinConflicts = 0;
    // Set when a change during the attempt showed the lock free (or gone).
    let sawFree = false;
    const onChange = (snapshot: S | undefined): void => {
      this.#see(snapshot);
      viewStale = false;
      const free = snapshot === undefined || snapshot.record.holderIdentity === '';
      if (free) sawFree = true;
      if (!wakeWhenFreeOnly || free) wake.abort();
    };
    try {
      for (;;) {
        throwIfAborted(signal);
        wake = new AbortController(); // before the attempt, so that a change during it is not missed
        sawFree = false;
        const live = subscription?.live === true;
        const useView = live && !viewStale;
        let waitMs: number;
        wakeWhenFreeOnly = false;
        try {
          const attempt = await this.#attempt(signal, useView ? { snapshot: subscription?.snapshot } : undefined, 'wait');
          this.#firstLook = false;
          if (attempt.kind === 'acquired') {
            // We had to wait, so others may wait too (in line now, or joining soon, like a
            // releaser locking again): the hold keeps the watch, so that its renewals and its
            // release write over their latest joins instead of meeting a conflict.
            if (subscription !== undefined && attempt.acquired.snapshot.record.waiters !== undefined) {
              this.#heldWatch = subscription;
              subscription = undefined;
            }
            return attempt.acquired;
          }
          if (subscription === undefined && attempt.seed !== undefined) {
            subscription = this.#watches.subscribe(this.#lock, attempt.seed, this.#settings, onChange);
          }
          if (attempt.kind === 'contended') {
            // The winner's write reaches us through the watch; without a live one, read again now.
            // A conflict on the watch's own view proves that view behind: read before the next write.
            if (attempt.backoffMs === undefined) {
              if (useView) viewStale = true;
              waitMs = live ? retryPeriodMs : 0;
            } else {
              // A join lost to another join (or to the holder's write): the watch shows that write
              // soon. A crowd joining at once spreads out over a window that doubles each time.
              joinConflicts += 1;
              if (useView && joinConflicts % 4 === 0) viewStale = true;
              waitMs = attempt.backoffMs * Math.min(2 ** (joinConflicts - 1), maxJoinBackoffMs / joinBackoffMs);
              // The write that beat ours may have reached the watch before our 409 did: only a
              // release seen during the attempt cuts the backoff short.
              wakeWhenFreeOnly = true;
              wake = new AbortController();
              if (sawFree) wake.abort();
            }
          } else if (attempt.kind === 'queued') {
            waitMs = Math.max(0, attempt.turnAt - clock.now());
            log.acquire('%s: free, waiting %d ms for our turn in line', name, Math.round(waitMs));
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

  /** Ends the watch an acquisition handed to a hold that never started renewing. */
  #dropHeldWatch(): void {
    this.#heldWatch?.unsubscribe();
    this.#heldWatch = undefined;
  }

  /**
   * One attempt: read the lock (or take `known`, what a live watch shows), then create it or
   * take it over if it is free or expired. A lease naming our identity is ours only when it shows
   * our own acquisition (see {@link sameAcquisition}), one whose answer we missed; otherwise it
   * is someone else's (another locker with the same owner, or a previous run of this process)
   * and is waited for like any other. A free lock with others in its waiting line is taken only
   * when the release is old enough for all of them to have had their turn.
   */
  async attempt(signal: AbortSignal | undefined, known?: Known<S>): Promise<Attempt<S>> {
    return this.#attempt(signal, known, 'once');
  }

  /** One attempt; `mode` 'wait' when the caller waits on: it then joins the waiting line, and waits for its turn. */
  async #attempt(signal: AbortSignal | undefined, known: Known<S> | undefined, mode: 'once' | 'wait'): Promise<Attempt<S>> {
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
      // A watch that has not yet shown our join of the line shows the same hold without us in line.
      const joined = this.#joined;
      if (joined !== undefined && current?.version === joined.over) current = joined.snapshot;
      else if (current?.version !== joined?.snapshot.version) this.#joined = undefined;
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
    const line = current.record.waiters;
    // Our own landed write, too old to hold on (its renew deadline passed): acquire it afresh.
    if (landed === undefined) {
      if (holder !== '') {
        const expiresAt = this.#observation.expiresAt();
        if (clock.now() < expiresAt) {
          const busy = { kind: 'busy', holder, expiresAt, seed } as const;
          return mode === 'wait' ? this.#joinLine(current, busy, signal) : busy;
        }
      }
      const turnAt = this.#turnAt(current, mode);
      if (clock.now() < turnAt) return mode === 'wait' ? { kind: 'queued', turnAt, seed } : { kind: 'busy', holder, expiresAt: turnAt, seed };
    }
    // Every acquisition counts as a transition, also our own re-acquisition of a lease that
    // still names us, so that the fencing token tells holds apart.
    const base = current;
    const waiters = line === undefined ? undefined : lineAfterTurn(line, this.#ticket);
    return this.#write(signal, (record) => lock.update({ ...record, waiters }, base, { signal }), current.record.leaseTransitions + 1, seed);
  }

  /**
   * When this locker's turn comes to take `current`, a free lock (released, or expired by our
   * watch): the instant it became free plus a turn for every place ahead of ours in its waiting
   * line. Minus infinity when nobody is ahead.
   */
  #turnAt(current: S, mode: 'once' | 'wait'): number {
    const { clock } = this.#settings;
    const line = current.record.waiters ?? [];
    const place = placeOf(line, this.#ticket);
    if (place === 0) return Number.NEGATIVE_INFINITY;
    let freeAt: number;
    if (current.record.holderIdentity !== '') {
      freeAt = this.#observation.expiresAt();
    } else {
      // A release seen only now may be old (a single attempt, a waiter that came late): judge it
      // by its timestamp too (the releaser's wall clock), allowing for that clock to run ahead
      // of ours; and by when we first saw it, as a clock far ahead would keep it young for ever.
      // A waiter that saw the release happen goes by that alone: a releaser's clock far behind
      // ours would make every release look old, and every waiter write at once.
      const releasedAt = current.record.renewTime?.getTime() ?? Number.NaN;
      const byTimestamp = Number.isNaN(releasedAt) ? Number.NEGATIVE_INFINITY : clock.now() - Math.max(0, clock.wallTime() - releasedAt) + releaseClockSkewMs;
      if (this.#freeSince?.version !== current.version) {
        const now = clock.now();
        this.#freeSince = { version: current.version, at: mode === 'wait' && this.#firstLook ? Math.min(now, byTimestamp) : now };
      }
      const seenAt = this.#freeSince.at;
      freeAt = mode === 'once' ? Math.min(seenAt + releaseClockSkewMs, byTimestamp) : seenAt;
    }
    // Departed lockers still in line cost a turn each, up to a bound.
    return freeAt + Math.min(place * turnMs, maxTurnDelayMs);
  }

  /**
   * Joins the waiting line of `current`, held by another, unless this locker is in it already:
   * one conditional write of the line alone. A conflict is answered after a random backoff; any
   * other failure leaves us waiting out of line (after everyone in it).
   */
  async #joinLine(current: S, busy: Extract<Attempt<S>, { kind: 'busy' }>, signal: AbortSignal | undefined): Promise<Attempt<S>> {
    const line = current.record.waiters;
    if (line === undefined || line.length >= maxLineLength || inLine(current, this.#ticket)) return busy;
    // A view that has not moved since our last join conflicted cannot succeed: wait for it to move.
    if (current.version === this.#joinConflictedOn) return busy;
    const lock = this.#lock;
    const ticket: WaitingTicket = { ticket: this.#ticket, identity: lock.identity, skipped: 0 };
    try {
      const joined = await lock.update({ ...current.record, waiters: [...line, ticket] }, current, { signal });
      this.#see(joined);
      this.#joined = { snapshot: joined, over: current.version };
      log.acquire('%s: waiting in line, place %d', this.#settings.name, line.length + 1);
      // A watch started now starts from our join: it must not show the version before it as news.
      return { ...busy, seed: busy.seed === undefined ? undefined : { snapshot: joined, version: joined.version } };
    } catch (error) {
      throwIfAborted(signal);
      if (isConflict(error)) {
        this.#joinConflictedOn = current.version;
        return { kind: 'contended', seed: busy.seed, backoffMs: Math.random() * joinBackoffMs };
      }
      log.acquire('%s: could not join the waiting line (%s)', this.#settings.name, (error as Error).message);
      return busy;
    }
  }

  /**
   * Ends an acquisition that failed or was aborted while its write was in flight: if that write
   * landed after all, release it (on condition that the lease still shows our acquisition), so
   * that nobody waits a lease duration for a hold nobody renews. Best effort, bounded by the
   * request timeout; never rejects.
   */
  async abandon(): Promise<void> {
    this.#dropHeldWatch();
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
   *
   * While others wait in the lock's waiting line (or may: the hold was contended), the hold watches the lock: a waiter joining the
   * line writes a new version, and a renewal or release written over the version before it would
   * meet a conflict (and cost a read and a second write). Each write still names the version it
   * writes over; the watch only tells which version that is.
   */
  async renew(held: Acquired<S>, stop: AbortSignal, handlers: RenewHandlers<S>): Promise<RenewEnd<S>> {
    const { clock, retryPeriodMs, renewDeadlineMs, name } = this.#settings;
    const lock = this.#lock;
    const deadline = new Deadline(clock);
    const ours = held.snapshot.record;
    let base = held.snapshot;
    const handedOver = this.#heldWatch;
    this.#heldWatch = undefined;
    // The versions the watch showed lately, in order: a version after our latest write that
    // still shows our acquisition is the newest one to write over.
    const shown: S[] = [];
    let view: WatchSubscription<S> | undefined;
    const follow = (snapshot: S | undefined): void => {
      if (snapshot === undefined || shown.at(-1)?.version === snapshot.version) return;
      shown.push(snapshot);
      if (shown.length > maxShownVersions) shown.shift();
      base = newestOurs(base);
    };
    // `latest` is a version we read or wrote: anything the watch showed after it that is still ours is newer.
    const newestOurs = (latest: S): S => {
      const at = shown.findIndex((snapshot) => snapshot.version === latest.version);
      if (at === -1) return latest;
      let newest = latest;
      for (const snapshot of shown.slice(at + 1)) {
        if (!sameAcquisition(snapshot.record, ours)) break;
        newest = snapshot;
      }
      return newest;
    };
    const watchWhileOthersWait = (): void => {
      if (view !== undefined || (handedOver === undefined && (base.record.waiters?.length ?? 0) === 0)) return;
      view = this.#watches.subscribe(lock, { snapshot: base, version: base.version }, this.#settings, follow);
      // The watch may have shown our acquisition, and a join after it, before we subscribed:
      // what it shows now, if it is still our acquisition, is no older than the acquisition.
      const showing = view?.snapshot;
      if (base === held.snapshot && showing !== undefined && sameAcquisition(showing.record, ours)) {
        shown.push(showing);
        base = showing;
      }
    };
    watchWhileOthersWait();
    handedOver?.unsubscribe();
    const lost = (reason: 'renew-deadline' | 'taken' | 'deleted' | 'fatal', details?: { holder?: string; cause?: unknown }): RenewEnd<S> => {
      log.renew('%s: lost (%s)', name, reason);
      // Only a loss that did not show someone else's write leaves a lease we may still release.
      return { kind: 'lost', error: lockLoss(name, reason, details), lastKnown: reason === 'renew-deadline' || reason === 'fatal' ? base : undefined };
    };
    let nextAt = held.startedAt + retryPeriodMs;
    let mustRead = false;
    deadline.arm(held.startedAt + renewDeadlineMs, () => new LockLostError(name, 'renew-deadline'));
    // One link for the whole hold: the deadline's signal stays the same object as it is re-armed.
    const pause = linkSignals(stop, deadline.signal);
    try {
      for (;;) {
        try {
          await clock.sleep(nextAt - clock.now(), pause.signal);
        } catch {
          if (deadline.expired) return lost('renew-deadline');
          return { kind: 'stopped', snapshot: base };
        }
        // The timer may not have run yet (a blocked event loop): never write once the deadline passed.
        if (deadline.expired) return lost('renew-deadline');
        if (stop.aborted) return { kind: 'stopped', snapshot: base };
        const startedAt = clock.now();
        let writtenOver: S | undefined;
        try {
          if (mustRead) {
            const current = await raceAbort(lock.get({ signal: deadline.signal }), deadline.signal);
            this.#see(current);
            if (current === undefined) return lost('deleted');
            // The holder string is not enough: another locker with our owner may have taken it.
            if (!sameAcquisition(current.record, ours)) return lost('taken', { holder: current.record.holderIdentity });
            base = newestOurs(current);
            mustRead = false;
            watchWhileOthersWait();
            if (deadline.expired) return lost('renew-deadline');
            if (stop.aborted) return { kind: 'stopped', snapshot: base };
          }
          // Our own duration, always: an outside edit of it must not outlive the next renewal.
          const record: LockRecord = {
            ...base.record,
            holderIdentity: lock.identity,
            leaseDurationSeconds: toLeaseSeconds(this.#settings.leaseDurationMs),
            renewTime: renewalTime(base.record.renewTime, clock.wallTime()),
          };
          writtenOver = base;
          const renewed = await raceAbort(lock.update(record, writtenOver, { signal: deadline.signal }), deadline.signal);
          this.#see(renewed);
          base = newestOurs(renewed);
          // An answer that arrives after the deadline (the timer could not run) renews nothing we may use.
          if (deadline.expired) return lost('renew-deadline');
          deadline.arm(startedAt + renewDeadlineMs, () => new LockLostError(name, 'renew-deadline'));
          nextAt = startedAt + retryPeriodMs;
          log.renew('%s: renewed', name);
          handlers.renewed(base, startedAt);
        } catch (error) {
          if (deadline.expired) return lost('renew-deadline', { cause: error });
          if (isConflict(error)) {
            // Someone wrote since our last write (or our last write landed after all): read, then
            // decide; unless the watch has shown a newer version that is still ours (a waiter joined the line).
            mustRead = writtenOver === undefined || base === writtenOver;
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
      pause.dispose();
      deadline.dispose();
      view?.unsubscribe();
      handedOver?.unsubscribe();
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
    this.#dropHeldWatch();
    const lock = this.#lock;
    const ours = base.record;
    let current = base;
    let conflicts = 0;
    let joins = 0;
    for (;;) {
      const now = new Date(this.#settings.clock.wallTime());
      // The waiting line stays: its first waiter takes the lock next.
      const record: LockRecord = { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: current.record.leaseTransitions, waiters: current.record.waiters };
      try {
        const released = await lock.update(record, current, { signal });
        this.#see(released);
        lock.recordEvent('released the lock', { kind: 'released' });
        log.release('%s: released', this.#settings.name);
        this.#wakeups.notify(lock.describe());
        return true;
      } catch (error) {
        if (!isConflict(error) || conflicts >= maxReleaseConflicts || joins >= maxReleaseJoins) throw error;
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
      // Only the line changed (waiters joined): not a conflict storm.
      if (sameRecord(latest.record, current.record) && !sameLine(latest.record.waiters, current.record.waiters)) joins += 1;
      else conflicts += 1;
      current = latest;
    }
  }
}

/**
 * A renewal's time: now, but never the stored time itself. A wall clock that stands still would
 * otherwise write the very object that is stored, which the API server answers without a new
 * version: waiters would see no sign of life from a live holder.
 */
function renewalTime(stored: Date | undefined, nowMs: number): MicroTime {
  const micros = stored instanceof MicroTime ? stored.microseconds : 0;
  // Only the very same time is moved on: a clock stepped back writes its own time (as before),
  // not a stored time that may lie far ahead.
  if (stored?.getTime() !== nowMs || micros !== 0) return new MicroTime(nowMs);
  return new MicroTime(nowMs, 1);
}

function inLine(snapshot: LockSnapshot, ticket: string): boolean {
  return snapshot.record.waiters?.some((entry) => entry.ticket === ticket) === true;
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
