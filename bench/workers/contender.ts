// A contender: one process, one locker, one Lease. It locks and unlocks when told, or in a
// loop of its own, and reports each step, each renewal and each Lease write with its timestamp.
import { setTimeout as delay } from 'node:timers/promises';
import type { ContenderParams } from '../protocol.js';
import { now } from '../protocol.js';
import { createLocker, fail, finish, guardLifetime, loadKubeConfig, loadLibrary, onCommand, report, workerConfig } from './runtime.js';

const config = workerConfig<ContenderParams>();
guardLifetime(config.deadlineMs);
const locker = createLocker({
  design: config.design,
  library: await loadLibrary(config.libraryUrl),
  kubeConfig: loadKubeConfig(config.kubeConfig),
  namespace: config.namespace,
  name: config.params.lease,
  identity: config.identity,
});
locker.onRenewed((startedAt) => report({ type: 'renewed', at: now(), startedAt }));
locker.onLost((reason) => report({ type: 'lost', at: now(), reason }));
locker.onWrote((status) => report({ type: 'wrote', at: now(), status }));

const stopping = new AbortController();
let locking: Promise<void> | undefined;

async function lock(signal: AbortSignal = stopping.signal): Promise<void> {
  report({ type: 'locking', at: now() });
  await locker.lock(signal);
  report({ type: 'acquired', at: now() });
}

async function unlock(): Promise<void> {
  // Stamp, call, then report: the IPC write must not delay the release.
  const at = now();
  const releasing = locker.unlock();
  report({ type: 'unlocking', at });
  const released = await releasing;
  report({ type: 'released', at: now(), released });
}

/** lock(), hold, unlock(), and again at once, until `untilAt` or 'stop'; a lock() still waiting then is given up. */
async function loop(holdMs: number, untilAt: number): Promise<void> {
  while (!stopping.signal.aborted && now() < untilAt) {
    const give = AbortSignal.any([stopping.signal, AbortSignal.timeout(Math.max(1, Math.ceil(untilAt - now())))]);
    try {
      await lock(give);
    } catch (error) {
      if (give.aborted) break;
      throw error;
    }
    await delay(holdMs);
    await unlock();
  }
  report({ type: 'loop-ended', at: now() });
}

async function stop(): Promise<void> {
  stopping.abort();
  await locking?.catch(() => undefined);
  if (locker.isLocked) await locker.unlock().catch(() => false);
  await finish(0);
}

onCommand((command) => {
  switch (command.type) {
    case 'lock':
      locking = lock().catch((error: unknown) => {
        if (!stopping.signal.aborted) fail(error);
      });
      break;
    case 'unlock':
      unlock().catch(fail);
      break;
    case 'loop':
      locking = loop(command.holdMs, command.untilAt).catch((error: unknown) => {
        if (!stopping.signal.aborted) fail(error);
      });
      break;
    case 'stop':
      void stop();
      break;
  }
});
report({ type: 'ready', at: now() });
