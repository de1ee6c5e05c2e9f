// Checks what a chaos run recorded. Every instant is on the clock the processes share
// (protocol.ts). The rules:
//  1. no two critical sections overlap: a section spans from its acquisition to its last
//     write made on a passed hold check; fencing tokens grow with every acquisition;
//  2. lost before stolen: when the lock passes on, the previous holder's signal aborted
//     before the next holder's lock() resolved (a killed holder is exempt: it is gone; a
//     stopped one cannot abort while frozen, but rule 1 still holds it to not write again);
//  3. the fenced resource refused writes only of holders that had been told they lost;
//  4. liveness: after every heal, some worker acquires within leaseDuration + 2 s, and as long
//     as the calm lasts the lock never sits unacquired for longer than that;
//  5. every worker exits by itself when told to stop, with code 0;
// plus what the library's contract rules out (lock() rejecting on retryable faults).

export interface WriteRecord {
  readonly checkedAt: number;
  readonly believedHeld: boolean;
  readonly accepted: boolean;
  /** When the fenced resource decided. */
  readonly decidedAt: number;
}

export interface SectionRecord {
  readonly worker: string;
  readonly section: number;
  readonly token: number;
  readonly acquiredAt: number;
  readonly writes: WriteRecord[];
  abortedAt?: number;
  abortReason?: string;
  outcome?: 'unlocked' | 'lost';
  /** When unlock() began. */
  unlockAt?: number;
  /** When unlock() settled. */
  settledAt?: number;
  released?: boolean;
  unlockError?: string;
}

export interface WorkerRecord {
  readonly id: string;
  /** SIGKILL by the harness, or a crash the worker announced. */
  killedAt?: number;
  /** SIGSTOP … SIGCONT intervals. */
  readonly stops: { from: number; to?: number }[];
  /** How the process ended after 'stop' (undefined: it did not end by itself). */
  exit?: { code: number | null; signal: string | null; afterStopMs: number };
  /** It ended before being told to stop, and not by our hand. */
  unexpectedExit?: string;
}

export interface HealRecord {
  readonly at: number;
  readonly after: string;
  /** When the next storm began (or the run ended): the calm after this heal lasts until then. */
  calmUntil?: number;
}

export const VIOLATION_KINDS = [
  'overlap',
  'token-order',
  'lost-before-stolen',
  'fencing',
  'liveness',
  'exit',
  'contract',
] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export interface Violation {
  readonly kind: ViolationKind;
  readonly message: string;
}

export interface RunRecord {
  readonly sections: readonly SectionRecord[];
  readonly workers: readonly WorkerRecord[];
  readonly heals: readonly HealRecord[];
  readonly anomalies: readonly { worker: string; at: number; message: string }[];
  readonly leaseDurationMs: number;
  /** The instant the run began stopping its workers: heals later than this are not judged. */
  readonly endedAt: number;
}

const LIVENESS_SLACK_MS = 2_000;

