// The whole result of a run, as written to results/latest.json.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { Environment } from './environment.js';
import type { Design, LockTiming } from './protocol.js';
import type { CostResult } from './scenarios/api-cost.js';
import type { CrashResult } from './scenarios/crash-takeover.js';
import type { FairnessResult } from './scenarios/fairness.js';
import type { HandoffResult } from './scenarios/handoff.js';
import type { ScaleSummary } from './scenarios/scale.js';
import type { UncontendedSummary } from './scenarios/uncontended.js';
import type { Row } from './targets.js';

export interface BenchResults {
  readonly schema: 1;
  readonly date: string;
  readonly quick: boolean;
  readonly durationMs: number;
  readonly scenarioDurationsMs: Readonly<Record<string, number>>;
  readonly environment: Environment;
  /** Every design runs with these (their defaults). */
  readonly timing: LockTiming;
  /** The designs measured: client-go only when its program could be built. */
  readonly designs: readonly Design[];
  /** Designs not measured, and why. */
  readonly notRun: Readonly<Partial<Record<Design, string>>>;
  readonly scenarios: {
    readonly uncontended?: UncontendedSummary;
    readonly apiCost?: CostResult;
    readonly handoff?: HandoffResult;
    readonly fairness?: FairnessResult;
    readonly crashTakeover?: CrashResult;
    readonly scale?: ScaleSummary;
  };
  /** Scenarios that could not run at all, by name. */
  readonly errors: Readonly<Record<string, string>>;
  readonly rows: readonly Row[];
}

/** Errors of single runs (a design, a waiter count) inside scenarios that otherwise ran. */
export function runErrors(scenarios: BenchResults['scenarios']): string[] {
  const runs = [
    ...(scenarios.handoff?.runs ?? []).map((run) => ({ ...run, label: `handoff, ${run.design}, ${String(run.waiters)} waiters` })),
    ...(scenarios.fairness?.runs ?? []).map((run) => ({ ...run, label: `fairness, ${run.design}` })),
    ...(scenarios.crashTakeover?.runs ?? []).map((run) => ({ ...run, label: `crash takeover, ${run.design}` })),
    ...(scenarios.apiCost?.runs ?? []).map((run) => ({ ...run, label: `API cost, ${run.design}` })),
    ...(scenarios.uncontended?.runs ?? []).map((run) => ({ ...run, label: `uncontended, ${run.design}` })),
    ...(scenarios.scale?.runs ?? []).map((run) => ({ ...run, label: `scale, ${run.design}` })),
  ];
  return runs.flatMap((run) => (run.error === undefined ? [] : [`${run.label}: ${run.error}`]));
}

/**
 * The results as JSON: numbers to the microsecond (timestamps have no finer meaning), and
 * arrays of numbers on one line each, so that thousands of samples stay readable.
 */
export function resultsJson(results: BenchResults): string {
  const text = JSON.stringify(results, (_key, value: unknown) => (typeof value === 'number' && !Number.isInteger(value) ? Math.round(value * 1000) / 1000 : value), 2);
  return `${text.replace(/\[\s+([-\d.e+,\s]+?)\s+\]/g, (_match, inner: string) => `[${inner.replace(/\s+/g, ' ')}]`)}\n`;
}

export const resultsDir = new URL('./results/', import.meta.url);

export function writeResults(name: string, content: string): string {
  mkdirSync(resultsDir, { recursive: true });
  const file = new URL(name, resultsDir);
  writeFileSync(file, content);
  return `bench/results/${name}`;
}

export function removeResults(name: string): void {
  rmSync(new URL(name, resultsDir), { force: true });
}
