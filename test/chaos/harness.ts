// The chaos harness: N worker processes on the built library contend for one Lease, each
// through its own fault proxy, while the harness storms the proxies, partitions, kills and
// freezes the holder and (against a real control plane) restarts kube-apiserver and etcd.
// It keeps the fenced resource (a token register that refuses tokens lower than the highest
// it has seen), records every critical section on the shared clock, heals, stops every
// worker, and hands the record to the checker.
import { fork, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

import { checkRun, VIOLATION_KINDS, type HealRecord, type SectionRecord, type Violation, type WorkerRecord } from './checker.js';
import { FaultProxy, PROXY_FAULTS, type ProxyFaultRates } from './fault-proxy.js';
import { deriveSeed, seededRandom } from './prng.js';
import { prepareWorker } from './prepare.js';
import { now, type ChaosTimings, type HarnessMessage, type WorkerConfig, type WorkerMessage } from './protocol.js';

/** Episodes of faults beyond the per-request storm. */
export const EPISODES = ['storm', 'partition', 'kill', 'stop', 'restart-apiserver', 'restart-etcd'] as const;
export type Episode = (typeof EPISODES)[number];

/** Where the workers' proxies forward to. */
export interface ChaosTarget {
  /** One URL per API server replica; worker slot i goes to replica i mod n. */
  readonly upstreams: readonly string[];
  /** CA of an https upstream. */
  readonly upstreamCa?: string;
  /** Certificate the proxies serve (signed by a CA the kubeconfig trusts); else plain http. */
  readonly proxyTls?: { readonly cert: string; readonly key: string };
  /** A kubeconfig (JSON) that reaches `server`. */
  readonly kubeConfig: (server: string) => string;
  readonly namespace: string;
  /** Control-plane faults, for a real server. */
  readonly restartApiserver?: (replica: number) => Promise<void>;
  readonly restartEtcd?: () => Promise<void>;
}

export interface ChaosOptions {
  readonly label: string;
  readonly seed: number;
  readonly workers: number;
  /** Stop once this many critical sections were recorded... */
  readonly sections: number;
  /** ...or this much time passed. */
  readonly maxDurationMs: number;
  readonly timings: ChaosTimings;
  readonly episodes: readonly Episode[];
  /** How long a partition of the holder lasts. */
  readonly partitionMs: number;
  readonly rates: ProxyFaultRates;
  /** Chance per section that a worker crashes inside it. */
  readonly crashChance: number;
  /** Chance per section that it lasts seconds; holder faults wait for such a holder. */
  readonly longSectionChance: number;
  /** How long a worker may take to exit after 'stop'. */
  readonly exitTimeoutMs: number;
  readonly log: (line: string) => void;
}

export interface ChaosReport {
  readonly label: string;
  readonly seed: number;
  readonly holdCheck: string;
  readonly durationMs: number;
  readonly sections: number;
  readonly handoffs: {
    readonly unlocked: number;
    /** The holder's unlock() failed or answered false: the next one waited for the lease to expire. */
    readonly unreleased: number;
    readonly lost: number;
    readonly killed: number;
    readonly frozen: number;
  };
  /** Time without a holder, summed by the kind of handoff it preceded (ms); `same` is a holder taking the lock again. */
  readonly gapMs: Readonly<Record<HandoffKind, number>>;
  /** From a holder's unlock() to the next holder's acquisition: p50, p99, max (ms). */
  readonly handoffLatencyMs: readonly [number, number, number];
  readonly faults: Readonly<Record<string, number>>;
  readonly fencing: { readonly rejected: number; readonly staleProbes: number; readonly staleProbesRefused: number };
  readonly unlockErrors: number;
  readonly violations: readonly Violation[];
}

interface Slot {
  readonly index: number;
  readonly proxy: FaultProxy;
  generation: number;
  worker: RunningWorker | undefined;
}

interface RunningWorker {
  readonly record: WorkerRecord;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  /** Open sections by number. */
  readonly sections: Map<number, SectionRecord>;
  stopRequestedAt?: number;
  stderrTail: string;
}

export async function runChaos(target: ChaosTarget, options: ChaosOptions): Promise<ChaosReport> {
  const random = seededRandom(options.seed);
  const { timings, log } = options;
  const prepared = prepareWorker();
  const sections: SectionRecord[] = [];
  const workerRecords: WorkerRecord[] = [];
  const heals: HealRecord[] = [];
  const anomalies: { worker: string; at: number; message: string }[] = [];
  const episodeCounts: Record<string, number> = {};
  let holdCheck = '?';
  let highestToken = Number.NEGATIVE_INFINITY;
  let rejected = 0;
  let staleProbes = 0;
  let staleProbesRefused = 0;
  let unlockErrors = 0;
  let stopping = false;
  let readyCount = 0;
  /** Long sections and when they mean to end. */
  const longUntil = new WeakMap<SectionRecord, number>();
  const lease = `chaos-${String(options.seed)}`;

  const slots: Slot[] = [];
  let startedAt = now();
  try {
    for (let index = 0; index < options.workers; index++) {
      const upstream = target.upstreams[index % target.upstreams.length] ?? '';
      const proxy = await FaultProxy.start({
        upstream,
        ...(target.upstreamCa !== undefined && { upstreamCa: target.upstreamCa }),
        ...(target.proxyTls && { tls: target.proxyTls }),
        random: seededRandom(deriveSeed(options.seed, 1000 + index)),
        rates: options.rates,
        maxLatencyMs: 2 * timings.renewDeadlineMs,
      });
      slots.push({ index, proxy, generation: 0, worker: undefined });
    }

    const spawnWorker = (slot: Slot): void => {
      slot.generation++;
      const id = `w${String(slot.index)}.${String(slot.generation)}`;
      const config: WorkerConfig = {
        id,
        kubeConfig: target.kubeConfig(slot.proxy.url),
        namespace: target.namespace,
        lease,
        timings,
        seed: deriveSeed(options.seed, slot.index * 1000 + slot.generation),
        crashChance: options.crashChance,
        longSectionChance: options.longSectionChance,
      };
      const child = fork(prepared.script, [], {
        execArgv: [],
        env: { ...process.env, CHAOS_WORKER: JSON.stringify(config) },
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      });
      const record: WorkerRecord = { id, stops: [] };
      workerRecords.push(record);
      const worker: RunningWorker = {
        record,
        child,
        sections: new Map(),
        stderrTail: '',
        exited: new Promise<void>((resolve) => {
          child.once('exit', (code, signal) => {
            if (worker.stopRequestedAt !== undefined) {
              record.exit = { code, signal, afterStopMs: now() - worker.stopRequestedAt };
            } else if (record.killedAt === undefined) {
              record.unexpectedExit = `${signal ?? `code ${String(code)}`}; stderr: ${worker.stderrTail.trim().slice(-2000)}`;
              log(`${id} exited unexpectedly: ${record.unexpectedExit}`);
            }
            if (slot.worker === worker && !stopping) spawnWorker(slot);
            resolve();
          });
        }),
      };
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (text: string) => {
        worker.stderrTail = (worker.stderrTail + text).slice(-4000);
      });
      child.on('message', (message: WorkerMessage) => onMessage(worker, message));
      slot.worker = worker;
    };

    const onMessage = (worker: RunningWorker, message: WorkerMessage): void => {
      switch (message.type) {
        case 'ready':
          readyCount++;
          holdCheck = message.holdCheck;
          return;
        case 'acquired': {
          const section: SectionRecord = {
            worker: worker.record.id,
            section: message.section,
            token: message.token,
            acquiredAt: message.at,
            writes: [],
          };
          sections.push(section);
          worker.sections.set(message.section, section);
          if (message.plannedMs > 0) longUntil.set(section, message.at + message.plannedMs);
          return;
        }
        case 'write': {
          const accepted = message.token >= highestToken;
          if (accepted) highestToken = message.token;
          else rejected++;
          if (!message.believedHeld) {
            staleProbes++;
            if (!accepted) staleProbesRefused++;
          }
          worker.sections.get(message.section)?.writes.push({
            checkedAt: message.checkedAt,
            believedHeld: message.believedHeld,
            accepted,
            decidedAt: now(),
          });
          const answer: HarnessMessage = { type: 'write-result', id: message.id, accepted };
          if (worker.child.connected) worker.child.send(answer);
          return;
        }
        case 'aborted': {
          const section = worker.sections.get(message.section);
          if (section) {
            section.abortedAt = message.at;
            section.abortReason = message.reason;
          }
          return;
        }
        case 'ended': {
          const section = worker.sections.get(message.section);
          if (section) {
            section.outcome = message.outcome;
            if (message.unlockAt !== undefined) section.unlockAt = message.unlockAt;
            if (message.settledAt !== undefined) section.settledAt = message.settledAt;
            if (message.released !== undefined) section.released = message.released;
            if (message.unlockError !== undefined) {
              section.unlockError = message.unlockError;
              unlockErrors++;
            }
          }
          worker.sections.delete(message.section);
          return;
        }
        case 'anomaly':
          anomalies.push({ worker: worker.record.id, at: message.at, message: message.message });
          log(`${worker.record.id}: ${message.message}`);
          return;
        case 'crashing':
          worker.record.killedAt = message.at;
          episodeCounts['crash'] = (episodeCounts['crash'] ?? 0) + 1;
          return;
      }
    };

    for (const slot of slots) spawnWorker(slot);
    // Wait for every worker to be up (loading the client takes a while on a busy machine).
    const readyDeadline = now() + 60_000;
    while (readyCount < options.workers && now() < readyDeadline) await sleep(20);

    /** The worker holding the lock now (in a long section, if `minRemainingMs`), by what the workers reported. */
    const holder = (minRemainingMs: number): { slot: Slot; worker: RunningWorker } | undefined => {
      let best: { slot: Slot; worker: RunningWorker; at: number } | undefined;
      for (const slot of slots) {
        const worker = slot.worker;
        if (!worker || worker.record.killedAt !== undefined) continue;
        for (const section of worker.sections.values()) {
          if (minRemainingMs > 0 && (longUntil.get(section) ?? 0) - now() < minRemainingMs) continue;
          if (section.abortedAt === undefined && (!best || section.acquiredAt > best.at)) {
            best = { slot, worker, at: section.acquiredAt };
          }
        }
      }
      return best;
    };
    /** Prefers a holder in a long section (so the fault hits it mid-work), else any holder. */
    const waitForHolder = async (
      timeoutMs: number,
    ): Promise<{ slot: Slot; worker: RunningWorker; long: boolean } | undefined> => {
      const deadline = now() + timeoutMs;
      for (;;) {
        const long = holder(500);
        if (long) return { ...long, long: true };
        const any = now() >= deadline - timings.leaseDurationMs ? holder(0) : undefined;
        if (any) return { ...any, long: false };
        if (now() >= deadline) return undefined;
        await sleep(5);
      }
    };
    const setStorm = (stormy: boolean): void => {
      for (const slot of slots) slot.proxy.stormy = stormy;
    };

    const runEpisode = async (episode: Episode): Promise<string> => {
      switch (episode) {
        case 'storm':
          await sleep(random.int(2_000, 5_000));
          return 'storm';
        case 'partition': {
          const found = await waitForHolder(20_000);
          if (!found) return 'partition (no holder)';
          found.slot.proxy.partition();
          await sleep(options.partitionMs);
          return `partition of ${found.worker.record.id}${found.long ? ' (in a long section)' : ''}`;
        }
        case 'kill': {
          const found = await waitForHolder(20_000);
          if (!found) return 'kill (no holder)';
          found.worker.record.killedAt = now();
          found.worker.child.kill('SIGKILL');
          await sleep(random.int(500, 2_000));
          return `SIGKILL of ${found.worker.record.id}${found.long ? ' (in a long section)' : ''}`;
        }
        case 'stop': {
          const found = await waitForHolder(20_000);
          if (!found) return 'stop (no holder)';
          const stop: { from: number; to?: number } = { from: now() };
          found.worker.record.stops.push(stop);
          found.worker.child.kill('SIGSTOP');
          await sleep(timings.leaseDurationMs + random.int(1_000, 2_500));
          found.worker.child.kill('SIGCONT');
          stop.to = now();
          return `SIGSTOP of ${found.worker.record.id}${found.long ? ' (in a long section)' : ''}`;
        }
        case 'restart-apiserver': {
          if (!target.restartApiserver) return 'restart-apiserver (not available)';
          const replica = random.int(0, target.upstreams.length - 1);
          await sleep(random.int(0, 1_000));
          await target.restartApiserver(replica);
          return `restart of kube-apiserver ${String(replica)}`;
        }
        case 'restart-etcd': {
          if (!target.restartEtcd) return 'restart-etcd (not available)';
          await sleep(random.int(0, 1_000));
          await target.restartEtcd();
          return 'restart of etcd';
        }
      }
    };

    startedAt = now();
    // Let every worker start and the lock change hands a few times before the first storm.
    const calmMs = timings.leaseDurationMs + 2_000 + 500;
    await sleep(calmMs);
    while (sections.length < options.sections && now() - startedAt < options.maxDurationMs) {
      const episode = random.pick(options.episodes);
      episodeCounts[episode] = (episodeCounts[episode] ?? 0) + 1;
      const previousHeal = heals.at(-1);
      if (previousHeal) previousHeal.calmUntil = now();
      setStorm(true);
      const what = await runEpisode(episode);
      for (const slot of slots) slot.proxy.heal();
      const healAt = now();
      heals.push({ at: healAt, after: what });
      log(`${options.label}: ${String(sections.length)} sections; healed after ${what}`);
      await sleep(calmMs);
    }

    // Stop: every worker must finish by itself.
    stopping = true;
    for (const slot of slots) slot.proxy.heal();
    const endedAt = now();
    const stopMessage: HarnessMessage = { type: 'stop' };
    const running = slots.flatMap((slot) => (slot.worker ? [slot.worker] : []));
    for (const worker of running) {
      worker.stopRequestedAt = now();
      if (worker.child.connected) worker.child.send(stopMessage);
    }
    const allExited = Promise.all(running.map((worker) => worker.exited));
    const timedOut = await Promise.race([
      allExited.then(() => false),
      sleep(options.exitTimeoutMs).then(() => true),
    ]);
    if (timedOut) {
      for (const worker of running) if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
      await allExited;
      for (const worker of running) {
        if (worker.record.exit && worker.record.exit.afterStopMs >= options.exitTimeoutMs) delete worker.record.exit;
      }
    }

    const violations = checkRun({
      sections,
      workers: workerRecords,
      heals,
      anomalies,
      leaseDurationMs: timings.leaseDurationMs,
      endedAt,
    });
    const faults: Record<string, number> = {};
    for (const fault of PROXY_FAULTS) faults[fault] = slots.reduce((sum, slot) => sum + slot.proxy.counts[fault], 0);
    for (const [episode, count] of Object.entries(episodeCounts)) faults[`episode:${episode}`] = count;
    return {
      label: options.label,
      seed: options.seed,
      holdCheck,
      durationMs: now() - startedAt,
      sections: sections.length,
      ...countHandoffs(sections, workerRecords),
      handoffLatencyMs: handoffLatency(sections),
      faults,
      fencing: { rejected, staleProbes, staleProbesRefused },
      unlockErrors,
      violations,
    };
  } finally {
    stopping = true;
    for (const slot of slots) {
      const child = slot.worker?.child;
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
      }
    }
    await Promise.all(slots.flatMap((slot) => (slot.worker ? [slot.worker.exited] : [])));
    await Promise.all(slots.map((slot) => slot.proxy.close()));
    prepared.dispose();
  }
}

