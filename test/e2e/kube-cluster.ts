// A throwaway, real Kubernetes API server for end-to-end tests, in the spirit
// of controller-runtime's envtest: etcd + kube-apiserver (no controllers, no
// nodes) on free loopback ports, with generated TLS certificates, token
// authentication and RBAC. Everything lives in a fresh temp directory that is
// removed on stop; the processes are killed on stop, on dispose, and when the
// Node process exits or is interrupted.
//
//   await using cluster = await startKubeCluster();
//   const leases = cluster.adminKubeConfig().makeApiClient(CoordinationV1Api);
import { KubeConfig } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { startEtcd, startKubeApiserver } from './control-plane.js';
import { onProcessExit } from './exit-hooks.js';
import { httpGet, pollUntil } from './http-probe.js';
import { resolveKubeBinaries } from './kube-binaries.js';
import { generateClusterCerts, issueCert } from './kube-certs.js';
import {
  assertValidUserName,
  createUserToken,
  ensureNamespace,
  grantRules,
  USERS_NAMESPACE,
  waitForRules,
  type PolicyRule,
} from './kube-users.js';
import type { ManagedProcess } from './managed-process.js';
import { createWorkDir } from './work-dir.js';

export type { PolicyRule } from './kube-users.js';

export interface KubeCluster extends AsyncDisposable {
  /** `https://127.0.0.1:PORT` */
  readonly server: string;
  /** gitVersion reported by /version, e.g. `v1.37.2`. */
  readonly version: string;
  /**
   * etcd's client URL, `http://127.0.0.1:PORT` (plain http, no auth), for tests
   * that act on the storage directly through etcd's v3 JSON gateway. Compacting
   * etcd does not make a watch resume answer 410 (see restartApiserver).
   */
  readonly etcdUrl: string;
  /** Bearer-token identity in group system:masters; TLS verified against the cluster's CA. */
  adminKubeConfig(): KubeConfig;
  /** The identity made by createUser(user, ...). Throws for an unknown user. */
  kubeConfigFor(user: string): KubeConfig;
  /**
   * Returns a KubeConfig for user `name` after granting it `rules` in
   * `namespace` (default "default") through a Role + RoleBinding, once the
   * grant is in effect. The user is created on first use as a ServiceAccount
   * (the server sees `system:serviceaccount:leaselocker-e2e-users:<name>`;
   * see kube-users.ts for why). Calling again with another namespace adds
   * rights to the same identity; the same namespace twice is an error. Empty
   * `rules` give an identity with only the rights of any authenticated user.
   */
  createUser(name: string, rules: PolicyRule[], namespace?: string): Promise<KubeConfig>;
  /** Creates a namespace; one that already exists is fine. */
  createNamespace(name: string): Promise<void>;
  /**
   * Restarts kube-apiserver (replica `replica`, default the first) on the same
   * address; etcd and its data stay. The
   * new process fills its watch cache from the current revision, so a watch
   * resuming from an earlier resourceVersion answers 410 Expired, as it does
   * on a replica that restarted. (Compacting etcd does not do that: watches
   * are served from the watch cache, which keeps its own history.) Resolves
   * once the server is ready again.
   */
  restartApiserver(replica?: number): Promise<void>;
  /** Every kube-apiserver replica's `https://127.0.0.1:PORT`; the first is `server`. */
  readonly servers: readonly string[];
  /**
   * Restarts etcd on the same address with its data; resolves once every
   * kube-apiserver is ready again.
   */
  restartEtcd(): Promise<void>;
  /**
   * A serving certificate for 127.0.0.1 signed by the cluster's CA, for a
   * server in front of kube-apiserver that clients verify like the real one.
   */
  issueServingCert(name: string): Promise<{ cert: string; key: string }>;
  /**
   * A client certificate signed by the cluster's CA, which kube-apiserver trusts for client
   * authentication: the server sees user `user` in `groups`. A new key on every call.
   */
  issueClientCert(user: string, groups?: readonly string[]): Promise<{ cert: string; key: string }>;
  /** The cluster CA's certificate (PEM), for a KubeConfig of one's own. */
  readonly caCertPem: string;
  /** Kills both processes and removes the temp directory. Idempotent. */
  stop(): Promise<void>;
}

export interface StartKubeClusterOptions {
  /** Aborts start-up (not a running cluster: use stop() for that). */
  signal?: AbortSignal;
  /** Keep etcd.log and kube-apiserver.log in a new subdirectory of this directory instead of the temp dir. */
  logDir?: string;
  /** Per-process readiness deadline; default 60 s. Does not include building the binaries. */
  startTimeoutMs?: number;
  /** kube-apiserver replicas on the one etcd (an HA control plane); default 1. */
  apiservers?: number;
}

const CLUSTER_NAME = 'leaselocker-e2e';
const ADMIN_USER = 'leaselocker-e2e-admin';
const STOP_GRACE_MS = 5_000;

