// Fairness under continuous contention: W + 1 processes on one Lease, each looping lock() →
// hold → unlock() → lock() again at once, for a fixed time. The loop runs inside each worker
// (the 'loop' command), so nothing but the lock design stands between an unlock() and the
// next lock(). For every acquisition: how many acquisitions by others happened between that
// process's lock() call and its acquisition (its wait, in handoffs); and whether the process
// that released last took the lease back while another process was already waiting.
import type { Design } from '../protocol.js';
import type { Summary } from '../stats.js';
import { summarize } from '../stats.js';
import type { Worker } from '../worker-pool.js';
import type { ScenarioContext } from './context.js';
import { log, sleep, startWorker } from './context.js';

export interface FairnessRun {
  readonly design: Design;
  /** Processes contending: waiters + 1. */
  readonly processes: number;
  /** From the loops' start to the end of the measurement (the run's time, or the acquisition cap). */
  readonly measuredMs: number;
  /** True when the acquisition cap ended the measurement before its time. */
  readonly capped: boolean;
  readonly acquisitions: number;
  /** Acquisitions by another process than the one before. */
  readonly handoffs: number;
  readonly handoffsPerSecond: number;
  /** Every lock() call's wait in handoffs, finished or not (see `unfinished`). */
  readonly waitInHandoffs: Summary;
  /** The longest wait, in handoffs and in time; `unfinished` when that lock() call was still waiting at the end. */
  readonly longestWait: { readonly handoffs: number; readonly ms: number; readonly unfinished: boolean };
  /** lock() calls still waiting at the end, and processes that never acquired during the run. */
  readonly unfinishedWaits: number;
  readonly neverAcquired: number;
  /** Acquisitions by the process that released last while another process had called lock() before that release and was still waiting. */
  readonly selfReacquisitionsWhileOthersWait: number;
  /** Acquisitions per process, in the order the processes were started. */
  readonly acquisitionsByProcess: readonly number[];
  /** 'lost' events (a holder losing its lock: should never happen). */
  readonly lost: number;
  readonly error?: string;
}

export interface FairnessResult {
  readonly method: string;
  readonly waiters: number;
  readonly holdMs: number;
  readonly runs: readonly FairnessRun[];
}

export async function runFairness(context: ScenarioContext): Promise<FairnessResult> {
  const { waiters, durationMs, holdMs, maxAcquisitions } = context.config.fairness;
  const runs: FairnessRun[] = [];
  for (const design of context.designs) {
    const run = await runOne(context, design);
    const longest = run.longestWait;
    log(`${design}, ${String(run.processes)} processes: ${String(run.acquisitions)} acquisitions, ${run.handoffsPerSecond.toFixed(1)} handoffs/s; wait in handoffs p99 ${String(run.waitInHandoffs.p99)}, `
      + `longest ${String(longest.handoffs)} (${(longest.ms / 1000).toFixed(1)} s${longest.unfinished ? ', still waiting at the end' : ''}); `
      + `${String(run.selfReacquisitionsWhileOthersWait)} self-reacquisitions while others wait; ${String(run.neverAcquired)} process(es) never acquired${run.error === undefined ? '' : ` — ERROR: ${run.error}`}`);
    runs.push(run);
  }
  return {
    method: `${String(waiters)} waiters + 1, each its own process with one locker (default timing) on one Lease; each loops lock() → hold ${String(holdMs)} ms → unlock() → lock() again at once, inside the worker (client-go: in the Go program), `
      + `for ${String(durationMs / 1000)} s per design (or until ${String(maxAcquisitions)} acquisitions). Every step is stamped in its process (same clock). `
      + 'Wait in handoffs of a lock() call = acquisitions by other processes between that call and its acquisition; a call still waiting at the end counts the acquisitions up to the end (its wait is at least that) and is marked when it is the longest. '
      + 'Handoffs per second = acquisitions by another process than the previous holder ÷ the measured time. '
      + 'Self-reacquisition while others wait = an acquisition by the process that released last, when another process had called lock() before that release and had not acquired yet. '
      + 'A design whose releaser keeps the lease shows as processes that never acquired and a longest wait as long as the run.',
    waiters,
    holdMs,
    runs,
  };
}

