// One demo worker: takes the lock a few times, "works" while holding it, and journals each
// critical section to a shared file so the parent can prove they never overlapped.
import { appendFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { LeaseLocker } from '../src/index.js';

const { DEMO_ID = 'worker', DEMO_KUBECONFIG, DEMO_NAMESPACE = 'default', DEMO_LEASE = 'leaselocker-demo', DEMO_JOURNAL = '', DEMO_ROUNDS = '3' } = process.env;

function say(event: string, detail: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ worker: DEMO_ID, event, at: Date.now(), ...detail })}\n`);
}

const kubeConfig = new KubeConfig();
if (DEMO_KUBECONFIG === undefined) kubeConfig.loadFromDefault();
else kubeConfig.loadFromString(DEMO_KUBECONFIG);

await using locker = new LeaseLocker(kubeConfig, { namespace: DEMO_NAMESPACE, name: DEMO_LEASE }, `${DEMO_ID}-${process.pid}`, {
  leaseDurationMs: 3_000,
  renewDeadlineMs: 2_000,
  retryPeriodMs: 500,
});
locker.on('lost', (error) => say('lost', { reason: error.reason }));

for (let round = 1; round <= Number(DEMO_ROUNDS); round += 1) {
  say('waiting', { round });
  {
    await using hold = await locker.lock(); // released at the end of this block
    const token = hold.fencingToken;
    appendFileSync(DEMO_JOURNAL, `enter ${DEMO_ID} ${String(token)}\n`);
    say('acquired', { round, token });
    await delay(200 + Math.random() * 400, undefined, { signal: hold.signal }); // the guarded work
    hold.assertHeld(); // right before the step that must not happen without the lock
    appendFileSync(DEMO_JOURNAL, `exit ${DEMO_ID}\n`);
    say('releasing', { round });
  }
  await delay(700 + Math.random() * 300); // longer than the waiters' poll, so the others get their turn
}
say('done');
