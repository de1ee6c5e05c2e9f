// The chaos suite against the Lease API emulator, in `npm test`: eight processes on the built
// library contend for one Lease through fault proxies (latency, resets, 5xx/429, lost answers,
// silent watches, partitions) while the holder is killed and frozen; the checker must find no
// overlap, no unannounced loss, no wrongful fencing, no stall after a heal and no stuck worker.
// CHAOS_SEED replays a run; CHAOS_SECTIONS sets its size; CHAOS_EPISODES picks the fault episodes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { startLeaseApiEmulator } from '../src/testing/index.js';
import { chaosEpisodes, chaosSeed, formatReport, runChaos } from './chaos/harness.js';
import { emulatorTarget } from './chaos/targets.js';

const sections = Number(process.env['CHAOS_SECTIONS'] ?? 200);
// A loaded machine gets through fewer sections in the time allowed; this many prove the harness ran.
const minimumSections = Math.min(sections, 100);

describe('chaos against the emulator', () => {
  it(`${String(sections)} critical sections of 8 processes under faults: never two holders, never a silent loss`, async () => {
    await using emulator = await startLeaseApiEmulator();
    const seed = chaosSeed();
    console.log(`chaos seed ${String(seed)} (replay: CHAOS_SEED=${String(seed)})`);
    const report = await runChaos(emulatorTarget(emulator), {
      label: 'emulator',
      seed,
      workers: 8,
      sections,
      maxDurationMs: Math.max(60_000, sections * 300),
      timings: { leaseDurationMs: 4_000, renewDeadlineMs: 2_500, retryPeriodMs: 500, requestTimeoutMs: 2_000 },
      episodes: chaosEpisodes(['storm', 'partition', 'kill', 'stop']),
      partitionMs: 6_000,
      rates: { jitter: 0.2, latency: 0.03, reset: 0.02, error: 0.05, lostAnswer: 0.02, silentWatch: 0.2 },
      crashChance: 0.01,
      longSectionChance: 0.04,
      exitTimeoutMs: 15_000,
      log: (line) => console.log(line),
    });
    console.log(formatReport(report));
    assert.deepEqual(report.violations, [], `violations (seed ${String(seed)})`);
    assert.ok(report.sections >= minimumSections, `only ${String(report.sections)} sections in time`);
  });
});
