import type { Clock } from '../../src/clock.js';

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fire: () => void;
}

/**
 * A manual clock: time moves only through advance(). Sleeps that are already due (0 ms or
 * less) resolve on the next macrotask without an advance, as real timers would.
 */
export class FakeClock implements Clock {
  #now = 1_000;
  #wallOffset = Date.UTC(2026, 0, 1);
  #seq = 0;
  readonly #timers = new Set<Timer>();

  now(): number {
    return this.#now;
  }

  wallTime(): number {
    return this.#wallOffset + this.#now;
  }

  /** Moves only the wall clock, as a machine whose clock is off would. */
  skewWall(ms: number): void {
    this.#wallOffset += ms;
  }

  /**
   * The same timeline (monotonic time and sleeps) seen by another machine whose wall clock is
   * `ms` ahead of this one (behind when negative): give it to one locker and this clock to another.
   */
  skewed(ms: number): Clock {
    return {
      now: () => this.now(),
      wallTime: () => this.wallTime() + ms,
      sleep: async (sleepMs, signal) => this.sleep(sleepMs, signal),
    };
  }

  /** When the earliest pending sleep ends, if any. */
  get nextAt(): number | undefined {
    return this.#earliest()?.at;
  }

  /** Number of sleeps not yet resolved. */
  get pending(): number {
    return this.#timers.size;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(signal.reason as Error);
        return;
      }
      const onAbort = (): void => {
        this.#timers.delete(timer);
        reject(signal?.reason as Error);
      };
      const timer: Timer = {
        at: this.#now + Math.max(0, ms),
        seq: this.#seq++,
        fire: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#timers.add(timer);
      if (timer.at <= this.#now) setImmediate(() => this.#fireDue());
    });
  }

  /** Moves time on without firing any timer, as a blocked event loop experiences it. */
  jump(ms: number): void {
    this.#now += ms;
  }

  /** Advances time by `ms`, firing due timers in order and letting their continuations run. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      const next = this.#earliest();
      if (next === undefined || next.at > target) break;
      this.#now = Math.max(this.#now, next.at);
      this.#timers.delete(next);
      next.fire();
      await settle();
    }
    this.#now = target;
    await settle();
  }

  #fireDue(): void {
    for (;;) {
      const next = this.#earliest();
      if (next === undefined || next.at > this.#now) return;
      this.#timers.delete(next);
      next.fire();
    }
  }

  #earliest(): Timer | undefined {
    let best: Timer | undefined;
    for (const timer of this.#timers) {
      if (best === undefined || timer.at < best.at || (timer.at === best.at && timer.seq < best.seq)) best = timer;
    }
    return best;
  }
}

/** Lets pending promise continuations and immediates run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}