type HandoffKind = keyof ChaosReport['handoffs'] | 'same';

function countHandoffs(sections: readonly SectionRecord[], workers: readonly WorkerRecord[]): Pick<ChaosReport, 'handoffs' | 'gapMs'> {
  const byId = new Map(workers.map((worker) => [worker.id, worker]));
  const ordered = [...sections].sort((a, b) => a.acquiredAt - b.acquiredAt);
  const handoffs = { unlocked: 0, unreleased: 0, lost: 0, killed: 0, frozen: 0 };
  const gapMs: Record<HandoffKind, number> = { unlocked: 0, unreleased: 0, lost: 0, killed: 0, frozen: 0, same: 0 };
  for (const [index, next] of ordered.entries()) {
    const previous = ordered[index - 1];
    if (!previous) continue;
    const endedAt = Math.max(previous.acquiredAt, previous.abortedAt ?? previous.writes.at(-1)?.checkedAt ?? previous.acquiredAt);
    const gap = Math.max(0, next.acquiredAt - endedAt);
    let kind: HandoffKind;
    const holder = byId.get(previous.worker);
    if (previous.worker === next.worker) kind = 'same';
    else if (holder?.killedAt !== undefined && holder.killedAt <= next.acquiredAt) kind = 'killed';
    else if (holder?.stops.some((stop) => stop.from <= next.acquiredAt && (stop.to ?? Infinity) >= previous.acquiredAt)) kind = 'frozen';
    else if (previous.abortReason !== 'released' || previous.outcome === 'lost') kind = 'lost';
    // withLock() reports no release result: it resolves only once its release did not fail.
    else if (previous.released !== false && previous.unlockError === undefined) kind = 'unlocked';
    else kind = 'unreleased';
    if (kind !== 'same') handoffs[kind]++;
    gapMs[kind] += gap;
  }
  return { handoffs, gapMs };
}

