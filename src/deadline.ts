import type { Clock } from './clock.js';

/**
 * A movable deadline as an AbortSignal. The renew loop hands the signal to its requests and
 * waits so that all of them stop the instant the hold can no longer be trusted.
 *
 * Moving the deadline later (every renewal does) costs nothing: a single sleep runs to the
 * deadline it knew, and sleeps on for the rest when the deadline has moved meanwhile. Aborting
 * and re-creating a timer per renewal cost a good part of the CPU of a process holding many
 * leases.
 */
export class Deadline {
  readonly #clock: Clock;
  readonly #controller = new AbortController();
  readonly #disposed = new AbortController();
  #at = Number.POSITIVE_INFINITY;
  #reason: () => unknown = () => undefined;
  #sleeping = false;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Aborts when the deadline passes, with the reason given to the last {@link arm}. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The monotonic time of the deadline. */
  get at(): number {
    return this.#at;
  }

  /** True once the deadline has passed, even if the timer has not fired yet. */
  get expired(): boolean {
    return this.#controller.signal.aborted || this.#clock.now() >= this.#at;
  }

  /** Sets the deadline to monotonic time `at` (never earlier than before), with `reason` as the abort reason when it passes. */
  arm(at: number, reason: () => unknown): void {
    this.#at = at;
    this.#reason = reason;
    if (!this.#sleeping && !this.#disposed.signal.aborted) void this.#sleepToDeadline();
  }

  /** Cancels the timer. */
  dispose(): void {
    this.#disposed.abort();
  }

  async #sleepToDeadline(): Promise<void> {
    this.#sleeping = true;
    try {
      for (;;) {
        const remaining = this.#at - this.#clock.now();
        if (remaining <= 0) {
          this.#controller.abort(this.#reason());
          return;
        }
        await this.#clock.sleep(remaining, this.#disposed.signal);
      }
    } catch {
      // disposed
    } finally {
      this.#sleeping = false;
    }
  }
}
