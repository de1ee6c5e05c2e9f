// The server the benchmark runs against: a real kube-apiserver + etcd from the end-to-end
// harness when it can be had (binaries cached, or Go to build them), else the built-in
// emulator. `--real` and `--emulator` force one.
import type { KubeConfig } from '@kubernetes/client-node';
import { startLeaseApiEmulator } from '../src/testing/index.js';
import { startKubeCluster } from '../test/e2e/kube-cluster.js';
import { emulatorCostMeter } from './cost-meter-emulator.js';
import { apiserverCostMeter } from './cost-meter-apiserver.js';
import type { CostMeter } from './cost-meter.js';

export type ServerChoice = 'auto' | 'real' | 'emulator';

export interface TargetServer {
  readonly kind: 'kube-apiserver' | 'emulator';
  readonly version: string;
  /** Why this server was chosen. */
  readonly reason: string;
  readonly namespace: string;
  /**
   * A KubeConfig, exported for a worker, of an identity allowed the lease verbs a locker needs.
   * On the emulator each role is its own user, so that requests can be told apart.
   */
  kubeConfigFor(role: string): Promise<string>;
  /** The user name the server counts a role's requests under (emulator only). */
  userOf(role: string): string;
  costMeter(): Promise<CostMeter>;
  stop(): Promise<void>;
}

const namespace = 'leaselocker-bench';
const leaseVerbs = ['get', 'list', 'watch', 'create', 'update'] as const;

export async function startTargetServer(choice: ServerChoice, signal: AbortSignal): Promise<TargetServer> {
  if (choice === 'emulator') return startEmulator('forced with --emulator');
  try {
    return await startRealServer(signal, choice === 'real' ? 'forced with --real' : 'e2e harness binaries available');
  } catch (error) {
    if (choice === 'real') throw error;
    const why = error instanceof Error ? error.message.split('\n')[0] ?? '' : String(error);
    console.log(`No real kube-apiserver (${why}); using the emulator.`);
    return startEmulator(`kube-apiserver unavailable: ${why}`);
  }
}

async function startRealServer(signal: AbortSignal, reason: string): Promise<TargetServer> {
  // Cached binaries start in seconds; without them the harness builds them with Go (minutes).
  console.log('Starting kube-apiserver + etcd (the first run builds them from source, which takes minutes)...');
  const cluster = await startKubeCluster({ signal });
  try {
    await cluster.createNamespace(namespace);
    // One identity for every worker, bound by RBAC to the verbs a locker uses, as in production.
    const user = await cluster.createUser('bench', [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: [...leaseVerbs] }], namespace);
    const admin: KubeConfig = cluster.adminKubeConfig();
    return {
      kind: 'kube-apiserver',
      version: cluster.version,
      reason,
      namespace,
      kubeConfigFor: () => Promise.resolve(user.exportConfig()),
      userOf: () => 'bench',
      costMeter: () => apiserverCostMeter(admin, namespace),
      stop: () => cluster.stop(),
    };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

async function startEmulator(reason: string): Promise<TargetServer> {
  const emulator = await startLeaseApiEmulator({ namespaces: [namespace] });
  const users = new Set<string>();
  const userOf = (role: string): string => `bench-${role}`;
  return {
    kind: 'emulator',
    version: 'leaselocker/testing (in-process)',
    reason,
    namespace,
    kubeConfigFor: (role) => {
      const user = userOf(role);
      users.add(user);
      return Promise.resolve(emulator.addUser(user, { verbs: leaseVerbs }).exportConfig());
    },
    userOf,
    costMeter: () => Promise.resolve(emulatorCostMeter(emulator, namespace, () => [...users])),
    stop: () => emulator.close(),
  };
}
