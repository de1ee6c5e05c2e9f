import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { LeaseLock, LeaseLocker, LockLostError } from '../index.js';
import type { LeaseSnapshot } from '../index.js';
import type { RunArgs } from './args.js';
import { CliError, ClusterError } from './cli-error.js';
import { formatDuration, humanDuration } from './duration.js';
import { exitCodes } from './exit-codes.js';
import { describeFailure, oneLine } from './failure.js';
import { defaultIdentity } from './identity.js';
import { loadClusterAccess } from './kube-config.js';
import { parseLeaseArg } from './lease-arg.js';
import { expiryText, shortTime, viewRecord } from './lease-view.js';
import { watchLease } from './lease-watch.js';
import { cliLog } from './log.js';
import { WaitProgress } from './progress.js';
import type { ProgressStream } from './progress.js';
import { Interrupted, SignalTrap, signalExitCode } from './signals.js';
import type { HandledSignal } from './signals.js';

/** How long `run` waits before it starts showing who holds the lease: an uncontended lease is taken sooner, at no extra request. */
const progressDelayMs = 250;

/** What `run` needs of the process; the process's own by default. */
export interface RunContext {
  /** Where messages go (never stdout, which belongs to the command). */
  readonly stderr: ProgressStream;
  readonly env: NodeJS.ProcessEnv;
}

/**
 * `leaselocker run`: waits for the lease, runs the command with stdio inherited while the hold
 * is renewed, forwards SIGINT, SIGTERM and SIGHUP to it, releases the lease when it exits, and
 * resolves with its exit code (128 + N when signal N ended it). Stops the command (SIGTERM, then
 * SIGKILL after `--kill-after`) when the hold is lost, and then resolves with
 * {@link exitCodes.lost}.
 * @throws CliError when the command was not run: {@link exitCodes.held} when the lease is held
 * elsewhere (`--no-wait`, or `--wait` ran out), 128 + N when signal N ended the wait, and the
 * usage and cluster errors.
 */
export async function runCommand(args: RunArgs, context: RunContext = { stderr: process.stderr, env: process.env }): Promise<number> {
  const access = loadClusterAccess(args.cluster);
  const identity = args.identity ?? defaultIdentity(context.env);
  const ref = parseLeaseArg(args.lease, access.namespace);
  // Validates the timing, the lease and the identity as the library does; InvalidConfigError names the flag.
  const locker = new LeaseLocker(access.kubeConfig, ref, identity, { ...args.timing });
  const reader = new LeaseLock(access.kubeConfig, ref, identity);
  const lease = reader.describe();
  cliLog('run: %s as %s (cluster from %s)', lease, identity, access.source);

  const signals = new SignalTrap();
  try {
    await acquire(locker, reader, args, signals.interrupted, context.stderr);
    let exitCode: number;
    try {
      exitCode = await runHeld(locker, args, lease, signals, context.stderr);
    } finally {
      signals.ignore();
      await release(locker, lease, args, context.stderr);
    }
    return exitCode;
  } finally {
    signals.dispose();
  }
}

