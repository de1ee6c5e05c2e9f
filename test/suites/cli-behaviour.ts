// The `leaselocker` command against a Lease API server, written once and run against the
// emulator (test/cli.test.ts) and a real kube-apiserver (test/e2e/cli.test.ts): exit codes
// passed through, --no-wait while another holds the lease, a hold lost to an outside write or
// deletion while the command runs, two runs that never overlap, status, and release --force of
// a crashed holder's lease. The built command is spawned as a shell job would run it; guarded
// commands are /bin/sh scripts that leave marker files behind, so each test can prove what the
// command did (or that it never ran).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import { LeaseLocker } from '../../src/index.js';
import type { LockRecord } from '../../src/index.js';
import { exitCodes } from '../../src/cli/exit-codes.js';
import { Cli, assertOneLineError, busyLoop, cliPath, fast, leaselocker } from '../helpers/cli-process.js';
import { waitFor } from '../helpers/wait-for.js';
import { uniqueLeaseName } from './lease-server.js';

/** The timing of {@link fast}, for lockers of the test process. */
const fastTiming = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 500 };

/** A Lease as stored, as far as the command shows it. */
export interface StoredLease {
  readonly holderIdentity: string | undefined;
  readonly leaseTransitions: number | undefined;
  readonly leaseDurationSeconds: number | undefined;
  /** As the server writes a MicroTime: UTC, six fractional digits. */
  readonly acquireTime: string | undefined;
  readonly renewTime: string | undefined;
  readonly resourceVersion: string | undefined;
}

/**
 * A fresh Lease API server for the command: the emulator in `npm test`, a real kube-apiserver
 * in `npm run test:e2e`.
 */
export interface CliServer {
  /** Where the suite's Leases live: the namespace of {@link kubeConfig}'s context, so a bare lease name means it. */
  readonly namespace: string;
  /** Full access; the command gets it as its kubeconfig file. */
  kubeConfig(): KubeConfig;
  /** Creates or overwrites a Lease as another holder would, whatever it holds now. */
  putLease(name: string, record: LockRecord): Promise<void>;
  /** The Lease as stored now; undefined when there is none. */
  readLease(name: string): Promise<StoredLease | undefined>;
  /** Deletes the Lease from outside, so that whoever holds it loses it; false when there was none. */
  deleteLease(name: string): Promise<boolean>;
  close(): Promise<void>;
}

/** The suite's server and what its tests share, for the scenarios a caller adds. */
export interface CliFixture {
  readonly server: CliServer;
  /** A directory for the test's files, removed after the tests. */
  readonly dir: string;
  /** The kubeconfig file of {@link CliServer.kubeConfig}. */
  readonly kubeconfig: string;
  /** A fresh path in {@link dir}. */
  readonly path: (name: string) => string;
  /** `--kubeconfig <the server's kubeconfig file>`. */
  readonly cluster: () => string[];
  /** A locker of this test process holding `name`, released after the tests. */
  readonly holdElsewhere: (name: string, identity?: string) => Promise<LeaseLocker>;
  /** Stores a lease as a holder that does not renew (a crashed one) would have left it. */
  readonly leaveLease: (name: string, holder: string, options?: { transitions?: number; durationSeconds?: number }) => Promise<void>;
  /** The stored holder of `name`: '' when released, undefined when there is no Lease. */
  readonly holderOf: (name: string) => Promise<string | undefined>;
}

/**
 * The command's behaviour against a fresh server from `start`. `more` adds the scenarios
 * only that server can play, in the same suite and on the same server.
 */