interface LockCall {
  readonly worker: number;
  readonly calledAt: number;
  acquiredAt?: number;
}

interface Acquisition {
  readonly worker: number;
  readonly at: number;
  readonly call: LockCall;
}

async function runOne(context: ScenarioContext, design: Design): Promise<FairnessRun> {
  const { pool, signal } = context;
  const { waiters, durationMs, holdMs, maxAcquisitions } = context.config.fairness;
  const processes = waiters + 1;
  const lease = `fairness-${design}`;
  const startupMs = 60_000 + 2_000 * processes;
  // Past the scenario's end, a worker exits by itself whatever happens.
  const deadlineMs = startupMs + durationMs + 30_000;
  const workers: Worker[] = [];
  const index = new Map<Worker, number>();
  const calls: LockCall[] = [];
  const pending = new Map<number, LockCall>();
  const acquisitions: Acquisition[] = [];
  const releases: { worker: number; at: number }[] = [];
  let lost = 0;
  let capReached: (() => void) | undefined;
  const capped = new Promise<void>((resolve) => (capReached = resolve));
  let endAt = Number.POSITIVE_INFINITY;
  const stopListening = pool.onMessage((worker, message) => {
    const i = index.get(worker);
    if (i === undefined || message.at > endAt) return;
    switch (message.type) {
      case 'locking': {
        const call: LockCall = { worker: i, calledAt: message.at };
        calls.push(call);
        pending.set(i, call);
        break;
      }
      case 'acquired': {
        const call = pending.get(i);
        if (call === undefined) break;
        pending.delete(i);
        call.acquiredAt = message.at;
        acquisitions.push({ worker: i, at: message.at, call });
        if (acquisitions.length >= maxAcquisitions) {
          endAt = Math.min(endAt, message.at);
          capReached?.();
        }
        break;
      }
      case 'unlocking':
        releases.push({ worker: i, at: message.at });
        break;
      case 'lost':
        lost += 1;
        break;
      default:
        break;
    }
  });
  let error: string | undefined;
  let startAt = Number.NaN;
  try {
    for (let i = 0; i < processes; i += 1) {
      const worker = await startWorker(context, 'contender', { design, role: 'contender', identity: `${lease}-${String(i)}`, deadlineMs, params: { lease } });
      workers.push(worker);
      index.set(worker, i);
    }
    await pool.all(workers, 'ready', startupMs, signal);
    startAt = performance.timeOrigin + performance.now();
    const untilAt = startAt + durationMs;
    for (const worker of workers) worker.send({ type: 'loop', holdMs, untilAt });
    let timer: NodeJS.Timeout | undefined;
    // A failing worker rejects this pool.next (the pool fails every waiter); otherwise it times out quietly.
    const failure = pool.next(() => false, durationMs + 1_000, signal).catch((caught: unknown) => {
      if (!(caught instanceof Error) || !caught.message.startsWith('no matching worker message')) throw caught;
    });
    await Promise.race([capped, failure, new Promise((resolve) => (timer = setTimeout(resolve, durationMs)))]);
    clearTimeout(timer);
    endAt = Math.min(endAt, untilAt, performance.timeOrigin + performance.now());
    // Reports stamped before the end may still be on their way.
    await sleep(200, signal);
  } catch (caught) {
    error = caught instanceof Error ? caught.message : String(caught);
    if (!Number.isFinite(endAt)) endAt = performance.timeOrigin + performance.now();
  } finally {
    stopListening();
    await pool.stopAll(workers, 10_000);
  }
  return { design, processes, lost, ...analyse(processes, startAt, endAt, calls, acquisitions, releases, durationMs, maxAcquisitions), ...(error === undefined ? {} : { error }) };
}

