import type { KubeConfig } from '@kubernetes/client-node';

/**
 * A Lease API server the shared suites run against: the built-in emulator in `npm test`,
 * a real kube-apiserver in `npm run test:e2e`. Suites touch it only through the API.
 */
export interface LeaseServer {
  /** For test titles, e.g. "emulator" or "kube-apiserver v1.37.2". */
  readonly name: string;
  /** A namespace that exists and that the suites may fill with Leases. */
  readonly namespace: string;
  /** Full access. */
  kubeConfig(): KubeConfig;
  /** An identity allowed only `verbs` on leases in {@link namespace}. Each call makes a new identity. */
  userWith(verbs: readonly string[]): Promise<KubeConfig>;
}

let counter = 0;

/** A lease name no other test uses. */
export function uniqueLeaseName(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 7)}`;
}