export async function startKubeCluster(options: StartKubeClusterOptions = {}): Promise<KubeCluster> {
  const { signal } = options;
  signal?.throwIfAborted();
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const binaries = await resolveKubeBinaries(signal);

  const workDir = await createWorkDir();
  const processes: ManagedProcess[] = [];
  const unregisterExitHook = onProcessExit(() => {
    for (const server of processes) server.killNow();
    rmSync(workDir, { recursive: true, force: true, maxRetries: 3 });
  });
  const teardown = async (): Promise<void> => {
    // kube-apiserver first, so it does not spend its shutdown retrying etcd.
    for (const server of [...processes].reverse()) await server.stop(STOP_GRACE_MS);
    await rm(workDir, { recursive: true, force: true, maxRetries: 3 });
    unregisterExitHook();
  };

  try {
    let logDir = workDir;
    if (options.logDir !== undefined) {
      await mkdir(options.logDir, { recursive: true });
      logDir = await mkdtemp(join(resolve(options.logDir), 'kube-cluster-'));
    }
    const certsDir = join(workDir, 'certs');
    await mkdir(certsDir);
    const certs = await generateClusterCerts(certsDir);

    // Only the admin is a static token; test users are ServiceAccounts.
    const adminToken = randomBytes(32).toString('hex');
    const tokenFile = join(workDir, 'tokens.csv');
    await writeFile(tokenFile, `${adminToken},${ADMIN_USER},${ADMIN_USER},"system:masters"\n`, { mode: 0o600 });

    const context = { workDir, logDir, signal, track: (server: ManagedProcess) => void processes.push(server) };
    const etcd = await startEtcd(binaries.etcd, context, startTimeoutMs);
    const apiserverOptions = { etcdUrl: etcd.url, certs, tokenFile, adminToken };
    const apiserver = await startKubeApiserver(binaries.kubeApiserver, apiserverOptions, context, startTimeoutMs);
    // Further replicas share etcd, certificates and tokens (an HA control plane); each has its own watch cache.
    const replicaOptions = (replica: number): typeof apiserverOptions & { logName?: string } =>
      replica === 0 ? apiserverOptions : { ...apiserverOptions, logName: `kube-apiserver-${String(replica + 1)}.log` };
    const replicas = [apiserver];
    for (let replica = 1; replica < (options.apiservers ?? 1); replica++) {
      replicas.push(await startKubeApiserver(binaries.kubeApiserver, replicaOptions(replica), context, startTimeoutMs));
    }
    // Start-up aborts only apply to the first start, not to a restart later on.
    const restartContext = { ...context, signal: undefined };
    const restartApiserver = async (replica = 0): Promise<void> => {
      const old = replicas[replica];
      if (!old) throw new Error(`there is no kube-apiserver replica ${String(replica)}`);
      await old.process.stop(STOP_GRACE_MS);
      processes.splice(processes.indexOf(old.process), 1);
      replicas[replica] = await startKubeApiserver(
        binaries.kubeApiserver, replicaOptions(replica), restartContext, startTimeoutMs, old.ports[0],
      );
    };
    let runningEtcd = etcd;
    const restartEtcd = async (): Promise<void> => {
      const old = runningEtcd;
      await old.process.stop(STOP_GRACE_MS);
      const index = processes.indexOf(old.process);
      processes.splice(index, 1);
      // Back in its place, so that teardown still stops the apiservers first.
      const track = (server: ManagedProcess): void => void processes.splice(index, 0, server);
      runningEtcd = await startEtcd(binaries.etcd, { ...restartContext, track }, startTimeoutMs, old.ports);
      const ready = { ca: certs.caCertPem, token: adminToken, timeoutMs: 2000 };
      for (const replica of replicas) {
        await pollUntil(
          async () => ((await httpGet(`${replica.url}/readyz`, ready).catch(() => undefined))?.status === 200 ? true : undefined),
          {
            deadline: Date.now() + startTimeoutMs,
            intervalMs: 100,
            onTimeout: () => Promise.resolve(new Error(`${replica.url} was not ready within ${String(startTimeoutMs)} ms of the etcd restart`)),
          },
        );
      }
    };
    const probe = { ca: certs.caCertPem, token: adminToken, ...(signal && { signal }) };
    const version = await readGitVersion(apiserver.url, probe);
    // /readyz does not wait for the built-in namespaces, which a controller
    // inside kube-apiserver creates just after start; createUser needs them.
    await pollUntil(
      async () => ((await httpGet(`${apiserver.url}/api/v1/namespaces/default`, probe)).status === 200 ? true : undefined),
      {
        deadline: Date.now() + startTimeoutMs,
        intervalMs: 50,
        signal,
        onTimeout: () => Promise.resolve(new Error('namespace "default" was not created in time')),
      },
    );
    return new RunningKubeCluster(
      apiserver.url, version, etcd.url, certs.caCertPem, adminToken, teardown, restartApiserver,
      {
        servers: replicas.map((replica) => replica.url), restartEtcd, issueServingCert: (name) => issueCert(certs, certsDir, name, { kind: 'serving' }),
        issueClientCert: (user, groups = []) => issueCert(certs, certsDir, `client-${user.replaceAll(':', '_')}-${randomBytes(4).toString('hex')}`, { kind: 'client', user, groups }),
      },
    );
  } catch (error) {
    await teardown().catch(() => {}); // report why start-up failed, not a cleanup hiccup
    throw error;
  }
}

