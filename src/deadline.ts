import type { Clock } from './clock.js';

/**
 * A re-armable deadline as an AbortSignal: each {@link arm} replaces the previous deadline with
 * a fresh signal. The renew loop hands the signal to its requests and waits so that all of
 * them stop the instant the hold can no longer be trusted.
 */
export class Deadline {
  readonly #clock: Clock;
  #controller = new AbortController();
  #timer = new AbortController();
  #at = Number.POSITIVE_INFINITY;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** The signal of the current deadline; aborts when it passes. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The monotonic time of the current deadline. */
  get at(): number {
    return this.#at;
  }

  /** True once the current deadline has passed, even if the timer has not fired yet. */
  get expired(): boolean {
    return this.#controller.signal.aborted || this.#clock.now() >= this.#at;
  }

  /** Sets the deadline to monotonic time `at`, with `reason` as the abort reason when it passes. */
  arm(at: number, reason: () => unknown): void {
    this.dispose();
    this.#controller = new AbortController();
    this.#timer = new AbortController();
    this.#at = at;
    const controller = this.#controller;
    this.#clock.sleep(at - this.#clock.now(), this.#timer.signal).then(
      () => controller.abort(reason()),
      () => undefined, // disarmed
    );
  }

  /** Cancels the timer. */
  dispose(): void {
    this.#timer.abort();
  }
}
