// Handoff latency: N waiters wait (each its own process) while one process holds the lock;
// the holder unlocks; the latency is from its unlock() call to the next lock() resolving in
// another process. The former holder then queues again, so N processes always wait.
// Over the recorded handoffs it also counts the Lease writes that reached the server (see
// HandoffWrites).
import type { CostMark, CostMeter, VerbCounts } from '../cost-meter.js';
import { emptyCounts, leaseWrites, subtract } from '../cost-meter.js';
import type { Design } from '../protocol.js';
import type { Summary } from '../stats.js';
import { summarize } from '../stats.js';
import type { Worker } from '../worker-pool.js';
import type { ScenarioContext } from './context.js';
import { log, quiet, sleep, startWorker } from './context.js';

export interface HandoffRun {
  readonly design: Design;
  readonly waiters: number;
  /** Pause after each handoff before the next unlock(), for the waiters to settle. */
  readonly settleMs: number;
  readonly samplesMs: readonly number[];
  readonly summary: Summary;
  /** 'lost' events seen (a holder losing its lock: should never happen). */
  readonly lost: number;
  /** Wall time of the run, process start-up included. */
  readonly durationMs: number;
  readonly writes: HandoffWrites;
  readonly error?: string;
}

/**
 * Lease writes (POST, PUT, PATCH) in the benchmark namespace counted at the server over the
 * recorded handoffs: from a mark just before the first recorded unlock() to one after the
 * last recorded handoff had settled, so every write of every design belongs to exactly one
 * handoff — the release, every acquisition attempt (won or answered 409), renewals in
 * between, and anything else.
 */
export interface HandoffWrites {
  /** Recorded handoffs the counts span. */
  readonly handoffs: number;
  /** Every Lease request in the span, by verb, the server's own writes removed. */
  readonly byVerb: VerbCounts;
  readonly all: number;
  /**
   * The part counted between a mark just before each unlock() and one taken as soon as the
   * benchmark heard of the acquisition: the release and the attempts that had been answered
   * by then (attempts still in flight count in `all` only).
   */
  readonly releaseToAcquisition: number;
  /** Writes answered 409 Conflict. */
  readonly conflicts: number;
  /** Writes that succeeded, counted apart from the request counters (see CostMark.succeededWrites). */
  readonly succeeded: number;
  readonly allPerHandoff: number;
  readonly releaseToAcquisitionPerHandoff: number;
  readonly conflictsPerHandoff: number;
  /**
   * The same span as the workers saw it: the Lease writes they reported sending, answered or
   * not, to check the server's count (polling and client-go; leaselocker does not tell).
   */
  readonly reportedByWorkers?: { readonly all: number; readonly conflicts: number; readonly unanswered: number };
  /** Mean time one mark (a scrape of the server's counters) took. */
  readonly markMs: number;
}

export interface HandoffResult {
  readonly method: string;
  readonly runs: readonly HandoffRun[];
}

const handoffTimeoutMs = 30_000;
const stepTimeoutMs = 15_000;

/**
 * After each handoff the next unlock() waits until the former holder called lock() again,
 * plus a pause: 50 waiters processing one release (each writing, 49 getting 409 Conflict)
 * and the former holder's new list + watch must not still be running on 2 cores when the
 * next release comes, or the benchmark measures its own backlog.
 */
export function settleMs(waiters: number): number {
  return 100 + 6 * waiters;
}

