// LeaseLock's HTTP path over TLS, with client certificates: a TLS front (made with openssl
// certificates) relays to the emulator and tells which client certificate each connection
// presented. A rotated client certificate gets a new connection and the superseded one is
// closed; a CA that did not sign the server's certificate fails at once.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createServer } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { LeaseLocker, LeaseRequestError } from '../src/index.js';
import { startLeaseApiEmulator } from '../src/testing/index.js';
import type { LeaseApiEmulator } from '../src/testing/index.js';
import { waitFor } from './helpers/wait-for.js';
import { uniqueLeaseName } from './suites/lease-server.js';

const run = promisify(execFile);

interface Pem {
  readonly cert: string;
  readonly key: string;
}

/** A CA, a serving certificate for 127.0.0.1 and two client certificates, from the openssl CLI. */
async function makeCertificates(dir: string): Promise<{ ca: Pem; otherCa: Pem; server: Pem; clientA: Pem; clientB: Pem }> {
  const file = (name: string): string => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const read = async (name: string): Promise<Pem> => ({ cert: await readFile(file(`${name}.crt`), 'utf8'), key: await readFile(file(`${name}.key`), 'utf8') });
  for (const ca of ['ca', 'other-ca']) {
    await run('openssl', ['req', '-x509', ...ec, '-keyout', file(`${ca}.key`), '-out', file(`${ca}.crt`), '-days', '1', '-subj', `/CN=${ca}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  }
  await writeFile(file('server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await writeFile(file('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, ext] of [['server', 'server.ext'], ['client-a', 'client.ext'], ['client-b', 'client.ext']] as const) {
    await run('openssl', ['req', ...ec, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${name}`]);
    await run('openssl', ['x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-set_serial', String(Date.now()),
      '-days', '1', '-extfile', file(ext), '-out', file(`${name}.crt`)]);
  }
  return { ca: await read('ca'), otherCa: await read('other-ca'), server: await read('server'), clientA: await read('client-a'), clientB: await read('client-b') };
}

describe('LeaseLock over TLS with client certificates (emulator behind a TLS front)', () => {
  let dir: string;
  let emulator: LeaseApiEmulator;
  let certificates: Awaited<ReturnType<typeof makeCertificates>>;
  let server: ReturnType<typeof createServer>;
  let url: string;
  /** Connections by the CN of the client certificate they presented; `open` until the client closes them. */
  const connections: Array<{ cn: string; open: boolean; closedAt?: number }> = [];
  const sockets = new Set<TLSSocket>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'leaselocker-tls-'));
    certificates = await makeCertificates(dir);
    emulator = await startLeaseApiEmulator();
    const target = new URL(emulator.url);
    server = createServer({ ...certificates.server, ca: certificates.ca.cert, requestCert: true, rejectUnauthorized: true }, (socket) => {
      sockets.add(socket);
      const peer = socket.getPeerCertificate();
      const entry: { cn: string; open: boolean; closedAt?: number } = { cn: typeof peer.subject.CN === 'string' ? peer.subject.CN : '', open: true };
      connections.push(entry);
      // The client's connection stays open until the client closes it, whatever the emulator does.
      const upstream = connect(Number(target.port), target.hostname);
      socket.on('data', (chunk: Buffer) => upstream.write(chunk));
      upstream.on('data', (chunk) => socket.write(chunk));
      socket.on('close', () => { entry.open = false; entry.closedAt = performance.now(); upstream.destroy(); });
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    });
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await emulator.close();
    await rm(dir, { recursive: true, force: true });
  });

  const kubeConfigWith = (client: Pem, ca = certificates.ca.cert): KubeConfig => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'c', server: url, caData: Buffer.from(ca).toString('base64') }],
      users: [{ name: 'u', certData: Buffer.from(client.cert).toString('base64'), keyData: Buffer.from(client.key).toString('base64'), token: emulator.token() }],
      contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
      currentContext: 'ctx',
    });
    return kubeConfig;
  };

  it('a rotated client certificate gets a new connection; the superseded one is closed once idle', async () => {
    const kubeConfig = kubeConfigWith(certificates.clientA);
    const a = new LeaseLocker(kubeConfig, { namespace: 'default', name: uniqueLeaseName('tls-rotation') }, 'a', { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 50 });
    let renewals = 0;
    a.on('renewed', () => { renewals += 1; });
    await a.lock();
    await waitFor(() => renewals >= 5, 'renewals with the first certificate');
    assert.deepEqual(connections.map((c) => c.cn), ['client-a'], 'one connection, reused');
    kubeConfig.users = [{ ...kubeConfig.users[0], name: 'u', certData: Buffer.from(certificates.clientB.cert).toString('base64'), keyData: Buffer.from(certificates.clientB.key).toString('base64') }];
    const rotatedAt = performance.now();
    const before = renewals;
    await waitFor(() => renewals >= before + 5, 'renewals with the rotated certificate');
    assert.deepEqual(connections.map((c) => c.cn), ['client-a', 'client-b']);
    await waitFor(() => connections[0]?.open === false, 'the superseded connection closed by the client');
    // At once, not when the idle connection would time out (the server's Keep-Alive hint, 5 s, makes Node close it after 4 s).
    assert.ok((connections[0]?.closedAt ?? Infinity) - rotatedAt < 3_000, 'closed as soon as it was superseded');
    assert.equal(connections[1]?.open, true);
    assert.equal(await a.unlock(), true);
  });

  it('a CA that did not sign the server certificate fails at once, not retried', async () => {
    const a = new LeaseLocker(kubeConfigWith(certificates.clientA, certificates.otherCa.cert), { namespace: 'default', name: uniqueLeaseName('tls-wrong-ca') }, 'a', { retryPeriodMs: 20 });
    const error: unknown = await a.lock({ signal: AbortSignal.timeout(5_000) }).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof LeaseRequestError, String(error));
    assert.equal(error.retryable, false);
    assert.match(error.message, /certificate/);
  });
});
