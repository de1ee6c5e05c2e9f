// results/latest.md: the table of a run, with where and when it ran and how it measured.
import type { BenchResults } from './results.js';
import { runErrors } from './results.js';
import type { Row } from './targets.js';

function format(value: number | null, decimals: number): string {
  return value === null ? '—' : value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** polling ÷ leaselocker: how many times the baseline's figure is the library's. */
export function ratio(row: Row): string {
  if (!row.compare || row.leaselocker === null || row.polling === null) return '—';
  if (row.leaselocker === 0) return row.polling === 0 ? '—' : '∞';
  const value = row.polling / row.leaselocker;
  return `${value >= 10 ? value.toFixed(0) : value.toFixed(2)}×`;
}

function verdict(pass: boolean | null): string {
  return pass === null ? '' : pass ? 'pass' : '**FAIL**';
}

export function tableMarkdown(rows: readonly Row[]): string {
  const lines = [
    '| scenario | metric | leaselocker | polling | ratio | target | pass/fail |',
    '| --- | --- | ---: | ---: | ---: | --- | --- |',
  ];
  for (const row of rows) {
    const unit = row.unit === '' ? '' : ` ${row.unit}`;
    const cells = [row.scenario, row.metric, format(row.leaselocker, row.decimals) + unit, format(row.polling, row.decimals) + unit, ratio(row), row.target ?? '', verdict(row.pass)];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

export function reportMarkdown(results: BenchResults): string {
  const { environment: env, scenarios } = results;
  const failed = results.rows.filter((row) => row.pass === false).length;
  const judged = results.rows.filter((row) => row.pass !== null).length;
  const methods: [string, string | undefined][] = [
    ['Handoff latency', scenarios.handoff?.method],
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
    `- Library: leaselocker ${env.library.version}${env.library.commit === undefined ? '' : ` (${env.library.commit})`}, compiled; both designs with leaseDuration ${String(results.timing.leaseDurationMs / 1000)} s, renewDeadline ${String(results.timing.renewDeadlineMs / 1000)} s, retryPeriod ${String(results.timing.retryPeriodMs / 1000)} s.`,
    '- polling = the Go leaselocker\'s algorithm (GET + conditional PUT per attempt and per renewal; waiters retry every retryPeriod × random[1, 2.2)), written in the benchmark on the same client, reusing connections as client-go does (and as leaselocker does). Ratio = polling ÷ leaselocker.',
    `- Targets met: ${String(judged - failed)} of ${String(judged)}.`,
    '',
    tableMarkdown(results.rows),
    '',
    '## Method',
    '',
    ...methods.filter((entry): entry is [string, string] => entry[1] !== undefined).map(([name, method]) => `- **${name}.** ${method}`),
    ...(problems.length === 0 ? [] : ['', '## Errors', '', ...problems]),
    '',
  ].join('\n');
}
