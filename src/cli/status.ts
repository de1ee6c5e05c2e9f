import { LeaseLock } from '../index.js';
import type { LeaseSnapshot } from '../index.js';
import type { StatusArgs } from './args.js';
import { CliError } from './cli-error.js';
import { formatDuration } from './duration.js';
import { exitCodes } from './exit-codes.js';
import { loadClusterAccess } from './kube-config.js';
import { parseLeaseArg } from './lease-arg.js';
import { expiryText, relative, timeText, viewRecord } from './lease-view.js';

/** The identity `status` and `release --force` read as; never written. */
export const readerIdentity = 'leaselocker-cli';

/** What `status --json` prints: one object, on one line. */
export interface StatusJson {
  readonly namespace: string;
  readonly name: string;
  /** The holder, or null when nobody holds the lease. */
  readonly holder: string | null;
  /** True when someone holds the lease and, by this machine's clock, it has not expired. */
  readonly held: boolean;
  /** MicroTimes as stored (six fractional digits, UTC), or null. */
  readonly acquireTime: string | null;
  readonly renewTime: string | null;
  /** Seconds until the hold expires by the clocks (renewTime + leaseDurationSeconds); negative once expired; null when not held. */
  readonly expiresInSeconds: number | null;
  readonly leaseTransitions: number;
  readonly leaseDurationSeconds: number;
  /** The identities waiting in the Lease's line, first first. */
  readonly waiting: string[];
  readonly resourceVersion: string;
}

/**
 * `leaselocker status`: reads the Lease once and prints its holder, acquire and renew times,
 * expiry, transitions and lease duration, as a table or (`--json`) one JSON object.
 * @throws CliError {@link exitCodes.noLease} when the Lease does not exist; cluster and usage errors.
 */
export async function statusCommand(args: StatusArgs, stdout: NodeJS.WritableStream = process.stdout): Promise<number> {
  const access = loadClusterAccess(args.cluster);
  const reader = new LeaseLock(access.kubeConfig, parseLeaseArg(args.lease, access.namespace), readerIdentity);
  const snapshot = await reader.get();
  if (snapshot === undefined) throw new CliError(exitCodes.noLease, `lease ${reader.describe()} does not exist (nothing has locked it yet, or its namespace does not exist)`);
  const now = Date.now();
  stdout.write(args.json ? `${JSON.stringify(statusJson(reader, snapshot, now))}\n` : statusTable(reader.describe(), snapshot, now));
  return exitCodes.ok;
}

/** The `--json` object of a Lease read at `now`. */
export function statusJson(reader: LeaseLock, snapshot: LeaseSnapshot, now: number): StatusJson {
  const view = viewRecord(snapshot.record, now);
  return {
    namespace: reader.lease.namespace,
    name: reader.lease.name,
    holder: view.holder ?? null,
    held: view.expiresInMs !== undefined && view.expiresInMs > 0,
    acquireTime: view.acquireTime?.toISOString() ?? null,
    renewTime: view.renewTime?.toISOString() ?? null,
    expiresInSeconds: view.expiresInMs === undefined ? null : Math.round(view.expiresInMs) / 1000,
    leaseTransitions: view.leaseTransitions,
    leaseDurationSeconds: view.leaseDurationSeconds,
    waiting: (snapshot.record.waiters ?? []).map((ticket) => ticket.identity),
    resourceVersion: snapshot.version,
  };
}

/** `2: job-a, job-b`, or `-` when nobody waits in line. */
function waitingText(line: readonly { readonly identity: string }[]): string {
  return line.length === 0 ? '-' : `${String(line.length)}: ${line.map((ticket) => ticket.identity).join(', ')}`;
}

/** The human table of a Lease read at `now`. */
export function statusTable(lease: string, snapshot: LeaseSnapshot, now: number): string {
  const view = viewRecord(snapshot.record, now);
  const when = (time: Date | undefined): string => (time === undefined ? '-' : `${timeText(time)} (${relative(time, now)})`);
  const rows: Array<[string, string]> = [
    ['Lease', lease],
    ['Holder', view.holder ?? '(none: released or never taken)'],
    ['Acquired', when(view.acquireTime)],
    ['Renewed', when(view.renewTime)],
    ['Expires in', expiryText(view.expiresInMs)],
    ['Transitions', String(view.leaseTransitions)],
    ['Lease duration', formatDuration(view.leaseDurationSeconds * 1000)],
    ['Waiting', waitingText(snapshot.record.waiters ?? [])],
  ];
  const width = Math.max(...rows.map(([label]) => label.length)) + 2;
  return rows.map(([label, value]) => `${`${label}:`.padEnd(width)}${value}\n`).join('');
}
