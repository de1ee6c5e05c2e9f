// API cost: Lease requests per minute, counted at the server, of one holder and of one
// waiter. Phase A: the holder alone; phase B: the holder and one waiter. Each window is
// aligned on the holder's renewals: it opens and closes half a retry period after a renewal
// report and so holds exactly K renewals, and its length is K renewal periods (from the
// holder's reports), so a periodic cost is counted without an off-by-one or a rounding of the
// window. Holder = window A. Waiter = its own user in window B on the emulator; on a real
// server, which cannot tell users apart, the counts of window B minus those of window A
// (both hold the same K renewals of the holder).
import type { CostMark, CostMeter, VerbCounts } from '../cost-meter.js';
import { emptyCounts, scale, subtract } from '../cost-meter.js';
import type { Design } from '../protocol.js';
import { defaultTiming } from '../protocol.js';
import type { Worker } from '../worker-pool.js';
import type { ScenarioContext } from './context.js';
import { log, quiet, sleep, startWorker } from './context.js';

export interface CostWindow {
  /** K renewal periods of the holder: from the report before the window opened to the last one in it. */
  readonly durationMs: number;
  /** From the first counter reading to the second. */
  readonly markedMs: number;
  readonly renewals: number;
  /** Requests in the window (server background removed), by verb. */
  readonly counts: VerbCounts;
  /** The server's own background, already removed from `counts`. */
  readonly background: VerbCounts;
  /** By user, on the emulator. */
  readonly byUser?: Readonly<Record<string, VerbCounts>>;
  /** Lease watches open on the server when the window closed. */
  readonly openWatchesAtEnd: number;
}

export interface CostRun {
  readonly design: Design;
  readonly holderAlone: CostWindow;
  readonly holderAndWaiter: CostWindow;
  /** Per minute, by verb. */
  readonly holderPerMinute: VerbCounts;
  readonly waiterPerMinute: VerbCounts;
  /** Lease watches the waiter opened and keeps open. */
  readonly waiterOpenWatches: number;
  readonly error?: string;
}

export interface CostResult {
  readonly method: string;
  readonly runs: readonly CostRun[];
}

const { retryPeriodMs } = defaultTiming;

export async function runApiCost(context: ScenarioContext): Promise<CostResult> {
  const meter = await context.server.costMeter();
  const runs: CostRun[] = [];
  try {
    for (const design of context.designs) {
      const run = await runOne(context, meter, design);
      log(`${design}: holder ${describe(run.holderPerMinute)}; waiter ${describe(run.waiterPerMinute)}, ${String(run.waiterOpenWatches)} open watch(es)${run.error === undefined ? '' : ` — ERROR: ${run.error}`}`);
      runs.push(run);
    }
  } finally {
    meter.dispose();
  }
  const k = context.config.apiCost.renewalsPerWindow;
  return {
    method: `${meter.method}. Phase A: one holder process alone; phase B: the same holder plus one waiter process. Each window spans exactly ${String(k)} of the holder's renewals `
      + '(it opens and closes half a retry period after a renewal report); its length, for the per-minute figures, is those renewal periods as the holder reported them. '
      + (context.server.kind === 'emulator'
        ? 'Holder = its own user in window A; waiter = its own user in window B. Open watches = open watches after B minus after A.'
        : 'Holder = window A; waiter = the counts of window B minus those of window A (both hold the same renewals of the holder), per minute of window B. Open watches = the open-watch gauge after B minus after A.'),
    runs,
  };
}

function describe(counts: VerbCounts): string {
  const parts = Object.entries(counts).filter(([, value]) => Math.abs(value) >= 0.05).map(([verb, value]) => `${value.toFixed(1)} ${verb}`);
  return parts.length === 0 ? '0 requests/min' : `${parts.join(' + ')} /min`;
}

