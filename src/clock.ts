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

const maxTimerMs = 2_147_483_647;

/** The process clocks: `performance.now()` and `Date.now()`, with timers that do not hold the process open once aborted. */
export const systemClock: Clock = Object.freeze({
  now: () => performance.now(),
  wallTime: () => Date.now(),
  sleep: async (ms: number, signal?: AbortSignal): Promise<void> => {
    try {
      // Node fires a timer longer than about 24.8 days at once (with a warning): sleep in steps.
      let remaining = Math.max(0, Math.ceil(ms));
      do {
        const step = Math.min(remaining, maxTimerMs);
        await delay(step, undefined, signal === undefined ? undefined : { signal });
        remaining -= step;
      } while (remaining > 0);
    } catch (error) {
      // timers/promises rejects with a generic AbortError; callers expect the signal's own reason.
      if (signal?.aborted === true) throw signal.reason;
      throw error;
    }
  },
});
