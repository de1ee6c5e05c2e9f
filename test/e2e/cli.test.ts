// The `leaselocker` command (dist/cli.js, built by `npm run build`) against a real
// kube-apiserver: exit codes passed through, --no-wait while another holds the lease, a hold
// lost to an outside write or deletion while the command runs, two runs that never overlap,
// status --json, release --force --yes of a crashed holder's lease, and RBAC refusals.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CoordinationV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { LeaseApiError, LeaseLock, LeaseLocker } from '../../src/index.js';
import type { LockRecord } from '../../src/index.js';
import { waitFor } from '../helpers/wait-for.js';
import { uniqueLeaseName } from '../suites/lease-server.js';
import { startKubeCluster } from './kube-cluster.js';
import type { KubeCluster } from './kube-cluster.js';

const cliPath = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const namespace = 'leaselocker-e2e-cli';
const fast = ['--lease-duration', '2s', '--renew-deadline', '1500ms', '--retry-period', '500ms'];
/** A guarded command's busy wait: 30 s at most, so that nothing outlives a failed test for long. */
const busyLoop = 'i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done';
const fastTiming = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 500 };
// The command's exit codes (see src/cli/exit-codes.ts).
const held = 75;
const lost = 124;
const clusterError = 69;

/** How a `leaselocker` process ended. */
interface Outcome {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A running `node dist/cli.js ...`, killed (and failed) if it outlives its deadline. */
class Cli {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly done: Promise<Outcome>;

