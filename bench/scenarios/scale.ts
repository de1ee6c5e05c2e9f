// Scale: one process holding many Leases — its CPU share, peak RSS, and how late its
// renewals start.
import { cpus } from 'node:os';
import type { Design, ScaleResult } from '../protocol.js';
import { defaultTiming } from '../protocol.js';
import type { Summary } from '../stats.js';
import { summarize } from '../stats.js';
import type { ScenarioContext } from './context.js';
import { log, startWorker, within } from './context.js';

export interface ScaleRun {
  readonly design: Design;
  readonly leases: number;
  /** CPU time over wall time, % of one core. */
  readonly cpuPercentOfCore: number;
  /** The worker's CPU time over the window ÷ the renewals it measured in it. */
  readonly cpuMsPerRenewal: number;
  readonly maxRssMb: number;
  readonly peakRssWindowMb: number;
  readonly lateness: Summary;
  /** Renewals that started later than retryPeriod + 100 ms after the previous one. */
  readonly lateOver100Ms: number;
  /** The whole machine's CPU use during the window (server included), % of all cores. */
  readonly machineBusyPercent: number;
  /** The worker's figures; lateness as a histogram (whole ms → renewals), as renewal starts have ms resolution. */
  readonly raw?: Omit<ScaleResult, 'latenessMs'> & { readonly latenessHistogramMs: Readonly<Record<string, number>> };
  readonly error?: string;
}

export interface ScaleSummary {
  readonly method: string;
  readonly runs: readonly ScaleRun[];
}

const lateThresholdMs = 100;

export async function runScale(context: ScenarioContext): Promise<ScaleSummary> {
  const { leases, measureMs, warmupMs } = context.config.scale;
  const runs: ScaleRun[] = [];
  for (const design of context.designs) {
    const run = await runOne(context, design);
    log(`${design}: ${String(run.leases)} leases, CPU ${run.cpuPercentOfCore.toFixed(1)} % of a core, max RSS ${run.maxRssMb.toFixed(0)} MB, renewal lateness p99 ${run.lateness.p99.toFixed(0)} ms, max ${run.lateness.max.toFixed(0)} ms, ${String(run.lateOver100Ms)} over 100 ms, machine ${run.machineBusyPercent.toFixed(0)} % busy${run.error === undefined ? '' : ` — ERROR: ${run.error}`}`);
    runs.push(run);
  }
  return {
    method: `One process, ${String(leases)} lockers (one KubeConfig, default timing), acquired 20 at a time, held ${String(warmupMs / 1000)} s, then measured for ${String(measureMs / 1000)} s; `
      + 'client-go: one Go process, one clientset (client-side rate limit off), one LeaderElector per Lease. '
      + 'CPU = process.cpuUsage() (getrusage in Go; user + system) ÷ wall time; CPU per renewal = that CPU time ÷ the renewals measured in the window (everything the process did in the window is charged to its renewals); RSS = the process\'s lifetime peak (resourceUsage().maxRSS; getrusage maxrss in Go); '
      + 'lateness of each renewal = its start − (the previous renewal\'s start + retryPeriod), starts taken from the renewTime each \'renewed\' event carries (leaselocker; client-go, which takes it as the renewal attempt starts) or the round start (polling); '
      + 'in both polling designs the next round waits retryPeriod after the previous one ended (client-go\'s wait.Until), so a renewal\'s own duration shows as lateness of the next. '
      + 'Machine busy = all cores, from os.cpus(), during the window (the API server runs on the same 2 cores).',
    runs,
  };
}

function histogram(values: readonly number[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) {
    const key = String(Math.round(value));
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

function cpuTimes(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const cpu of cpus()) {
    const { user, nice, sys, irq, idle } = cpu.times;
    busy += user + nice + sys + irq;
    total += user + nice + sys + irq + idle;
  }
  return { busy, total };
}

async function runOne(context: ScenarioContext, design: Design): Promise<ScaleRun> {
  const { pool, signal, config } = context;
  const params = { leasePrefix: `scale-${design}`, retryPeriodMs: defaultTiming.retryPeriodMs, ...config.scale };
  const deadlineMs = 300_000 + params.measureMs;
  const worker = await startWorker(context, 'scale', { design, role: 'scale', identity: `scale-${design}`, deadlineMs, params });
  try {
    await pool.next((from, message) => from === worker && message.type === 'measuring', 240_000, signal);
    const before = cpuTimes();
    const { message } = await pool.next((from, candidate) => from === worker && candidate.type === 'scale-result', params.measureMs + 60_000, signal);
    const after = cpuTimes();
    if (message.type !== 'scale-result') throw new Error('unreachable');
    const raw = message.result;
    const { latenessMs, ...rest } = raw;
    await within(worker.exited, 10_000);
    return {
      design,
      leases: raw.leases,
      cpuPercentOfCore: (100 * raw.cpuMs) / raw.measuredMs,
      cpuMsPerRenewal: raw.cpuMs / raw.renewals,
      maxRssMb: raw.maxRssBytes / 1e6,
      peakRssWindowMb: raw.peakRssWindowBytes / 1e6,
      lateness: summarize(raw.latenessMs),
      lateOver100Ms: raw.latenessMs.filter((ms) => ms > lateThresholdMs).length,
      machineBusyPercent: (100 * (after.busy - before.busy)) / (after.total - before.total),
      raw: { ...rest, latenessHistogramMs: histogram(latenessMs) },
    };
  } catch (caught) {
    return {
      design, leases: params.leases, cpuPercentOfCore: Number.NaN, cpuMsPerRenewal: Number.NaN, maxRssMb: Number.NaN, peakRssWindowMb: Number.NaN, lateness: summarize([]),
      lateOver100Ms: Number.NaN, machineBusyPercent: Number.NaN, error: caught instanceof Error ? caught.message : String(caught),
    };
  } finally {
    await pool.stopAll([worker], 10_000);
  }
}
