import type { LockRecord } from '../index.js';
import { humanDuration } from './duration.js';

/** A Lease's lock record, told for people and scripts. */
export interface LeaseView {
  /** The holder; undefined when nobody holds the lease (released, or never taken). */
  readonly holder: string | undefined;
  readonly acquireTime: Date | undefined;
  readonly renewTime: Date | undefined;
  readonly leaseDurationSeconds: number;
  readonly leaseTransitions: number;
  /**
   * Milliseconds until the hold expires by the clocks (`renewTime + leaseDurationSeconds`,
   * against this machine's clock); negative once expired; undefined when nobody holds it.
   */
  readonly expiresInMs: number | undefined;
}

/** Reads a lock record at the wall-clock instant `now` (milliseconds since the epoch). */
export function viewRecord(record: LockRecord, now: number): LeaseView {
  const holder = record.holderIdentity === '' ? undefined : record.holderIdentity;
  const renewed = record.renewTime ?? record.acquireTime;
  return {
    holder,
    acquireTime: record.acquireTime,
    renewTime: record.renewTime,
    leaseDurationSeconds: record.leaseDurationSeconds,
    leaseTransitions: record.leaseTransitions,
    expiresInMs: holder === undefined ? undefined : renewed === undefined ? 0 : renewed.getTime() + record.leaseDurationSeconds * 1000 - now,
  };
}

/** A MicroTime as the API writes it (six fractional digits), or `-`. */
export function timeText(time: Date | undefined): string {
  return time === undefined ? '-' : time.toISOString();
}

/** A time without its fraction, for a short line: `2026-11-29T04:23:12Z`. */
export function shortTime(time: Date): string {
  return `${time.toISOString().slice(0, 19)}Z`;
}

/** `3m12s ago`, `in 5s`. */
export function relative(time: Date | undefined, now: number): string {
  if (time === undefined) return '';
  const ms = now - time.getTime();
  return ms >= 0 ? `${humanDuration(ms)} ago` : `in ${humanDuration(-ms)}`;
}

/** `12s`, or `expired 3s ago`, or `-` when nobody holds the lease. */
export function expiryText(expiresInMs: number | undefined): string {
  if (expiresInMs === undefined) return '-';
  return expiresInMs > 0 ? humanDuration(expiresInMs) : `expired ${humanDuration(-expiresInMs)} ago`;
}