async function runOne(context: ScenarioContext, meter: CostMeter, design: Design): Promise<CostRun> {
  const { pool, signal, server } = context;
  const k = context.config.apiCost.renewalsPerWindow;
  const lease = `cost-${design}`;
  const deadlineMs = 120_000 + 3 * k * retryPeriodMs;
  const workers: Worker[] = [];
  let renewals = 0;
  let lastRenewalAt = Number.NaN;
  let holder: Worker | undefined;
  const stopCounting = pool.onMessage((worker, message) => {
    if (worker !== holder || message.type !== 'renewed') return;
    renewals += 1;
    lastRenewalAt = message.at;
  });
  const renewal = async (n: number): Promise<void> => {
    const target = renewals + n;
    while (renewals < target) {
      await pool.next((worker, message) => worker === holder && message.type === 'renewed', 3 * retryPeriodMs, signal);
    }
  };
  const window = async (): Promise<CostWindow> => {
    await renewal(1);
    const first = renewals;
    const openedAt = lastRenewalAt;
    await sleep(retryPeriodMs / 2, signal);
    const from = await meter.mark();
    await renewal(k - (renewals - first));
    const closedAt = lastRenewalAt;
    await sleep(retryPeriodMs / 2, signal);
    const to = await meter.mark();
    if (renewals - first !== k) throw new Error(`window misaligned: ${String(renewals - first)} renewals instead of ${String(k)}`);
    return toWindow(from, to, k, closedAt - openedAt);
  };
  const empty: CostWindow = { durationMs: 0, markedMs: 0, renewals: 0, counts: emptyCounts(), background: emptyCounts(), openWatchesAtEnd: 0 };
  try {
    holder = await startWorker(context, 'contender', { design, role: 'holder', identity: `${lease}-holder`, deadlineMs, params: { lease } });
    workers.push(holder);
    const current = holder;
    await pool.all([current], 'ready', 60_000, signal);
    const acquired = quiet(pool.next((worker, message) => worker === current && message.type === 'acquired', 30_000, signal));
    current.send({ type: 'lock' });
    await acquired;
    const holderAlone = await window();

    const waiter = await startWorker(context, 'contender', { design, role: 'waiter', identity: `${lease}-waiter`, deadlineMs, params: { lease } });
    workers.push(waiter);
    await pool.all([waiter], 'ready', 60_000, signal);
    const locking = pool.next((worker, message) => worker === waiter && message.type === 'locking', 15_000, signal);
    waiter.send({ type: 'lock' });
    await locking;
    const holderAndWaiter = await window();

    const holderCounts = holderAlone.byUser?.[server.userOf('holder')] ?? holderAlone.counts;
    const waiterCounts = holderAndWaiter.byUser?.[server.userOf('waiter')] ?? subtract(holderAndWaiter.counts, holderAlone.counts);
    return {
      design,
      holderAlone,
      holderAndWaiter,
      holderPerMinute: scale(holderCounts, 60_000 / holderAlone.durationMs),
      waiterPerMinute: scale(waiterCounts, 60_000 / holderAndWaiter.durationMs),
      waiterOpenWatches: holderAndWaiter.openWatchesAtEnd - holderAlone.openWatchesAtEnd,
    };
  } catch (caught) {
    const error = caught instanceof Error ? caught.message : String(caught);
    return { design, holderAlone: empty, holderAndWaiter: empty, holderPerMinute: empty.counts, waiterPerMinute: empty.counts, waiterOpenWatches: 0, error };
  } finally {
    stopCounting();
    await pool.stopAll(workers, 10_000);
  }
}

function toWindow(from: CostMark, to: CostMark, renewals: number, durationMs: number): CostWindow {
  const byUser: Record<string, VerbCounts> = {};
  for (const [user, counts] of to.byUser ?? []) {
    const before = from.byUser?.get(user);
    if (before !== undefined) byUser[user] = subtract(counts, before);
  }
  return {
    durationMs,
    markedMs: to.at - from.at,
    openWatchesAtEnd: to.openWatches,
    renewals,
    counts: subtract(subtract(to.total, from.total), subtract(to.background, from.background)),
    background: subtract(to.background, from.background),
    ...(to.byUser === undefined ? {} : { byUser }),
  };
}
