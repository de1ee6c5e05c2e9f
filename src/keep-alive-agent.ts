import * as http from 'node:http';
import * as https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

// Idle pooled sockets are closed after this long; Node also unrefs them, so they never hold
// the process open.
const idleSocketTimeoutMs = 30_000;
// Enough parallel requests for a thousand held locks renewing together, few enough to be kind
// to the API server.
const maxSockets = 32;

const agents = new WeakMap<KubeConfig, Promise<http.Agent | undefined>>();

/**
 * A keep-alive agent for the cluster of `kubeConfig`, shared by every lock built from it.
 * client-node makes a new agent for every request, which costs a TLS handshake per renewal
 * (about three times the CPU of the request itself); requests through this agent reuse their
 * connections. Undefined when the cluster is reached through a proxy: then client-node's own
 * agents are kept.
 */
export async function keepAliveAgentFor(kubeConfig: KubeConfig): Promise<http.Agent | undefined> {
  let agent = agents.get(kubeConfig);
  if (agent === undefined) {
    agent = createAgent(kubeConfig);
    agents.set(kubeConfig, agent);
  }
  return agent;
}

async function createAgent(kubeConfig: KubeConfig): Promise<http.Agent | undefined> {
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null || (cluster.proxyUrl ?? '') !== '') return undefined;
  if (cluster.server.startsWith('http:')) return new http.Agent({ keepAlive: true, maxSockets, timeout: idleSocketTimeoutMs });
  // The TLS material (CA, client certificate) as client-node would apply it.
  const options: https.RequestOptions = {};
  await kubeConfig.applyToHTTPSOptions(options);
  return new https.Agent({
    ca: options.ca,
    cert: options.cert,
    key: options.key,
    pfx: options.pfx,
    passphrase: options.passphrase,
    servername: options.servername,
    ...(options.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: options.rejectUnauthorized }),
    keepAlive: true,
    maxSockets,
    timeout: idleSocketTimeoutMs,
  });
}
