// LeaseLocker facing bad credentials, missing rights, a namespace that does not exist, a server
// that cannot be reached and a certificate it must not trust: typed errors, at once where a retry
// cannot help, retried with pauses where it can, and every wait cut short by its signal.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { LeaseApiError, LeaseLocker, LeaseRequestError, LockLostError } from '../src/index.js';
import type { LeaseLockerOptions } from '../src/index.js';
import { startLeaseApiEmulator } from '../src/testing/index.js';
import { emulatorSuite } from './helpers/emulator-client.js';
import { uniqueLeaseName } from './suites/lease-server.js';

/** A retry period long enough that "at once" and "after a pause" cannot be confused, even on a loaded machine. */
const timing = { leaseDurationMs: 6_000, renewDeadlineMs: 4_000, retryPeriodMs: 2_000, requestTimeoutMs: 1_000 } as const;
/** What "at once" means here: well under one retry period. */
const promptMs = timing.retryPeriodMs / 2;

function kubeConfigFor(server: string, user: { token: string }, cluster: { caData?: string; skipTLSVerify?: boolean } = { skipTLSVerify: true }): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server, ...cluster }],
    users: [{ name: 'u', ...user }],
    contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    currentContext: 'c',
  });
  return kubeConfig;
}

/** Keeps a regression (an error retried instead of rejected) from hanging the run: it then fails, late. */
function hangGuard(): AbortSignal {
  return AbortSignal.timeout(10_000);
}

/** Runs `call`, and returns what it rejected with and how long that took. */
async function rejection(call: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  try {
    await call;
  } catch (error) {
    return { error, ms: performance.now() - started };
  }
  assert.fail('expected a rejection');
}

/** Aborts after `ms`, and returns how long the call took to reject after the abort, and with what. */
async function abortAfter(ms: number, call: (signal: AbortSignal) => Promise<unknown>): Promise<{ error: unknown; afterAbortMs: number }> {
  const controller = new AbortController();
  const reason = new Error('caller gave up');
  const settled = call(controller.signal).then(
    () => assert.fail('expected the call to reject with the abort reason'),
    (error: unknown) => ({ error, at: performance.now() }),
  );
  await new Promise((resolve) => setTimeout(resolve, ms));
  const abortedAt = performance.now();
  controller.abort(reason);
  const { error, at } = await settled;
  assert.equal(error, reason, `rejected with ${String(error)} instead of the signal's reason`);
  return { error, afterAbortMs: at - abortedAt };
}

/** A TCP server that accepts connections and resets them at once, counting them. */
async function startResetServer(): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.resetAndDestroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A loopback URL on which nothing listens: a port that was just free. */
async function closedPortUrl(): Promise<string> {
  const server: Server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `https://127.0.0.1:${port}`;
}

