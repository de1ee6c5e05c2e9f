import type { Clock } from './clock.js';
import { LeaseApiError, LeaseRequestError } from './errors.js';
import { log } from './log.js';
import type { LockSnapshot, ResourceLock } from './resource-lock.js';

/** Where a new watch starts: a state read together with a version to watch from. */
export interface WatchSeed<S extends LockSnapshot> {
  readonly snapshot: S | undefined;
  readonly version: string;
}

/** A waiting loop's handle on the shared watch of its lock. */
export interface WatchSubscription<S extends LockSnapshot> {
  /** True while the stream is open, so that {@link snapshot} follows every change. */
  readonly live: boolean;
  /** The lock as the watch last showed it; undefined when it does not exist. */
  readonly snapshot: S | undefined;
  unsubscribe(): void;
}

/** The settings a shared watch borrows from its first subscriber. */
export interface WatchSettings {
  readonly name: string;
  readonly retryPeriodMs: number;
  readonly clock: Clock;
}

/** Called on every change of the lock, and when the watch goes live or breaks. */
export type WatchListener<S extends LockSnapshot> = (snapshot: S | undefined) => void;

const maxBackoffMs = 30_000;
// A stream the server ends sooner than this after opening is a "quick close". One is resumed
// at once (an apiserver restarting drops every watch); a run of them is backed off, so that a
// server that closes at once cannot make us reconnect in a tight loop.
const minHealthyStreamMs = 1_000;
const quickClosesBeforeBackoff = 3;

/**
 * One watch of one lock, shared by every waiting locker of this process, alive only while
 * someone waits. It resumes from the last version seen (events, bookmarks), lists again after
 * 410 Expired, and backs off while the server cannot be watched; subscribers then poll.
 */
class SharedWatch<S extends LockSnapshot> {
  readonly #lock: ResourceLock<S>;
  readonly #settings: WatchSettings;
  readonly #onIdle: () => void;
  readonly #listeners = new Set<WatchListener<S>>();
  readonly #controller = new AbortController();
  #snapshot: S | undefined;
  #version: string | undefined;
  #live = false;

  constructor(lock: ResourceLock<S>, seed: WatchSeed<S>, settings: WatchSettings, onIdle: () => void) {
    this.#lock = lock;
    this.#settings = settings;
    this.#onIdle = onIdle;
    this.#snapshot = seed.snapshot;
    this.#version = seed.version === '' ? undefined : seed.version;
  }

  get live(): boolean {
    return this.#live;
  }

  get snapshot(): S | undefined {
    return this.#snapshot;
  }

  subscribe(listener: WatchListener<S>): WatchSubscription<S> {
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) void this.#run();
    return new Subscription(this, () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) {
        this.#controller.abort();
        this.#onIdle();
      }
    });
  }

  async #run(): Promise<void> {
    const { signal } = this.#controller;
    const { clock, name, retryPeriodMs } = this.#settings;
    const lock = this.#lock;
    if (lock.list === undefined || lock.watch === undefined) return;
    let backoffMs = retryPeriodMs;
    let quickCloses = 0;
    while (!signal.aborted) {
      let openedAt: number | undefined;
      const listed = this.#version === undefined;
      try {
        if (this.#version === undefined) {
          const listed = await lock.list({ signal });
          this.#version = listed.version;
          this.#change(listed.snapshot);
        }
        await lock.watch(this.#version, {
          onOpen: () => {
            openedAt = clock.now();
            this.#setLive(true);
          },
          onEvent: (event) => {
            this.#version = event.version;
            if (event.type === 'change') this.#change(event.snapshot);
          },
        }, { signal });
        // The server ended the stream (its timeoutSeconds, or a restart): resume at once, still live.
        quickCloses = openedAt !== undefined && clock.now() - openedAt >= minHealthyStreamMs ? 0 : quickCloses + 1;
        if (quickCloses < quickClosesBeforeBackoff) {
          if (quickCloses === 0) backoffMs = retryPeriodMs;
          continue;
        }
        log.acquire('%s: watch keeps closing at once, backing off', name);
      } catch (error) {
        if (signal.aborted) return;
        if (openedAt !== undefined && error instanceof LeaseRequestError && error.timedOut) {
          // Silent past its heartbeat: resume from the last version at once, which replays what
          // the dead stream did not show. The view stays usable meanwhile (a stale view only costs a 409).
          log.acquire('%s: watch went silent, resuming from %s', name, this.#version ?? '');
          continue;
        }
        if (error instanceof LeaseApiError && (error.statusCode === 410)) {
          // Listing again right away; the view stays usable meanwhile (a stale view only costs a 409).
          // A version just listed that is already too old is a server in trouble: back off.
          log.acquire('%s: watch expired at %s, listing again', name, this.#version ?? '');
          this.#version = undefined;
          if (!listed) continue;
        }
        this.#setLive(false);
        if (error instanceof LeaseApiError && (error.statusCode === 401 || error.statusCode === 403)) {
          log.acquire('%s: not allowed to list or watch the lease; waiting lockers poll (%s)', name, error.message);
          return;
        }
        log.acquire('%s: watch failed (%s), retrying in %d ms', name, (error as Error).message, backoffMs);
      }
      this.#setLive(false);
      await clock.sleep(backoffMs, signal).catch(() => undefined);
      backoffMs = Math.min(backoffMs * 2, maxBackoffMs);
    }
  }

  #change(snapshot: S | undefined): void {
    this.#snapshot = snapshot;
    this.#notify();
  }

  #setLive(live: boolean): void {
    if (this.#live === live) return;
    this.#live = live;
    this.#notify();
  }

  #notify(): void {
    for (const listener of this.#listeners) listener(this.#snapshot);
  }
}

class Subscription<S extends LockSnapshot> implements WatchSubscription<S> {
  readonly #watch: SharedWatch<S>;
  #leave: (() => void) | undefined;

  constructor(watch: SharedWatch<S>, leave: () => void) {
    this.#watch = watch;
    this.#leave = leave;
  }

  get live(): boolean {
    return this.#watch.live;
  }

  get snapshot(): S | undefined {
    return this.#watch.snapshot;
  }

  unsubscribe(): void {
    this.#leave?.();
    this.#leave = undefined;
  }
}

/** The shared watches of a process, one per watched lock. */
export class WatchHub {
  // Values are SharedWatch<S> for the S of the locks under that key (one lock type per key).
  readonly #watches = new Map<string, unknown>();

  /**
   * Subscribes `listener` to the watch of `lock`, starting it from `seed` when no locker of
   * this process watches it yet. Undefined when the lock cannot be watched.
   */
  subscribe<S extends LockSnapshot>(lock: ResourceLock<S>, seed: WatchSeed<S>, settings: WatchSettings, listener: WatchListener<S>): WatchSubscription<S> | undefined {
    if (lock.list === undefined || lock.watch === undefined) return undefined;
    const key = lock.watchKey?.() ?? lock.describe();
    let watch = this.#watches.get(key) as SharedWatch<S> | undefined;
    if (watch === undefined) {
      const created: SharedWatch<S> = new SharedWatch(lock, seed, settings, () => {
        if (this.#watches.get(key) === created) this.#watches.delete(key);
      });
      watch = created;
      this.#watches.set(key, created);
    }
    return watch.subscribe(listener);
  }
}

/** The watches shared by all lockers of this process. */
export const processWatches = new WatchHub();
