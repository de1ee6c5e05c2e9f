// Run as its own process: starts an emulator, leaves every kind of connection
// open (a watch, a held request, a delayed request, a pending waitFor), closes
// it, and must then exit by itself.

import { CoordinationV1Api, Watch } from '@kubernetes/client-node';

import { startLeaseApiEmulator } from '../../src/testing/index.js';

const emulator = await startLeaseApiEmulator({ bookmarkIntervalMs: 10 });
const config = emulator.kubeConfig();
const api = config.makeApiClient(CoordinationV1Api);
const path = '/apis/coordination.k8s.io/v1/namespaces/default/leases';
await api.createNamespacedLease({ namespace: 'default', body: { metadata: { name: 'lock' } } });

let watchEnded = false;
await new Watch(config).watch(path, { allowWatchBookmarks: true }, () => undefined, () => {
  watchEnded = true;
});
emulator.faults.blackhole({ verb: 'get' });
const held = api.readNamespacedLease({ name: 'lock', namespace: 'default' }).then(
  () => 'answered',
  () => 'reset',
);
emulator.faults.latency(60_000, { verb: 'list' });
const slow = fetch(`${emulator.url}${path}`, { headers: { Authorization: `Bearer ${emulator.token()}` } }).then(
  () => 'answered',
  () => 'reset',
);
await emulator.waitFor((e) => e.heldRequests === 1 && e.openWatches === 1 && e.countRequests({ verb: 'list' }) === 1);
const waiting = emulator.waitFor(() => false, { timeoutMs: 60_000 }).then(
  () => 'met',
  () => 'rejected',
);

await emulator.close();
console.log(JSON.stringify({ held: await held, slow: await slow, waiting: await waiting, watchEnded }));