describe('LeaseLocker facing bad access and unreachable servers (emulator)', () => {
  const suite = emulatorSuite();
  const locker = (name: string, owner: string, options: LeaseLockerOptions = {}, kubeConfig = suite.emulator.kubeConfig(), namespace = 'default'): LeaseLocker => {
    const created = new LeaseLocker(kubeConfig, { namespace, name }, owner, { ...timing, ...options });
    return suite.track(created);
  };

  it('401 for an unknown token: lock() and tryLock() reject at once, without a retry loop', async () => {
    const name = uniqueLeaseName('unauthorized');
    const kubeConfig = kubeConfigFor(suite.emulator.url, { token: 'not-a-known-token' });
    for (const call of [(l: LeaseLocker) => l.lock({ signal: hangGuard() }), (l: LeaseLocker) => l.tryLock({ signal: hangGuard() })]) {
      suite.emulator.resetRequests();
      const { error, ms } = await rejection(call(locker(name, 'a', {}, kubeConfig)));
      assert.ok(error instanceof LeaseApiError, String(error));
      assert.equal(error.code, 'API_ERROR');
      assert.equal(error.statusCode, 401);
      assert.equal(error.reason, 'Unauthorized');
      assert.ok(ms < promptMs, `rejected after ${Math.round(ms)} ms`);
      // One request, and at most one more with the credentials read again (a rotated token).
      assert.ok(suite.emulator.countRequests() <= 2, `${suite.emulator.countRequests()} requests`);
    }
  });

  it('a token revoked while holding: the hold is declared lost (fatal) at the first refused renewal', async () => {
    const name = uniqueLeaseName('revoked');
    const a = locker(name, 'a');
    await a.lock();
    const lost = new Promise<LockLostError>((resolve) => a.once('lost', resolve));
    const revokedAt = performance.now();
    const fault = suite.emulator.faults.fail({ status: 401 }, { verb: 'update', name });
    const error = await lost;
    const ms = performance.now() - revokedAt;
    fault.clear();
    assert.equal(error.reason, 'fatal');
    assert.ok(error.cause instanceof LeaseApiError && error.cause.statusCode === 401, String(error.cause));
    assert.ok(ms < timing.renewDeadlineMs, `lost ${Math.round(ms)} ms after the revocation, not at the first refused renewal`);
    assert.equal(a.isLocked, false);
  });

  it('403 on create: lock() rejects at once with the server\'s message', async () => {
    const name = uniqueLeaseName('no-create');
    const kubeConfig = suite.emulator.addUser(`no-create-${process.pid}`, { verbs: ['get', 'list', 'watch', 'update'] });
    const { error, ms } = await rejection(locker(name, 'a', {}, kubeConfig).lock({ signal: hangGuard() }));
    assert.ok(error instanceof LeaseApiError, String(error));
    assert.equal(error.statusCode, 403);
    assert.match(error.statusMessage, /cannot create resource "leases"/);
    assert.ok(ms < promptMs, `rejected after ${Math.round(ms)} ms`);
    assert.equal(suite.emulator.getLease('default', name), undefined);
  });

  it('a namespace that does not exist: lock() rejects at once with 404 NotFound', async () => {
    const name = uniqueLeaseName('no-namespace');
    const { error, ms } = await rejection(locker(name, 'a', {}, suite.emulator.kubeConfig(), 'nowhere').lock({ signal: hangGuard() }));
    assert.ok(error instanceof LeaseApiError, String(error));
    assert.equal(error.statusCode, 404);
    assert.equal(error.reason, 'NotFound');
    assert.match(error.statusMessage, /namespaces "nowhere" not found/);
    assert.ok(ms < promptMs, `rejected after ${Math.round(ms)} ms`);
  });

  it('a closed port: tryLock() rejects at once with REQUEST_FAILED; lock() keeps trying until aborted', async () => {
    const kubeConfig = kubeConfigFor(await closedPortUrl(), { token: 'any' });
    const name = uniqueLeaseName('closed-port');
    const { error, ms } = await rejection(locker(name, 'a', {}, kubeConfig).tryLock());
    assert.ok(error instanceof LeaseRequestError, String(error));
    assert.equal(error.code, 'REQUEST_FAILED');
    assert.equal(error.timedOut, false);
    assert.ok(ms < promptMs, `rejected after ${Math.round(ms)} ms`);
    // Retrying can help (the server may come up): lock() waits, across more than one retry
    // period, and an abort ends it at once.
    const { afterAbortMs } = await abortAfter(timing.retryPeriodMs * 1.5, async (signal) => locker(name, 'b', {}, kubeConfig).lock({ signal }));
    assert.ok(afterAbortMs < 200, `rejected ${Math.round(afterAbortMs)} ms after the abort`);
  });

  it('the server going away while held: renewals keep trying, and the loss comes at the renew deadline', async () => {
    const gone = await startLeaseApiEmulator();
    const quick = { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 300, requestTimeoutMs: 500 };
    const a = locker(uniqueLeaseName('gone'), 'a', quick, gone.kubeConfig());
    await a.lock();
    const lost = new Promise<LockLostError>((resolve) => a.once('lost', resolve));
    const closedAt = performance.now();
    await gone.close(); // from now on every connection is refused
    const error = await lost;
    const ms = performance.now() - closedAt;
    assert.equal(error.reason, 'renew-deadline', 'a refused connection may heal: not a fatal error');
    assert.ok(ms < quick.leaseDurationMs, `lost ${Math.round(ms)} ms after the server went away`);
    assert.equal(a.isLocked, false);
  });

  it('connections reset: lock() retries once per retry period, not in a hot loop', async () => {
    const server = await startResetServer();
    try {
      const a = locker(uniqueLeaseName('reset'), 'a', { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 300 }, kubeConfigFor(server.url, { token: 'any' }));
      const { afterAbortMs } = await abortAfter(1_600, async (signal) => a.lock({ signal }));
      assert.ok(afterAbortMs < 200, `rejected ${Math.round(afterAbortMs)} ms after the abort`);
      // 1.6 s at one attempt per 300 ms (plus jitter) is 5 or 6 attempts; allow a connection
      // retried by the HTTP client on each, but no hot loop.
      const connections = server.connections();
      assert.ok(connections >= 3 && connections <= 14, `${connections} connections in 1.6 s`);
    } finally {
      await server.close();
    }
  });

  it('a silent server: aborting lock() or tryLock() in the middle of a request rejects at once', async () => {
    const name = uniqueLeaseName('silent-abort');
    const hole = suite.emulator.faults.blackhole({ name });
    try {
      for (const call of [
        async (signal: AbortSignal) => locker(name, 'a', { requestTimeoutMs: 5_000 }).lock({ signal }),
        async (signal: AbortSignal) => locker(name, 'b', { requestTimeoutMs: 5_000 }).tryLock({ signal }),
      ]) {
        const { afterAbortMs } = await abortAfter(300, call);
        assert.ok(afterAbortMs < 200, `rejected ${Math.round(afterAbortMs)} ms after the abort`);
      }
    } finally {
      hole.clear();
    }
  });

  it('backs off where retrying can help: 503 once per retry period, 429 after its Retry-After', async () => {
    const name = uniqueLeaseName('backoff');
    const quick = { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 300 };
    suite.emulator.faults.fail({ status: 503, times: 3 }, { verb: 'list', name });
    suite.emulator.faults.fail({ status: 429, times: 1, retryAfterSeconds: 1 }, { verb: 'list', name });
    const a = locker(name, 'a', quick);
    await a.lock();
    const lists = suite.emulator.requests.filter((r) => r.name === name && r.verb === 'list');
    assert.deepEqual(lists.map((r) => r.status), [503, 503, 503, 429, 200]);
    const gaps = lists.slice(1).map((r, i) => r.at - lists[i]!.at);
    // The emulator stamps arrival in whole milliseconds: allow one either way.
    for (const gap of gaps.slice(0, 3)) assert.ok(gap >= quick.retryPeriodMs - 1, `retried ${gap} ms after a 503`);
    assert.ok(gaps[3]! >= 999, `retried ${gaps[3]} ms after a 429 with Retry-After: 1`);
    await a.unlock();
  });

  it('aborting lock() during the pause after a 503 rejects at once', async () => {
    const name = uniqueLeaseName('backoff-abort');
    const fault = suite.emulator.faults.fail({ status: 503 }, { name });
    try {
      const { afterAbortMs } = await abortAfter(timing.retryPeriodMs / 2, async (signal) => locker(name, 'a').lock({ signal }));
      assert.ok(afterAbortMs < 200, `rejected ${Math.round(afterAbortMs)} ms after the abort`);
      assert.ok(fault.hits >= 1);
    } finally {
      fault.clear();
    }
  });

  it('aborting unlock() while the release goes unanswered rejects at once; a later unlock() releases', async () => {
    const name = uniqueLeaseName('unlock-abort');
    const a = locker(name, 'a', { requestTimeoutMs: 5_000 });
    await a.lock();
    const hole = suite.emulator.faults.blackhole({ name, verb: 'update' });
    const { afterAbortMs } = await abortAfter(300, async (signal) => a.unlock({ signal }));
    hole.clear();
    assert.ok(afterAbortMs < 200, `rejected ${Math.round(afterAbortMs)} ms after the abort`);
    assert.equal(await a.unlock(), true);
    assert.equal(suite.emulator.getLease('default', name)?.spec.holderIdentity, '');
  });

  it('withLock(): aborting its signal while it waits rejects it, runs nothing, and leaves nothing held', async () => {
    const name = uniqueLeaseName('withlock-abort');
    const holder = locker(name, 'holder');
    await holder.lock();
    let ran = false;
    const { afterAbortMs } = await abortAfter(300, async (signal) => locker(name, 'a').withLock(() => { ran = true; }, { signal }));
    assert.ok(afterAbortMs < 200, `rejected ${Math.round(afterAbortMs)} ms after the abort`);
    assert.equal(ran, false);
    assert.equal(suite.emulator.getLease('default', name)?.spec.holderIdentity, 'holder');
    await holder.unlock();
  });
});

