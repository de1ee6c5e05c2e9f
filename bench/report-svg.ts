// results/handoff-latency.svg: a percentile plot of the handoff latencies, one panel per
// number of waiters, leaselocker against the polling designs. The percentile axis is in "nines"
// (0, 90, 99, 99.9 %) so the tail is as visible as the median; latency is on a log axis.
import type { Design } from './protocol.js';
import { designs } from './protocol.js';
import type { HandoffResult } from './scenarios/handoff.js';

const colors: Readonly<Record<Design, string>> = { 'leaselocker': '#1b6ec2', 'polling': '#d9480f', 'client-go': '#2b8a3e' };
const labels: Readonly<Record<Design, string>> = {
  'leaselocker': 'leaselocker (watch)',
  'polling': 'polling (Go leaselocker\'s algorithm)',
  'client-go': 'client-go leaderelection',
};
/** Legend space per design, in pixels. */
const legendWidths: Readonly<Record<Design, number>> = { 'leaselocker': 170, 'polling': 250, 'client-go': 200 };
const panelWidth = 330;
const plotHeight = 270;
const margin = { top: 132, right: 18, bottom: 58, left: 72 };
const maxNines = 3; // 99.9 %

/** The targets, drawn as points the curve must pass below: p50 ≤ 15 ms with 10 waiters, and so on. */
const targets: Readonly<Record<number, readonly { percentile: number; ms: number }[]>> = {
  10: [{ percentile: 50, ms: 15 }, { percentile: 99, ms: 50 }],
  50: [{ percentile: 99, ms: 100 }],
};

const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function text(x: number, y: number, content: string, attributes = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attributes}>${escape(content)}</text>`;
}

/** How many nines a percentile has: 90 % → 1, 99 % → 2. */
const nines = (percentile: number): number => Math.min(maxNines, -Math.log10(1 - percentile / 100));

function msLabel(ms: number): string {
  return ms >= 1000 ? `${String(ms / 1000)} s` : `${String(ms)} ms`;
}

export function handoffSvg(result: HandoffResult, subtitle: string): string {
  const waiterCounts = [...new Set(result.runs.map((run) => run.waiters))];
  const all = result.runs.flatMap((run) => run.samplesMs).filter((ms) => ms > 0);
  const low = Math.pow(10, Math.floor(Math.log10(Math.max(0.1, Math.min(...all, 10)))));
  const high = Math.pow(10, Math.ceil(Math.log10(Math.max(...all, 300))));
  const plotWidth = panelWidth - margin.left - margin.right;
  const width = panelWidth * waiterCounts.length + 10;
  const height = margin.top + plotHeight + margin.bottom;
  const x = (percentile: number): number => (plotWidth * nines(percentile)) / maxNines;
  const y = (ms: number): number => plotHeight * (1 - (Math.log10(Math.max(ms, low)) - Math.log10(low)) / (Math.log10(high) - Math.log10(low)));

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${String(width)}" height="${String(height)}" viewBox="0 0 ${String(width)} ${String(height)}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${String(width)}" height="${String(height)}" fill="#ffffff"/>`,
    text(16, 24, 'Handoff latency: unlock() called → next lock() resolved in another process', 'font-size="16" font-weight="bold"'),
    text(16, 43, subtitle, 'fill="#555"'),
  ];
  let legendX = 16;
  for (const design of designs.filter((candidate) => result.runs.some((run) => run.design === candidate))) {
    parts.push(`<line x1="${String(legendX)}" y1="64" x2="${String(legendX + 24)}" y2="64" stroke="${colors[design]}" stroke-width="2.5"/>`);
    parts.push(text(legendX + 30, 68, labels[design]));
    legendX += legendWidths[design];
  }
  parts.push('<circle cx="22" cy="84" r="4" fill="none" stroke="#222" stroke-width="1.5"/>');
  parts.push(text(32, 88, 'target (the curve should pass at or below)'));

  waiterCounts.forEach((waiters, index) => {
    const runs = result.runs.filter((run) => run.waiters === waiters);
    const panel: string[] = [`<g transform="translate(${String(index * panelWidth + margin.left)},${String(margin.top)})">`];
    for (let decade = low; decade <= high * 1.0001; decade *= 10) {
      panel.push(`<line x1="0" y1="${y(decade).toFixed(1)}" x2="${String(plotWidth)}" y2="${y(decade).toFixed(1)}" stroke="#e3e3e3"/>`);
      panel.push(text(-6, y(decade) + 4, msLabel(decade), 'text-anchor="end" fill="#333"'));
    }
    // 0 % is the left edge, too close to 50 % on this axis to be labelled as well.
    for (const percentile of [50, 90, 99, 99.9]) {
      panel.push(`<line x1="${x(percentile).toFixed(1)}" y1="0" x2="${x(percentile).toFixed(1)}" y2="${String(plotHeight)}" stroke="#e3e3e3"/>`);
      panel.push(text(x(percentile), plotHeight + 16, `${String(percentile)} %`, 'text-anchor="middle" fill="#333"'));
    }
    panel.push(`<rect x="0" y="0" width="${String(plotWidth)}" height="${String(plotHeight)}" fill="none" stroke="#999"/>`);
    for (const run of runs) {
      const sorted = [...run.samplesMs].sort((a, b) => a - b);
      // Each sample at the midpoint of the percentile band it stands for, joined as steps.
      const points = sorted.flatMap((ms, i) => {
        const from = (100 * i) / sorted.length;
        const to = (100 * (i + 0.5)) / sorted.length;
        return [`${x(from).toFixed(1)},${y(ms).toFixed(1)}`, `${x(to).toFixed(1)},${y(ms).toFixed(1)}`];
      });
      if (points.length > 0) panel.push(`<polyline fill="none" stroke="${colors[run.design]}" stroke-width="2" points="${points.join(' ')}"/>`);
    }
    for (const target of targets[waiters] ?? []) {
      const cx = x(target.percentile);
      const cy = y(target.ms);
      panel.push(`<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="4.5" fill="none" stroke="#222" stroke-width="1.5"/>`);
      panel.push(text(cx - 7, cy - 8, `p${String(target.percentile)} ≤ ${msLabel(target.ms)}`, 'text-anchor="end" font-size="11" fill="#222"'));
    }
    const counts = runs.map((run) => `${run.design} ${String(run.samplesMs.length)}`).join(', ');
    panel.push(text(plotWidth / 2, -22, `${String(waiters)} waiter${waiters === 1 ? '' : 's'}`, 'text-anchor="middle" font-size="14" font-weight="bold"'));
    panel.push(text(plotWidth / 2, -7, `handoffs: ${counts}`, 'text-anchor="middle" font-size="11" fill="#555"'));
    panel.push(text(plotWidth / 2, plotHeight + 36, 'percentile', 'text-anchor="middle" fill="#333"'));
    if (index === 0) panel.push(text(-58, plotHeight / 2, 'latency (log scale)', `text-anchor="middle" fill="#333" transform="rotate(-90 -58 ${String(plotHeight / 2)})"`));
    panel.push('</g>');
    parts.push(...panel);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