export async function runHandoff(context: ScenarioContext): Promise<HandoffResult> {
  const { handoff } = context.config;
  const runs: HandoffRun[] = [];
  const meter = await context.server.costMeter();
  try {
    for (const waiters of handoff.waiterCounts) {
      for (const design of context.designs) {
        const run = await runOne(context, meter, design, waiters, handoff.samples[design], handoff.warmup);
        const { summary, writes } = run;
        const reported = writes.reportedByWorkers;
        log(`${design}, ${String(waiters)} waiter(s): ${String(summary.count)} handoffs, p50 ${summary.p50.toFixed(1)} ms, p95 ${summary.p95.toFixed(1)} ms, p99 ${summary.p99.toFixed(1)} ms; `
          + `lease writes per handoff ${writes.allPerHandoff.toFixed(2)} (release → acquisition ${writes.releaseToAcquisitionPerHandoff.toFixed(2)}), 409 ${writes.conflictsPerHandoff.toFixed(2)}; `
          + `server counted ${String(writes.all)} writes (${String(writes.conflicts)} × 409, ${String(writes.succeeded)} seen succeed)`
          + `${reported === undefined ? '' : `, workers reported ${String(reported.all)} (${String(reported.conflicts)} × 409)`} `
          + `(${(run.durationMs / 1000).toFixed(0)} s)${run.error === undefined ? '' : ` — ERROR: ${run.error}`}`);
        runs.push(run);
      }
    }
  } finally {
    meter.dispose();
  }
  return {
    method: 'Each contender is its own process with one locker (compiled library, default timing; client-go: the Go program, lock = LeaderElector.Run with a fresh context, unlock = cancelling it with ReleaseOnCancel). '
      + 'Latency = the next holder\'s timestamp after lock() resolved (client-go: at OnStartedLeading) minus the releasing holder\'s timestamp just before unlock() (performance.timeOrigin + performance.now() in each process; time.Now() in Go). '
      + `The first ${String(handoff.warmup)} handoffs of each run are not recorded. After each handoff the former holder calls lock() again and the next unlock() waits 100 ms + 6 ms per waiter, so that the waiters (and, with 50 waiters on 2 cores, the machine) are idle again. `
      + `Lease writes: ${meter.method}; counted from a mark just before the first recorded unlock() to one after the last recorded handoff had settled, so every write belongs to one handoff `
      + '(the release, every acquisition attempt whether it won or got 409 Conflict, renewals, anything else), ÷ recorded handoffs. '
      + '"Release to acquisition" = the part counted between a mark just before each unlock() and one taken as soon as the benchmark heard of the acquisition (attempts answered later count in "all" only). '
      + 'Cross-checks in latest.json: the writes that succeeded, seen apart from the request counters (Lease watch events in the namespace; the emulator\'s answers), and, for polling and client-go, the writes the workers report sending (polling: each create/update of its Lease lock; client-go: each Create/Update through the wrapped Lease lock).',
    runs,
  };
}

function windowCounts(from: CostMark, to: CostMark): VerbCounts {
  return subtract(subtract(to.total, from.total), subtract(to.background, from.background));
}