function handoffLatency(sections: readonly SectionRecord[]): [number, number, number] {
  const ordered = [...sections].sort((a, b) => a.acquiredAt - b.acquiredAt);
  const gaps: number[] = [];
  for (const [index, next] of ordered.entries()) {
    const previous = ordered[index - 1];
    if (previous?.abortReason === 'released' && previous.released === true && previous.abortedAt !== undefined) {
      gaps.push(next.acquiredAt - previous.abortedAt);
    }
  }
  gaps.sort((a, b) => a - b);
  const at = (q: number): number => gaps[Math.min(gaps.length - 1, Math.floor(q * gaps.length))] ?? Number.NaN;
  return [at(0.5), at(0.99), gaps.at(-1) ?? Number.NaN];
}

/** A per-run table: sections, handoffs, faults of each kind, violations of each kind. */
export function formatReport(report: ChaosReport): string {
  const rows: [string, string][] = [
    ['run', report.label],
    ['seed', `${String(report.seed)} (replay: CHAOS_SEED=${String(report.seed)})`],
    ['hold check before writes', report.holdCheck],
    ['duration', `${(report.durationMs / 1000).toFixed(1)} s`],
    ['critical sections', String(report.sections)],
    [
      'handoffs',
      `${String(report.handoffs.unlocked)} by unlock, ${String(report.handoffs.unreleased)} after a failed release, ` +
        `${String(report.handoffs.lost)} after a loss, ` +
        `${String(report.handoffs.killed)} after a kill, ${String(report.handoffs.frozen)} from a frozen holder`,
    ],
    ['handoff after unlock: p50 / p99 / max', report.handoffLatencyMs.map((ms) => `${ms.toFixed(1)} ms`).join(' / ')],
    [
      'time without a holder, before',
      Object.entries(report.gapMs)
        .map(([kind, ms]) => `${kind === 'same' ? 'a holder retaking it' : kind} ${(ms / 1000).toFixed(1)} s`)
        .join(', '),
    ],
    [
      'fenced writes refused',
      `${String(report.fencing.rejected)} (stale-token probes after a loss: ${String(report.fencing.staleProbesRefused)} of ${String(report.fencing.staleProbes)} refused)`,
    ],
    ['unlock() rejections', String(report.unlockErrors)],
  ];
  for (const [fault, count] of Object.entries(report.faults)) rows.push([`fault: ${fault}`, String(count)]);
  for (const kind of VIOLATION_KINDS) {
    rows.push([`violations: ${kind}`, String(report.violations.filter((violation) => violation.kind === kind).length)]);
  }
  const width = Math.max(...rows.map(([key]) => key.length));
  const lines = rows.map(([key, value]) => `  ${key.padEnd(width)}  ${value}`);
  const details = report.violations.slice(0, 40).map((violation) => `  ! ${violation.kind}: ${violation.message}`);
  if (report.violations.length > details.length) details.push(`  ! … and ${String(report.violations.length - details.length)} more`);
  return [...lines, ...details].join('\n');
}

/** CHAOS_EPISODES (comma-separated), or `defaults`. */
export function chaosEpisodes(defaults: readonly Episode[]): readonly Episode[] {
  const fromEnv = process.env['CHAOS_EPISODES'];
  if (fromEnv === undefined || fromEnv === '') return defaults;
  const known: readonly string[] = EPISODES;
  const episodes = fromEnv.split(',').map((episode) => episode.trim());
  const unknown = episodes.filter((episode) => !known.includes(episode));
  if (unknown.length > 0) throw new Error(`CHAOS_EPISODES: unknown ${unknown.join(', ')} (known: ${EPISODES.join(', ')})`);
  return episodes as Episode[];
}

/** A fresh seed, or CHAOS_SEED's. */
export function chaosSeed(): number {
  const fromEnv = process.env['CHAOS_SEED'];
  if (fromEnv !== undefined && fromEnv !== '') {
    const seed = Number(fromEnv);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`CHAOS_SEED must be an integer in [0, 2^32): ${fromEnv}`);
    return seed;
  }
  return Math.floor(Math.random() * 0x100000000);
}