/** The figures of a run from its stamped steps, everything after `endAt` left out. */
function analyse(
  processes: number,
  startAt: number,
  endAt: number,
  calls: readonly LockCall[],
  unsorted: readonly Acquisition[],
  releases: readonly { worker: number; at: number }[],
  durationMs: number,
  maxAcquisitions: number,
): Omit<FairnessRun, 'design' | 'processes' | 'lost' | 'error'> {
  const acquisitions = unsorted.filter((acquisition) => acquisition.at <= endAt).sort((a, b) => a.at - b.at);
  const times = acquisitions.map((acquisition) => acquisition.at);
  // Acquisitions strictly between two instants: the lease has one holder at a time, so
  // none of them is by the process waiting in between.
  const between = (from: number, to: number): number => lowerBound(times, to) - upperBound(times, from);
  const waits: { handoffs: number; ms: number; unfinished: boolean }[] = [];
  for (const call of calls) {
    if (call.calledAt > endAt) continue;
    const acquiredAt = call.acquiredAt !== undefined && call.acquiredAt <= endAt ? call.acquiredAt : undefined;
    const until = acquiredAt ?? endAt;
    waits.push({ handoffs: between(call.calledAt, until), ms: until - call.calledAt, unfinished: acquiredAt === undefined });
  }
  const longest = waits.reduce<{ handoffs: number; ms: number; unfinished: boolean } | undefined>(
    (best, wait) => (best === undefined || wait.handoffs > best.handoffs || (wait.handoffs === best.handoffs && wait.ms > best.ms) ? wait : best),
    undefined,
  );
  let handoffs = 0;
  let selfReacquisitions = 0;
  const sortedReleases = [...releases].sort((a, b) => a.at - b.at);
  for (let k = 1; k < acquisitions.length; k += 1) {
    const previous = acquisitions[k - 1] as Acquisition;
    const current = acquisitions[k] as Acquisition;
    if (previous.worker !== current.worker) {
      handoffs += 1;
      continue;
    }
    // The release between the two: the last one by this process before it acquired again.
    const release = sortedReleases[upperBoundBy(sortedReleases, current.at, (entry) => entry.at) - 1];
    const releasedAt = release !== undefined && release.worker === current.worker && release.at >= previous.at ? release.at : previous.at;
    const othersWaiting = calls.some((call) => call.worker !== current.worker && call.calledAt < releasedAt && (call.acquiredAt ?? Number.POSITIVE_INFINITY) > current.at);
    if (othersWaiting) selfReacquisitions += 1;
  }
  const byProcess = Array.from({ length: processes }, () => 0);
  for (const acquisition of acquisitions) byProcess[acquisition.worker] = (byProcess[acquisition.worker] ?? 0) + 1;
  const measuredMs = Number.isFinite(startAt) ? endAt - startAt : Number.NaN;
  return {
    measuredMs,
    capped: acquisitions.length >= maxAcquisitions && measuredMs < durationMs,
    acquisitions: acquisitions.length,
    handoffs,
    handoffsPerSecond: handoffs / (measuredMs / 1000),
    waitInHandoffs: summarize(waits.map((wait) => wait.handoffs)),
    longestWait: longest ?? { handoffs: Number.NaN, ms: Number.NaN, unfinished: false },
    unfinishedWaits: waits.filter((wait) => wait.unfinished).length,
    neverAcquired: byProcess.filter((count) => count === 0).length,
    selfReacquisitionsWhileOthersWait: selfReacquisitions,
    acquisitionsByProcess: byProcess,
  };
}

/** How many of `sorted` are < `value`. */
function lowerBound(sorted: readonly number[], value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] as number) < value) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** How many of `sorted` are ≤ `value`. */
function upperBound(sorted: readonly number[], value: number): number {
  return upperBoundBy(sorted, value, (entry) => entry);
}

function upperBoundBy<T>(sorted: readonly T[], value: number, key: (entry: T) => number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (key(sorted[middle] as T) <= value) low = middle + 1;
    else high = middle;
  }
  return low;
}
