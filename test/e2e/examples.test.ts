// The deployable examples under examples/kubernetes, checked against a real kube-apiserver so
// that none of them rots:
// - every object of every manifest passes a server-side dry run with strict field validation
//   (an unknown or misspelt field fails);
// - the RBAC manifests, applied, let each service account use its own Lease by name, and no
//   other Lease;
// - the migration Job's and CronJob's command, run as written (with a stand-in for
//   ./migrate.sh) under their service account, runs one migration at a time;
// - the worker program, run as two replicas with the Deployment's environment under its service
//   account, elects one leader, and on SIGTERM hands over at once and exits 0.
// (worker.ts itself is type-checked by the project's type check: tsconfig.json includes examples/.)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { AuthorizationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
// The YAML parser client-node itself uses. Not client-node's loadAllYaml: that maps each object
// onto client-node's model classes, which silently drops unknown fields, and unknown fields are
// what the dry run must see.
import { loadAll } from 'js-yaml';
import { onProcessExit } from './exit-hooks.js';
import { freeLoopbackPort } from './free-port.js';
import { startKubeCluster } from './kube-cluster.js';
import type { KubeCluster } from './kube-cluster.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const examplesDir = join(root, 'examples', 'kubernetes');
const workerScript = join(examplesDir, 'worker', 'worker.ts');
const cliScript = join(root, 'src', 'cli.ts');
const dryRunNamespace = 'examples-dry-run';
const appliedNamespace = 'examples-applied';
const leasesPath = (namespace: string): string => `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;

type Fields = Readonly<Record<string, unknown>>;

interface KubeObject extends Fields {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: Fields;
}

interface Manifest {
  /** The file, relative to examples/kubernetes. */
  readonly file: string;
  readonly object: KubeObject;
}

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value at `path` in `value`, or undefined when any step is missing. */
function dig(value: unknown, ...path: readonly (string | number)[]): unknown {
  let current = value;
  for (const step of path) {
    if (typeof step === 'number') current = Array.isArray(current) ? (current as unknown[])[step] : undefined;
    else current = isFields(current) ? current[step] : undefined;
  }
  return current;
}

function text(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new Error(`${what} should be a string, not ${JSON.stringify(value)}`);
  return value;
}

function list(value: unknown, what: string): readonly unknown[] {
  if (!Array.isArray(value)) throw new Error(`${what} should be a list, not ${JSON.stringify(value)}`);
  return value as unknown[];
}

const nameOf = (object: KubeObject): string => text(object.metadata['name'] ?? object.metadata['generateName'], `${object.kind}'s metadata.name`);

/** Every object of every YAML file under examples/kubernetes (multi-document files allowed). */
function loadManifests(): Manifest[] {
  const files = readdirSync(examplesDir, { recursive: true, encoding: 'utf8' })
    .filter((file) => /\.ya?ml$/.test(file) && !file.split(/[\\/]/).includes('node_modules'))
    .sort();
  return files.flatMap((file) => {
    const documents = loadAll(readFileSync(join(examplesDir, file), 'utf8'), null, { filename: file });
    return documents
      .filter((document) => document !== null && document !== undefined) // an empty document, e.g. after a trailing ---
      .map((document, index) => {
        const where = `${file}, document ${String(index + 1)}`;
        if (!isFields(document) || typeof document['apiVersion'] !== 'string' || typeof document['kind'] !== 'string' || !isFields(document['metadata'])) {
          throw new Error(`${where} is not a Kubernetes object (apiVersion, kind, metadata)`);
        }
        return { file, object: document as KubeObject };
      });
  });
}

const manifests = loadManifests();

function theOnly(kind: string): Manifest {
  const found = manifests.filter((manifest) => manifest.object.kind === kind);
  assert.equal(found.length, 1, `expected one ${kind} under examples/kubernetes, found ${String(found.length)}`);
  return found[0] as Manifest;
}

interface Answer {
  readonly status: number;
  readonly body: string;
}