async function acquire(locker: LeaseLocker, reader: LeaseLock, args: RunArgs, interrupted: AbortSignal, stderr: ProgressStream): Promise<void> {
  const lease = reader.describe();
  const onInterrupt = (): Interrupted => new Interrupted(interrupted.reason as HandledSignal, `${String(interrupted.reason)} received while waiting for ${lease}; the command was not run`);
  if (args.waitMs === 0) {
    let acquired: unknown;
    try {
      acquired = await locker.tryLock({ signal: interrupted });
    } catch (error) {
      if (interrupted.aborted) throw onInterrupt();
      throw error;
    }
    if (acquired) return;
    // A holder that stopped renewing long ago (a crashed pod) still looks live to a process that
    // sees its lease for the first time: a lease is judged by how long this process has seen it
    // unchanged, never by another machine's clock. Such a lease is waited out once, for a lease
    // duration, rather than skipped for ever by every run.
    const expired = await expiredByItsClock(reader, interrupted).catch((error: unknown) => {
      throw interrupted.aborted ? onInterrupt() : error;
    });
    if (!expired) {
      throw new CliError(exitCodes.held, `${await heldBy(reader, interrupted)}; the command was not run (--no-wait)`);
    }
    stderr.write(`leaselocker: ${lease}: its holder stopped renewing; taking it over once it has been seen unchanged for ${formatDuration(args.timing.leaseDurationMs)}\n`);
  }
  // At least a lease duration (and two periods to notice) when the lease may have to be waited out.
  const minWaitMs = args.timing.leaseDurationMs + 2 * args.timing.retryPeriodMs;
  const waitMs = args.waitMs === 0 ? minWaitMs : args.waitMs;
  const deadline = waitMs === undefined ? undefined : AbortSignal.timeout(waitMs);
  const signal = deadline === undefined ? interrupted : AbortSignal.any([interrupted, deadline]);
  const progress = new WaitProgress(stderr, { lease, identity: locker.identity, leaseDurationMs: args.timing.leaseDurationMs });
  const watching = new AbortController();
  let watched: Promise<void> = Promise.resolve();
  const start = setTimeout(() => {
    watched = watchLease(reader, (state) => progress.see(state), args.timing.retryPeriodMs, watching.signal);
  }, progressDelayMs);
  try {
    try {
      await locker.lock({ signal });
    } catch (error) {
      if (!(deadline?.aborted === true && waitMs !== undefined && waitMs < minWaitMs && !interrupted.aborted)) throw error;
      // A --wait shorter than a lease duration: a dead holder's lease needs that long to be taken.
      if (!(await expiredByItsClock(reader, interrupted))) throw error;
      await locker.lock({ signal: AbortSignal.any([interrupted, AbortSignal.timeout(minWaitMs - waitMs)]) });
    }
  } catch (error) {
    const unreadable = progress.lastError;
    stopWatching();
    await watched;
    progress.finish();
    if (interrupted.aborted) throw onInterrupt();
    if (deadline?.aborted === true) {
      const waited = formatDuration(Math.max(waitMs ?? 0, args.waitMs ?? 0));
      if (unreadable !== undefined) throw new ClusterError(`gave up waiting for ${lease} after ${waited}: ${describeFailure(unreadable).message}`);
      throw new CliError(exitCodes.held, `gave up waiting after ${waited}: ${await heldBy(reader, undefined)}; the command was not run`);
    }
    throw error;
  }
  stopWatching();
  await watched;
  progress.finish(progress.shown ? `acquired ${lease} as ${locker.identity} after ${humanDuration(progress.waitedMs)}` : undefined);

  function stopWatching(): void {
    clearTimeout(start);
    watching.abort();
  }
}

/**
 * True when a fresh read shows a holder whose lease expired by its own `renewTime` on this
 * machine's clock: a sign it stopped renewing (a crash), never proof (clocks differ).
 */
async function expiredByItsClock(reader: LeaseLock, signal: AbortSignal): Promise<boolean> {
  try {
    const record = (await reader.get({ signal: AbortSignal.any([signal, AbortSignal.timeout(5000)]) }))?.record;
    const renewedAt = record?.renewTime?.getTime() ?? Number.NaN;
    if (record === undefined || record.holderIdentity === '' || !Number.isFinite(renewedAt)) return false;
    return renewedAt + record.leaseDurationSeconds * 1000 < Date.now();
  } catch (error) {
    if (signal.aborted) throw error;
    return false;
  }
}

/** `<lease> is held by <holder> since <time>, expires in <duration>`, from a fresh read (or as much as can be told). */
async function heldBy(reader: LeaseLock, signal: AbortSignal | undefined): Promise<string> {
  const lease = reader.describe();
  let snapshot: LeaseSnapshot | undefined;
  try {
    snapshot = await reader.get({ signal: signal === undefined ? AbortSignal.timeout(5000) : AbortSignal.any([signal, AbortSignal.timeout(5000)]) });
  } catch (error) {
    cliLog('reading %s to name its holder failed: %O', lease, error);
    return `${lease} is held by another holder`;
  }
  const view = snapshot === undefined ? undefined : viewRecord(snapshot.record, Date.now());
  if (view?.holder === undefined) return `${lease} is held by another holder`;
  const since = view.acquireTime === undefined ? '' : ` since ${shortTime(view.acquireTime)}`;
  const expires = view.expiresInMs !== undefined && view.expiresInMs <= 0 ? expiryText(view.expiresInMs) : `expires in ${expiryText(view.expiresInMs)}`;
  return `${lease} is held by ${view.holder}${since} (${expires})`;
}