async function runOne(context: ScenarioContext, meter: CostMeter, design: Design, waiters: number, samples: number, warmup: number): Promise<HandoffRun> {
  const { pool, signal } = context;
  const lease = `handoff-${design}-${String(waiters)}`;
  const settle = settleMs(waiters);
  const totalHandoffs = warmup + samples;
  // A generous bound: every handoff plus its settle, at the slowest expected pace.
  const deadlineMs = 120_000 + totalHandoffs * (settle + (design === 'leaselocker' ? 1_000 : 6_000));
  const started = Date.now();
  const workers: Worker[] = [];
  const samplesMs: number[] = [];
  let lost = 0;
  const reportedWrites: { at: number; status: number }[] = [];
  const stopCounting = pool.onMessage((_worker, message) => {
    if (message.type === 'lost') lost += 1;
    if (message.type === 'wrote') reportedWrites.push({ at: message.at, status: message.status });
  });
  let first: CostMark | undefined;
  let last: CostMark | undefined;
  let releaseToAcquisition = 0;
  let markMs = 0;
  let marks = 0;
  const mark = async (): Promise<CostMark> => {
    const started = performance.now();
    const taken = await meter.mark();
    markMs += performance.now() - started;
    marks += 1;
    return taken;
  };
  let error: string | undefined;
  try {
    for (let i = 0; i <= waiters; i += 1) {
      workers.push(await startWorker(context, 'contender', { design, role: 'contender', identity: `${lease}-${String(i)}`, deadlineMs, params: { lease } }));
    }
    await pool.all(workers, 'ready', 60_000 + 2_000 * waiters, signal);
    let holder = workers[0] as Worker;
    const firstAcquired = pool.next((worker, message) => worker === holder && message.type === 'acquired', stepTimeoutMs, signal);
    holder.send({ type: 'lock' });
    await firstAcquired;
    const queued = pool.all(workers.slice(1), 'locking', stepTimeoutMs, signal);
    for (const worker of workers.slice(1)) worker.send({ type: 'lock' });
    await queued;
    await sleep(3 * settle, signal);

    for (let i = 0; i < totalHandoffs; i += 1) {
      const recorded = i >= warmup;
      // Before the unlock() and after the acquisition, not in between: a scrape of the
      // server's counters must not sit inside the latency measured.
      const beforeUnlock = recorded ? await mark() : undefined;
      first ??= beforeUnlock;
      const releaser = holder;
      const unlocking = quiet(pool.next((worker, message) => worker === releaser && message.type === 'unlocking', stepTimeoutMs, signal));
      const released = quiet(pool.next((worker, message) => worker === releaser && message.type === 'released', handoffTimeoutMs, signal));
      const acquired = quiet(pool.next((worker, message) => worker !== releaser && message.type === 'acquired', handoffTimeoutMs, signal));
      releaser.send({ type: 'unlock' });
      const next = await acquired;
      if (beforeUnlock !== undefined) releaseToAcquisition += leaseWrites(windowCounts(beforeUnlock, await mark()));
      const [start, end] = await Promise.all([unlocking, released]);
      if (end.message.type === 'released' && !end.message.released) throw new Error(`${releaser.name}: unlock() did not release the lease`);
      if (recorded) samplesMs.push(next.message.at - start.message.at);
      const requeued = pool.next((worker, message) => worker === releaser && message.type === 'locking', stepTimeoutMs, signal);
      releaser.send({ type: 'lock' });
      await requeued;
      holder = next.worker;
      await sleep(settle, signal);
    }
    last = await mark();
  } catch (caught) {
    error = caught instanceof Error ? caught.message : String(caught);
  } finally {
    stopCounting();
    await pool.stopAll(workers, 10_000);
  }
  const writes = handoffWrites(design, first, last, samplesMs.length, releaseToAcquisition, reportedWrites, marks === 0 ? Number.NaN : markMs / marks);
  return { design, waiters, settleMs: settle, samplesMs, summary: summarize(samplesMs), lost, durationMs: Date.now() - started, writes, ...(error === undefined ? {} : { error }) };
}

function handoffWrites(design: Design, first: CostMark | undefined, last: CostMark | undefined, handoffs: number, releaseToAcquisition: number, reported: readonly { at: number; status: number }[], markMs: number): HandoffWrites {
  // A run that failed part-way has no closing mark: its writes are unknown, not zero.
  const complete = first !== undefined && last !== undefined;
  const byVerb = complete ? windowCounts(first, last) : emptyCounts();
  const all = complete ? leaseWrites(byVerb) : Number.NaN;
  const conflicts = complete ? last.writeConflicts - first.writeConflicts : Number.NaN;
  const succeeded = complete ? last.succeededWrites - first.succeededWrites : Number.NaN;
  const inSpan = complete ? reported.filter((write) => write.at > first.at && write.at <= last.at) : [];
  return {
    handoffs,
    byVerb,
    all,
    releaseToAcquisition: complete ? releaseToAcquisition : Number.NaN,
    conflicts,
    succeeded,
    allPerHandoff: all / handoffs,
    releaseToAcquisitionPerHandoff: complete ? releaseToAcquisition / handoffs : Number.NaN,
    conflictsPerHandoff: conflicts / handoffs,
    ...(design === 'leaselocker' ? {} : {
      reportedByWorkers: {
        all: inSpan.length,
        conflicts: inSpan.filter((write) => write.status === 409).length,
        unanswered: inSpan.filter((write) => write.status === 0).length,
      },
    }),
    markMs,
  };
}
