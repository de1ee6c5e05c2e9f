import type { V1LeaseSpec } from '@kubernetes/client-node';
import type { WaitingTicket } from './waiting-line.js';

/**
 * What a lock stores about its holder. Mirrors client-go's `LeaderElectionRecord`; a
 * Lease keeps it in `spec`.
 */
export interface LockRecord {
  /** Identity of the holder; `''` when nobody holds the lock (released). */
  holderIdentity: string;
  /** How long, in whole seconds, others must wait without seeing a change before taking the lock. */
  leaseDurationSeconds: number;
  /** When the current holder acquired the lock. */
  acquireTime: Date | undefined;
  /** When the current holder last renewed the lock. */
  renewTime: Date | undefined;
  /** How many times the lock changed hands; leaseLocker also counts every re-acquisition. */
  leaseTransitions: number;
  /**
   * The lockers waiting for the lock, first first (a Lease keeps them in its
   * `leaselocker/waiting-line` annotation). Undefined when the lock keeps no line: its waiters
   * then all try at once.
   */
  waiters?: readonly WaitingTicket[] | undefined;
}

/**
 * A `Date` that serialises as a Kubernetes MicroTime: UTC with exactly six fractional digits
 * (`2006-01-02T15:04:05.000000Z`). The API server rejects a plain `Date`'s three digits with 400.
 * It keeps the microseconds a `Date` cannot hold, so that a MicroTime read from the API compares
 * and writes back exactly as stored.
 */
export class MicroTime extends Date {
  /** Microseconds past the millisecond of `getTime()`, 0 to 999. */
  readonly microseconds: number;

  /**
   * @param time - milliseconds since the epoch, or a Date (a MicroTime keeps its microseconds).
   * @param microseconds - microseconds past that millisecond, 0 to 999.
   * @default microseconds: those of `time` when it is a MicroTime, else 0
   */
  constructor(time: Date | number, microseconds?: number) {
    super(typeof time === 'number' ? time : time.getTime());
    const micros = microseconds ?? (time instanceof MicroTime ? time.microseconds : 0);
    this.microseconds = Number.isInteger(micros) && micros >= 0 && micros < 1000 ? micros : 0;
  }

  override toISOString(): string {
    return formatMicroTime(this);
  }

  override toJSON(): string {
    return formatMicroTime(this);
  }
}

/** Formats a time as a MicroTime string; the last three digits are a MicroTime's microseconds, else zero. */
export function formatMicroTime(time: Date | number): string {
  const iso = new Date(time).toISOString(); // always 2006-01-02T15:04:05.000Z
  const micros = time instanceof MicroTime ? time.microseconds : 0;
  return `${iso.slice(0, -1)}${String(micros).padStart(3, '0')}Z`;
}

const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.(\d+))?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * Reads a MicroTime or Time as the API returns it. client-node types these as `Date` but hands
 * them over as strings at run time, so both are accepted. Unparsable values become `undefined`
 * (a record with no renew time is treated as never renewed, which is the safe reading).
 */
export function parseApiTime(value: Date | string | null | undefined): MicroTime | undefined {
  if (value === null || value === undefined) return undefined;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : new MicroTime(value);
  const match = rfc3339.exec(value);
  if (match === null) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) return undefined;
  return new MicroTime(ms, Number((match[1] ?? '').slice(3, 6).padEnd(3, '0')));
}

/** A time in whole microseconds since the epoch, for exact comparison. */
function micros(time: Date | undefined): number | undefined {
  if (time === undefined || Number.isNaN(time.getTime())) return undefined;
  return time.getTime() * 1000 + (time instanceof MicroTime ? time.microseconds : 0);
}

/** Converts a lock record into the `spec` fields leaselocker owns. Other spec fields are not touched. */
export function leaseLockRecordToLeaseSpec(record: LockRecord): V1LeaseSpec {
  const spec: V1LeaseSpec = {
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    leaseTransitions: record.leaseTransitions,
  };
  if (record.acquireTime !== undefined) spec.acquireTime = new MicroTime(record.acquireTime);
  if (record.renewTime !== undefined) spec.renewTime = new MicroTime(record.renewTime);
  return spec;
}

/** Reads a lock record from a Lease `spec`; absent fields read as empty, zero or undefined. */
export function leaseSpecToLeaseLockRecord(spec: V1LeaseSpec | undefined): LockRecord {
  return {
    holderIdentity: spec?.holderIdentity ?? '',
    leaseDurationSeconds: spec?.leaseDurationSeconds ?? 0,
    acquireTime: parseApiTime(spec?.acquireTime),
    renewTime: parseApiTime(spec?.renewTime),
    leaseTransitions: spec?.leaseTransitions ?? 0,
  };
}

/** True when two records say the same thing; used to tell whether a lock changed since we last looked. */
export function sameRecord(a: LockRecord, b: LockRecord): boolean {
  return sameAcquisition(a, b)
    && Object.is(a.leaseDurationSeconds, b.leaseDurationSeconds) // NaN from a ResourceLock of one's own is no change
    && micros(a.renewTime) === micros(b.renewTime);
}

/**
 * True when `record` shows the acquisition `ours` wrote: the same holder, `acquireTime` to the
 * microsecond, and `leaseTransitions`. The holder string alone does not tell two lockers with the
 * same owner apart; an acquisition does, because each writes its own `acquireTime` (with random
 * microseconds) and a higher `leaseTransitions`, and renewals keep both.
 */
export function sameAcquisition(record: LockRecord, ours: LockRecord): boolean {
  return record.holderIdentity === ours.holderIdentity
    && Object.is(record.leaseTransitions, ours.leaseTransitions)
    && micros(record.acquireTime) === micros(ours.acquireTime);
}

/** Whole seconds stored in the Lease for a duration in milliseconds. */
export function toLeaseSeconds(ms: number): number {
  return Math.ceil(ms / 1000);
}
