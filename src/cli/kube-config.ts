import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ClusterError, UsageError } from './cli-error.js';
import { oneLine } from './failure.js';

/** The flags that choose how to reach the cluster. */
export interface ClusterFlags {
  /** `--kubeconfig`: the one kubeconfig file to read. */
  readonly kubeconfig: string | undefined;
  /** `--context`: the context to use instead of the kubeconfig's current one. */
  readonly context: string | undefined;
}

/** Where {@link loadClusterAccess} looks, as the process sees it; replaced in tests. */
export interface ClusterEnvironment {
  /** The environment (`KUBECONFIG`, `KUBERNETES_SERVICE_HOST`, `KUBERNETES_SERVICE_PORT`). */
  readonly env: NodeJS.ProcessEnv;
  /** The home directory holding `.kube/config`. */
  readonly home: string;
  /** Prefix of the service-account directory `/var/run/secrets/kubernetes.io/serviceaccount` (tests only). */
  readonly inClusterRoot: string;
}

/** Cluster access as found, and the namespace its context names. */
export interface ClusterAccess {
  readonly kubeConfig: KubeConfig;
  /** The context's namespace (in a pod: the service account's), or undefined when it names none. */
  readonly namespace: string | undefined;
  /** Where it came from, for debug logs: a file name, `KUBECONFIG` or `in-cluster`. Never the contents. */
  readonly source: string;
}

const serviceAccountToken = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Finds cluster access the way kubectl does: `--kubeconfig`; else the files listed in
 * `KUBECONFIG` (separated by `:`, `;` on Windows; files that do not exist are skipped; the first
 * file to set the current context or to define a cluster, user or context of a given name
 * wins); else `~/.kube/config`; else the pod's service account (in-cluster). Then `--context`,
 * if given, replaces the current context.
 * @throws UsageError when `--kubeconfig` names no file or `--context` names no context.
 * @throws ClusterError when no configuration is found or it cannot be read.
 */
export function loadClusterAccess(flags: ClusterFlags, environment: ClusterEnvironment = processEnvironment()): ClusterAccess {
  const { kubeConfig, source } = loadConfig(flags, environment);
  if (flags.context !== undefined) {
    if (kubeConfig.getContextObject(flags.context) === null) throw new UsageError(`--context: there is no context ${JSON.stringify(flags.context)} in ${source}`);
    kubeConfig.setCurrentContext(flags.context);
  }
  const contextName = kubeConfig.getCurrentContext();
  const context = contextName === undefined || contextName === '' ? null : kubeConfig.getContextObject(contextName);
  if (context === null) throw new ClusterError(`${source} has no current context: name one with --context`);
  if (kubeConfig.getCurrentCluster() === null) throw new ClusterError(`context ${JSON.stringify(contextName)} of ${source} names no cluster that ${source} defines`);
  const namespace = typeof context.namespace === 'string' && context.namespace.trim() !== '' ? context.namespace.trim() : undefined;
  return { kubeConfig, namespace, source };
}

/** The process's own environment. */
export function processEnvironment(): ClusterEnvironment {
  return { env: process.env, home: homedir(), inClusterRoot: '' };
}

function loadConfig(flags: ClusterFlags, environment: ClusterEnvironment): { kubeConfig: KubeConfig; source: string } {
  if (flags.kubeconfig !== undefined) {
    if (!existsSync(flags.kubeconfig)) throw new UsageError(`--kubeconfig: ${JSON.stringify(flags.kubeconfig)} does not exist`);
    return { kubeConfig: loadFile(flags.kubeconfig), source: flags.kubeconfig };
  }
  const list = environment.env['KUBECONFIG'];
  if (list !== undefined && list !== '') {
    const files = list.split(delimiter).filter((file) => file !== '');
    const present = files.filter((file) => existsSync(file));
    const [first, ...others] = present;
    if (first === undefined) throw new ClusterError(`none of the files KUBECONFIG lists exists (${files.map((file) => JSON.stringify(file)).join(', ')})`);
    const kubeConfig = loadFile(first);
    for (const other of others) mergeFirstWins(kubeConfig, loadFile(other));
    return { kubeConfig, source: present.length === 1 ? first : 'the KUBECONFIG files' };
  }
  const home = join(environment.home, '.kube', 'config');
  if (environment.home !== '' && existsSync(home)) return { kubeConfig: loadFile(home), source: home };
  const { KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: port } = environment.env;
  if (host !== undefined && host !== '' && port !== undefined && port !== '' && existsSync(`${environment.inClusterRoot}${serviceAccountToken}`)) {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromCluster(environment.inClusterRoot);
    return { kubeConfig, source: 'the in-cluster service account' };
  }
  throw new ClusterError('no cluster configuration found: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run in a pod with a service account token');
}

function loadFile(file: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  try {
    // An empty file is an empty configuration, as kubectl reads it.
    if (readFileSync(file, 'utf8').trim() === '') return kubeConfig;
    kubeConfig.loadFromFile(file);
  } catch (error) {
    // Only the first line: a YAML error goes on to quote the file, which may hold a token.
    const first = oneLine((error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '');
    throw new ClusterError(`cannot read the kubeconfig ${JSON.stringify(file)}: ${first}`, { cause: error });
  }
  return kubeConfig;
}

/** kubectl's merge of KUBECONFIG files: the first file to set a value wins. */
function mergeFirstWins(into: KubeConfig, from: KubeConfig): void {
  const current = into.getCurrentContext();
  if ((current === undefined || current === '') && from.getCurrentContext() !== '') into.setCurrentContext(from.getCurrentContext());
  for (const cluster of from.getClusters() ?? []) if (into.getCluster(cluster.name) === null) into.addCluster(cluster);
  for (const user of from.getUsers() ?? []) if (into.getUser(user.name) === null) into.addUser(user);
  for (const context of from.getContexts() ?? []) if (into.getContextObject(context.name) === null) into.addContext(context);
}
