import type { Clock } from './clock.js';
import type { LockRecord } from './record.js';
import { sameRecord } from './record.js';
import { sameLine } from './waiting-line.js';
import type { LockSnapshot } from './resource-lock.js';

/**
 * What this process last saw of a lock and when it first saw it that way. Expiry of someone
 * else's hold is judged from here, as client-go's leader election does: with observed time,
 * a holder is presumed alive until `leaseDurationSeconds` after we last saw its record change,
 * measured on our own monotonic clock, so clock offsets between machines do not matter.
 */
export class Observation {
  readonly #clock: Clock;
  readonly #useObservedTime: boolean;
  readonly #minDurationMs: number;
  #record: LockRecord | undefined;
  #version = '';
  #observedAt = 0;
  /**
   * When the lock was last seen deleted while held: the instant that hold would have expired.
   * Its holder learns of the deletion only at its next renewal, so until then the lock is not free.
   */
  #deletedHoldExpiresAt = Number.NEGATIVE_INFINITY;

  /**
   * @param minDurationMs - the shortest lease duration to presume, whatever the record says:
   *   the locker's own `leaseDurationMs`. Someone who edits a live lease down to 1 s (kubectl edit,
   *   another tool) must not let waiters in before the holder could learn of it and stop.
   */
  constructor(clock: Clock, options: { readonly useObservedTime: boolean; readonly minDurationMs: number }) {
    this.#clock = clock;
    this.#useObservedTime = options.useObservedTime;
    this.#minDurationMs = options.minDurationMs;
  }

  /** The last record seen, if any. */
  get record(): LockRecord | undefined {
    return this.#record;
  }

  /**
   * Notes a lock just read or written. Call it after the response arrived: the observation
   * time must not precede the write that produced it, or we might take over early. Any new
   * version counts as a change, even one whose record reads the same (a renewal stamped with a
   * wall clock that stood still), but for one that changed only the waiting line: a waiter
   * joining it must not keep a crashed holder's lease alive.
   */
  see(snapshot: LockSnapshot | undefined): void {
    const record = snapshot?.record;
    if (record === undefined) {
      if (this.#record !== undefined) this.#deletedHoldExpiresAt = this.expiresAt();
      this.#record = undefined;
      return;
    }
    const version = snapshot?.version ?? '';
    if (this.#record === undefined || !sameRecord(this.#record, record)) {
      this.#observedAt = this.#clock.now();
    } else if (version === '' || version === this.#version) {
      return;
    } else if (sameLine(this.#record.waiters, record.waiters)) {
      this.#observedAt = this.#clock.now();
    }
    // Otherwise only the waiting line changed: a waiter joined it, which tells nothing of the
    // holder (a holder's renewal always keeps the line as it is), so its hold is not extended.
    this.#record = record;
    this.#version = version;
  }

  /**
   * The monotonic time at which the last seen hold expires: free locks and locks never seen
   * expire at once; a lock seen deleted while held, when that hold would have expired. A held lock lives for the longer of its recorded duration and our own.
   * With `useObservedTime: false` the holder's own `renewTime` is compared with our wall clock
   * instead (trusting that the clocks agree), or, when it has none, the observed time.
   */
  expiresAt(): number {
    const record = this.#record;
    if (record === undefined) return this.#deletedHoldExpiresAt;
    if (record.holderIdentity === '') return Number.NEGATIVE_INFINITY;
    const recordedMs = Number.isFinite(record.leaseDurationSeconds) ? record.leaseDurationSeconds * 1000 : 0;
    const durationMs = Math.max(this.#minDurationMs, recordedMs);
    // A record without a readable renewTime cannot be judged by it: fall back to when we saw it.
    const renewedAt = record.renewTime?.getTime() ?? Number.NaN;
    if (this.#useObservedTime || Number.isNaN(renewedAt)) return this.#observedAt + durationMs;
    return this.#clock.now() + (renewedAt + durationMs - this.#clock.wallTime());
  }
}
