// Uncontended: one process, one Lease nobody else uses, lock() + unlock() back to back.
import type { Design, UncontendedResult } from '../protocol.js';
import type { Summary } from '../stats.js';
import { summarize } from '../stats.js';
import type { ScenarioContext } from './context.js';
import { log, startWorker } from './context.js';

export interface UncontendedRun {
  readonly design: Design;
  readonly cycle: Summary;
  readonly lock: Summary;
  readonly unlock: Summary;
  readonly cyclesPerSecond: number;
  readonly raw?: UncontendedResult;
  readonly error?: string;
}

export interface UncontendedSummary {
  readonly method: string;
  readonly runs: readonly UncontendedRun[];
}

export async function runUncontended(context: ScenarioContext): Promise<UncontendedSummary> {
  const { warmupCycles, maxCycles, maxDurationMs } = context.config.uncontended;
  const runs: UncontendedRun[] = [];
  for (const design of context.designs) {
    const run = await runOne(context, design);
    log(`${design}: ${String(run.cycle.count)} cycles, p50 ${run.cycle.p50.toFixed(1)} ms, p99 ${run.cycle.p99.toFixed(1)} ms, ${run.cyclesPerSecond.toFixed(1)} cycles/s${run.error === undefined ? '' : ` — ERROR: ${run.error}`}`);
    runs.push(run);
  }
  return {
    method: `One process, one locker, one Lease of its own; ${String(warmupCycles)} warm-up cycles, then lock() + unlock() back to back for up to ${String(maxCycles)} cycles or ${String(maxDurationMs / 1000)} s. `
      + 'Cycle latency from before lock() to after unlock() resolved; cycles/s = cycles ÷ their wall time.',
    runs,
  };
}

async function runOne(context: ScenarioContext, design: Design): Promise<UncontendedRun> {
  const { pool, signal, config } = context;
  const params = { lease: `uncontended-${design}`, ...config.uncontended };
  const timeoutMs = params.maxDurationMs + 60_000;
  const worker = await startWorker(context, 'uncontended', { design, role: 'uncontended', identity: `uncontended-${design}`, deadlineMs: timeoutMs + 10_000, params });
  try {
    const { message } = await pool.next((from, candidate) => from === worker && candidate.type === 'uncontended-result', timeoutMs, signal);
    if (message.type !== 'uncontended-result') throw new Error('unreachable');
    const raw = message.result;
    return {
      design,
      cycle: summarize(raw.cycleMs),
      lock: summarize(raw.lockMs),
      unlock: summarize(raw.unlockMs),
      cyclesPerSecond: raw.cycleMs.length / (raw.elapsedMs / 1000),
      raw,
    };
  } catch (caught) {
    const empty = summarize([]);
    return { design, cycle: empty, lock: empty, unlock: empty, cyclesPerSecond: Number.NaN, error: caught instanceof Error ? caught.message : String(caught) };
  } finally {
    await pool.stopAll([worker], 10_000);
  }
}
