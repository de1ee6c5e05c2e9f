// LeaseLock's own HTTP path over the emulator: credentials applied to every request (401 retried
// once with fresh ones, a failing credential call not cached, tokens rotating during a hold),
// requests that can never be sent failing at once, watches not shared across credentials, kept-alive
// connections, and a process that exits by itself.
import assert from 'node:assert/strict';
import type { RequestOptions } from 'node:https';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import type { User } from '@kubernetes/client-node';
import { CredentialError, LeaseApiError, LeaseLocker, LeaseRequestError } from '../src/index.js';
import type { LeaseLockerOptions } from '../src/index.js';
import { emulatorSuite } from './helpers/emulator-client.js';
import { runUntilExit } from './helpers/child-exit.js';
import { waitFor } from './helpers/wait-for.js';
import { fastTiming } from './suites/locker-behaviour.js';
import { uniqueLeaseName } from './suites/lease-server.js';

/** A KubeConfig for `server` whose one user is `user`. */
function kubeConfigFor(server: string, user: User, cluster: { skipTLSVerify?: boolean } = { skipTLSVerify: true }): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server, ...cluster }],
    users: [user],
    contexts: [{ name: 'ctx', cluster: 'c', user: user.name }],
    currentContext: 'ctx',
  });
  return kubeConfig;
}

/**
 * A TCP relay in front of the emulator that counts the connections made to it. It never closes
 * a client's connection on its own (as a load balancer with a long idle timeout): only the client can.
 */