/** Runs the command while holding the lease; resolves with the code `run` exits with. */
async function runHeld(locker: LeaseLocker, args: RunArgs, lease: string, signals: SignalTrap, stderr: ProgressStream): Promise<number> {
  const hold = locker.signal;
  const [program, ...programArgs] = args.command;
  if (hold.aborted) {
    stderr.write(`leaselocker: lost ${lease} before the command started: ${lossText(hold.reason)}; the command was not run\n`);
    return exitCodes.lost;
  }
  if (signals.received !== undefined) {
    // Between the acquisition and now, with no command to forward it to.
    stderr.write(`leaselocker: ${signals.received} received before the command started; the command was not run\n`);
    return signalExitCode(signals.received);
  }
  const child = spawn(program, programArgs, { stdio: 'inherit' });
  signals.forwardTo(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  child.on('error', (error) => cliLog('command: %s', error.message)); // also a kill() that failed
  const started = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', resolve);
  });
  if (started !== undefined) return cannotStart(program, started, stderr);
  cliLog('command started, pid %d', child.pid ?? 0);

  let lost = false;
  let killTimer: NodeJS.Timeout | undefined;
  const onLost = (): void => {
    lost = true;
    stderr.write(`leaselocker: lost ${lease}: ${lossText(hold.reason)}; stopping the command (SIGTERM, SIGKILL after ${formatDuration(args.killAfterMs)})\n`);
    stop(child, 'SIGTERM');
    killTimer = setTimeout(() => {
      stderr.write(`leaselocker: the command did not stop within ${formatDuration(args.killAfterMs)} of SIGTERM; sending SIGKILL\n`);
      stop(child, 'SIGKILL');
    }, args.killAfterMs);
  };
  hold.addEventListener('abort', onLost, { once: true });
  if (hold.aborted) onLost(); // lost while the command was starting
  const { code, signal } = await exited;
  hold.removeEventListener('abort', onLost);
  clearTimeout(killTimer);
  signals.ignore();
  const commandCode = signal === null ? (code ?? exitCodes.internal) : signalExitCode(signal);
  cliLog('command exited: code %s, signal %s', code, signal);
  if (lost) {
    stderr.write(`leaselocker: the command ended (${signal === null ? `exit code ${String(code)}` : signal}) after the hold on ${lease} was lost\n`);
    return exitCodes.lost;
  }
  return commandCode;
}

function stop(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
}

function cannotStart(program: string, error: Error, stderr: ProgressStream): number {
  const code = (error as NodeJS.ErrnoException).code;
  const notFound = code === 'ENOENT';
  stderr.write(`leaselocker: cannot run ${JSON.stringify(program)}: ${notFound ? 'command not found' : oneLine(error.message)}\n`);
  return notFound ? exitCodes.notFound : exitCodes.cannotExecute;
}

function lossText(reason: unknown): string {
  if (reason instanceof LockLostError) {
    if (reason.reason === 'taken' && (reason.holder ?? '') === '') return 'someone else released the lease';
    const colon = reason.message.indexOf('lock lost: ');
    return colon === -1 ? reason.message : reason.message.slice(colon + 'lock lost: '.length);
  }
  return reason instanceof Error ? reason.message : String(reason);
}

/** Releases the lease after the command; a failure only warns: the lease then expires by itself. */
async function release(locker: LeaseLocker, lease: string, args: RunArgs, stderr: ProgressStream): Promise<void> {
  try {
    const released = await locker.unlock();
    cliLog('release of %s: %s', lease, released ? 'done' : 'not ours any more');
  } catch (error) {
    stderr.write(`leaselocker: could not release ${lease} (${describeFailure(error).message}); it expires within ${formatDuration(args.timing.leaseDurationMs)}\n`);
  }
}
