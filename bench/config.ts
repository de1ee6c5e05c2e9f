// Command-line flags and the sample counts of a full or a --quick run.
import type { Design } from './protocol.js';
import type { ServerChoice } from './target-server.js';

export const scenarioNames = ['uncontended', 'api-cost', 'handoff', 'fairness', 'crash-takeover', 'scale'] as const;
export type ScenarioName = (typeof scenarioNames)[number];

export interface BenchConfig {
  readonly quick: boolean;
  readonly server: ServerChoice;
  readonly scenarios: readonly ScenarioName[];
  /** The whole run is aborted after this long. */
  readonly runDeadlineMs: number;
  readonly handoff: {
    readonly waiterCounts: readonly number[];
    /** Per design: the polling designs hand off in seconds, leaselocker in milliseconds. */
    readonly samples: Readonly<Record<Design, number>>;
    /** Handoffs run first and not recorded (connections, JIT). */
    readonly warmup: number;
  };
  /** W waiters + 1 looping lock() → hold → unlock() for `durationMs` per design, or until `maxAcquisitions`. */
  readonly fairness: { readonly waiters: number; readonly durationMs: number; readonly holdMs: number; readonly maxAcquisitions: number };
  readonly crashTakeover: { readonly repetitions: number; readonly waiters: number };
  /** Each API-cost window spans this many of the holder's renewals. */
  readonly apiCost: { readonly renewalsPerWindow: number };
  readonly uncontended: { readonly warmupCycles: number; readonly maxCycles: number; readonly maxDurationMs: number };
  readonly scale: { readonly leases: number; readonly warmupMs: number; readonly measureMs: number; readonly concurrency: number };
}

export const usage = `Usage: npm run bench -- [--quick] [--real | --emulator] [--only=${scenarioNames.join(',')}]
  --quick      fewer samples, shorter windows, no 50-waiter handoff (about 5 minutes)
  --real       use a real kube-apiserver (fail if it cannot be started)
  --emulator   use the built-in Lease API emulator
  --only=LIST  run only these scenarios`;

export function parseArgs(args: readonly string[]): BenchConfig {
  let quick = false;
  let server: ServerChoice = 'auto';
  let scenarios: readonly ScenarioName[] = scenarioNames;
  for (const arg of args) {
    if (arg === '--quick') quick = true;
    else if (arg === '--real') server = 'real';
    else if (arg === '--emulator') server = 'emulator';
    else if (arg.startsWith('--only=')) {
      const names = arg.slice('--only='.length).split(',');
      const unknown = names.filter((name) => !(scenarioNames as readonly string[]).includes(name));
      if (unknown.length > 0) throw new UsageError(`unknown scenario ${unknown.join(', ')}`);
      scenarios = scenarioNames.filter((name) => names.includes(name));
    } else throw new UsageError(`unknown argument ${arg}`);
  }
  return quick ? quickConfig(server, scenarios) : fullConfig(server, scenarios);
}

export class UsageError extends Error {}

function fullConfig(server: ServerChoice, scenarios: readonly ScenarioName[]): BenchConfig {
  return {
    quick: false,
    server,
    scenarios,
    runDeadlineMs: 35 * 60_000,
    handoff: { waiterCounts: [1, 10, 20, 50], samples: { 'leaselocker': 150, 'polling': 20, 'client-go': 20 }, warmup: 3 },
    fairness: { waiters: 20, durationMs: 60_000, holdMs: 20, maxAcquisitions: 4_000 },
    crashTakeover: { repetitions: 3, waiters: 2 },
    apiCost: { renewalsPerWindow: 8 },
    uncontended: { warmupCycles: 10, maxCycles: 2_000, maxDurationMs: 10_000 },
    scale: { leases: 1_000, warmupMs: 4_000, measureMs: 45_000, concurrency: 20 },
  };
}

function quickConfig(server: ServerChoice, scenarios: readonly ScenarioName[]): BenchConfig {
  return {
    quick: true,
    server,
    scenarios,
    runDeadlineMs: 12 * 60_000,
    // 50 waiters only in a full run: starting 51 processes twice takes most of a minute.
    handoff: { waiterCounts: [1, 10, 20], samples: { 'leaselocker': 20, 'polling': 3, 'client-go': 3 }, warmup: 1 },
    fairness: { waiters: 10, durationMs: 15_000, holdMs: 20, maxAcquisitions: 1_500 },
    crashTakeover: { repetitions: 1, waiters: 2 },
    apiCost: { renewalsPerWindow: 3 },
    uncontended: { warmupCycles: 5, maxCycles: 300, maxDurationMs: 3_000 },
    scale: { leases: 200, warmupMs: 3_000, measureMs: 8_000, concurrency: 20 },
  };
}