describe('LeaseLocker facing a server certificate it must not trust', () => {
  let dir: string;
  let url: string;
  let otherCa: string;
  let server: ReturnType<typeof createHttpsServer> | undefined;
  let requests = 0;
  const lockers: LeaseLocker[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'leaselocker-tls-'));
    const selfSigned = async (stem: string): Promise<void> => {
      await promisify(execFile)('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', join(dir, `${stem}.key`), '-out', join(dir, `${stem}.crt`), '-days', '1',
        '-subj', `/CN=${stem}`, '-addext', 'subjectAltName=IP:127.0.0.1',
      ]);
    };
    await Promise.all([selfSigned('served'), selfSigned('trusted')]);
    otherCa = (await readFile(join(dir, 'trusted.crt'))).toString('base64');
    const tlsServer = createHttpsServer({ key: await readFile(join(dir, 'served.key')), cert: await readFile(join(dir, 'served.crt')) }, (_request, response) => {
      requests += 1;
      response.writeHead(500).end();
    });
    server = tlsServer;
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(tlsServer.address() as AddressInfo).port}`;
  });
  after(async () => {
    await Promise.all(lockers.map(async (l) => l.unlock().catch(() => false)));
    if (server !== undefined) {
      const closing = server;
      closing.closeAllConnections();
      await new Promise((resolve) => closing.close(resolve));
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('a certificate signed by another CA: lock() and tryLock() reject at once with REQUEST_FAILED, sending nothing', async () => {
    const kubeConfig = kubeConfigFor(url, { token: 'secret-token' }, { caData: otherCa });
    for (const call of [(l: LeaseLocker) => l.lock({ signal: hangGuard() }), (l: LeaseLocker) => l.tryLock({ signal: hangGuard() })]) {
      const a = new LeaseLocker(kubeConfig, { namespace: 'default', name: uniqueLeaseName('tls') }, 'a', timing);
      lockers.push(a);
      const { error, ms } = await rejection(call(a));
      assert.ok(error instanceof LeaseRequestError, String(error));
      assert.equal(error.code, 'REQUEST_FAILED');
      assert.equal(error.timedOut, false);
      assert.equal(error.retryable, false, 'no retry heals an untrusted certificate');
      assert.ok(ms < promptMs, `rejected after ${Math.round(ms)} ms`);
    }
    assert.equal(requests, 0, 'no request (and no token) reached the untrusted server');
  });
});
