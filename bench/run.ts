// `npm run bench`: leaselocker against the polling design of the Go leaselocker and against
// client-go's leader election itself, on a real kube-apiserver (or the emulator), with worker
// processes. Writes bench/results/.
import type { BenchConfig, ScenarioName } from './config.js';
import { parseArgs, usage, UsageError } from './config.js';
import type { Environment } from './environment.js';
import { describeEnvironment } from './environment.js';
import type { ClientGoPeer } from './peer-client-go.js';
import { prepareClientGo } from './peer-client-go.js';
import { prepareCode } from './prepare.js';
import type { Design } from './protocol.js';
import { defaultTiming, designs } from './protocol.js';
import { reportMarkdown, tableMarkdown } from './report-markdown.js';
import { handoffSvg } from './report-svg.js';
import type { BenchResults } from './results.js';
import { removeResults, resultsJson, runErrors, writeResults } from './results.js';
import { runApiCost } from './scenarios/api-cost.js';
import { runCrashTakeover } from './scenarios/crash-takeover.js';
import { runFairness } from './scenarios/fairness.js';
import { runHandoff } from './scenarios/handoff.js';
import { runScale } from './scenarios/scale.js';
import { runUncontended } from './scenarios/uncontended.js';
import { startTargetServer } from './target-server.js';
import type { Row } from './targets.js';
import { costRows, crashRows, fairnessRows, handoffRows, scaleRows, uncontendedRows } from './targets.js';
import { WorkerPool } from './worker-pool.js';

type Scenarios = { -readonly [K in keyof BenchResults['scenarios']]: BenchResults['scenarios'][K] };

function readConfig(): BenchConfig {
  try {
    return parseArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n${usage}`);
    process.exit(2);
  }
}

/** Runs the scenarios; whatever happens, the workers, the server and the compiled code are gone afterwards. */
interface Measured {
  readonly scenarios: Scenarios;
  readonly errors: Record<string, string>;
  readonly durationsMs: Record<string, number>;
  readonly environment: Environment;
}

async function measure(config: BenchConfig, clientGo: ClientGoPeer, designsRun: readonly Design[], signal: AbortSignal): Promise<Measured> {
  const code = prepareCode();
  try {
    const server = await startTargetServer(config.server, signal);
    console.log(`Server: ${server.kind} ${server.version} (${server.reason}).`);
    const environment = describeEnvironment({ kind: server.kind, version: server.version, reason: server.reason }, clientGo.available ? clientGo.version : undefined);
    // Node workers run the transpiled scripts; the client-go worker is the Go program, told the script's name.
    using pool = new WorkerPool((script, design) =>
      design === 'client-go' && clientGo.available ? { kind: 'stdio', command: clientGo.binary, args: [script] } : { kind: 'node', script: code.workerScript(script) });
    const context = { config, server, pool, libraryUrl: code.libraryUrl, designs: designsRun, signal };
    const scenarios: Scenarios = {};
    const errors: Record<string, string> = {};
    const durationsMs: Record<string, number> = {};
    const steps: Readonly<Record<ScenarioName, () => Promise<unknown>>> = {
      'uncontended': async () => (scenarios.uncontended = await runUncontended(context)),
      'api-cost': async () => (scenarios.apiCost = await runApiCost(context)),
      'handoff': async () => (scenarios.handoff = await runHandoff(context)),
      'fairness': async () => (scenarios.fairness = await runFairness(context)),
      'crash-takeover': async () => (scenarios.crashTakeover = await runCrashTakeover(context)),
      'scale': async () => (scenarios.scale = await runScale(context)),
    };
    try {
      for (const name of config.scenarios) {
        if (signal.aborted) {
          errors[name] = 'not run: the run was aborted';
          continue;
        }
        console.log(`\n${name}`);
        const start = Date.now();
        try {
          await steps[name]();
        } catch (error) {
          errors[name] = error instanceof Error ? error.message : String(error);
          console.log(`  ERROR: ${errors[name]}`);
        }
        durationsMs[name] = Date.now() - start;
        console.log(`  (${(durationsMs[name] / 1000).toFixed(0)} s)`);
      }
    } finally {
      await server.stop();
    }
    return { scenarios, errors, durationsMs, environment };
  } finally {
    code.dispose();
  }
}

const config = readConfig();
// Before the run's clock and deadline start: building it the first time takes minutes.
const clientGo = prepareClientGo();
const notRun: Partial<Record<Design, string>> = clientGo.available ? {} : { 'client-go': clientGo.reason };
if (!clientGo.available) console.log(`client-go contender: not run — ${clientGo.reason}.`);
const designsRun = designs.filter((design) => notRun[design] === undefined);
const started = Date.now();
const run = new AbortController();
const deadline = setTimeout(() => run.abort(new Error(`the run passed its ${String(config.runDeadlineMs / 60_000)}-minute deadline`)), config.runDeadlineMs);
// Ctrl-C: exit at once; exit hooks kill the workers and the cluster.
process.once('SIGINT', () => {
  console.error('\nInterrupted.');
  process.exit(130);
});

console.log(`leaselocker benchmark${config.quick ? ' (--quick)' : ''}: ${config.scenarios.join(', ')}`);
const { scenarios, errors, durationsMs, environment } = await measure(config, clientGo, designsRun, run.signal);
clearTimeout(deadline);
if (!clientGo.available && clientGo.failed) errors['client-go'] = clientGo.reason;

// The table in the order of the brief, whatever order the scenarios ran in.
const rows: Row[] = [
  ...(scenarios.handoff === undefined ? [] : handoffRows(scenarios.handoff)),
  ...(scenarios.fairness === undefined ? [] : fairnessRows(scenarios.fairness)),
  ...(scenarios.crashTakeover === undefined ? [] : crashRows(scenarios.crashTakeover)),
  ...(scenarios.apiCost === undefined ? [] : costRows(scenarios.apiCost)),
  ...(scenarios.uncontended === undefined ? [] : uncontendedRows(scenarios.uncontended)),
  ...(scenarios.scale === undefined ? [] : scaleRows(scenarios.scale)),
];
const results: BenchResults = {
  schema: 1,
  date: new Date(started).toISOString(),
  quick: config.quick,
  durationMs: Date.now() - started,
  scenarioDurationsMs: durationsMs,
  environment,
  timing: defaultTiming,
  designs: designsRun,
  notRun,
  scenarios,
  errors,
  rows,
};
const written = [writeResults('latest.json', resultsJson(results)), writeResults('latest.md', reportMarkdown(results))];
if (scenarios.handoff === undefined) {
  removeResults('handoff-latency.svg'); // it would belong to another run
} else {
  const { server } = environment;
  const subtitle = `${server.kind} ${server.version}, ${environment.cpuModel} × ${String(environment.cpuCount)}, ${results.date.slice(0, 10)}${config.quick ? ', --quick' : ''}`;
  written.push(writeResults('handoff-latency.svg', handoffSvg(scenarios.handoff, subtitle)));
}
console.log(`\n${tableMarkdown(rows, designsRun)}\n`);
console.log(`Took ${((Date.now() - started) / 60_000).toFixed(1)} min. Wrote ${written.join(', ')}.`);
process.exitCode = Object.keys(errors).length + runErrors(scenarios).length > 0 ? 1 : 0;
