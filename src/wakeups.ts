import type { Clock } from './clock.js';
import { linkSignals } from './abort.js';

/**
 * Wakes waiting lockers early when something tells that a lock may have become free: a release
 * by another locker in this process now, a watch event later. A wake only brings an attempt
 * forward; it never grants anything, so a spurious one costs a read and nothing more.
 */
export class Wakeups {
  readonly #waiters = new Map<string, Set<AbortController>>();

  /**
   * Sleeps on `clock` for `ms`, returning early when {@link notify} is called for `key` or
   * `wake` aborts. Rejects with `signal.reason` when `signal` aborts.
   */
  async wait(key: string, ms: number, clock: Clock, signal: AbortSignal | undefined, wake?: AbortSignal): Promise<void> {
    const notified = new AbortController();
    let waiters = this.#waiters.get(key);
    if (waiters === undefined) this.#waiters.set(key, (waiters = new Set()));
    waiters.add(notified);
    const linked = linkSignals(signal, notified.signal, wake);
    try {
      await clock.sleep(ms, linked.signal);
    } catch (error) {
      if (signal?.aborted === true || !(notified.signal.aborted || wake?.aborted === true)) throw error;
    } finally {
      linked.dispose();
      waiters.delete(notified);
      if (waiters.size === 0) this.#waiters.delete(key);
    }
  }

  /** Wakes every waiter on `key`. */
  notify(key: string): void {
    for (const wake of this.#waiters.get(key) ?? []) wake.abort();
  }
}

/** The wake-ups shared by all lockers of this process, so a release here hands over at once. */
export const processWakeups = new Wakeups();
