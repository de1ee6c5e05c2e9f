// Careless use: a locker built and never used must cost nothing.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import { LeaseLock, LeaseLocker, LeaseRequestError } from '../src/index.js';

/** A server that fails any request (it resets every connection), with a KubeConfig whose exec credential plugin leaves a mark when run. */
async function startFailingServer(dir: string, label: string): Promise<{ kubeConfig: KubeConfig; connections: () => number; pluginRan: () => boolean; close: () => Promise<void> }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.resetAndDestroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const marker = join(dir, `${label}-plugin-ran`);
  const credential = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: 't' } });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{
      name: 'u',
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1',
        command: process.execPath,
        args: ['-e', `require('node:fs').writeFileSync(process.argv[1], 'ran'); process.stdout.write(${JSON.stringify(credential)})`, marker],
        interactiveMode: 'Never',
      },
    }],
    contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    currentContext: 'c',
  });
  return {
    kubeConfig,
    connections: () => connections,
    pluginRan: () => existsSync(marker),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('the constructor', () => {
  it('makes no request and runs no credential plugin (a locker that is used does both)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'leaselocker-ctor-'));
    const idle = await startFailingServer(dir, 'idle');
    const used = await startFailingServer(dir, 'used');
    try {
      const lease = { namespace: 'default', name: 'quiet' };
      const options = { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 300 };
      const lockers = [
        new LeaseLocker(idle.kubeConfig, lease, 'a', options),
        new LeaseLocker(idle.kubeConfig.makeApiClient(CoordinationV1Api), lease, 'b', options),
        new LeaseLocker(new LeaseLock(idle.kubeConfig, lease, 'c'), options),
      ];
      for (const locker of lockers) {
        assert.equal(locker.isLocked, false);
        assert.equal(locker.fencingToken, undefined);
        assert.equal(locker.signal.aborted, true);
        locker.check(0);
        assert.equal(await locker.unlock(), false);
      }
      // The yardstick, built after them: a locker that is used runs its plugin and connects.
      // Whatever the idle ones had started at construction would have arrived by then; give it
      // as long again to be sure.
      const started = performance.now();
      const usedLocker = new LeaseLocker(used.kubeConfig, lease, 'd', options);
      await assert.rejects(usedLocker.tryLock(), (e: unknown) => e instanceof LeaseRequestError);
      assert.ok(used.connections() >= 1 && used.pluginRan(), 'the yardstick connected and ran its plugin');
      await delay(Math.max(200, performance.now() - started));
      assert.equal(idle.connections(), 0, 'no connection was opened');
      assert.equal(idle.pluginRan(), false, 'the credential plugin was not run');
    } finally {
      await Promise.all([idle.close(), used.close()]);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
