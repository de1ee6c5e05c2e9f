// A singleton worker under leader election, for the Deployment in ../worker-deployment.yaml.
//
// Every replica runs this program. The replica that holds the Lease runs the work (here a stand-in
// controller loop); the others wait, watching the Lease, to take over. On SIGTERM (a rolling
// update, a scale-down, a node drain) the election ends: the work stops, the Lease is released
// and the process exits 0, so a waiting replica takes over within milliseconds instead of after
// the lease duration. A replica that crashes, or is cut off from the API server, stops leading at
// its renew deadline, and another takes over once its lease has expired.
//
// It serves, on PORT:
//   /healthz  the liveness probe: 500 when this replica believes it leads but has not renewed the
//             Lease for longer than the lease duration plus HEALTH_TOLERANCE_SECONDS (a stuck
//             leader, to be restarted); 200 otherwise, also while it waits.
//   /readyz   200 while the replica takes part in the election, leader or not (a Deployment's
//             rollout waits for new replicas to be ready, and a new replica cannot lead before the
//             old leader has stopped); 503 once it is shutting down. The body says who leads:
//             {"identity":"…","leading":true|false,"leader":"…"}.
//
// Environment:
//   POD_NAME                  this replica's identity in the Lease (the downward API's
//                             metadata.name); required, unique among the replicas
//   POD_NAMESPACE             the Lease's namespace (the downward API's metadata.namespace);
//                             default "default"
//   LEASE_NAME                the Lease's name; default "singleton-worker"
//   PORT                      port of /healthz and /readyz; default 8080
//   HEALTH_TOLERANCE_SECONDS  see /healthz; default 20
//   LEASE_DURATION_SECONDS    default 15 (whole seconds)
//   RENEW_DEADLINE_SECONDS    default 10
//   RETRY_PERIOD_SECONDS      default 2 (may be a fraction)
// The three timings must satisfy lease duration > renew deadline > 1.2 × retry period, and be
// the same for every replica. The defaults are client-go's; shorter ones are for tests.
//
// The cluster is found as kubectl finds it (KUBECONFIG, ~/.kube/config, else the pod's service
// account), so the same program runs in a pod and, for a try, on a workstation. Logs are JSON
// lines on stdout.
//
// This copy imports the library from the repository's sources, so that the repository's type
// check and end-to-end tests run it as it is; in your own project import from 'leaselocker' (the
// Dockerfile next to this file does that rewrite).
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { LeaseLocker, runLeaderElection } from '../../../src/index.js';
import type { Hold } from '../../../src/index.js';

/** How often the stand-in controller reconciles. */
const reconcileIntervalMs = 5_000;

function log(msg: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), msg, ...fields })}\n`);
}

function env(name: string, fallback: string): string {
  const value = process.env[name]?.trim();
  return value === undefined || value === '' ? fallback : value;
}

/** A positive number of seconds from the environment, in milliseconds. */
function durationMs(name: string, fallbackSeconds: number): number {
  const raw = env(name, String(fallbackSeconds));
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`${name} must be a positive number of seconds, not ${JSON.stringify(raw)}`);
  return Math.round(seconds * 1000);
}

const identity = env('POD_NAME', '');
if (identity === '') throw new Error('POD_NAME is required: set it from the downward API (fieldRef metadata.name)');
const namespace = env('POD_NAMESPACE', 'default');
const leaseName = env('LEASE_NAME', 'singleton-worker');
const port = Number(env('PORT', '8080'));
if (!Number.isInteger(port) || port <= 0 || port > 65_535) throw new Error(`PORT must be a port number, not ${JSON.stringify(process.env['PORT'])}`);
const healthToleranceMs = durationMs('HEALTH_TOLERANCE_SECONDS', 20);

const kubeConfig = new KubeConfig();
kubeConfig.loadFromDefault(); // KUBECONFIG, ~/.kube/config, else in-cluster
const locker = new LeaseLocker(kubeConfig, { namespace, name: leaseName }, identity, {
  leaseDurationMs: durationMs('LEASE_DURATION_SECONDS', 15),
  renewDeadlineMs: durationMs('RENEW_DEADLINE_SECONDS', 10),
  retryPeriodMs: durationMs('RETRY_PERIOD_SECONDS', 2),
});
locker.on('renewFailed', ({ error, remainingMs }) => log('renewal failed', { error: error.message, remainingMs }));

// SIGTERM ends the election: the work's signal aborts, and once the work has stopped the Lease is
// released. kubelet sends SIGKILL terminationGracePeriodSeconds after SIGTERM: the work must stop
// well within it. A second signal kills the process at once (Node's default handling).
const stop = new AbortController();
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    log('stopping', { signal });
    stop.abort(new Error(`${signal} received`));
  });
}

/**
 * A stand-in for the real work (a controller, a scheduler, a queue consumer): reconciles every
 * few seconds until `signal` aborts, which happens when this replica stops leading.
 */
async function runController(signal: AbortSignal, hold: Hold): Promise<void> {
  let round = 0;
  while (!signal.aborted) {
    round += 1;
    hold.assertHeld(); // right before a step that must not happen without the lease: throws once it is lost
    log('reconciled', { round, fencingToken: hold.fencingToken });
    await sleep(reconcileIntervalMs, undefined, { signal }).catch(() => undefined); // aborted: the loop ends
  }
  // Here the real work would finish its current item and flush its state.
}

let leading = false;

function serve(request: IncomingMessage, response: ServerResponse): void {
  const reply = (status: number, body: unknown): void => {
    response.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
  };
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  if (path === '/healthz') {
    try {
      locker.check(healthToleranceMs);
      reply(200, { status: 'ok' });
    } catch (error) {
      reply(500, { status: 'lease not renewed', error: error instanceof Error ? error.message : String(error) });
    }
  } else if (path === '/readyz') {
    reply(stop.signal.aborted ? 503 : 200, { identity, leading, leader: locker.holder ?? null });
  } else {
    reply(404, { status: 'not found' });
  }
}

const server = createServer(serve);
await new Promise<void>((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, () => resolve());
});
log('listening', { port, identity, lease: `${namespace}/${leaseName}` });

try {
  await runLeaderElection(locker, {
    signal: stop.signal,
    onStartedLeading: async (signal, hold) => {
      leading = true;
      log('started leading', { identity, fencingToken: hold.fencingToken });
      await runController(signal, hold);
    },
    onStoppedLeading: ({ lost }) => {
      leading = false;
      log('stopped leading', { identity, ...(lost && { lost: lost.reason }) });
    },
    onNewLeader: (leader) => log('new leader', { leader }),
  });
  log('election ended', { identity });
} catch (error) {
  // An error no retry can heal (403: the RBAC does not allow it, for example): exit non-zero and
  // let the pod restart, visibly.
  log('election failed', { identity, error: error instanceof Error ? error.message : String(error) });
  process.exitCode = 1;
} finally {
  server.close();
  server.closeAllConnections();
}
// Nothing is left running: the process exits by itself.