export function checkRun(run: RunRecord): Violation[] {
  const violations: Violation[] = [];
  const workers = new Map(run.workers.map((worker) => [worker.id, worker]));
  const ordered = [...run.sections].sort((a, b) => a.acquiredAt - b.acquiredAt);
  const name = (s: SectionRecord): string => `${s.worker}#${String(s.section)} (token ${String(s.token)})`;
  const at = (instant: number): string => `t=${(instant - (ordered[0]?.acquiredAt ?? instant)).toFixed(1)}ms`;

  // 1. Overlap and token order.
  let widest: SectionRecord | undefined;
  let widestEnd = Number.NEGATIVE_INFINITY;
  for (const [index, section] of ordered.entries()) {
    if (widest && section.acquiredAt < widestEnd) {
      violations.push({
        kind: 'overlap',
        message: `${name(section)} acquired at ${at(section.acquiredAt)} while ${name(widest)} still wrote until ${at(widestEnd)}`,
      });
    }
    const previous = ordered[index - 1];
    if (previous && section.token <= previous.token) {
      violations.push({
        kind: 'token-order',
        message: `${name(section)} acquired after ${name(previous)} with a token not above it`,
      });
    }
    const end = lastTrustedWrite(section);
    if (end >= widestEnd) {
      widestEnd = end;
      widest = section;
    }
  }

  // 2. Lost before stolen.
  for (const [index, next] of ordered.entries()) {
    const previous = ordered[index - 1];
    if (!previous) continue;
    const holder = workers.get(previous.worker);
    if (holder?.killedAt !== undefined && holder.killedAt <= next.acquiredAt) continue;
    const frozen = holder?.stops.find((stop) => stop.from <= next.acquiredAt && (stop.to ?? Infinity) >= previous.acquiredAt);
    if (frozen) {
      // It could not abort while frozen; once thawed, its signal must abort with the loss
      // (not merely with its own unlock() begun after the thaw) before it acts again.
      const thawed = frozen.to ?? Infinity;
      if (previous.abortReason === 'released' && (previous.abortedAt ?? 0) > thawed && previous.outcome !== 'lost') {
        violations.push({
          kind: 'lost-before-stolen',
          message: `${name(previous)} was frozen while ${name(next)} took the lease, and after it thawed it unlocked without ever learning it had lost`,
        });
      }
      continue;
    }
    if (previous.abortedAt === undefined || previous.abortedAt >= next.acquiredAt) {
      const when =
        previous.abortedAt === undefined
          ? 'never aborted'
          : `aborted ${(previous.abortedAt - next.acquiredAt).toFixed(1)} ms after it (${previous.abortReason ?? '?'})`;
      violations.push({
        kind: 'lost-before-stolen',
        message: `${name(next)} acquired at ${at(next.acquiredAt)}; the previous holder ${name(previous)}'s signal ${when}`,
      });
    }
  }

  // 3. Fencing rejections only of holders told they lost.
  for (const section of ordered) {
    for (const write of section.writes) {
      if (write.accepted || !write.believedHeld) continue;
      if (section.abortedAt === undefined || section.abortedAt > write.decidedAt) {
        violations.push({
          kind: 'fencing',
          message: `a write of ${name(section)} checked at ${at(write.checkedAt)} was refused at ${at(write.decidedAt)}, but the holder had not been told it lost`,
        });
      }
    }
  }

  // 4. Liveness after every heal, and all through the calm that follows it.
  const bound = run.leaseDurationMs + LIVENESS_SLACK_MS;
  for (const heal of run.heals) {
    const calmUntil = Math.min(heal.calmUntil ?? run.endedAt, run.endedAt);
    let last = heal.at;
    for (const section of ordered) {
      if (section.acquiredAt < heal.at) continue;
      if (section.acquiredAt > calmUntil) break;
      if (section.acquiredAt - last > bound) break;
      last = section.acquiredAt;
    }
    if (Math.min(calmUntil, nextAcquisition(ordered, last)) - last > bound) {
      violations.push({
        kind: 'liveness',
        message:
          last === heal.at
            ? `nobody acquired within ${String(bound)} ms after the heal (${heal.after}) at ${at(heal.at)}`
            : `in the calm after ${heal.after}, nobody acquired for more than ${String(bound)} ms after ${at(last)}`,
      });
    }
  }

  // 5. Every worker exits by itself.
  for (const worker of run.workers) {
    if (worker.unexpectedExit !== undefined) {
      violations.push({ kind: 'exit', message: `${worker.id} ended on its own during the run: ${worker.unexpectedExit}` });
    }
    if (worker.killedAt !== undefined || worker.unexpectedExit !== undefined) continue;
    if (!worker.exit) violations.push({ kind: 'exit', message: `${worker.id} did not exit by itself after stop` });
    else if (worker.exit.code !== 0) {
      violations.push({
        kind: 'exit',
        message: `${worker.id} exited with ${worker.exit.signal ?? `code ${String(worker.exit.code)}`} after stop`,
      });
    }
  }

  // unlock() answers false only when someone else holds the lease: after an intact hold that
  // nobody took, that is a false report (and the caller would retry or alarm for nothing).
  for (const [index, section] of ordered.entries()) {
    if (section.outcome !== 'unlocked' || section.released !== false || section.unlockAt === undefined) continue;
    const next = ordered[index + 1];
    if (next && next.acquiredAt <= (section.settledAt ?? Number.POSITIVE_INFINITY)) continue;
    violations.push({
      kind: 'contract',
      message: `unlock() of ${name(section)} at ${at(section.unlockAt)} answered false (someone else holds the lease), but nobody acquired it during the hold`,
    });
  }

  for (const anomaly of run.anomalies) {
    violations.push({ kind: 'contract', message: `${anomaly.worker} at ${at(anomaly.at)}: ${anomaly.message}` });
  }
  return violations;
}

function nextAcquisition(ordered: readonly SectionRecord[], after: number): number {
  return ordered.find((section) => section.acquiredAt > after)?.acquiredAt ?? Number.POSITIVE_INFINITY;
}

/** The end of a section: its last write made on a passed hold check (its start when none). */
export function lastTrustedWrite(section: SectionRecord): number {
  let end = section.acquiredAt;
  for (const write of section.writes) if (write.believedHeld && write.checkedAt > end) end = write.checkedAt;
  return end;
}
