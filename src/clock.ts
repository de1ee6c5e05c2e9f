import { setTimeout as delay } from 'node:timers/promises';

/**
 * The time source of a locker. Expiry is judged on {@link Clock.now} (monotonic, immune to
 * wall-clock steps); {@link Clock.wallTime} only stamps `renewTime`/`acquireTime` and, with
 * `useObservedTime: false`, is compared with other holders' stamps. Inject one in tests to
 * drive timing deterministically.
 */
export interface Clock {
  /** Monotonic milliseconds. Only differences are meaningful. */
  now(): number;
  /** Milliseconds since the Unix epoch. */
  wallTime(): number;
  /**
   * Resolves after `ms` milliseconds, or rejects with `signal.reason` as soon as `signal`
   * aborts, leaving no timer behind either way.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The process clocks: `performance.now()` and `Date.now()`, with timers that do not hold the process open once aborted. */
export const systemClock: Clock = Object.freeze({
  now: () => performance.now(),
  wallTime: () => Date.now(),
  sleep: async (ms: number, signal?: AbortSignal): Promise<void> => {
    try {
      await delay(Math.max(0, Math.ceil(ms)), undefined, signal === undefined ? undefined : { signal });
    } catch (error) {
      // timers/promises rejects with a generic AbortError; callers expect the signal's own reason.
      if (signal?.aborted === true) throw signal.reason;
      throw error;
    }
  },
});
