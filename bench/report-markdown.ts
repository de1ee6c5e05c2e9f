// results/latest.md: the table of a run, with where and when it ran and how it measured.
import type { Design } from './protocol.js';
import type { BenchResults } from './results.js';
import { runErrors } from './results.js';
import type { Row } from './targets.js';

function format(value: number | null, decimals: number): string {
  return value === null ? '—' : value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** A baseline's figure ÷ leaselocker's: how many times the library's figure the baseline's is. */
export function ratio(row: Row, baseline: Exclude<Design, 'leaselocker'>): string {
  const mine = row.values.leaselocker;
  const theirs = row.values[baseline];
  if (!row.compare || mine === null || theirs === null) return '—';
  if (mine === 0) return theirs === 0 ? '—' : '∞';
  const value = theirs / mine;
  return `${value >= 10 ? value.toFixed(0) : value.toFixed(2)}×`;
}

function verdict(pass: boolean | null): string {
  return pass === null ? '' : pass ? 'pass' : '**FAIL**';
}

/** The table; a column per design measured (`shown`), and one ratio per baseline. */
export function tableMarkdown(rows: readonly Row[], shown: readonly Design[]): string {
  const baselines = shown.filter((design): design is Exclude<Design, 'leaselocker'> => design !== 'leaselocker');
  const lines = [
    `| scenario | metric | ${shown.join(' | ')} | ${baselines.map((design) => `${design} ÷ leaselocker`).join(' | ')} | target | pass/fail |`,
    `| --- | --- | ${shown.map(() => '---:').join(' | ')} | ${baselines.map(() => '---:').join(' | ')} | --- | --- |`,
  ];
  for (const row of rows) {
    const unit = row.unit === '' ? '' : ` ${row.unit}`;
    const note = (design: Design): string => (row.notes?.[design] === undefined ? '' : ` (${row.notes[design]})`);
    const cells = [
      row.scenario,
      row.metric,
      ...shown.map((design) => (row.values[design] === null ? '—' : format(row.values[design], row.decimals) + unit) + note(design)),
      ...baselines.map((design) => ratio(row, design)),
      row.target ?? '',
      verdict(row.pass),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** What client-go is in this run, or why it is missing. */
function clientGoLine(results: BenchResults): string {
  const notRun = results.notRun['client-go'];
  if (notRun !== undefined || !results.designs.includes('client-go')) return `- client-go: not run — ${notRun ?? 'not selected'}.`;
  return `- client-go = Kubernetes' own tools/leaderelection (${results.environment.clientGo ?? 'k8s.io/client-go'}), a Go process per contender (\`peers/client-go/\`): `
    + 'lock() = LeaderElector.Run with a fresh context on a Lease lock with ReleaseOnCancel, resolved at OnStartedLeading; unlock() = cancelling that context, done when Run has returned (having released the Lease: GET + PUT). '
    + 'Waiters try every retryPeriod × random[1, 2.2) (a GET while the lease is held); the holder renews with a PUT only, retryPeriod after the previous renewal ended. '
    + 'Renewals are seen through a wrapper of the Lease lock handed to the elector (no request of its own). One clientset per process, without its client-side rate limit. Ratio = client-go ÷ leaselocker.';
}

export function reportMarkdown(results: BenchResults): string {
  const { environment: env, scenarios } = results;
  const failed = results.rows.filter((row) => row.pass === false).length;
  const judged = results.rows.filter((row) => row.pass !== null).length;
  const methods: [string, string | undefined][] = [
    ['Handoff latency and writes', scenarios.handoff?.method],
    ['Fairness', scenarios.fairness?.method],
    ['Crash takeover', scenarios.crashTakeover?.method],
    ['API cost', scenarios.apiCost?.method],
    ['Uncontended', scenarios.uncontended?.method],
    ['Scale', scenarios.scale?.method],
  ];
  const problems = [
    ...Object.entries(results.errors).map(([name, error]) => `- ${name}: ${error}`),
    ...runErrors(scenarios).map((error) => `- ${error}`),
  ];
  return [
    `# leaselocker benchmark${results.quick ? ' (--quick)' : ''}`,
    '',
    `- Date: ${results.date}; the run took ${(results.durationMs / 60_000).toFixed(1)} min.`,
    `- Server: ${env.server.kind} ${env.server.version} (${env.server.reason}), on the same machine.`,
    `- Machine: ${env.cpuModel} × ${String(env.cpuCount)}, ${(env.totalMemoryBytes / 2 ** 30).toFixed(0)} GiB, ${env.os}; Node.js ${env.node}; load average at start ${env.loadAverageAtStart.join(' / ')}.`,
    `- Library: leaselocker ${env.library.version}${env.library.commit === undefined ? '' : ` (${env.library.commit})`}, compiled; every design with leaseDuration ${String(results.timing.leaseDurationMs / 1000)} s, renewDeadline ${String(results.timing.renewDeadlineMs / 1000)} s, retryPeriod ${String(results.timing.retryPeriodMs / 1000)} s.`,
    '- polling = the Go leaselocker\'s algorithm (GET + conditional PUT per attempt and per renewal; waiters retry every retryPeriod × random[1, 2.2)), written in the benchmark on the same client, reusing connections as client-go does (and as leaselocker does). Ratio = polling ÷ leaselocker.',
    clientGoLine(results),
    `- Targets met: ${String(judged - failed)} of ${String(judged)} (judged on leaselocker).`,
    '',
    tableMarkdown(results.rows, results.designs),
    '',
    '## Method',
    '',
    ...methods.filter((entry): entry is [string, string] => entry[1] !== undefined).map(([name, method]) => `- **${name}.** ${method}`),
    ...(problems.length === 0 ? [] : ['', '## Errors', '', ...problems]),
    '',
  ].join('\n');
}
