// Counts on a real kube-apiserver: `apiserver_request_total{resource="leases"}` from /metrics,
// read as the admin. The metric has no namespace or user label, and the server renews its own
// identity Lease in kube-system (a PUT every 10 s), so the meter also watches every Lease of
// the cluster and counts the writes outside the benchmark's namespace: that background is
// subtracted. A watch is counted by the metric only when it ends; the open ones are read from
// `apiserver_longrunning_requests{verb="WATCH"}`. Its `code` label gives the writes answered
// 409 Conflict (the server's own writes in kube-system never conflict). The same watch counts
// the writes that succeeded in the benchmark's namespace, to check the metric against.
//
// A write is counted by the metric when the server answers it, and seen on the watch a moment
// later; a mark whose background changed while it scraped is taken again, so that a write of
// the server's is never in one window's counts but subtracted in the next one's.
import { request } from 'node:https';
import { setTimeout as delay } from 'node:timers/promises';
import type { RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { Watch } from '@kubernetes/client-node';
import type { CostMeter, Verb } from './cost-meter.js';
import { emptyCounts } from './cost-meter.js';
import { now } from './protocol.js';

const verbOfMetric: Readonly<Record<string, Verb>> = {
  GET: 'get', LIST: 'list', WATCH: 'watch', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete',
};

const verbOfEvent: Readonly<Record<string, Verb>> = { ADDED: 'create', MODIFIED: 'update', DELETED: 'delete' };

/** How long a mark waits after its scrape for the watch to deliver the writes the scrape counted. */
const watchLagMs = 25;

export async function apiserverCostMeter(admin: KubeConfig, namespace: string): Promise<CostMeter> {
  const background = emptyCounts();
  let succeededWrites = 0;
  const watch = await new Watch(admin).watch(
    '/apis/coordination.k8s.io/v1/leases',
    {},
    (type, object: { metadata?: { namespace?: string } }) => {
      const verb = verbOfEvent[type];
      if (verb === undefined) return;
      if (object.metadata?.namespace !== namespace) background[verb] += 1;
      else if (verb !== 'delete') succeededWrites += 1;
    },
    () => undefined,
  );
  const backgroundTotal = (): number => Object.values(background).reduce((sum, value) => sum + value, 0);
  return {
    method: 'apiserver_request_total{resource="leases"} from /metrics before and after each window, minus the writes of the server itself outside the benchmark namespace (seen on a cluster-wide Lease watch); conflicts from its code="409" series; open watches from apiserver_longrunning_requests',
    mark: async () => {
      // The server writes its own Lease every 10 s: a retry is rare, a third one rarer still.
      for (let attempt = 1; ; attempt += 1) {
        const before = backgroundTotal();
        const metrics = await scrapeMetrics(admin);
        await delay(watchLagMs);
        if (backgroundTotal() === before || attempt === 3) {
          return { ...parseLeaseMetrics(metrics), at: now(), byUser: undefined, background: { ...background }, succeededWrites };
        }
      }
    },
    dispose: () => watch.abort(),
  };
}

function parseLeaseMetrics(text: string): { total: Record<Verb, number>; openWatches: number; writeConflicts: number } {
  const total = emptyCounts();
  let openWatches = 0;
  let writeConflicts = 0;
  for (const line of text.split('\n')) {
    const match = /^(apiserver_request_total|apiserver_longrunning_requests)\{([^}]*)\} (\S+)$/.exec(line);
    if (match === null) continue;
    const labels: Record<string, string | undefined> = {};
    for (const [, key = '', value] of (match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) labels[key] = value;
    if (labels['resource'] !== 'leases' || labels['group'] !== 'coordination.k8s.io' || labels['subresource'] !== '') continue;
    const value = Number(match[3]);
    if (match[1] === 'apiserver_longrunning_requests') {
      if (labels['verb'] === 'WATCH') openWatches += value;
      continue;
    }
    const verb = verbOfMetric[labels['verb'] ?? ''];
    if (verb === undefined) continue;
    total[verb] += value;
    if (labels['code'] === '409' && (verb === 'create' || verb === 'update' || verb === 'patch')) writeConflicts += value;
  }
  return { total, openWatches, writeConflicts };
}

async function scrapeMetrics(admin: KubeConfig): Promise<string> {
  const server = admin.getCurrentCluster()?.server;
  if (server === undefined) throw new Error('the admin KubeConfig has no cluster');
  const options: RequestOptions = { timeout: 10_000 };
  await admin.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = request(`${server}/metrics`, options, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => (response.statusCode === 200 ? resolve(body) : reject(new Error(`GET /metrics answered ${String(response.statusCode)}`))));
    });
    req.on('timeout', () => req.destroy(new Error('GET /metrics timed out')));
    req.on('error', reject);
    req.end();
  });
}