export function cliBehaviourSuite(title: string, start: () => Promise<CliServer>, more?: (cli: CliFixture) => void): void {
  describe(title, () => {
    let server: CliServer | undefined;
    let dir = '';
    let kubeconfig = '';
    let files = 0;
    const lockers: LeaseLocker[] = [];

    const started = (): CliServer => {
      assert.ok(server !== undefined, 'the server has not started');
      return server;
    };
    const cli: CliFixture = {
      get server() { return started(); },
      get dir() { return dir; },
      get kubeconfig() { return kubeconfig; },
      path: (name) => join(dir, `${name}-${++files}`),
      cluster: () => ['--kubeconfig', kubeconfig],
      holdElsewhere: async (name, identity = 'elsewhere') => {
        const locker = new LeaseLocker(started().kubeConfig(), { namespace: started().namespace, name }, identity, fastTiming);
        lockers.push(locker);
        await locker.lock({ signal: AbortSignal.timeout(30_000) });
        return locker;
      },
      leaveLease: async (name, holder, options = {}) => {
        const now = new Date();
        await started().putLease(name, { holderIdentity: holder, leaseDurationSeconds: options.durationSeconds ?? 60, acquireTime: now, renewTime: now, leaseTransitions: options.transitions ?? 4 });
      },
      holderOf: async (name) => (await started().readLease(name))?.holderIdentity,
    };
    const { path, cluster, holdElsewhere, leaveLease, holderOf } = cli;

    before(async () => {
      assert.ok(existsSync(cliPath), 'dist/cli.js is missing: run `npm run build` first (npm test does)');
      server = await start();
      dir = await mkdtemp(join(tmpdir(), 'leaselocker-cli-'));
      kubeconfig = join(dir, 'kubeconfig');
      await writeFile(kubeconfig, server.kubeConfig().exportConfig(), { mode: 0o600 });
    });

    after(async () => {
      for (const locker of lockers) await locker.unlock().catch(() => undefined);
      await server?.close();
      if (dir !== '') await rm(dir, { recursive: true, force: true });
    });

    describe('run', () => {
      it('exits with the command\'s code (0 and 3), passes its output through, releases, and exits at once', async () => {
        const name = uniqueLeaseName('cli-code');
        const ok = await leaselocker(['run', '--lease', `${cli.server.namespace}/${name}`, ...cluster(), '--', '/bin/sh', '-c', 'echo "held by $PPID"']);
        assert.equal(ok.code, 0, ok.stderr);
        assert.match(ok.stdout, /^held by \d+\n$/);
        assert.equal(ok.stderr, '', 'nothing to tell when the lease was free');
        assert.equal(await holderOf(name), '', 'released');
        const three = new Cli(['run', '--lease', name, ...cluster(), '--identity', 'me', '--', '/bin/sh', '-c', 'echo out; echo err >&2; exit 3']);
        let printedAt = 0;
        three.child.stdout?.once('data', () => { printedAt = performance.now(); });
        const outcome = await three.done;
        assert.equal(outcome.code, 3, outcome.stderr);
        assert.equal(outcome.stdout, 'out\n');
        assert.equal(outcome.stderr, 'err\n');
        assert.equal(await holderOf(name), '', 'released, in the context\'s namespace');
        assert.equal((await cli.server.readLease(name))?.leaseTransitions, 1);
        // Released and gone within moments of the command's end: nothing (a timer, a socket) keeps it alive.
        assert.ok(outcome.exitedAt - printedAt < 3000, `exited ${Math.round(outcome.exitedAt - printedAt)} ms after the command's output`);
      });

      it('--no-wait while another locker holds the lease: exits 75 at once, naming the holder, without running the command', async () => {
        const name = uniqueLeaseName('cli-nowait');
        const holder = await holdElsewhere(name, 'other-holder');
        const marker = path('ran');
        const namespace = cli.server.namespace;
        const outcome = await leaselocker(['run', '--lease', `${namespace}/${name}`, '--no-wait', ...fast, ...cluster(), '--', '/bin/sh', '-c', `touch "${marker}"`]);
        assertOneLineError(outcome, exitCodes.held, new RegExp(`${namespace}/.* is held by other-holder .*--no-wait`));
        assert.equal(existsSync(marker), false, 'the command ran');
        assert.equal(await holderOf(name), 'other-holder');
        await holder.unlock();
      });

      it('when the hold is lost while the command runs: SIGTERM to the command, exit 124', async () => {
        const name = uniqueLeaseName('cli-lost');
        const [up, term] = [path('up'), path('term')];
        const run = new Cli(['run', '--lease', name, ...fast, ...cluster(), '--', '/bin/sh', '-c', `trap 'echo term > "${term}"; exit 0' TERM; echo up > "${up}"; ${busyLoop}`]);
        await waitFor(() => existsSync(up), 'the command to start', 30_000);
        // Someone else takes the lease over the holder's head.
        await leaveLease(name, 'intruder', { transitions: 7 });
        const outcome = await run.done;
        assert.equal(outcome.code, exitCodes.lost, outcome.stderr);
        assert.equal(await readFile(term, 'utf8'), 'term\n', 'the command got SIGTERM');
        assert.match(outcome.stderr, new RegExp(`lost ${cli.server.namespace}/.*: the lease is now held by "intruder"; stopping the command \\(SIGTERM, SIGKILL after 10s\\)`));
        assert.equal(await holderOf(name), 'intruder', 'the intruder\'s hold is left alone');
      });

      it('SIGKILLs, after --kill-after, a command that ignores SIGTERM once the hold is lost (the Lease was deleted)', async () => {
        const name = uniqueLeaseName('cli-kill');
        const [up, term] = [path('up'), path('term')];
        const run = new Cli(['run', '--lease', name, '--kill-after', '1s', ...fast, ...cluster(), '--', '/bin/sh', '-c', `trap 'echo term >> "${term}"' TERM; echo up > "${up}"; ${busyLoop}`]);
        await waitFor(() => existsSync(up), 'the command to start', 30_000);
        assert.ok(await cli.server.deleteLease(name));
        await waitFor(() => existsSync(term), 'SIGTERM to reach the command', 10_000);
        const termAt = performance.now();
        const outcome = await run.done;
        assert.equal(outcome.code, exitCodes.lost, outcome.stderr);
        assert.match(outcome.stderr, /the Lease object was deleted/);
        assert.match(outcome.stderr, /did not stop within 1s of SIGTERM; sending SIGKILL/);
        assert.match(outcome.stderr, /the command ended \(SIGKILL\)/);
        assert.equal(await readFile(term, 'utf8'), 'term\n', 'the command got SIGTERM (and ignored it)');
        assert.ok(outcome.exitedAt - termAt >= 800, `killed ${Math.round(outcome.exitedAt - termAt)} ms after SIGTERM`);
      });

      it('two runs at once never overlap: the second starts after the first released (long before its lease would expire)', async () => {
        const name = uniqueLeaseName('cli-two');
        const journal = path('journal');
        const command = (id: string): string[] => ['/bin/sh', '-c', `echo "start ${id} $(date +%s%3N)" >> "${journal}"; sleep 1; echo "end ${id} $(date +%s%3N)" >> "${journal}"`];
        const runs = ['run-a', 'run-b'].map((id) => new Cli(['run', '--lease', name, '--identity', id, ...cluster(), '--', ...command(id)]));
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
        assert.equal(secondEnd.id, secondStart.id);
        assert.notEqual(secondStart.id, firstStart.id);
        assert.ok(secondStart.at >= firstEnd.at, 'the second started before the first ended');
        // Lease duration 15 s: a start this soon is the release's doing, not an expiry.
        assert.ok(secondStart.at - firstEnd.at < 5000, `the second started ${secondStart.at - firstEnd.at} ms after the first ended`);
        const second = outcomes[firstStart.id === 'run-a' ? 1 : 0];
        assert.match(second?.stderr ?? '', new RegExp(`held by ${firstStart.id}`), 'the second waited for the first');
      });
    });

    describe('status', () => {
      it('shows holder, times, expiry, transitions and duration as a table, and as one JSON object with --json', async () => {
        const name = uniqueLeaseName('cli-status');
        const namespace = cli.server.namespace;
        await leaveLease(name, 'holder-1', { transitions: 4, durationSeconds: 60 });
        const stored = await cli.server.readLease(name);
        const table = await leaselocker(['status', `${namespace}/${name}`, ...cluster()]);
        assert.equal(table.code, 0, table.stderr);
        assert.equal(table.stderr, '');
        assert.match(table.stdout, new RegExp(`^Lease: +${namespace}/${name}$`, 'm'));
        assert.match(table.stdout, /^Holder: +holder-1$/m);
        assert.match(table.stdout, new RegExp(`^Acquired: +${String(stored?.acquireTime).replaceAll('.', '\\.')} \\(\\d+(ms|s) ago\\)$`, 'm'));
        assert.match(table.stdout, /^Renewed: +\S+Z \(\d+(ms|s) ago\)$/m);
        assert.match(table.stdout, /^Expires in: +\d+s$/m);
        assert.match(table.stdout, /^Transitions: +4$/m);
        assert.match(table.stdout, /^Lease duration: +1m$/m);
        assert.match(table.stdout, /^Waiting: +-$/m);
        const json = await leaselocker(['status', name, '--json', ...cluster()]);
        assert.equal(json.code, 0, json.stderr);
        assert.match(json.stdout, /^\{.*\}\n$/);
        const status = JSON.parse(json.stdout) as Record<string, unknown>;
        assert.equal(typeof status['expiresInSeconds'], 'number');
        assert.ok((status['expiresInSeconds'] as number) > 0 && (status['expiresInSeconds'] as number) <= 60, String(status['expiresInSeconds']));
        assert.deepEqual({ ...status, expiresInSeconds: 0 }, {
          namespace, name, holder: 'holder-1', held: true, acquireTime: stored?.acquireTime, renewTime: stored?.renewTime,
          expiresInSeconds: 0, leaseTransitions: 4, leaseDurationSeconds: 60, waiting: [], resourceVersion: stored?.resourceVersion,
        });
      });
    });

    describe('release', () => {
      it('--force refuses off a terminal without --yes, and with --yes releases a crashed holder\'s lease; a waiting run then gets it at once', async () => {
        const name = uniqueLeaseName('cli-force');
        const namespace = cli.server.namespace;
        await leaveLease(name, 'crashed-pod', { transitions: 2, durationSeconds: 300 });
        // A run that the crashed pod holds up.
        const marker = path('ran');
        const waiting = new Cli(['run', '--lease', name, ...cluster(), '--', '/bin/sh', '-c', `touch "${marker}"`]);
        await waitFor(() => waiting.stderr.includes('held by crashed-pod'), 'the run to wait', 30_000);
        const refused = await leaselocker(['release', name, '--force', ...cluster()]);
        assertOneLineError(refused, exitCodes.usage, /is held by crashed-pod .*refusing to release it without confirmation off a terminal: add --yes/);
        assert.equal(await holderOf(name), 'crashed-pod');
        const forced = await leaselocker(['release', `${namespace}/${name}`, '--force', '--yes', ...cluster()]);
        assert.equal(forced.code, 0, forced.stderr);
        assert.match(forced.stdout, new RegExp(`^released ${namespace}/.* \\(was held by crashed-pod\\)\\n$`));
        // The waiting run gets the lease at once, runs its command and releases.
        const outcome = await waiting.done;
        assert.equal(outcome.code, 0, outcome.stderr);
        assert.ok(existsSync(marker), 'the waiting command ran');
        const stored = await cli.server.readLease(name);
        assert.equal(stored?.holderIdentity, '');
        assert.equal(stored?.leaseTransitions, 3, 'the release kept the count; the run added one');
        // And a run that does not wait gets it as well.
        const next = await leaselocker(['run', '--lease', name, '--no-wait', ...cluster(), '--', 'true']);
        assert.equal(next.code, 0, next.stderr);
      });
    });

    more?.(cli);
  });
}