/** One request to the cluster as `token`: TLS verified against the cluster's CA, a fresh connection. */
function send(cluster: KubeCluster, token: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = httpsRequest(new URL(path, cluster.server), {
      method,
      ca: cluster.caCertPem,
      agent: false,
      timeout: 15_000,
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        ...(payload !== undefined && { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
      },
    }, (response) => {
      let received = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (received += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: received }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`${method} ${path} timed out`)));
    request.on('error', reject);
    request.end(payload);
  });
}

/** A GET of a plain-http endpoint of a worker. */
function getLocal(port: number, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port, path, agent: false, timeout: 5_000 }, (response) => {
      let received = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (received += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: received }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`GET :${String(port)}${path} timed out`)));
    request.on('error', reject);
    request.end();
  });
}

/** Waits until `condition` returns a value, checking every 20 ms; fails with `message` after `timeoutMs`. */
async function eventually<T>(condition: () => T | undefined | Promise<T | undefined>, message: () => string, timeoutMs: number): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${message()}`);
    await delay(20);
  }
}

/** The pod spec of a workload: Deployment, Job, or CronJob. */
function podSpecOf(object: KubeObject): Fields {
  const spec = object.kind === 'CronJob' ? dig(object, 'spec', 'jobTemplate', 'spec', 'template', 'spec') : dig(object, 'spec', 'template', 'spec');
  if (!isFields(spec)) throw new Error(`${object.kind} ${nameOf(object)} has no pod template`);
  return spec;
}

/**
 * The environment a container's `env` gives, for a pod named `podName` in `namespace`: literal
 * values and the downward API's metadata.name and metadata.namespace (all these examples use).
 */
function containerEnv(container: unknown, podName: string, namespace: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of list(dig(container, 'env') ?? [], 'env')) {
    const name = text(dig(entry, 'name'), 'env[].name');
    const value = dig(entry, 'value');
    const fieldPath = dig(entry, 'valueFrom', 'fieldRef', 'fieldPath');
    if (typeof value === 'string') env[name] = value;
    else if (fieldPath === 'metadata.name') env[name] = podName;
    else if (fieldPath === 'metadata.namespace') env[name] = namespace;
    else throw new Error(`env ${name}: the test knows only literal values and fieldRef metadata.name/metadata.namespace`);
  }
  return env;
}

/** Kubernetes' expansion of `$(VAR)` in command and args ($$ escapes a $). */
function expand(argument: string, env: Readonly<Record<string, string>>): string {
  return argument.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string | undefined) => {
    if (name === undefined) return '$';
    return env[name] ?? whole;
  });
}

interface LogLine extends Fields {
  readonly msg: string;
  /** performance.now() when the test read the line. */
  readonly seenAt: number;
}

interface RunningProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly lines: LogLine[];
  stderr: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
}

const running = new Set<RunningProcess>();

/** `node --import tsx <script> ...args` from the repository root; JSON lines on stdout are collected. */
function startNode(name: string, script: string, args: readonly string[], env: Readonly<Record<string, string>>): RunningProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const unregister = onProcessExit(() => child.kill('SIGKILL'));
  let exitedYet = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      exitedYet = true;
      unregister();
      resolve({ code, signal });
    });
  });
  const started: RunningProcess = { name, child, lines: [], stderr: '', exited, hasExited: () => exitedYet };
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (started.stderr += chunk));
  if (child.stdout) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        parsed = undefined;
      }
      const msg = isFields(parsed) && typeof parsed['msg'] === 'string' ? parsed['msg'] : line;
      started.lines.push({ ...(isFields(parsed) ? parsed : {}), msg, seenAt: performance.now() });
    });
  }
  running.add(started);
  void exited.then(() => running.delete(started));
  return started;
}

function logged(run: RunningProcess, msg: string, fields: Fields = {}): LogLine | undefined {
  if (run.hasExited()) throw new Error(`${run.name} exited early; stderr:\n${run.stderr}\nstdout:\n${run.lines.map((line) => line.msg).join('\n')}`);
  return run.lines.find((line) => line.msg === msg && Object.entries(fields).every(([key, value]) => line[key] === value));
}

async function exitOf(run: RunningProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const cancel = new AbortController();
  const timer = delay(timeoutMs, 'timeout' as const, { signal: cancel.signal }).catch(() => 'cancelled' as const);
  try {
    const outcome = await Promise.race([run.exited, timer]);
    if (typeof outcome === 'string') throw new Error(`${run.name} did not exit within ${String(timeoutMs)} ms; stderr:\n${run.stderr}`);
    return outcome;
  } finally {
    cancel.abort(); // no timer left behind
  }
}

describe('examples/kubernetes', () => {
  it('holds the manifests the examples are made of', () => {
    const kinds = new Set(manifests.map((manifest) => manifest.object.kind));
    for (const kind of ['ServiceAccount', 'Role', 'RoleBinding', 'Job', 'CronJob', 'Deployment']) assert.ok(kinds.has(kind), `no ${kind} under examples/kubernetes`);
  });

  it('worker/Dockerfile builds worker.ts against the package, with dependencies its package.json names', async () => {
    const dockerfile = await readFile(join(examplesDir, 'worker', 'Dockerfile'), 'utf8');
    const source = await readFile(workerScript, 'utf8');
    const manifest = JSON.parse(await readFile(join(examplesDir, 'worker', 'package.json'), 'utf8')) as Fields;
    const rewrite = /sed -i "s\|([^|]+)\|'leaselocker'\|"/.exec(dockerfile);
    assert.ok(rewrite?.[1] !== undefined, 'the Dockerfile should rewrite the import of the sources into one of the package');
    assert.ok(source.includes(rewrite[1]), `worker.ts should import ${rewrite[1]}, which the Dockerfile rewrites`);
    const rewritten = source.replaceAll(rewrite[1], "'leaselocker'");
    const imported = [...rewritten.matchAll(/^import .* from '([^']+)';/gm)].map((match) => match[1] ?? '');
    assert.deepEqual(imported.filter((specifier) => specifier.startsWith('.')), [], 'after the rewrite worker.ts imports nothing outside its directory');
    const dependencies = Object.keys(isFields(manifest['dependencies']) ? manifest['dependencies'] : {});
    for (const specifier of imported) {
      if (specifier.startsWith('node:') || builtinModules.includes(specifier)) continue;
      assert.ok(dependencies.includes(specifier), `worker/package.json should depend on ${specifier}`);
    }
    assert.match(text(dig(manifest, 'scripts', 'build'), 'the build script'), /--outDir dist\b/);
    assert.match(dockerfile, /CMD \["node", "dist\/worker\.js"\]/);
  });

  describe('against a real kube-apiserver', () => {
    let cluster: KubeCluster;
    let adminToken: string;
    let dir: string;

    before(async () => {
      cluster = await startKubeCluster();
      adminToken = text(cluster.adminKubeConfig().getCurrentUser()?.token, 'the admin token');
      dir = await mkdtemp(join(tmpdir(), 'leaselocker-examples-'));
      await cluster.createNamespace(dryRunNamespace);
    });
    after(async () => {
      for (const run of running) run.child.kill('SIGKILL');
      await Promise.all([...running].map(async (run) => run.exited));
      await cluster.stop();
      await rm(dir, { recursive: true, force: true });
    });

    const discovered = new Map<string, Promise<readonly Fields[]>>();
    /** The collection URL of an object's kind, found through the API server's discovery. */
    async function collectionPath(object: KubeObject, namespace: string): Promise<string> {
      const base = object.apiVersion === 'v1' ? '/api/v1' : `/apis/${object.apiVersion}`;
      let resources = discovered.get(base);
      if (resources === undefined) {
        resources = send(cluster, adminToken, 'GET', base).then((answer) => {
          assert.equal(answer.status, 200, `discovery of ${base}: HTTP ${String(answer.status)} ${answer.body}`);
          return list(dig(JSON.parse(answer.body), 'resources'), `${base} resources`).filter(isFields);
        });
        discovered.set(base, resources);
      }
      const resource = (await resources).find((candidate) => candidate['kind'] === object.kind && !text(candidate['name'], 'resource name').includes('/'));
      assert.ok(resource, `the API server serves no ${object.kind} in ${object.apiVersion}`);
      const plural = text(resource['name'], 'resource name');
      return resource['namespaced'] === true ? `${base}/namespaces/${namespace}/${plural}` : `${base}/${plural}`;
    }

    /** POSTs an object; `dryRun` stores nothing. Strict field validation either way. */
    async function create(manifest: Manifest, namespace: string, dryRun: boolean): Promise<void> {
      const { file, object } = manifest;
      const target = typeof object.metadata['namespace'] === 'string' ? object.metadata['namespace'] : namespace;
      if (target !== namespace) await cluster.createNamespace(target);
      const query = `${dryRun ? 'dryRun=All&' : ''}fieldValidation=Strict`;
      const answer = await send(cluster, adminToken, 'POST', `${await collectionPath(object, target)}?${query}`, object);
      assert.equal(answer.status, 201, `${file}: ${object.kind} ${nameOf(object)}: HTTP ${String(answer.status)} ${answer.body}`);
    }

    describe('every manifest passes a server-side dry run with strict field validation', () => {
      for (const manifest of manifests) {
        it(`${manifest.file}: ${manifest.object.kind} ${nameOf(manifest.object)}`, async () => {
          await create(manifest, dryRunNamespace, true);
        });
      }
    });

    describe('applied', () => {
      /** A service account of the RBAC manifests, what its Role allows, and a kubeconfig file for it. */
      interface Grant {
        readonly serviceAccount: string;
        readonly rules: readonly Fields[];
        /** The Leases its Role names in resourceNames. */
        readonly leases: readonly string[];
        readonly token: string;
        readonly kubeconfigFile: string;
      }
      const grants = new Map<string, Grant>();
      const grantOf = (serviceAccount: unknown): Grant => {
        const grant = grants.get(text(serviceAccount, 'serviceAccountName'));
        assert.ok(grant, `no RoleBinding of the examples binds service account ${String(serviceAccount)}`);
        return grant;
      };
      const holderOf = async (lease: string): Promise<string | undefined> => {
        const answer = await send(cluster, adminToken, 'GET', `${leasesPath(appliedNamespace)}/${lease}`);
        assert.equal(answer.status, 200, `GET lease ${lease}: HTTP ${String(answer.status)} ${answer.body}`);
        const holder = dig(JSON.parse(answer.body), 'spec', 'holderIdentity');
        return typeof holder === 'string' && holder !== '' ? holder : undefined;
      };

      before(async () => {
        await cluster.createNamespace(appliedNamespace);
        const rbacKinds = ['ServiceAccount', 'Role', 'RoleBinding'];
        for (const manifest of manifests.filter((candidate) => rbacKinds.includes(candidate.object.kind))) {
          await create(manifest, appliedNamespace, false);
        }
        const core = cluster.adminKubeConfig().makeApiClient(CoreV1Api);
        for (const { object: binding } of manifests.filter((manifest) => manifest.object.kind === 'RoleBinding')) {
          const roleName = text(dig(binding, 'roleRef', 'name'), 'roleRef.name');
          const role = manifests.find((manifest) => manifest.object.kind === 'Role' && manifest.object.metadata['name'] === roleName);
          assert.ok(role, `RoleBinding ${nameOf(binding)} names Role ${roleName}, which no manifest defines`);
          const rules = list(dig(role.object, 'rules'), 'rules').filter(isFields);
          const leases = rules.flatMap((rule) => list(rule['resourceNames'] ?? [], 'resourceNames').map((name) => text(name, 'resourceNames[]')));
          for (const subject of list(dig(binding, 'subjects'), 'subjects')) {
            if (dig(subject, 'kind') !== 'ServiceAccount') continue;
            const serviceAccount = text(dig(subject, 'name'), 'subjects[].name');
            const request = await core.createNamespacedServiceAccountToken({
              name: serviceAccount,
              namespace: appliedNamespace,
              body: { spec: { audiences: [], expirationSeconds: 3600 } },
            });
            const token = text(request.status?.token, 'TokenRequest status.token');
            const kubeconfigFile = join(dir, `${serviceAccount}.kubeconfig`);
            await writeFile(kubeconfigFile, JSON.stringify({
              apiVersion: 'v1',
              kind: 'Config',
              clusters: [{ name: 'e2e', cluster: { server: cluster.server, 'certificate-authority-data': Buffer.from(cluster.caCertPem).toString('base64') } }],
              users: [{ name: serviceAccount, user: { token } }],
              contexts: [{ name: 'e2e', context: { cluster: 'e2e', user: serviceAccount, namespace: appliedNamespace } }],
              'current-context': 'e2e',
            }), { mode: 0o600 });
            grants.set(serviceAccount, { serviceAccount, rules, leases, token, kubeconfigFile });
            // The RBAC authorizer works from a cache: wait, asking as the service account, until every rule applies.
            const kubeConfig = new KubeConfig();
            kubeConfig.loadFromFile(kubeconfigFile);
            const authorization = kubeConfig.makeApiClient(AuthorizationV1Api);
            for (const rule of rules) {
              for (const verb of list(rule['verbs'], 'verbs')) {
                const names = list(rule['resourceNames'] ?? [undefined], 'resourceNames');
                for (const name of names) {
                  const resourceAttributes = {
                    namespace: appliedNamespace,
                    verb: text(verb, 'verb'),
                    group: text(list(rule['apiGroups'], 'apiGroups')[0], 'apiGroup'),
                    resource: text(list(rule['resources'], 'resources')[0], 'resource'),
                    ...(typeof name === 'string' && { name }),
                  };
                  await eventually(async () => {
                    const review = await authorization.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes } } });
                    return review.status?.allowed === true ? true : undefined;
                  }, () => `${serviceAccount} to be allowed ${JSON.stringify(resourceAttributes)}`, 10_000);
                }
              }
            }
          }
        }
      });

      it('lets each service account use its own Lease by name, and no other Lease', async () => {
        assert.ok(grants.size >= 2, 'the examples bind the migration and the worker service accounts');
        for (const grant of grants.values()) {
          assert.ok(grant.leases.length > 0, `the Role of ${grant.serviceAccount} names its Lease in resourceNames`);
          const as = (method: string, path: string, body?: unknown): Promise<Answer> => send(cluster, grant.token, method, path, body);
          const collection = leasesPath(appliedNamespace);
          for (const lease of grant.leases) {
            const selector = `fieldSelector=${encodeURIComponent(`metadata.name=${lease}`)}`;
            const expect = async (method: string, path: string, statuses: readonly number[], body?: unknown): Promise<void> => {
              const answer = await as(method, path, body);
              assert.ok(statuses.includes(answer.status), `${grant.serviceAccount}: ${method} ${path}: expected HTTP ${statuses.join(' or ')}, got ${String(answer.status)} ${answer.body}`);
            };
            // What leaselocker does: all by name, lists and watches with a field selector on the name.
            await expect('GET', `${collection}/${lease}`, [200, 404]);
            await expect('GET', `${collection}?${selector}`, [200]);
            await expect('GET', `${collection}?watch=true&${selector}&timeoutSeconds=1`, [200]);
            await expect('POST', `${collection}?dryRun=All`, [201], { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: lease } });
            // Anything else is forbidden, but create: resourceNames cannot restrict it.
            await expect('GET', collection, [403]);
            await expect('GET', `${collection}?watch=true&timeoutSeconds=1`, [403]);
            await expect('GET', `${collection}/${lease}-other`, [403]);
            await expect('POST', `${collection}?dryRun=All`, [201], { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: `${lease}-other` } });
          }
        }
      });

      it('the Job and the CronJob run their migration one at a time, under their service account', async () => {
        const journal = join(dir, 'migrations.journal');
        await writeFile(journal, '');
        // A stand-in for ./migrate.sh that notes when it starts and ends.
        const standIn = [
          "const { appendFileSync } = require('node:fs');",
          'const note = (what) => appendFileSync(process.env.JOURNAL, `${what} ${process.env.HOSTNAME} ${Date.now()}\\n`);',
          "note('start');",
          "setTimeout(() => note('end'), 1500);",
        ].join(' ');
        let leaseName: string | undefined;
        const runs = ['Job', 'CronJob'].map((kind) => {
          const { file, object } = theOnly(kind);
          const podSpec = podSpecOf(object);
          const container = list(podSpec['containers'], 'containers')[0];
          const podName = `${nameOf(object)}-x7k2p`;
          const env = containerEnv(container, podName, appliedNamespace);
          const argv = [...list(dig(container, 'command') ?? [], 'command'), ...list(dig(container, 'args') ?? [], 'args')].map((argument) => expand(text(argument, 'argument'), env));
          const bin = argv[0] === 'npx' ? 1 : 0; // the installed bin, or npx leaselocker
          assert.match(argv[bin] ?? '', /(^|\/)leaselocker$/, `${file}: the container should run leaselocker, not ${JSON.stringify(argv)}`);
          const cli = argv.slice(bin + 1);
          const dash = cli.indexOf('--');
          assert.ok(cli[0] === 'run' && dash > 0, `${file}: the container should run \`leaselocker run ... -- <command>\`, not ${JSON.stringify(argv)}`);
          const lease = cli[cli.indexOf('--lease') + 1] ?? '';
          assert.equal(lease.split('/')[0], appliedNamespace, `${file}: the Lease should be in the pod's namespace`);
          leaseName ??= lease.split('/')[1];
          assert.equal(lease.split('/')[1], leaseName, 'the Job and the CronJob should lock the same Lease');
          const grant = grantOf(podSpec['serviceAccountName']);
          return startNode(podName, cliScript, [...cli.slice(0, dash + 1), process.execPath, '-e', standIn], {
            ...process.env,
            ...env,
            HOSTNAME: podName,
            KUBECONFIG: grant.kubeconfigFile,
            JOURNAL: journal,
          });
        });
        const outcomes = await Promise.all(runs.map(async (run) => exitOf(run, 120_000)));
        for (const [index, outcome] of outcomes.entries()) {
          const run = runs[index] as RunningProcess;
          assert.deepEqual(outcome, { code: 0, signal: null }, `${run.name}: leaselocker run should exit 0; stderr:\n${run.stderr}`);
        }
        // Each migration ran, and never two at once.
        const notes = (await readFile(journal, 'utf8')).trim().split('\n').map((line) => line.split(' '));
        const sections = runs.map((run) => {
          const at = (what: string): number => Number(notes.find(([note, who]) => note === what && who === run.name)?.[2]);
          return { name: run.name, start: at('start'), end: at('end') };
        }).sort((a, b) => a.start - b.start);
        for (const section of sections) assert.ok(section.end >= section.start, `${section.name} should have run to its end: ${JSON.stringify(notes)}`);
        const [first, second] = sections;
        assert.ok(first && second && second.start >= first.end, `the migrations overlapped: ${JSON.stringify(sections)}`);
        assert.equal(await holderOf(leaseName ?? ''), undefined, 'the Lease is released after the runs');
      });

      it('the worker: one of two replicas leads; on SIGTERM the leader hands over at once and exits 0', async (t) => {
        const { object: deployment } = theOnly('Deployment');
        const podSpec = podSpecOf(deployment);
        const container = list(podSpec['containers'], 'containers')[0];
        const grant = grantOf(podSpec['serviceAccountName']);
        const gracePeriodMs = 1000 * Number(podSpec['terminationGracePeriodSeconds'] ?? 30);
        const livenessPath = text(dig(container, 'livenessProbe', 'httpGet', 'path'), 'livenessProbe.httpGet.path');
        const readinessPath = text(dig(container, 'readinessProbe', 'httpGet', 'path'), 'readinessProbe.httpGet.path');
        const leaseName = text(containerEnv(container, '', '')['LEASE_NAME'], 'the Deployment\'s LEASE_NAME');
        const leaseDurationMs = 8_000;
        const start = async (podName: string): Promise<RunningProcess & { port: number }> => {
          const port = await freeLoopbackPort();
          const worker = startNode(podName, workerScript, [], {
            ...process.env,
            ...containerEnv(container, podName, appliedNamespace),
            PORT: String(port),
            KUBECONFIG: grant.kubeconfigFile,
            LEASE_DURATION_SECONDS: String(leaseDurationMs / 1000),
            RENEW_DEADLINE_SECONDS: '6',
            RETRY_PERIOD_SECONDS: '1',
          });
          return Object.assign(worker, { port });
        };
        const workers = await Promise.all([start(`${nameOf(deployment)}-5d8f9-a`), start(`${nameOf(deployment)}-5d8f9-b`)]);
        const leader = await eventually(() => workers.find((worker) => logged(worker, 'started leading')), () => 'a worker to lead', 90_000);
        const follower = workers.find((worker) => worker !== leader) as RunningProcess & { port: number };
        await eventually(() => logged(follower, 'new leader', { leader: leader.name }), () => `${follower.name} to see ${leader.name} lead`, 60_000);
        await eventually(() => logged(leader, 'listening') && logged(follower, 'listening'), () => 'both workers to serve their probes', 10_000);

        // Exactly one leads, as the Lease, the logs and /readyz tell.
        assert.equal(await holderOf(leaseName), leader.name);
        assert.equal(logged(follower, 'started leading'), undefined, 'the follower should not lead');
        for (const worker of workers) {
          const health = await getLocal(worker.port, livenessPath);
          assert.equal(health.status, 200, `${worker.name} ${livenessPath}: ${health.body}`);
          const ready = await getLocal(worker.port, readinessPath);
          assert.equal(ready.status, 200, `${worker.name} ${readinessPath}: ${ready.body}`);
          assert.deepEqual(JSON.parse(ready.body), { identity: worker.name, leading: worker === leader, leader: leader.name });
        }

        // SIGTERM: the leader stops, releases, and the follower takes over long before the lease would expire.
        const sentAt = performance.now();
        leader.child.kill('SIGTERM');
        const takeover = await eventually(() => logged(follower, 'started leading'), () => `${follower.name} to take over`, 3 * leaseDurationMs);
        const takeoverMs = takeover.seenAt - sentAt;
        t.diagnostic(`${follower.name} took over ${takeoverMs.toFixed(0)} ms after ${leader.name}'s SIGTERM`);
        assert.ok(takeoverMs < leaseDurationMs / 2, `the follower took over ${takeoverMs.toFixed(0)} ms after the leader's SIGTERM: it should not wait for the lease (${String(leaseDurationMs)} ms) to expire`);
        const leaderExit = await exitOf(leader, gracePeriodMs);
        assert.deepEqual(leaderExit, { code: 0, signal: null }, `${leader.name} should exit 0 by itself; stderr:\n${leader.stderr}`);
        assert.ok(leader.lines.some((line) => line.msg === 'stopped leading'), `${leader.name} should log that it stopped leading`);
        assert.equal(await holderOf(leaseName), follower.name);

        follower.child.kill('SIGTERM');
        const followerExit = await exitOf(follower, gracePeriodMs);
        assert.deepEqual(followerExit, { code: 0, signal: null }, `${follower.name} should exit 0 by itself; stderr:\n${follower.stderr}`);
        assert.equal(await holderOf(leaseName), undefined, 'the last leader released the Lease');
      });
    });
  });
});
