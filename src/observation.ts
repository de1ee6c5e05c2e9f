import type { Clock } from './clock.js';
import type { LockRecord } from './record.js';
import { sameRecord } from './record.js';

/**
 * What this process last saw of a lock and when it first saw it that way. Expiry of someone
 * else's hold is judged from here, as client-go's leader election does: with observed time,
 * a holder is presumed alive until `leaseDurationSeconds` after we last saw its record change,
 * measured on our own monotonic clock, so clock offsets between machines do not matter.
 */
export class Observation {
  readonly #clock: Clock;
  readonly #useObservedTime: boolean;
  #record: LockRecord | undefined;
  #observedAt = 0;

  constructor(clock: Clock, useObservedTime: boolean) {
    this.#clock = clock;
    this.#useObservedTime = useObservedTime;
  }

  /** The last record seen, if any. */
  get record(): LockRecord | undefined {
    return this.#record;
  }

  /**
   * Notes a record just read or written. Call it after the response arrived: the observation
   * time must not precede the write that produced the record, or we might take over early.
   */
  see(record: LockRecord | undefined): void {
    if (record === undefined) {
      this.#record = undefined;
      return;
    }
    if (this.#record === undefined || !sameRecord(this.#record, record)) {
      this.#record = record;
      this.#observedAt = this.#clock.now();
    }
  }

  /**
   * The monotonic time at which the last seen hold expires: free locks and locks never seen
   * expire at once. With `useObservedTime: false` the holder's own `renewTime` is compared
   * with our wall clock instead (trusting that the clocks agree).
   */
  expiresAt(): number {
    const record = this.#record;
    if (record === undefined || record.holderIdentity === '') return Number.NEGATIVE_INFINITY;
    const durationMs = Math.max(0, record.leaseDurationSeconds) * 1000;
    if (this.#useObservedTime) return this.#observedAt + durationMs;
    if (record.renewTime === undefined) return Number.NEGATIVE_INFINITY;
    return this.#clock.now() + (record.renewTime.getTime() + durationMs - this.#clock.wallTime());
  }
}
