// `npm run test:chaos`: the chaos suite against a real kube-apiserver and etcd started by the
// end-to-end harness — one run with one kube-apiserver, one with two replicas on one etcd
// (workers split between them, so waiters watch through another watch cache than the one the
// holder writes to). Prints each run's seed and table; exits non-zero on any violation.
//
//   CHAOS_SEED      replay a run (both runs use it)
//   CHAOS_SECTIONS  critical sections per run (default 1,050)
//   CHAOS_MAX_SECONDS  the time bound of each run (default 265, or 0.21 s per section if more)
//   CHAOS_RUNS      which runs: "single,ha" (default)
//   CHAOS_WORKERS   worker processes per run (default 8)
//   CHAOS_EPISODES  fault episodes to draw from (default all: storm, partition, kill, stop,
//                   restart-apiserver, restart-etcd)
import { startKubeCluster } from '../e2e/kube-cluster.js';
import { chaosEpisodes, chaosSeed, EPISODES, formatReport, runChaos, type ChaosReport } from './harness.js';
import { clusterTarget } from './targets.js';

const seed = chaosSeed();
const sections = Number(process.env['CHAOS_SECTIONS'] ?? 1_050);
const workers = Number(process.env['CHAOS_WORKERS'] ?? 8);
// Both runs together stay under 10 minutes (with the clusters' start and stop); the long mode
// scales the bound with its size.
const maxDurationMs = process.env['CHAOS_MAX_SECONDS'] === undefined ? Math.max(265_000, sections * 210) : Number(process.env['CHAOS_MAX_SECONDS']) * 1000;
if (!Number.isFinite(maxDurationMs) || maxDurationMs <= 0) throw new Error('CHAOS_MAX_SECONDS must be a positive number');
const runs = (process.env['CHAOS_RUNS'] ?? 'single,ha').split(',').map((run) => run.trim());
for (const run of runs) if (run !== 'single' && run !== 'ha') throw new Error(`CHAOS_RUNS: unknown run ${JSON.stringify(run)}`);
if (!Number.isInteger(sections) || sections < 1) throw new Error('CHAOS_SECTIONS must be a positive integer');

console.log(`chaos seed ${String(seed)} (replay: CHAOS_SEED=${String(seed)}), ${String(sections)} critical sections per run`);
const reports: ChaosReport[] = [];
for (const run of runs) {
  const apiservers = run === 'ha' ? 2 : 1;
  await using cluster = await startKubeCluster({ apiservers });
  console.log(`\n${run}: kube-apiserver ${cluster.version} × ${String(apiservers)} on one etcd`);
  const report = await runChaos(await clusterTarget(cluster), {
    label: `kube-apiserver ${cluster.version}, ${run === 'ha' ? 'two replicas' : 'one replica'}`,
    seed,
    workers,
    sections,
    maxDurationMs,
    timings: { leaseDurationMs: 4_000, renewDeadlineMs: 2_500, retryPeriodMs: 500, requestTimeoutMs: 2_000 },
    episodes: chaosEpisodes(EPISODES),
    partitionMs: 15_000,
    rates: { jitter: 0.2, latency: 0.03, reset: 0.02, error: 0.05, lostAnswer: 0.02, silentWatch: 0.2 },
    crashChance: 0.01,
    longSectionChance: 0.02,
    exitTimeoutMs: 20_000,
    log: (line) => console.log(line),
  });
  console.log(formatReport(report));
  reports.push(report);
}

const total = reports.reduce((sum, report) => sum + report.sections, 0);
const violations = reports.reduce((sum, report) => sum + report.violations.length, 0);
console.log(`\n${String(total)} critical sections in ${String(reports.length)} runs, ${String(violations)} violations (seed ${String(seed)})`);
for (const report of reports) {
  if (report.sections < sections) {
    // Not a violation: a busy machine gets through fewer sections in the time allowed.
    console.log(`warning: ${report.label} recorded ${String(report.sections)} of ${String(sections)} sections in the time allowed`);
  }
}
if (violations > 0) process.exitCode = 1;