  constructor(args: readonly string[], timeoutMs = 60_000) {
    const env: NodeJS.ProcessEnv = { ...process.env, HOSTNAME: 'cli-e2e' };
    delete env['DEBUG'];
    delete env['KUBECONFIG'];
    this.child = spawn(process.execPath, [cliPath, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (chunk: Buffer) => { this.stdout += chunk.toString(); });
    this.child.stderr?.on('data', (chunk: Buffer) => { this.stderr += chunk.toString(); });
    let timedOut = false;
    // Past the deadline, fail at once: the command may outlive leaselocker and keep its pipes open.
    const deadline = setTimeout(() => {
      timedOut = true;
      this.child.kill('SIGKILL');
      this.child.stdout?.destroy();
      this.child.stderr?.destroy();
    }, timeoutMs);
    this.done = new Promise((resolve, reject) => {
      this.child.once('close', (code) => {
        clearTimeout(deadline);
        if (timedOut) reject(new Error(`leaselocker ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr:\n${this.stderr}`));
        else resolve({ code, stdout: this.stdout, stderr: this.stderr });
      });
    });
  }
}

describe('the leaselocker command against a real kube-apiserver', () => {
  let cluster: KubeCluster;
  let dir = '';
  let kubeconfig = '';
  let files = 0;
  const lockers: LeaseLocker[] = [];

  const path = (name: string): string => join(dir, `${name}-${++files}`);
  const admin = (): KubeConfig => cluster.adminKubeConfig();
  const reader = (name: string): LeaseLock => new LeaseLock(admin(), { namespace, name }, 'e2e-test');
  const holderOf = async (name: string): Promise<string | undefined> => (await reader(name).get())?.record.holderIdentity;
  const leaselocker = async (args: readonly string[]): Promise<Outcome> => new Cli(args).done;
  const lease = (name: string): string[] => ['--lease', `${namespace}/${name}`];

  /** Writes `record` over whatever the Lease holds now, as an outside client would (retrying on 409). */
  async function overwrite(name: string, record: (current: LockRecord) => LockRecord): Promise<void> {
    const lock = reader(name);
    for (;;) {
      const current = await lock.get();
      assert.ok(current !== undefined, 'the Lease exists');
      try {
        await lock.update(record(current.record), current);
        return;
      } catch (error) {
        if (!(error instanceof LeaseApiError && error.statusCode === 409)) throw error;
      }
    }
  }

  before(async () => {
    cluster = await startKubeCluster();
    await cluster.createNamespace(namespace);
    dir = await mkdtemp(join(tmpdir(), 'leaselocker-cli-e2e-'));
    kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, admin().exportConfig(), { mode: 0o600 });
  });

  after(async () => {
    for (const locker of lockers) await locker.unlock().catch(() => false);
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('run passes the command\'s exit code through and releases the lease', async () => {
    assert.ok(existsSync(cliPath), 'dist/cli.js is missing: run `npm run build` first');
    const name = uniqueLeaseName('cli-code');
    const outcome = await leaselocker(['run', ...lease(name), '--kubeconfig', kubeconfig, '--', '/bin/sh', '-c', 'echo working; exit 3']);
    assert.equal(outcome.code, 3, outcome.stderr);
    assert.equal(outcome.stdout, 'working\n');
    assert.equal(await holderOf(name), '');
    const ok = await leaselocker(['run', ...lease(name), '--kubeconfig', kubeconfig, '--', 'true']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((await reader(name).get())?.record.leaseTransitions, 1);
  });

  it('run --no-wait while another process holds the lease exits 75 without running the command', async () => {
    const name = uniqueLeaseName('cli-nowait');
    const holder = new LeaseLocker(admin(), { namespace, name }, 'other-holder', fastTiming);
    lockers.push(holder);
    await holder.lock({ signal: AbortSignal.timeout(30_000) });
    const marker = path('ran');
    const outcome = await leaselocker(['run', ...lease(name), '--no-wait', ...fast, '--kubeconfig', kubeconfig, '--', '/bin/sh', '-c', `touch "${marker}"`]);
    assert.equal(outcome.code, held, outcome.stderr);
    assert.match(outcome.stderr, /is held by other-holder/);
    assert.equal(existsSync(marker), false, 'the command ran');
    await holder.unlock();
  });

  it('a hold lost to an outside write while the command runs: SIGTERM to the command, exit 124', async () => {
    const name = uniqueLeaseName('cli-taken');
    const [up, term] = [path('up'), path('term')];
    const run = new Cli(['run', ...lease(name), ...fast, '--kubeconfig', kubeconfig, '--', '/bin/sh', '-c', `trap 'echo term > "${term}"; exit 0' TERM; echo up > "${up}"; ${busyLoop}`]);
    await waitFor(() => existsSync(up), 'the command to start', 30_000);
    const now = new Date();
    await overwrite(name, (current) => ({ ...current, holderIdentity: 'intruder', acquireTime: now, renewTime: now, leaseDurationSeconds: 60, leaseTransitions: current.leaseTransitions + 1 }));
    const outcome = await run.done;
    assert.equal(outcome.code, lost, outcome.stderr);
    assert.equal(await readFile(term, 'utf8'), 'term\n', 'the command got SIGTERM');
    assert.match(outcome.stderr, /the lease is now held by "intruder"/);
    assert.equal(await holderOf(name), 'intruder');
  });

  it('a Lease deleted while the command runs: SIGTERM, then SIGKILL after --kill-after to a command that ignores it, exit 124', async () => {
    const name = uniqueLeaseName('cli-deleted');
    const [up, term] = [path('up'), path('term')];
    const run = new Cli(['run', ...lease(name), '--kill-after', '1s', ...fast, '--kubeconfig', kubeconfig, '--', '/bin/sh', '-c', `trap 'echo term >> "${term}"' TERM; echo up > "${up}"; ${busyLoop}`]);
    await waitFor(() => existsSync(up), 'the command to start', 30_000);
    await admin().makeApiClient(CoordinationV1Api).deleteNamespacedLease({ namespace, name });
    const outcome = await run.done;
    assert.equal(outcome.code, lost, outcome.stderr);
    assert.match(outcome.stderr, /the Lease object was deleted/);
    assert.match(outcome.stderr, /sending SIGKILL/);
    assert.match(outcome.stderr, /the command ended \(SIGKILL\)/);
    assert.equal(await readFile(term, 'utf8'), 'term\n', 'the command got SIGTERM (and ignored it)');
  });

  it('two runs at once never overlap: the second starts after the first released', async () => {
    const name = uniqueLeaseName('cli-two');
    const journal = path('journal');
    const command = (id: string): string[] => ['/bin/sh', '-c', `echo "start ${id} $(date +%s%3N)" >> "${journal}"; sleep 1; echo "end ${id} $(date +%s%3N)" >> "${journal}"`];
    const runs = ['run-a', 'run-b'].map((id) => new Cli(['run', ...lease(name), '--identity', id, '--kubeconfig', kubeconfig, '--', ...command(id)]));
    const outcomes = await Promise.all(runs.map(async (run) => run.done));
    for (const outcome of outcomes) assert.equal(outcome.code, 0, outcome.stderr);
    const lines = (await readFile(journal, 'utf8')).trimEnd().split('\n').map((line) => {
      const [event = '', id = '', at = ''] = line.split(' ');
      return { event, id, at: Number(at) };
    });
    assert.deepEqual(lines.map(({ event }) => event), ['start', 'end', 'start', 'end'], 'the sections interleave');
    const [firstStart, firstEnd, secondStart, secondEnd] = lines;
    assert.ok(firstStart && firstEnd && secondStart && secondEnd);
    assert.equal(firstEnd.id, firstStart.id);
    assert.equal(secondStart.id, secondEnd.id);
    assert.notEqual(secondStart.id, firstStart.id);
    assert.ok(secondStart.at >= firstEnd.at, 'the second started before the first ended');
    // Default lease duration 15 s: a start this soon is the release's doing, not an expiry.
    assert.ok(secondStart.at - firstEnd.at < 5000, `the second started ${secondStart.at - firstEnd.at} ms after the first ended`);
  });

  it('status --json tells the holder, times, transitions and duration of the Lease', async () => {
    const name = uniqueLeaseName('cli-status');
    const at = new Date();
    const created = await reader(name).create({ holderIdentity: 'holder-1', leaseDurationSeconds: 60, acquireTime: at, renewTime: at, leaseTransitions: 4 });
    const outcome = await leaselocker(['status', `${namespace}/${name}`, '--json', '--kubeconfig', kubeconfig]);
    assert.equal(outcome.code, 0, outcome.stderr);
    const status = JSON.parse(outcome.stdout) as Record<string, unknown>;
    assert.ok(typeof status['expiresInSeconds'] === 'number' && status['expiresInSeconds'] > 0 && status['expiresInSeconds'] <= 60, String(status['expiresInSeconds']));
    assert.deepEqual({ ...status, expiresInSeconds: 0 }, {
      namespace, name, holder: 'holder-1', held: true, acquireTime: created.record.acquireTime?.toISOString(), renewTime: created.record.renewTime?.toISOString(),
      expiresInSeconds: 0, leaseTransitions: 4, leaseDurationSeconds: 60, resourceVersion: created.version,
    });
  });

  it('release --force --yes releases a crashed holder\'s lease; a waiting run then gets it at once', async () => {
    const name = uniqueLeaseName('cli-force');
    const at = new Date();
    await reader(name).create({ holderIdentity: 'crashed-pod', leaseDurationSeconds: 300, acquireTime: at, renewTime: at, leaseTransitions: 2 });
    const marker = path('ran');
    const waiting = new Cli(['run', ...lease(name), '--kubeconfig', kubeconfig, '--', '/bin/sh', '-c', `touch "${marker}"`]);
    await waitFor(() => waiting.stderr.includes('held by crashed-pod'), 'the run to wait', 30_000);
    const refused = await leaselocker(['release', `${namespace}/${name}`, '--force', '--kubeconfig', kubeconfig]);
    assert.equal(refused.code, 64, refused.stderr);
    const released = await leaselocker(['release', `${namespace}/${name}`, '--force', '--yes', '--kubeconfig', kubeconfig]);
    assert.equal(released.code, 0, released.stderr);
    assert.match(released.stdout, /released .* \(was held by crashed-pod\)/);
    const outcome = await waiting.done;
    assert.equal(outcome.code, 0, outcome.stderr);
    assert.ok(existsSync(marker), 'the waiting command ran');
    const record = (await reader(name).get())?.record;
    assert.equal(record?.holderIdentity, '');
    assert.equal(record?.leaseTransitions, 3, 'the release kept the count; the run added one');
  });

  it('an identity RBAC does not allow to write leases: exit 69 at once, with the server\'s reason', async () => {
    const readOnly = await cluster.createUser('cli-reader', [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch'] }], namespace);
    const file = path('reader-kubeconfig');
    await writeFile(file, readOnly.exportConfig(), { mode: 0o600 });
    const marker = path('ran');
    const outcome = await leaselocker(['run', ...lease(uniqueLeaseName('cli-rbac')), '--kubeconfig', file, '--', '/bin/sh', '-c', `touch "${marker}"`]);
    assert.equal(outcome.code, clusterError, outcome.stderr);
    assert.match(outcome.stderr, /^leaselocker: create lease .*: HTTP 403 Forbidden: .*cannot create resource "leases"/);
    assert.equal(existsSync(marker), false);
  });
});
