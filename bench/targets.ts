// The figures of a run side by side, each with its target where the design sets one.
// Pass/fail judges the leaselocker figure at the precision it is shown with.
import { reads, requestsBesidesWatch, writes } from './cost-meter.js';
import type { Design } from './protocol.js';
import { designs } from './protocol.js';
import type { CostResult } from './scenarios/api-cost.js';
import type { CrashResult } from './scenarios/crash-takeover.js';
import type { FairnessResult } from './scenarios/fairness.js';
import type { HandoffResult } from './scenarios/handoff.js';
import type { ScaleSummary } from './scenarios/scale.js';
import type { UncontendedSummary } from './scenarios/uncontended.js';
import { summarize } from './stats.js';

export interface Row {
  readonly scenario: string;
  readonly metric: string;
  readonly unit: string;
  /** Decimals shown. */
  readonly decimals: number;
  /** By design, as shown; null where the design did not run or the figure is missing. */
  readonly values: Readonly<Record<Design, number | null>>;
  readonly target: string | null;
  readonly pass: boolean | null;
  /** False for counts of the run itself (samples, repetitions), where a ratio means nothing. */
  readonly compare: boolean;
  /** Said after a design's figure, e.g. that it is a lower bound. */
  readonly notes?: Readonly<Partial<Record<Design, string>>>;
}

interface Target {
  readonly text: string;
  readonly ok: (value: number) => boolean;
}

const atMost = (limit: number, unit: string): Target => ({ text: `≤ ${String(limit)}${unit}`, ok: (value) => value <= limit });
const zero: Target = { text: '0', ok: (value) => value === 0 };

function row(scenario: string, metric: string, unit: string, decimals: number, values: Readonly<Record<Design, number | undefined>>, target?: Target): Row {
  return { ...figure(scenario, metric, unit, decimals, values, target), compare: true };
}

/** A count that describes the run (samples taken), shown without a ratio. */
function count(scenario: string, metric: string, values: Readonly<Record<Design, number | undefined>>): Row {
  return { ...figure(scenario, metric, '', 0, values), compare: false };
}

function figure(scenario: string, metric: string, unit: string, decimals: number, values: Readonly<Record<Design, number | undefined>>, target?: Target): Omit<Row, 'compare'> {
  const shown = (value: number | undefined): number | null =>
    value === undefined || !Number.isFinite(value) ? null : Number(value.toFixed(decimals)) + 0; // + 0 turns -0 into 0
  const shownValues = Object.fromEntries(designs.map((design) => [design, shown(values[design])])) as Record<Design, number | null>;
  const leaselocker = shownValues.leaselocker;
  return {
    scenario,
    metric,
    unit,
    decimals,
    values: shownValues,
    target: target?.text ?? null,
    pass: target === undefined ? null : leaselocker !== null && target.ok(leaselocker),
  };
}

function byDesign<R extends { readonly design: Design }>(runs: readonly R[], value: (run: R) => number): Record<Design, number | undefined> {
  const find = (design: Design): number | undefined => {
    const run = runs.find((candidate) => candidate.design === design);
    return run === undefined ? undefined : value(run);
  };
  return Object.fromEntries(designs.map((design) => [design, find(design)])) as Record<Design, number | undefined>;
}

export function handoffRows(result: HandoffResult): Row[] {
  const rows: Row[] = [];
  const waiterCounts = [...new Set(result.runs.map((run) => run.waiters))];
  for (const waiters of waiterCounts) {
    const runs = result.runs.filter((run) => run.waiters === waiters);
    const scenario = `Handoff, ${String(waiters)} waiter${waiters === 1 ? '' : 's'}`;
    const samples = byDesign(runs, (run) => run.summary.count);
    rows.push(count(scenario, 'handoffs measured', samples));
    rows.push(row(scenario, 'p50', 'ms', 1, byDesign(runs, (run) => run.summary.p50), waiters === 10 ? atMost(15, ' ms') : undefined));
    rows.push(row(scenario, 'p95', 'ms', 1, byDesign(runs, (run) => run.summary.p95)));
    const p99Target = waiters === 10 ? atMost(50, ' ms') : waiters === 50 ? atMost(100, ' ms') : undefined;
    rows.push(row(scenario, 'p99', 'ms', 1, byDesign(runs, (run) => run.summary.p99), p99Target));
    rows.push(row(scenario, 'lease writes per handoff, release to acquisition', '', 2, byDesign(runs, (run) => run.writes.releaseToAcquisitionPerHandoff)));
    const writesTarget = waiters === 20 || waiters === 50 ? atMost(3, '') : undefined;
    rows.push(row(scenario, 'lease writes per handoff, all (releases, acquisition attempts, any other writes, renewals)', '', 2, byDesign(runs, (run) => run.writes.allPerHandoff), writesTarget));
    rows.push(row(scenario, '409 conflicts per handoff', '', 2, byDesign(runs, (run) => run.writes.conflictsPerHandoff)));
  }
  return rows;
}

