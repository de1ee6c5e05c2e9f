// Every kind of KubeConfig credential against a real kube-apiserver: bearer token, in-cluster
// configuration with its token file rotated during a hold, client certificates rotated during a
// hold, an exec plugin whose token rotates; and configurations no retry can heal, which fail at once.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import type { User } from '@kubernetes/client-node';
import { CredentialError, LeaseLocker, LeaseRequestError } from '../../src/index.js';
import type { LeaseLockerOptions } from '../../src/index.js';
import { waitFor } from '../helpers/wait-for.js';
import { uniqueLeaseName } from '../suites/lease-server.js';
import { startKubeCluster } from './kube-cluster.js';
import type { KubeCluster, PolicyRule } from './kube-cluster.js';
import { grantUser, issueRevocableToken, waitForLeaseReadStatus } from './kube-tokens.js';

const namespace = 'leaselocker-e2e-credentials';
const leaseRules: PolicyRule[] = [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch', 'create', 'update'] }];
// Renewals often enough that a rotation meets several of them, and a deadline short enough that
// a renewal failing for the old credential's sake would lose the hold within the test.
const timing: LeaseLockerOptions = { leaseDurationMs: 6_000, renewDeadlineMs: 4_000, retryPeriodMs: 200, requestTimeoutMs: 3_000 };

describe('credentials against a real kube-apiserver', () => {
  let cluster: KubeCluster;
  let dir: string;
  const lockers: LeaseLocker[] = [];

  before(async () => {
    cluster = await startKubeCluster();
    await cluster.createNamespace(namespace);
    await cluster.createUser('credentials-sa', leaseRules, namespace);
    dir = await mkdtemp(join(tmpdir(), 'leaselocker-credentials-'));
  });
  after(async () => {
    await Promise.all(lockers.map(async (l) => l.unlock().catch(() => false)));
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** A KubeConfig for the cluster, verifying its CA, with `user`. */
  const kubeConfigWith = (user: User, caPem = cluster.caCertPem): KubeConfig => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'e2e', server: cluster.server, caData: Buffer.from(caPem).toString('base64'), skipTLSVerify: false }],
      users: [user],
      contexts: [{ name: 'e2e', cluster: 'e2e', user: user.name, namespace }],
      currentContext: 'e2e',
    });
    return kubeConfig;
  };
  const locker = (kubeConfig: KubeConfig, name: string, options: LeaseLockerOptions = {}): LeaseLocker => {
    const created = new LeaseLocker(kubeConfig, { namespace, name }, 'holder', { ...timing, ...options });
    lockers.push(created);
    return created;
  };
  /** Holds the lock through `rotate()` and `renewals` renewals after it; fails if the hold is lost. */
  const holdThrough = async (a: LeaseLocker, rotate: () => Promise<void>, renewals = 5): Promise<void> => {
    let lost: unknown;
    let renewed = 0;
    a.on('lost', (error) => { lost = error; });
    a.on('renewed', () => { renewed += 1; });
    await a.lock();
    await waitFor(() => renewed >= 2, 'two renewals before the rotation', 20_000);
    await rotate();
    const before = renewed;
    await waitFor(() => renewed >= before + renewals || lost !== undefined, `${renewals} renewals after the rotation`, 30_000);
    assert.equal(lost, undefined, `the hold survived: ${String(lost)}`);
    assert.equal(a.isLocked, true);
    assert.equal(await a.unlock(), true);
  };
  const writeAtomically = async (path: string, content: string): Promise<void> => {
    await writeFile(`${path}.new`, content, { mode: 0o600 });
    await rename(`${path}.new`, path);
  };

  it('bearer token', async () => {
    const a = locker(cluster.kubeConfigFor('credentials-sa'), uniqueLeaseName('bearer'));
    assert.ok(await a.tryLock());
    assert.equal(await a.unlock(), true);
  });

  it('in-cluster configuration (loadFromCluster): its token file rotated during a hold, the old token revoked', async () => {
    const root = join(dir, 'in-cluster');
    const serviceAccountDir = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
    await mkdir(serviceAccountDir, { recursive: true });
    const first = await issueRevocableToken(cluster.adminKubeConfig(), 'credentials-sa');
    const second = await issueRevocableToken(cluster.adminKubeConfig(), 'credentials-sa');
    await writeAtomically(join(serviceAccountDir, 'token'), first.token);
    await writeFile(join(serviceAccountDir, 'ca.crt'), cluster.caCertPem);
    await writeFile(join(serviceAccountDir, 'namespace'), namespace);
    const { hostname, port } = new URL(cluster.server);
    const saved = { host: process.env['KUBERNETES_SERVICE_HOST'], port: process.env['KUBERNETES_SERVICE_PORT'] };
    process.env['KUBERNETES_SERVICE_HOST'] = hostname;
    process.env['KUBERNETES_SERVICE_PORT'] = port;
    const kubeConfig = new KubeConfig();
    try {
      kubeConfig.loadFromCluster(root);
    } finally {
      if (saved.host === undefined) delete process.env['KUBERNETES_SERVICE_HOST'];
      else process.env['KUBERNETES_SERVICE_HOST'] = saved.host;
      if (saved.port === undefined) delete process.env['KUBERNETES_SERVICE_PORT'];
      else process.env['KUBERNETES_SERVICE_PORT'] = saved.port;
    }
    assert.equal(kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace, namespace);
    const name = uniqueLeaseName('in-cluster');
    await holdThrough(locker(kubeConfig, name), async () => {
      // As the kubelet does: a new token in place of the old, then the old one stops working.
      await writeAtomically(join(serviceAccountDir, 'token'), second.token);
      await first.revoke();
      await waitForLeaseReadStatus(kubeConfigWith({ name: 'old', token: first.token }), namespace, name, [401]);
    });
  });

  it('exec plugin: its token rotated during a hold, the old token revoked', async () => {
    const tokenFile = join(dir, 'exec-token');
    const runsFile = join(dir, 'exec-runs');
    const plugin = join(dir, 'credential-plugin.mjs');
    // Names an expiry an hour away, so client-node keeps the credential: only a 401 makes it run again.
    await writeFile(plugin, `
      import { appendFileSync, readFileSync } from 'node:fs';
      const [tokenFile, runsFile] = process.argv.slice(2);
      appendFileSync(runsFile, 'x');
      const expirationTimestamp = new Date(Date.now() + 3_600_000).toISOString().replace(/\\.\\d+Z$/, 'Z');
      process.stdout.write(JSON.stringify({
        apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential',
        status: { token: readFileSync(tokenFile, 'utf8').trim(), expirationTimestamp },
      }));
    `);
    await writeFile(runsFile, '');
    const first = await issueRevocableToken(cluster.adminKubeConfig(), 'credentials-sa');
    const second = await issueRevocableToken(cluster.adminKubeConfig(), 'credentials-sa');
    await writeAtomically(tokenFile, first.token);
    const kubeConfig = kubeConfigWith({
      name: 'exec-user',
      exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: [plugin, tokenFile, runsFile], interactiveMode: 'Never' },
    });
    const name = uniqueLeaseName('exec');
    await holdThrough(locker(kubeConfig, name), async () => {
      await writeAtomically(tokenFile, second.token);
      await first.revoke();
      await waitForLeaseReadStatus(kubeConfigWith({ name: 'old', token: first.token }), namespace, name, [401]);
    });
  });

  it('client certificate: rotated during a hold, the old one stripped of its rights', async () => {
    const name = uniqueLeaseName('client-cert');
    const admin = cluster.adminKubeConfig();
    const [old, fresh] = await Promise.all([cluster.issueClientCert('cert-user-old'), cluster.issueClientCert('cert-user-new')]);
    const revokeOld = await grantUser(admin, 'cert-user-old', leaseRules, namespace);
    await grantUser(admin, 'cert-user-new', leaseRules, namespace);
    const asUser = (certificate: { cert: string; key: string }, userName: string): User => ({
      name: userName, certData: Buffer.from(certificate.cert).toString('base64'), keyData: Buffer.from(certificate.key).toString('base64'),
    });
    const kubeConfig = kubeConfigWith(asUser(old, 'cert'));
    await waitForLeaseReadStatus(kubeConfigWith(asUser(old, 'old')), namespace, name, [404]);
    await waitForLeaseReadStatus(kubeConfigWith(asUser(fresh, 'new')), namespace, name, [404]);
    await holdThrough(locker(kubeConfig, name), async () => {
      kubeConfig.users = [asUser(fresh, 'cert')];
      await revokeOld();
      await waitForLeaseReadStatus(kubeConfigWith(asUser(old, 'old')), namespace, name, [403]);
    });
  });

  describe('configurations no retry can heal fail at once', () => {
    const expectAtOnce = async (a: LeaseLocker, check: (error: unknown) => void): Promise<void> => {
      // A retried error would make lock() spin until this signal ends it.
      const error: unknown = await a.lock({ signal: AbortSignal.timeout(20_000) }).then(() => undefined, (e: unknown) => e);
      check(error);
    };

    it('a CA that did not sign the server certificate', async () => {
      const other = await cluster.issueServingCert('not-the-ca');
      const a = locker(kubeConfigWith({ name: 'u', token: 'unused' }, other.cert), uniqueLeaseName('wrong-ca'));
      await expectAtOnce(a, (error) => {
        assert.ok(error instanceof LeaseRequestError, String(error));
        assert.equal(error.retryable, false);
      });
    });

    it('an exec plugin that cannot be run', async () => {
      const missing = join(dir, 'no-such-plugin');
      const a = locker(kubeConfigWith({ name: 'exec-missing', exec: { apiVersion: 'client.authentication.k8s.io/v1', command: missing, args: [] } }), uniqueLeaseName('exec-missing'));
      await expectAtOnce(a, (error) => {
        assert.ok(error instanceof CredentialError, String(error));
        assert.equal(error.code, 'CREDENTIALS');
      });
    });

    it('an exec plugin that fails', async () => {
      const failing = join(dir, 'failing-plugin.sh');
      await writeFile(failing, '#!/bin/sh\necho "no credentials for you" >&2\nexit 3\n');
      await chmod(failing, 0o755);
      const a = locker(kubeConfigWith({ name: 'exec-failing', exec: { apiVersion: 'client.authentication.k8s.io/v1', command: failing, args: [] } }), uniqueLeaseName('exec-failing'));
      await expectAtOnce(a, (error) => {
        assert.ok(error instanceof CredentialError, String(error));
        assert.match(error.message, /no credentials for you/);
      });
    });
  });
});
