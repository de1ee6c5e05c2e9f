// A chaos worker: one process, one LeaseLocker on the built library, contending for one Lease
// through its fault proxy. Each critical section stamps its start right when the lock is
// acquired, checks the hold right before every write to the harness's fenced resource, stops
// the moment the hold's signal aborts, and then unlocks (or, by chance, crashes inside it).
// On 'stop' it finishes, unlocks and exits by itself: nothing may keep it alive.
import { setTimeout as sleep } from 'node:timers/promises';

import { KubeConfig } from '@kubernetes/client-node';

import type * as Library from '../../src/index.js';
import { now, type HarnessMessage, type WorkerConfig, type WorkerMessage } from './protocol.js';
import { seededRandom } from './prng.js';

// Resolved at run time to the package as built (the harness runs this file from a copy whose
// node_modules/leaselocker is a snapshot of dist/), never to the sources.
const librarySpecifier: string = 'leaselocker';
const { LeaseLocker, LockLostError } = (await import(librarySpecifier)) as typeof Library;

const rawConfig = process.env['CHAOS_WORKER'];
if (rawConfig === undefined || typeof process.send !== 'function') {
  throw new Error('a chaos worker is started by the chaos harness (CHAOS_WORKER and an IPC channel)');
}
const config = JSON.parse(rawConfig) as WorkerConfig;
const random = seededRandom(config.seed);
const stopping = new AbortController();
const pendingWrites = new Map<number, (accepted: boolean | undefined) => void>();
let nextWriteId = 1;

function report(message: WorkerMessage): void {
  if (process.connected) process.send?.(message);
}

process.on('message', (message: HarnessMessage) => {
  if (message.type === 'stop') stopping.abort();
  else if (message.type === 'write-result') {
    pendingWrites.get(message.id)?.(message.accepted);
    pendingWrites.delete(message.id);
  }
});
process.on('disconnect', () => {
  stopping.abort();
  for (const settle of pendingWrites.values()) settle(undefined);
  pendingWrites.clear();
});

/** Writes to the fenced resource and waits for its verdict (undefined when the harness is gone). */
function write(section: number, token: number, checkedAt: number, believedHeld: boolean): Promise<boolean | undefined> {
  if (!process.connected) return Promise.resolve(undefined);
  const id = nextWriteId++;
  const verdict = new Promise<boolean | undefined>((resolve) => pendingWrites.set(id, resolve));
  report({ type: 'write', id, section, token, checkedAt, believedHeld });
  return verdict;
}

const kubeConfig = new KubeConfig();
kubeConfig.loadFromString(config.kubeConfig);
const locker = new LeaseLocker(kubeConfig, { namespace: config.namespace, name: config.lease }, config.id, {
  ...config.timings,
  name: config.id,
});

// The library may offer assertHeld() (throws when the hold cannot be trusted); else isLocked.
const assertHeld = (locker as unknown as { assertHeld?: unknown }).assertHeld;
const holdCheck = typeof assertHeld === 'function' ? 'assertHeld' : 'isLocked';
function holdIsTrusted(): boolean {
  if (typeof assertHeld !== 'function') return locker.isLocked;
  try {
    assertHeld.call(locker);
    return true;
  } catch {
    return false;
  }
}

let acquiredEventAt: number | undefined;
locker.on('acquired', () => {
  acquiredEventAt = now();
});

report({ type: 'ready', at: now(), holdCheck });

type Mode = 'lock' | 'lock-timeout' | 'tryLock' | 'withLock' | 'unlock-while-locking';
const modes: readonly [Mode, number][] = [
  ['lock', 0.72],
  ['lock-timeout', 0.08],
  ['tryLock', 0.08],
  ['withLock', 0.09],
  ['unlock-while-locking', 0.03],
];

function pickMode(): Mode {
  let roll = random.next();
  for (const [mode, chance] of modes) {
    if (roll < chance) return mode;
    roll -= chance;
  }
  return 'lock';
}

/**
 * The guarded work of a hold that was just acquired: stamps it, writes a few times, each time
 * right after a passed hold check, and stops as soon as the hold's signal aborts. Returns
 * whether the hold was found lost. May crash the process on purpose instead of returning.
 */
async function guardedWork(section: number, resolvedAt: number): Promise<boolean> {
  const hold = locker.signal;
  const token = locker.fencingToken;
  if (token === undefined) {
    report({ type: 'anomaly', at: resolvedAt, message: 'lock() resolved without a fencing token' });
    return true;
  }
  // Most sections are short; some hold on for seconds, so that faults hit holders mid-work.
  const long = random.chance(config.longSectionChance);
  const plannedMs = long ? random.int(1_000, 3_000) : 0;
  report({ type: 'acquired', section, token, at: Math.min(acquiredEventAt ?? resolvedAt, resolvedAt), plannedMs });
  const onAbort = (): void => {
    const reason: unknown = hold.reason;
    const why = reason instanceof LockLostError ? reason.reason : describe(reason);
    report({ type: 'aborted', section, at: now(), reason: why });
  };
  if (hold.aborted) onAbort();
  else hold.addEventListener('abort', onAbort, { once: true });

  let lost = false;
  const writes = long ? Number.POSITIVE_INFINITY : random.int(2, 3);
  for (let n = 0; n < writes && !lost && (!long || now() - resolvedAt < plannedMs); n++) {
    try {
      await sleep(long ? random.int(50, 200) : random.int(3, 15), undefined, { signal: hold });
    } catch {
      lost = true;
      break;
    }
    if (!holdIsTrusted()) {
      lost = true;
      break;
    }
    const checkedAt = now();
    if ((await write(section, token, checkedAt, true)) === false) lost = true; // fenced off: a finding
  }
  // The last look before letting go: a holder frozen after its last write finds out here.
  if (!lost && !holdIsTrusted()) lost = true;
  if (!lost && random.chance(config.crashChance)) {
    report({ type: 'crashing', at: now() });
    process.kill(process.pid, 'SIGKILL');
  }
  if (lost) {
    // A write with the old token after the loss: the fenced resource must refuse it once a
    // newer holder has written.
    await write(section, token, now(), false);
  }
  return lost;
}