export function fairnessRows(result: FairnessResult): Row[] {
  const scenario = `Fairness, ${String(result.waiters)} waiters + 1 contending`;
  // A run that failed part-way shows no figures: its counts would read as a verdict.
  const runs = result.runs.filter((run) => run.error === undefined);
  const unfinished = Object.fromEntries(runs.filter((run) => run.longestWait.unfinished).map((run) => [run.design, 'still waiting at the end'])) as Partial<Record<Design, string>>;
  const longestTarget = atMost(2 * result.waiters, '');
  return [
    count(scenario, 'acquisitions measured', byDesign(runs, (run) => run.acquisitions)),
    row(scenario, 'handoffs per second', '/s', 1, byDesign(runs, (run) => run.handoffsPerSecond)),
    row(scenario, 'wait in handoffs, p99', '', 0, byDesign(runs, (run) => run.waitInHandoffs.p99)),
    { ...row(scenario, 'wait in handoffs, longest', '', 0, byDesign(runs, (run) => run.longestWait.handoffs), longestTarget), notes: unfinished },
    { ...row(scenario, 'longest wait, time', 's', 1, byDesign(runs, (run) => run.longestWait.ms / 1000)), notes: unfinished },
    row(scenario, 'self-reacquisitions while others wait', '', 0, byDesign(runs, (run) => run.selfReacquisitionsWhileOthersWait), zero),
    count(scenario, 'processes that never acquired', byDesign(runs, (run) => run.neverAcquired)),
  ];
}

export function crashRows(result: CrashResult): Row[] {
  const scenario = 'Crash takeover (SIGKILL)';
  const beyond = (run: CrashResult['runs'][number]): ReturnType<typeof summarize> => summarize(run.takeovers.map((takeover) => takeover.beyondLeaseMs));
  return [
    count(scenario, 'repetitions', byDesign(result.runs, (run) => run.takeovers.length)),
    row(scenario, 'beyond leaseDuration, median', 'ms', 0, byDesign(result.runs, (run) => beyond(run).p50)),
    row(scenario, 'beyond leaseDuration, worst', 'ms', 0, byDesign(result.runs, (run) => beyond(run).max), atMost(250, ' ms')),
  ];
}

export function costRows(result: CostResult): Row[] {
  const scenario = 'API cost';
  return [
    row(scenario, 'holder: writes per minute', '/min', 1, byDesign(result.runs, (run) => writes(run.holderPerMinute)), atMost(30, '')),
    row(scenario, 'holder: reads per minute', '/min', 1, byDesign(result.runs, (run) => reads(run.holderPerMinute)), zero),
    row(scenario, 'waiter: requests per minute besides the watch', '/min', 1, byDesign(result.runs, (run) => requestsBesidesWatch(run.waiterPerMinute)), zero),
    count(scenario, 'waiter: open watches', byDesign(result.runs, (run) => run.waiterOpenWatches)),
  ];
}

export function uncontendedRows(result: UncontendedSummary): Row[] {
  const scenario = 'Uncontended lock() + unlock()';
  return [
    row(scenario, 'p50', 'ms', 1, byDesign(result.runs, (run) => run.cycle.p50)),
    row(scenario, 'p95', 'ms', 1, byDesign(result.runs, (run) => run.cycle.p95)),
    row(scenario, 'p99', 'ms', 1, byDesign(result.runs, (run) => run.cycle.p99)),
    row(scenario, 'cycles per second', '/s', 1, byDesign(result.runs, (run) => run.cyclesPerSecond)),
  ];
}

export function scaleRows(result: ScaleSummary): Row[] {
  const leases = result.runs[0]?.leases ?? 0;
  const scenario = `${leases.toLocaleString('en-US')} leases held by one process`;
  return [
    row(scenario, 'CPU, % of one core', '%', 1, byDesign(result.runs, (run) => run.cpuPercentOfCore), atMost(12.5, ' %')),
    row(scenario, 'client CPU per renewal', 'ms', 3, byDesign(result.runs, (run) => run.cpuMsPerRenewal), atMost(0.25, ' ms')),
    row(scenario, 'peak RSS', 'MB', 0, byDesign(result.runs, (run) => run.maxRssMb), atMost(150, ' MB')),
    row(scenario, 'renewal lateness p99', 'ms', 0, byDesign(result.runs, (run) => run.lateness.p99)),
    row(scenario, 'renewal lateness max', 'ms', 0, byDesign(result.runs, (run) => run.lateness.max), atMost(100, ' ms')),
    row(scenario, 'renewals later than retryPeriod + 100 ms', '', 0, byDesign(result.runs, (run) => run.lateOver100Ms), zero),
    row(scenario, 'leases lost while held', '', 0, byDesign(result.runs, (run) => run.raw?.lost ?? Number.NaN), zero),
    count(scenario, 'renewals measured', byDesign(result.runs, (run) => run.raw?.renewals ?? Number.NaN)),
    row(scenario, 'machine CPU busy (server included), % of all cores', '%', 0, byDesign(result.runs, (run) => run.machineBusyPercent)),
  ];
}
