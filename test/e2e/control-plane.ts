// Starts etcd and kube-apiserver on free loopback ports and waits until each
// is ready. A port picked by freeLoopbackPort() can be taken by someone else
// before the server binds it, so a start that fails with "address already in
// use" is retried on new ports.
import { rename } from 'node:fs/promises';
import { join } from 'node:path';

import type { ClusterCerts } from './kube-certs.js';
import { freeLoopbackPort } from './free-port.js';
import { httpGet, pollUntil } from './http-probe.js';
import { startManagedProcess, tailLog, type ManagedProcess } from './managed-process.js';

const PORT_ATTEMPTS = 5;
const POLL_INTERVAL_MS = 100;

export interface RunningServer {
  readonly process: ManagedProcess;
  readonly url: string;
  /** The ports it listens on (a restart on the same ports keeps its address). */
  readonly ports: readonly number[];
}

interface StartContext {
  readonly workDir: string;
  readonly logDir: string;
  readonly signal: AbortSignal | undefined;
  /** Called with each process as soon as it is spawned, so it can be torn down on any failure. */
  readonly track: (process: ManagedProcess) => void;
}

/** Starts etcd on free ports, or on `ports` (client, peer) when given: a restart keeps its address and data. */
export async function startEtcd(
  binary: string,
  context: StartContext,
  timeoutMs: number,
  ports?: readonly number[],
): Promise<RunningServer> {
  const start = async ([clientPort, peerPort]: readonly number[]): Promise<RunningServer> => {
    const clientUrl = `http://127.0.0.1:${String(clientPort)}`;
    const peerUrl = `http://127.0.0.1:${String(peerPort)}`;
    const server = await startManagedProcess(
      'etcd',
      binary,
      [
        '--name=leaselocker-e2e',
        `--data-dir=${join(context.workDir, 'etcd')}`,
        `--listen-client-urls=${clientUrl}`,
        `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=leaselocker-e2e=${peerUrl}`,
        // The data is thrown away after the run: durability buys nothing.
        '--unsafe-no-fsync',
      ],
      { logFile: join(context.logDir, 'etcd.log'), cwd: context.workDir },
    );
    context.track(server);
    await waitReady(server, context.signal, timeoutMs, `${clientUrl}/health`, {}, (r) =>
      r.status === 200 && r.body.includes('"health":"true"'),
    );
    return { process: server, url: clientUrl, ports: [clientPort ?? 0, peerPort ?? 0] };
  };
  return ports === undefined ? startOnFreePorts('etcd', 2, context, start) : start(ports);
}

export interface KubeApiserverOptions {
  readonly etcdUrl: string;
  readonly certs: ClusterCerts;
  readonly tokenFile: string;
  readonly adminToken: string;
  /** Log file name, for a second replica. @default 'kube-apiserver.log' */
  readonly logName?: string;
}

/** Starts kube-apiserver on a free port, or on `port` when given (a restart keeps its address). */
export async function startKubeApiserver(
  binary: string,
  options: KubeApiserverOptions,
  context: StartContext,
  timeoutMs: number,
  port?: number,
): Promise<RunningServer> {
  const { certs } = options;
  const start = async ([securePort]: number[]): Promise<RunningServer> => {
    const url = `https://127.0.0.1:${String(securePort)}`;
    const server = await startManagedProcess(
      'kube-apiserver',
      binary,
      [
        '--bind-address=127.0.0.1',
        `--secure-port=${String(securePort)}`,
        '--advertise-address=127.0.0.1',
        `--etcd-servers=${options.etcdUrl}`,
        `--cert-dir=${join(context.workDir, 'apiserver-certs')}`, // never the default /var/run/kubernetes
        `--tls-cert-file=${certs.servingCertFile}`,
        `--tls-private-key-file=${certs.servingKeyFile}`,
        // Client certificates signed by the cluster's CA authenticate too (CN user, O groups).
        `--client-ca-file=${certs.caCertFile}`,
        `--token-auth-file=${options.tokenFile}`,
        '--authorization-mode=RBAC',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${certs.serviceAccountPublicKeyFile}`,
        `--service-account-signing-key-file=${certs.serviceAccountKeyFile}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        // No nodes, pods or controllers here: skip what only slows start-up
        // or logs errors about the loopback advertise address.
        '--endpoint-reconciler-type=none',
        '--enable-priority-and-fairness=false',
        '--profiling=false',
      ],
      { logFile: join(context.logDir, options.logName ?? 'kube-apiserver.log'), cwd: context.workDir },
    );
    context.track(server);
    await waitReady(
      server,
      context.signal,
      timeoutMs,
      `${url}/readyz`,
      { ca: certs.caCertPem, token: options.adminToken },
      (r) => r.status === 200,
    );
    return { process: server, url, ports: [securePort ?? 0] };
  };
  return port === undefined ? startOnFreePorts('kube-apiserver', 1, context, start) : start([port]);
}

class PortInUseError extends Error {}

async function startOnFreePorts(
  name: string,
  portCount: number,
  context: StartContext,
  start: (ports: number[]) => Promise<RunningServer>,
): Promise<RunningServer> {
  for (let attempt = 1; ; attempt++) {
    const ports: number[] = [];
    while (ports.length < portCount) {
      const port = await freeLoopbackPort();
      if (!ports.includes(port)) ports.push(port);
    }
    try {
      return await start(ports);
    } catch (error) {
      if (!(error instanceof PortInUseError) || attempt >= PORT_ATTEMPTS) throw error;
      // Keep the failed attempt's log for debugging, out of the next one's way.
      const log = join(context.logDir, `${name}.log`);
      await rename(log, join(context.logDir, `${name}.port-collision-${String(attempt)}.log`)).catch(() => {});
    }
  }
}

async function waitReady(
  server: ManagedProcess,
  signal: AbortSignal | undefined,
  timeoutMs: number,
  url: string,
  request: { ca?: string; token?: string },
  isReady: (result: { status: number; body: string }) => boolean,
): Promise<void> {
  let last = 'no response yet';
  await pollUntil(
    async () => {
      if (server.hasExited()) {
        const tail = await tailLog(server.logFile);
        if (tail.includes('address already in use')) throw new PortInUseError(`${server.name}: port in use`);
        throw new Error(
          `${server.name} exited during start-up (${server.exitDescription()}); last lines of ${server.logFile}:\n${tail}`,
        );
      }
      try {
        const result = await httpGet(url, { ...request, timeoutMs: 2000, ...(signal && { signal }) });
        if (isReady(result)) return true;
        last = `HTTP ${String(result.status)}: ${result.body.trim().slice(0, 2000)}`;
      } catch (error) {
        last = error instanceof Error ? error.message : String(error);
      }
      return undefined;
    },
    {
      deadline: Date.now() + timeoutMs,
      intervalMs: POLL_INTERVAL_MS,
      signal,
      onTimeout: async () =>
        new Error(
          `${server.name} was not ready at ${url} within ${String(timeoutMs)} ms (last probe: ${last}); ` +
            `last lines of ${server.logFile}:\n${await tailLog(server.logFile)}`,
        ),
    },
  );
}