async function unlockAndReport(section: number, lost: boolean): Promise<void> {
  const unlockAt = now();
  const outcome = lost ? 'lost' : 'unlocked';
  try {
    const released = await locker.unlock();
    report({ type: 'ended', section, outcome, unlockAt, settledAt: now(), released });
  } catch (error) {
    report({ type: 'ended', section, outcome, unlockAt, unlockError: describe(error) });
  }
}

/** lock() as a user would call it; false when it gave up (the stop, or its own timeout). */
async function acquire(mode: Mode): Promise<boolean> {
  if (mode === 'tryLock') {
    if (await locker.tryLock({ signal: stopping.signal })) return true;
    await sleep(random.int(20, 100), undefined, { signal: stopping.signal }).catch(() => undefined);
    return false;
  }
  if (mode === 'lock-timeout') {
    const signal = AbortSignal.any([stopping.signal, AbortSignal.timeout(random.int(20, 1_500))]);
    try {
      await locker.lock({ signal });
      return true;
    } catch (error) {
      if (signal.aborted) return false; // gave up waiting, as callers with a deadline do
      throw error;
    }
  }
  await locker.lock({ signal: stopping.signal });
  return true;
}

/** unlock() while lock() is pending must cancel it (it rejects) and leave nothing held. */
async function unlockWhileLocking(): Promise<void> {
  const giveUp = new AbortController();
  let settledEarly = false;
  const locking = locker.lock({ signal: AbortSignal.any([stopping.signal, giveUp.signal]) }).then(
    () => 'resolved' as const,
    () => 'rejected' as const,
  );
  void locking.then(() => {
    settledEarly = true;
  });
  await sleep(random.int(0, 200));
  if (settledEarly) {
    await locker.unlock().catch(() => false); // lock() won before the unlock: an ordinary release
    return;
  }
  const unlocked = await locker.unlock().catch((error: unknown) => describe(error));
  const bound = sleep(config.timings.renewDeadlineMs).then(() => 'pending' as const);
  const settled = await Promise.race([locking, bound]);
  if (settled === 'rejected' || stopping.signal.aborted) return;
  report({
    type: 'anomaly',
    at: now(),
    message: `unlock() during a pending lock() answered ${String(unlocked)}, and lock() then ${settled === 'resolved' ? 'resolved: a hold its user believes released' : 'was still pending'}`,
  });
  giveUp.abort();
  await locking;
  await locker.unlock().catch(() => false);
}

for (let section = 1; !stopping.signal.aborted; section++) {
  acquiredEventAt = undefined;
  const mode = pickMode();
  try {
    if (mode === 'unlock-while-locking') {
      await unlockWhileLocking();
      continue;
    }
    if (mode === 'withLock') {
      let lost = false;
      let ran = false;
      try {
        await locker.withLock(
          async () => {
            ran = true;
            lost = await guardedWork(section, now()); // ignores the signal's reason: returns normally
          },
          { signal: stopping.signal },
        );
        if (ran && lost) {
          report({ type: 'anomaly', at: now(), message: 'withLock() resolved although the hold was lost while its function ran' });
        }
      } catch (error) {
        if (!ran && stopping.signal.aborted) break;
        if (!ran) throw error;
        // After the function ran: the LockLostError of a lost hold, or a release that failed.
        if (!(error instanceof LockLostError)) {
          report({ type: 'ended', section, outcome: lost ? 'lost' : 'unlocked', unlockError: describe(error) });
          continue;
        }
      }
      if (ran) report({ type: 'ended', section, outcome: lost ? 'lost' : 'unlocked' });
    } else {
      if (!(await acquire(mode))) continue;
      const lost = await guardedWork(section, now());
      await unlockAndReport(section, lost);
    }
  } catch (error) {
    if (stopping.signal.aborted) break;
    // tryLock() makes one attempt and may reject on an API error; lock() retries transient ones.
    if (mode !== 'tryLock') report({ type: 'anomaly', at: now(), message: `${mode}: ${describe(error)}` });
    await locker.unlock().catch(() => false);
    await sleep(config.timings.retryPeriodMs, undefined, { signal: stopping.signal }).catch(() => undefined);
    continue;
  }
  await sleep(random.int(0, 30), undefined, { signal: stopping.signal }).catch(() => undefined);
}

if (process.connected) process.disconnect();

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}${'code' in error ? ` ${String(error.code)}` : ''}: ${error.message}`;
  return String(error);
}
