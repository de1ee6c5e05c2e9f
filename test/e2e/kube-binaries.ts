// Locates the kube-apiserver and etcd binaries for the e2e harness: taken from
// the KUBE_APISERVER / ETCD environment variables when both are set, otherwise
// from scripts/e2e/build-kube-binaries.sh, which builds them once per version
// into a cache and prints their paths.
import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export interface KubeBinaries {
  readonly kubeApiserver: string;
  readonly etcd: string;
}

const BUILD_SCRIPT = fileURLToPath(new URL('../../scripts/e2e/build-kube-binaries.sh', import.meta.url));

// One build per process even when several clusters start concurrently; the
// script itself serialises builds across processes with a lock file.
let fromScript: Promise<KubeBinaries> | undefined;

export async function resolveKubeBinaries(signal?: AbortSignal): Promise<KubeBinaries> {
  const kubeApiserver = process.env['KUBE_APISERVER'];
  const etcd = process.env['ETCD'];
  const binaries =
    kubeApiserver && etcd
      ? { kubeApiserver, etcd }
      : await abortable(
          (fromScript ??= runBuildScript().catch((error: unknown) => {
            fromScript = undefined; // let a later call retry
            throw error;
          })),
          signal,
        );
  await Promise.all([assertExecutable(binaries.kubeApiserver), assertExecutable(binaries.etcd)]);
  return binaries;
}

// The build is not killed on abort: it may be shared with other callers, and
// a finished build still fills the cache for the next run.
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      const reason: unknown = signal.reason;
      reject(reason instanceof Error ? reason : new Error(String(reason)));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

function runBuildScript(): Promise<KubeBinaries> {
  return new Promise((resolve, reject) => {
    // stderr carries the (rare, slow) build progress, so let it show.
    const child = spawn('bash', [BUILD_SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.once('error', (error) => reject(new Error(`cannot run ${BUILD_SCRIPT}: ${error.message}`)));
    child.once('close', (code, signal) => {
      if (code !== 0) {
        reject(new Error(`${BUILD_SCRIPT} failed (${signal ?? `exit code ${String(code)}`}); its error is printed above`));
        return;
      }
      const paths = parseAssignments(stdout);
      const kubeApiserver = paths.get('KUBE_APISERVER');
      const etcd = paths.get('ETCD');
      if (!kubeApiserver || !etcd) {
        reject(new Error(`${BUILD_SCRIPT} did not print KUBE_APISERVER= and ETCD= lines; stdout was:\n${stdout}`));
        return;
      }
      resolve({ kubeApiserver, etcd });
    });
  });
}

// Reads `NAME=value` lines; values are printed with bash's `printf %q`, which
// only adds backslash escapes for the characters a cache path may contain.
function parseAssignments(output: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of output.split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match?.[1] && match[2]) values.set(match[1], match[2].replace(/\\(.)/g, '$1'));
  }
  return values;
}

async function assertExecutable(path: string): Promise<void> {
  try {
    await access(path, constants.X_OK);
  } catch {
    throw new Error(`${path} is not an executable file (check KUBE_APISERVER / ETCD or rerun ${BUILD_SCRIPT})`);
  }
}