async function readGitVersion(server: string, probe: { ca: string; token: string }): Promise<string> {
  const response = await httpGet(`${server}/version`, probe);
  const { gitVersion } = (response.status === 200 ? JSON.parse(response.body) : {}) as { gitVersion?: unknown };
  if (typeof gitVersion !== 'string') {
    throw new Error(`unexpected /version answer: HTTP ${String(response.status)} ${response.body}`);
  }
  return gitVersion;
}

interface ClusterExtras {
  readonly servers: readonly string[];
  readonly restartEtcd: () => Promise<void>;
  readonly issueServingCert: (name: string) => Promise<{ cert: string; key: string }>;
  readonly issueClientCert: (user: string, groups?: readonly string[]) => Promise<{ cert: string; key: string }>;
}

class RunningKubeCluster implements KubeCluster {
  readonly #caData: string;
  readonly #adminToken: string;
  readonly #teardown: () => Promise<void>;
  readonly #restartApiserver: (replica?: number) => Promise<void>;
  readonly #more: ClusterExtras;
  readonly #userTokens = new Map<string, string>();
  readonly #pendingUserTokens = new Map<string, Promise<string>>();
  #usersNamespace: Promise<void> | undefined;
  #stopped: Promise<void> | undefined;

  constructor(
    readonly server: string,
    readonly version: string,
    readonly etcdUrl: string,
    caCertPem: string,
    adminToken: string,
    teardown: () => Promise<void>,
    restartApiserver: (replica?: number) => Promise<void>,
    more: ClusterExtras,
  ) {
    this.#caData = Buffer.from(caCertPem).toString('base64');
    this.#adminToken = adminToken;
    this.#teardown = teardown;
    this.#restartApiserver = restartApiserver;
    this.#more = more;
  }

  get servers(): readonly string[] {
    return this.#more.servers;
  }

  async restartEtcd(): Promise<void> {
    this.#assertRunning();
    await this.#more.restartEtcd();
  }

  issueServingCert(name: string): Promise<{ cert: string; key: string }> {
    this.#assertRunning();
    return this.#more.issueServingCert(name);
  }

  issueClientCert(user: string, groups?: readonly string[]): Promise<{ cert: string; key: string }> {
    this.#assertRunning();
    return this.#more.issueClientCert(user, groups);
  }

  get caCertPem(): string {
    return Buffer.from(this.#caData, 'base64').toString('utf8');
  }

  adminKubeConfig(): KubeConfig {
    return this.#kubeConfig(ADMIN_USER, this.#adminToken);
  }

  kubeConfigFor(user: string): KubeConfig {
    const token = this.#userTokens.get(user);
    if (!token) throw new Error(`unknown user ${JSON.stringify(user)}: create it with createUser() first`);
    return this.#kubeConfig(user, token);
  }

  async createUser(name: string, rules: PolicyRule[], namespace = 'default'): Promise<KubeConfig> {
    this.#assertRunning();
    assertValidUserName(name);
    const admin = this.adminKubeConfig();
    // Concurrent calls for one name share the ServiceAccount and its token.
    let pending = this.#pendingUserTokens.get(name);
    if (!pending) {
      pending = this.#ensureUsersNamespace(admin).then(() => createUserToken(admin, name));
      this.#pendingUserTokens.set(name, pending);
    }
    let token: string;
    try {
      token = await pending;
    } catch (error) {
      this.#pendingUserTokens.delete(name);
      throw error;
    }
    this.#userTokens.set(name, token);
    const user = this.#kubeConfig(name, token);
    if (rules.length > 0) {
      await grantRules(admin, name, rules, namespace);
      await waitForRules(user, rules, namespace);
    }
    return user;
  }

  async createNamespace(name: string): Promise<void> {
    this.#assertRunning();
    await ensureNamespace(this.adminKubeConfig(), name);
  }

  async restartApiserver(replica?: number): Promise<void> {
    this.#assertRunning();
    await this.#restartApiserver(replica);
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#teardown();
    return this.#stopped;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #ensureUsersNamespace(admin: KubeConfig): Promise<void> {
    this.#usersNamespace ??= ensureNamespace(admin, USERS_NAMESPACE).catch((error: unknown) => {
      this.#usersNamespace = undefined;
      throw error;
    });
    return this.#usersNamespace;
  }

  #assertRunning(): void {
    if (this.#stopped) throw new Error('the cluster has been stopped');
  }

  #kubeConfig(user: string, token: string): KubeConfig {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: CLUSTER_NAME, server: this.server, caData: this.#caData, skipTLSVerify: false }],
      users: [{ name: user, token }],
      contexts: [{ name: user, cluster: CLUSTER_NAME, user }],
      currentContext: user,
    });
    return kubeConfig;
  }
}
