// Attacks on LeaseLock's own HTTP path (src/kube-http.ts, src/watch-stream.ts, src/lease-lock.ts):
// abandoned 401 bodies, answers that are not Leases, hanging credential plugins, proxies that
// fail, passwords in server URLs.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { LeaseLock, LeaseLockerError, LeaseRequestError } from '../src/index.js';
import { runUntilExit } from './helpers/child-exit.js';

function kubeConfigFor(server: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'secret-token' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return kubeConfig;
}

interface Misbehaving {
  readonly url: string;
  readonly sockets: Set<Socket>;
  close(): Promise<void>;
}

async function startServer(handler: (req: IncomingMessage, res: ServerResponse, socket: Socket) => void): Promise<Misbehaving> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => handler(req, res, req.socket));
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    sockets,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const sleep = async (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const lease = {
  apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
  metadata: { name: 'l', namespace: 'ns', resourceVersion: '7' },
  spec: { holderIdentity: 'someone', leaseDurationSeconds: 15 },
};

describe('HTTP path attacks', () => {
  // DEFECT: openKubeRequest answers a 401 with `first.resume()` and retries, but never destroys the
  // 401 response. When the server sends the 401's headers but not its body, that response (and
  // its socket, taken from the pooled agent or a dedicated one) stays open for ever: no timer
  // covers it (kubeRequest's timeout aborts only the retry), so each such 401 pins one of the
  // agent's 32 sockets for good (pool exhaustion) and a ref'd socket keeps the process alive
  // after unlock(). Expected: the 401 response is destroyed (or at least cut off by the timeout).
  // At fault: src/kube-http.ts openKubeRequest, `first.resume();`.
  it('a 401 whose body never arrives does not leave its socket open after the request ends', async () => {
    let firstSocket: Socket | undefined;
    const server = await startServer((_req, res, socket) => {
      if (firstSocket === undefined) {
        firstSocket = socket;
        res.writeHead(401, { 'Content-Type': 'application/json', 'Content-Length': '1000' });
        res.flushHeaders(); // headers only; the body never comes
        return;
      }
      const body = JSON.stringify(lease);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
    try {
      const lock = new LeaseLock(kubeConfigFor(server.url), { namespace: 'ns', name: 'l' }, 'me', { requestTimeoutMs: 300 });
      const snapshot = await lock.get();
      assert.equal(snapshot?.record.holderIdentity, 'someone');
      // Well past the request's own timeout.
      await sleep(1000);
      assert.ok(firstSocket !== undefined);
      assert.equal(firstSocket.destroyed || firstSocket.closed, true, 'the socket of the abandoned 401 answer is still open 1 s after the request ended');
    } finally {
      await server.close();
    }
  });

  // DEFECT: a 2xx whose JSON body is not a Lease (here `null`, as a misbehaving proxy or
  // webhook might send) escapes as a raw TypeError ("Cannot read properties of null") from
  // snapshotOf(), not as a LeaseLockerError. README "Errors" promises every error is a
  // LeaseLockerError with a stable code; the acquire loop's isTransient() is false for a
  // TypeError, so one bad answer fails lock() at once with an untyped error.
  // At fault: src/lease-lock.ts #send (`JSON.parse(response.body) as T`, no shape check) and snapshotOf.
  // Fix: check the parsed body is an object (and for list, that `items` is an array) and
  // throw LeaseRequestError(retryable) otherwise.
  it('get(): a 200 whose body is JSON null is a LeaseLockerError, not a TypeError', async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('null');
    });
    try {
      const lock = new LeaseLock(kubeConfigFor(server.url), { namespace: 'ns', name: 'l' }, 'me', { requestTimeoutMs: 2000 });
      await assert.rejects(lock.get(), (error: unknown) => {
        assert.ok(error instanceof LeaseLockerError, `got ${String(error)}`);
        return true;
      });
    } finally {
      await server.close();
    }
  });

  // DEFECT: same as above for list(): a 200 whose body is `{}` (no `items`, e.g. a Status or an
  // HTML-less empty object from a proxy) throws TypeError reading `items[0]`.
  // At fault: src/lease-lock.ts list(), `list.items[0]`.
  it('list(): a 200 whose body has no items is a LeaseLockerError, not a TypeError', async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"kind":"Status","status":"Success"}');
    });
    try {
      const lock = new LeaseLock(kubeConfigFor(server.url), { namespace: 'ns', name: 'l' }, 'me', { requestTimeoutMs: 2000 });
      await assert.rejects(lock.list(), (error: unknown) => {
        assert.ok(error instanceof LeaseLockerError, `got ${String(error)}`);
        return true;
      });
    } finally {
      await server.close();
    }
  });
  // DEFECT: a hanging exec credential plugin is cut short (raceAbort) but never killed:
  // client-node's ExecAuth spawns it with pipes and nothing ever ends it, so every attempt
  // leaves one more plugin process running. The request is retryable (timed out), so lock()
  // retries every retryPeriodMs and spawns another each time; the ref'd child handles keep the
  // process alive after unlock(). Expected: no plugin process left once the requests have
  // failed (kill the child on abort, or share one in-flight credential call per KubeConfig/user
  // so that retries do not pile up processes). Observed: one live plugin per attempt.
  // At fault: src/kube-http.ts openKubeRequest/prepare (`raceAbort(prepare(...))` abandons
  // the still-running `applyToHTTPSOptions`).
  it('a hanging exec plugin is not left running once its requests time out', { todo: 'client-node runs exec plugins and cannot be told to kill one; needs our own exec runner' }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'leaselocker-exec-'));
    const pidFile = join(dir, 'pids');
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'c', server: 'http://127.0.0.1:1', skipTLSVerify: true }],
      users: [{ name: 'u', exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'sh', args: ['-c', `echo $$ >> ${pidFile}; exec sleep 20`] } } as never],
      contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
      currentContext: 'ctx',
    });
    const lock = new LeaseLock(kubeConfig, { namespace: 'ns', name: 'l' }, 'me', { requestTimeoutMs: 300 });
    let pids: number[] = [];
    try {
      for (let i = 0; i < 3; i += 1) {
        await assert.rejects(lock.get(), (error: unknown) => error instanceof LeaseRequestError && error.timedOut);
      }
      await sleep(300);
      pids = readFileSync(pidFile, 'utf8').trim().split('\n').map(Number);
      const alive = pids.filter((pid) => {
        try { process.kill(pid, 0); return true; } catch { return false; }
      });
      assert.deepEqual(alive, [], `${alive.length} of ${pids.length} exec plugin processes are still running after their requests timed out`);
    } finally {
      for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // DEFECT: through an HTTP proxy (proxy-url), a proxy that answers CONNECT with 503 (its
  // upstream briefly unreachable: the proxy analogue of ECONNREFUSED) surfaces from hpagent as a
  // plain Error('Bad response: 503') without a code, which isRetryableNetworkError() does not
  // recognise: LeaseRequestError(retryable: false), so lock() fails at once on a transient
  // failure. Expected: retryable (as a 503 from the API server itself is).
  // At fault: src/kube-http.ts sendOnce `req.on('error', ...)` / isRetryableNetworkError.
  it('a proxy answering CONNECT with 503 is a retryable failure', async () => {
    const proxy = createServer();
    proxy.on('connect', (_req: IncomingMessage, socket: Socket) => {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n');
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const { port } = proxy.address() as AddressInfo;
    try {
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromOptions({
        clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true, proxyUrl: `http://127.0.0.1:${port}` } as never],
        users: [{ name: 'u', token: 'secret-token' }],
        contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
        currentContext: 'ctx',
      });
      const lock = new LeaseLock(kubeConfig, { namespace: 'ns', name: 'l' }, 'me', { requestTimeoutMs: 2000 });
      await assert.rejects(lock.get(), (error: unknown) => {
        assert.ok(error instanceof LeaseRequestError, `got ${String(error)}`);
        assert.equal(error.retryable, true, `not retryable: ${error.message}`);
        return true;
      });
    } finally {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });
  // DEFECT (same root cause as the first test, seen from the user's side): after one get() that
  // met a 401 whose body never came, the process does not exit by itself: the abandoned 401
  // response holds a ref'd socket for ever. README "Credentials and connections" promises
  // connections never keep the process alive. At fault: src/kube-http.ts openKubeRequest
  // `first.resume()`; fix: `first.destroy()` (or resume it under the request's signal/timeout,
  // destroying it on abort), for the pooled and the dedicated (watch) connection alike.
  it('a process whose request met a body-less 401 exits by itself', async () => {
    let answered = 0;
    const server = await startServer((_req, res) => {
      answered += 1;
      if (answered === 1) {
        res.writeHead(401, { 'Content-Type': 'application/json', 'Content-Length': '1000' });
        res.flushHeaders();
        return;
      }
      const body = JSON.stringify(lease);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
    try {
      const script = `
        import { KubeConfig } from '@kubernetes/client-node';
        import { LeaseLock } from './src/index.ts';
        const kubeConfig = new KubeConfig();
        kubeConfig.loadFromOptions({ clusters: [{ name: 'c', server: ${JSON.stringify(server.url)}, skipTLSVerify: true }], users: [{ name: 'u', token: 't' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
        const lock = new LeaseLock(kubeConfig, { namespace: 'ns', name: 'l' }, 'me', { requestTimeoutMs: 500 });
        const snapshot = await lock.get();
        console.log(snapshot?.record.holderIdentity);
      `;
      const child = await runUntilExit(['--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('..', import.meta.url), exitTimeoutMs: 5_000 });
      assert.equal(child.stdout.trim(), 'someone', child.stderr);
      assert.equal(child.code, 0, 'the process did not exit by itself within 5 s of its last request');
    } finally {
      await server.close();
    }
  });

  // DEFECT (minor): a server URL carrying userinfo (`http://user:password@host`) is copied
  // verbatim into LeaseRequestError messages (and so into logs) when it is refused: the password
  // leaks. At fault: src/kube-http.ts prepare(), the `refuse(...)` messages that embed
  // `JSON.stringify(cluster.server)`. Fix: print the URL with username/password stripped.
  it('a refused server URL does not leak the password it carries', async () => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'c', server: 'http://admin:hunter2@127.0.0.1:1' }],
      users: [{ name: 'u', token: 'secret-token' }],
      contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
      currentContext: 'ctx',
    });
    const lock = new LeaseLock(kubeConfig, { namespace: 'ns', name: 'l' }, 'me', { requestTimeoutMs: 1000 });
    await assert.rejects(lock.get(), (error: unknown) => {
      assert.ok(error instanceof LeaseRequestError);
      assert.doesNotMatch(error.message, /hunter2/);
      return true;
    });
  });
});
