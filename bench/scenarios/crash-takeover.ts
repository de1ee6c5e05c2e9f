// Crash takeover: the holder process is SIGKILLed; how long after its last successful
// renewal does a waiter (another process) hold the lock, beyond leaseDuration?
import type { Design } from '../protocol.js';
import { defaultTiming } from '../protocol.js';
import type { Worker } from '../worker-pool.js';
import type { ScenarioContext } from './context.js';
import { log, quiet, sleep, startWorker } from './context.js';

export interface Takeover {
  /** From the holder's last 'renewed' report to the waiter's lock() resolving. */
  readonly sinceLastRenewalMs: number;
  /** The same minus leaseDuration. */
  readonly beyondLeaseMs: number;
  /** When, after that renewal report, the holder was killed. */
  readonly killedAfterMs: number;
}

export interface CrashRun {
  readonly design: Design;
  readonly takeovers: readonly Takeover[];
  readonly error?: string;
}

export interface CrashResult {
  readonly method: string;
  readonly leaseDurationMs: number;
  readonly runs: readonly CrashRun[];
}

const { leaseDurationMs, retryPeriodMs } = defaultTiming;

export async function runCrashTakeover(context: ScenarioContext): Promise<CrashResult> {
  const { repetitions, waiters } = context.config.crashTakeover;
  const runs: CrashRun[] = [];
  for (const design of context.designs) {
    const run = await runOne(context, design, repetitions, waiters);
    const beyond = run.takeovers.map((takeover) => takeover.beyondLeaseMs.toFixed(0)).join(', ');
    log(`${design}: takeover beyond leaseDuration: ${beyond} ms${run.error === undefined ? '' : ` — ERROR: ${run.error}`}`);
    runs.push(run);
  }
  return {
    method: `Holder and ${String(waiters)} waiters, each its own process, default timing. The holder reports every renewal (timestamp when the renewal's response arrived; client-go: when the write of the Lease lock handed to its elector returned); `
      + 'it is SIGKILLed at a random instant 200–1600 ms after a renewal report (no renewal in flight). Takeover = the winning waiter\'s timestamp after lock() resolved minus the last renewal report, minus leaseDuration. '
      + `${String(repetitions)} repetition(s) per design; the new holder is the next one killed, and a fresh waiter process replaces it.`,
    leaseDurationMs,
    runs,
  };
}

async function runOne(context: ScenarioContext, design: Design, repetitions: number, waiterCount: number): Promise<CrashRun> {
  const { pool, signal } = context;
  const lease = `crash-${design}`;
  const deadlineMs = 120_000 + repetitions * (leaseDurationMs + 20_000);
  const workers: Worker[] = [];
  const takeovers: Takeover[] = [];
  const lastRenewal = new Map<Worker, number>();
  const stopListening = pool.onMessage((worker, message) => {
    if (message.type === 'renewed') lastRenewal.set(worker, message.at);
  });
  let counter = 0;
  const start = async (): Promise<Worker> => {
    const worker = await startWorker(context, 'contender', { design, role: 'contender', identity: `${lease}-${String(counter++)}`, deadlineMs, params: { lease } });
    workers.push(worker);
    return worker;
  };
  const queue = async (worker: Worker): Promise<void> => {
    await pool.all([worker], 'ready', 60_000, signal);
    const locking = pool.next((from, message) => from === worker && message.type === 'locking', 15_000, signal);
    worker.send({ type: 'lock' });
    await locking;
  };
  let error: string | undefined;
  try {
    let holder = await start();
    const acquired = quiet(pool.next((worker, message) => worker === holder && message.type === 'acquired', 30_000, signal));
    await queue(holder);
    await acquired;
    const waiters = await Promise.all(Array.from({ length: waiterCount }, start));
    await Promise.all(waiters.map(queue));

    for (let rep = 0; rep < repetitions; rep += 1) {
      // Two renewals seen by the waiters, then a kill at a random point of the renewal period.
      for (let i = 0; i < 2; i += 1) {
        await pool.next((worker, message) => worker === holder && message.type === 'renewed', 3 * retryPeriodMs, signal);
      }
      const renewedAt = lastRenewal.get(holder) ?? Number.NaN;
      const killedAfterMs = 200 + Math.random() * (retryPeriodMs - 600);
      await sleep(killedAfterMs, signal);
      if (lastRenewal.get(holder) !== renewedAt) throw new Error('a renewal landed between the report and the kill');
      const victim = holder;
      const taken = pool.next((worker, message) => worker !== victim && message.type === 'acquired', leaseDurationMs + 20_000, signal);
      victim.kill();
      const { worker: winner, message } = await taken;
      const sinceLastRenewalMs = message.at - renewedAt;
      takeovers.push({ sinceLastRenewalMs, beyondLeaseMs: sinceLastRenewalMs - leaseDurationMs, killedAfterMs });
      holder = winner;
      if (rep + 1 < repetitions) {
        await queue(await start());
        await sleep(1_000, signal);
      }
    }
  } catch (caught) {
    error = caught instanceof Error ? caught.message : String(caught);
  } finally {
    stopListening();
    await pool.stopAll(workers, 10_000);
  }
  return { design, takeovers, ...(error === undefined ? {} : { error }) };
}