async function startRelay(target: string): Promise<{ readonly url: string; readonly connections: () => number; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((client) => {
    connections += 1;
    sockets.add(client);
    const upstream = connect(Number(port), hostname);
    sockets.add(upstream);
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => client.write(chunk));
    client.on('close', () => upstream.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    connections: () => connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('LeaseLock over its own HTTP path (emulator)', () => {
  const suite = emulatorSuite();
  const locker = (kubeConfig: KubeConfig, name: string, owner: string, options: LeaseLockerOptions = {}): LeaseLocker => {
    const created = new LeaseLocker(kubeConfig, { namespace: 'default', name }, owner, { ...fastTiming, ...options });
    return suite.track(created);
  };

  describe('credentials', () => {
    it('answers a 401 with one more attempt, with the credentials applied afresh', async () => {
      const name = uniqueLeaseName('unauthorized-once');
      suite.emulator.faults.fail({ status: 401, times: 1 }, { verb: ['get', 'list'], name });
      const a = locker(suite.emulator.kubeConfig(), name, 'a');
      assert.ok(await a.tryLock());
      assert.equal(suite.emulator.countRequests({ name, verb: ['get', 'list'] }), 2, 'the 401 and the retried read');
      await a.unlock();
    });

    it('a second 401 in a row is the answer: API_ERROR 401, not retried', async () => {
      const name = uniqueLeaseName('unauthorized-twice');
      const fault = suite.emulator.faults.fail({ status: 401 }, { verb: ['get', 'list'], name });
      try {
        const a = locker(suite.emulator.kubeConfig(), name, 'a');
        const error: unknown = await a.lock({ signal: AbortSignal.timeout(5_000) }).then(() => undefined, (e: unknown) => e);
        assert.ok(error instanceof LeaseApiError, String(error));
        assert.equal(error.statusCode, 401);
        assert.equal(suite.emulator.countRequests({ name, verb: ['get', 'list'] }), 2);
      } finally {
        fault.clear();
      }
    });

    it('a credential call that fails rejects that call at once with CredentialError; the next call applies them afresh', async () => {
      const name = uniqueLeaseName('credential-fails-once');
      const kubeConfig = kubeConfigFor(suite.emulator.url, { name: 'plugin-user' });
      let calls = 0;
      kubeConfig.addAuthenticator({
        isAuthProvider: (user) => user.name === 'plugin-user',
        applyAuthentication: async (_user, options) => {
          calls += 1;
          if (calls === 1) return Promise.reject(new Error('the credential plugin could not reach its identity provider'));
          const target = options as RequestOptions;
          target.headers = { ...target.headers, Authorization: `Bearer ${suite.emulator.token()}` };
          return Promise.resolve();
        },
      });
      const a = locker(kubeConfig, name, 'a');
      const sentBefore = suite.emulator.countRequests();
      const error: unknown = await a.lock({ signal: AbortSignal.timeout(5_000) }).then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof CredentialError, String(error));
      assert.equal(error.code, 'CREDENTIALS');
      assert.match(error.message, /identity provider/);
      assert.equal(suite.emulator.countRequests(), sentBefore, 'no request was sent');
      await a.lock();
      assert.equal(a.isLocked, true);
      const sent = suite.emulator.countRequests() - sentBefore;
      assert.equal(calls, 1 + sent, 'applied for every request');
    });

    it('a hold survives its token rotating and the old token being revoked', async () => {
      const name = uniqueLeaseName('token-rotation');
      suite.emulator.addUser('rotating-old');
      suite.emulator.addUser('rotating-new');
      const oldToken = suite.emulator.token('rotating-old');
      const kubeConfig = kubeConfigFor(suite.emulator.url, { name: 'rotating', token: oldToken });
      const a = locker(kubeConfig, name, 'a', { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 100 });
      let lost: unknown;
      a.on('lost', (error) => { lost = error; });
      await a.lock();
      await waitFor(() => suite.emulator.countRequests({ name, verb: 'update', user: 'rotating-old' }) >= 3, 'renewals with the old token');
      // Rotate: the KubeConfig now holds the new token; then revoke the old one.
      kubeConfig.users = [{ name: 'rotating', token: suite.emulator.token('rotating-new') }];
      suite.emulator.faults.onRequest((request) => (request.headers.authorization === `Bearer ${oldToken}` ? { status: 401 } : undefined), { name });
      await waitFor(() => suite.emulator.countRequests({ name, verb: 'update', user: 'rotating-new' }) >= 5, 'renewals with the new token');
      assert.equal(lost, undefined);
      assert.equal(a.isLocked, true);
      assert.equal(await a.unlock(), true);
    });
  });

  describe('requests that can never be sent fail at once', () => {
    const noCluster = (): KubeConfig => {
      const kubeConfig = suite.emulator.kubeConfig();
      kubeConfig.setCurrentContext('no-such-context');
      return kubeConfig;
    };

    for (const [what, make, pattern] of [
      ['a KubeConfig without a current cluster', noCluster, /no current cluster/],
      ['a plain http server without skipTLSVerify', () => kubeConfigFor(suite.emulator.url, { name: 'u', token: suite.emulator.token() }, {}), /insecure-skip-tls-verify/],
      ['a server URL that is not http(s)', () => kubeConfigFor('ftp://127.0.0.1:1', { name: 'u', token: suite.emulator.token() }), /neither https nor http/],
      ['a token Node refuses to send (a line break in it)', () => kubeConfigFor(suite.emulator.url, { name: 'u', token: `${suite.emulator.token()}\n` }), /Authorization/],
    ] as const) {
      it(`${what}: lock() and tryLock() reject with a LeaseRequestError that is not retryable`, async () => {
        const name = uniqueLeaseName('never-sent');
        const a = locker(make(), name, 'a', { retryPeriodMs: 50 });
        // A retried error would make lock() spin until its signal ends it.
        for (const call of [async () => a.lock({ signal: AbortSignal.timeout(5_000) }), async () => a.tryLock()]) {
          const error: unknown = await call().then(() => undefined, (e: unknown) => e);
          assert.ok(error instanceof LeaseRequestError, String(error));
          assert.equal(error.retryable, false);
          assert.equal(error.code, 'REQUEST_FAILED');
          assert.match(error.message, pattern);
        }
        assert.equal(suite.emulator.countRequests({ name }), 0);
      });
    }

    it('unlockWithRetry() rejects at once too', async () => {
      const name = uniqueLeaseName('never-sent-unlock');
      const kubeConfig = suite.emulator.kubeConfig();
      const a = locker(kubeConfig, name, 'a', { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 });
      await a.lock();
      kubeConfig.setCurrentContext('no-such-context');
      const error: unknown = await a.unlockWithRetry({ signal: AbortSignal.timeout(5_000) }).then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof LeaseRequestError, String(error));
      assert.equal(error.retryable, false);
      kubeConfig.setCurrentContext('lease-api-emulator');
      await a.unlock();
    });

    it('connection refused stays retryable: lock() keeps trying until its signal ends it', async () => {
      const relay = await startRelay(suite.emulator.url);
      await relay.close(); // nothing listens on its port any more
      const a = locker(kubeConfigFor(relay.url, { name: 'u', token: suite.emulator.token() }), uniqueLeaseName('refused'), 'a', { retryPeriodMs: 20 });
      const signal = AbortSignal.timeout(300);
      await assert.rejects(a.lock({ signal }), (error) => error === signal.reason);
    });
  });

  describe('watches and connections', () => {
    it('lockers with different KubeConfigs do not share a watch; lockers with one KubeConfig do', async () => {
      const name = uniqueLeaseName('watch-per-credentials');
      suite.emulator.putLease('default', { metadata: { name }, spec: { holderIdentity: 'other', leaseDurationSeconds: 30 } });
      const shared = suite.emulator.addUser('watcher-shared');
      const slowPolls = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 5_000 };
      const waiters = [
        locker(shared, name, 'w1', slowPolls),
        locker(shared, name, 'w2', slowPolls),
        locker(suite.emulator.addUser('watcher-other'), name, 'w3', slowPolls),
      ];
      const controller = new AbortController();
      const locks = waiters.map(async (w) => w.lock({ signal: controller.signal }).catch(() => undefined));
      await waitFor(() => suite.emulator.openWatches === 2, 'two watches: one per KubeConfig');
      assert.equal(suite.emulator.countRequests({ name, verb: 'watch', user: 'watcher-shared' }), 1);
      assert.equal(suite.emulator.countRequests({ name, verb: 'watch', user: 'watcher-other' }), 1);
      controller.abort();
      await Promise.all(locks);
      await waitFor(() => suite.emulator.openWatches === 0, 'the watches closed');
      suite.emulator.deleteLease('default', name);
    });

    it('reuses its connections across requests', async () => {
      const relay = await startRelay(suite.emulator.url);
      try {
        const kubeConfig = kubeConfigFor(relay.url, { name: 'u', token: suite.emulator.token() });
        const name = uniqueLeaseName('reuse');
        const a = locker(kubeConfig, name, 'a', { leaseDurationMs: 2_000, renewDeadlineMs: 1_000, retryPeriodMs: 20 });
        let renewals = 0;
        a.on('renewed', () => { renewals += 1; });
        await a.lock();
        await waitFor(() => renewals >= 20, 'twenty renewals');
        await a.unlock();
        assert.ok(suite.emulator.countRequests({ name }) >= 22);
        assert.equal(relay.connections(), 1, 'one connection for every request');
      } finally {
        await relay.close();
      }
    });

    it('leaves nothing running: a process exits by itself after unlock, though the server keeps its connections open', async () => {
      const relay = await startRelay(suite.emulator.url);
      try {
        const script = `
          import { KubeConfig } from '@kubernetes/client-node';
          import { LeaseLocker } from './src/index.ts';
          const kubeConfig = new KubeConfig();
          kubeConfig.loadFromOptions({
            clusters: [{ name: 'c', server: ${JSON.stringify(relay.url)}, skipTLSVerify: true }],
            users: [{ name: 'u', token: ${JSON.stringify(suite.emulator.token())} }],
            contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
            currentContext: 'ctx',
          });
          const timing = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 100 };
          const a = new LeaseLocker(kubeConfig, { namespace: 'default', name: ${JSON.stringify(uniqueLeaseName('exit'))} }, 'a', timing);
          await a.lock();
          await new Promise((resolve) => a.once('renewed', resolve));
          console.log(await a.unlock());
        `;
        const child = await runUntilExit(['--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('..', import.meta.url), exitTimeoutMs: 10_000 });
        assert.equal(child.code, 0, `exited by itself within 10 s of unlocking: ${child.stderr}`);
        assert.equal(child.stdout.trim(), 'true');
        assert.ok(relay.connections() >= 1);
      } finally {
        await relay.close();
      }
    });
  });
});
