import type { V1LeaseSpec } from '@kubernetes/client-node';

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
}

/**
 * A `Date` that serialises as a Kubernetes MicroTime: UTC with exactly six fractional digits
 * (`2006-01-02T15:04:05.000000Z`). The API server rejects a plain `Date`'s three digits with 400.
 */
export class MicroTime extends Date {
  override toISOString(): string {
    return formatMicroTime(this);
  }

  override toJSON(): string {
    return formatMicroTime(this);
  }
}

/** Formats a time as a MicroTime string. JavaScript time has millisecond resolution, so the last three digits are zero. */
export function formatMicroTime(time: Date | number): string {
  const iso = new Date(time).toISOString(); // always 2006-01-02T15:04:05.000Z
  return `${iso.slice(0, -1)}000Z`;
}

const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * Reads a MicroTime or Time as the API returns it. client-node types these as `Date` but hands
 * them over as strings at run time, so both are accepted. Unparsable values become `undefined`
 * (a record with no renew time is treated as never renewed, which is the safe reading).
 */
export function parseApiTime(value: Date | string | null | undefined): Date | undefined {
  if (value === null || value === undefined) return undefined;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : new Date(value.getTime());
  if (!rfc3339.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/** Converts a lock record into the `spec` fields leaselocker owns. Other spec fields are not touched. */
export function leaseLockRecordToLeaseSpec(record: LockRecord): V1LeaseSpec {
  const spec: V1LeaseSpec = {
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    leaseTransitions: record.leaseTransitions,
  };
  if (record.acquireTime !== undefined) spec.acquireTime = new MicroTime(record.acquireTime.getTime());
  if (record.renewTime !== undefined) spec.renewTime = new MicroTime(record.renewTime.getTime());
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
  return a.holderIdentity === b.holderIdentity
    && a.leaseDurationSeconds === b.leaseDurationSeconds
    && a.leaseTransitions === b.leaseTransitions
    && a.acquireTime?.getTime() === b.acquireTime?.getTime()
    && a.renewTime?.getTime() === b.renewTime?.getTime();
}

/** Whole seconds stored in the Lease for a duration in milliseconds. */
export function toLeaseSeconds(ms: number): number {
  return Math.ceil(ms / 1000);
}
