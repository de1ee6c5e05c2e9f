// Handoff latency: N waiters wait (each its own process) while one process holds the lock;
// the holder unlocks; the latency is from its unlock() call to the next lock() resolving in
// another process. The former holder then queues again, so N processes always wait.
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
  readonly error?: string;
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
  for (const waiters of handoff.waiterCounts) {
    for (const design of context.designs) {
      const run = await runOne(context, design, waiters, handoff.samples[design], handoff.warmup);
      const { summary } = run;
      log(`${design}, ${String(waiters)} waiter(s): ${String(summary.count)} handoffs, p50 ${summary.p50.toFixed(1)} ms, p95 ${summary.p95.toFixed(1)} ms, p99 ${summary.p99.toFixed(1)} ms (${(run.durationMs / 1000).toFixed(0)} s)${run.error === undefined ? '' : ` — ERROR: ${run.error}`}`);
      runs.push(run);
    }
  }
  return {
    method: 'Each contender is its own process with one locker (compiled library, default timing; client-go: the Go program, lock = LeaderElector.Run with a fresh context, unlock = cancelling it with ReleaseOnCancel). '
      + 'Latency = the next holder\'s timestamp after lock() resolved (client-go: at OnStartedLeading) minus the releasing holder\'s timestamp just before unlock() (performance.timeOrigin + performance.now() in each process; time.Now() in Go). '
      + `The first ${String(handoff.warmup)} handoffs of each run are not recorded. After each handoff the former holder calls lock() again and the next unlock() waits 100 ms + 6 ms per waiter, so that the waiters (and, with 50 waiters on 2 cores, the machine) are idle again.`,
    runs,
  };
}

async function runOne(context: ScenarioContext, design: Design, waiters: number, samples: number, warmup: number): Promise<HandoffRun> {
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
  const stopCounting = pool.onMessage((_worker, message) => {
    if (message.type === 'lost') lost += 1;
  });
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
      const releaser = holder;
      const unlocking = quiet(pool.next((worker, message) => worker === releaser && message.type === 'unlocking', stepTimeoutMs, signal));
      const released = quiet(pool.next((worker, message) => worker === releaser && message.type === 'released', handoffTimeoutMs, signal));
      const acquired = quiet(pool.next((worker, message) => worker !== releaser && message.type === 'acquired', handoffTimeoutMs, signal));
      releaser.send({ type: 'unlock' });
      const [start, next, end] = await Promise.all([unlocking, acquired, released]);
      if (end.message.type === 'released' && !end.message.released) throw new Error(`${releaser.name}: unlock() did not release the lease`);
      if (i >= warmup) samplesMs.push(next.message.at - start.message.at);
      const requeued = pool.next((worker, message) => worker === releaser && message.type === 'locking', stepTimeoutMs, signal);
      releaser.send({ type: 'lock' });
      await requeued;
      holder = next.worker;
      await sleep(settle, signal);
    }
  } catch (caught) {
    error = caught instanceof Error ? caught.message : String(caught);
  } finally {
    stopCounting();
    await pool.stopAll(workers, 10_000);
  }
  return { design, waiters, settleMs: settle, samplesMs, summary: summarize(samplesMs), lost, durationMs: Date.now() - started, ...(error === undefined ? {} : { error }) };
}
