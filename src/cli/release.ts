import { LeaseApiError, LeaseLock } from '../index.js';
import type { LockRecord } from '../index.js';
import type { ReleaseArgs } from './args.js';
import { CliError, UsageError } from './cli-error.js';
import { confirm } from './confirm.js';
import { exitCodes } from './exit-codes.js';
import { loadClusterAccess } from './kube-config.js';
import { parseLeaseArg } from './lease-arg.js';
import { expiryText, relative, shortTime, viewRecord } from './lease-view.js';
import { readerIdentity } from './status.js';

/** The terminal `release --force` asks on, and where it reports. */
export interface ReleaseIo {
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean | undefined };
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream & { readonly isTTY?: boolean | undefined };
}

/**
 * `leaselocker release`: clears the holder of a lease that `--identity` holds, or with `--force`
 * whoever holds it (after a confirmation on a terminal, or `--yes`). The write is conditional
 * on the version just read, keeps `leaseTransitions`, and sets the one-second lease duration the
 * library's own release writes. A lease that is free or absent needs no release: exits 0.
 * @throws CliError {@link exitCodes.held} when another identity holds the lease (without
 * `--force`), the confirmation was refused, or the Lease changed since it was read (409).
 * @throws UsageError for `--force` off a terminal without `--yes`.
 */
export async function releaseCommand(args: ReleaseArgs, io: ReleaseIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const access = loadClusterAccess(args.cluster);
  const reader = new LeaseLock(access.kubeConfig, parseLeaseArg(args.lease, access.namespace), args.identity ?? readerIdentity);
  const lease = reader.describe();
  let snapshot = await reader.get();
  if (snapshot === undefined) {
    io.stdout.write(`lease ${lease} does not exist: nothing to release\n`);
    return exitCodes.ok;
  }
  const now = Date.now();
  const view = viewRecord(snapshot.record, now);
  const holder = view.holder;
  if (holder === undefined) {
    io.stdout.write(`${lease} is not held: nothing to release\n`);
    return exitCodes.ok;
  }
  if (holder !== args.identity) {
    if (!args.force) {
      throw new CliError(exitCodes.held, `${lease} is held by ${holder}, not by ${args.identity ?? '(no --identity)'}: nothing was written (add --force to release another holder's lease)`);
    }
    const alive = view.expiresInMs !== undefined && view.expiresInMs > 0;
    const since = view.acquireTime === undefined ? '' : ` since ${shortTime(view.acquireTime)}`;
    const renewed = view.renewTime === undefined ? '' : `, renewed ${relative(view.renewTime, now)}`;
    const expiry = alive ? `expires in ${expiryText(view.expiresInMs)}` : expiryText(view.expiresInMs);
    const description = `${lease} is held by ${holder}${since}${renewed}, ${expiry}`;
    if (!args.yes) {
      if (io.stdin.isTTY !== true || io.stderr.isTTY !== true) {
        throw new UsageError(`${description}; refusing to release it without confirmation off a terminal: add --yes`);
      }
      const warning = alive ? ' If that holder is still running, it only learns of this at its next renewal, and another may take the lease before that.' : '';
      if (!(await confirm(`${description}.${warning}\nRelease it? [y/N] `, io.stdin, io.stderr))) {
        throw new CliError(exitCodes.held, `${lease} was not released`);
      }
      // A live holder renews while the question waits: read again, and release only the hold that was confirmed.
      const confirmed = snapshot.record;
      snapshot = await reader.get();
      if (snapshot === undefined) {
        io.stdout.write(`lease ${lease} was deleted meanwhile: nothing to release\n`);
        return exitCodes.ok;
      }
      if (!sameHold(snapshot.record, confirmed)) {
        const now = snapshot.record.holderIdentity === '' ? 'it is not held any more' : `it is now held by ${snapshot.record.holderIdentity}`;
        throw new CliError(exitCodes.held, `${lease} changed while you answered (${now}): nothing was written`);
      }
    }
  }
  // As the library releases: no holder, a one-second duration, the transition count kept; on the version read.
  const at = new Date();
  const record: LockRecord = { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: at, renewTime: at, leaseTransitions: snapshot.record.leaseTransitions };
  try {
    await reader.update(record, snapshot);
  } catch (error) {
    if (error instanceof LeaseApiError && error.statusCode === 409) {
      throw new CliError(exitCodes.held, `${lease} changed since it was read (then held by ${holder}): nothing was written; look again with leaselocker status`);
    }
    if (error instanceof LeaseApiError && error.statusCode === 404) {
      io.stdout.write(`lease ${lease} was deleted meanwhile: nothing to release\n`);
      return exitCodes.ok;
    }
    throw error;
  }
  io.stdout.write(`released ${lease} (was held by ${holder})\n`);
  return exitCodes.ok;
}

/** True when two records show the same acquisition: holder, acquire time and transition count (renewals aside). */
function sameHold(a: LockRecord, b: LockRecord): boolean {
  return a.holderIdentity === b.holderIdentity && a.leaseTransitions === b.leaseTransitions && a.acquireTime?.getTime() === b.acquireTime?.getTime();
}
