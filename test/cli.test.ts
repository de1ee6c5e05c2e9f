// The `leaselocker` command: its parsing units, then the built command (dist/cli.js, which
// `npm test` builds first) spawned against the in-process Lease API emulator, as a shell job
// would run it: the shared scenarios of test/suites/cli-behaviour.ts (which test/e2e/cli.test.ts
// runs against a real kube-apiserver) and those only the emulator can play. Guarded commands are
// /bin/sh scripts that leave marker files behind, so each test can prove what the command did
// (or that it never ran).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { InvalidConfigError, LeaseApiError, LeaseLocker } from '../src/index.js';
import { startLeaseApiEmulator } from '../src/testing/index.js';
import type { LeaseApiEmulator } from '../src/testing/index.js';
import { parseCommandLine } from '../src/cli/args.js';
import type { RunArgs } from '../src/cli/args.js';
import { ClusterError, UsageError } from '../src/cli/cli-error.js';
import { DurationError, formatDuration, parseDuration } from '../src/cli/duration.js';
import { exitCodes } from '../src/cli/exit-codes.js';
import { describeFailure } from '../src/cli/failure.js';
import { defaultIdentity } from '../src/cli/identity.js';
import { loadClusterAccess } from '../src/cli/kube-config.js';
import type { ClusterEnvironment } from '../src/cli/kube-config.js';
import { parseLeaseArg } from '../src/cli/lease-arg.js';
import { Cli, assertOneLineError, busyLoop, cliPath, fast, leaselocker } from './helpers/cli-process.js';
import { waitFor } from './helpers/wait-for.js';
import { cliBehaviourSuite } from './suites/cli-behaviour.js';
import { uniqueLeaseName } from './suites/lease-server.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const packageVersion = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

/** What redraws a terminal line, as a regular expression: carriage return, then ESC [ K. */
const eraseLine = '\\r\u001b\\[K';

describe('leaselocker command line', () => {
  describe('durations, as Go writes them', () => {
    it('reads 15s, 1m30s, 500ms, 2h, fractions, 0 and sums of units', () => {
      const cases: Array<[string, number]> = [
        ['15s', 15_000], ['1m30s', 90_000], ['500ms', 500], ['2h', 7_200_000], ['1.5s', 1500], ['.5s', 500],
        ['0', 0], ['0s', 0], ['+5s', 5000], ['1h2m3s4ms', 3_723_004], ['2000000ns', 2], ['2000us', 2], ['3µs3997us', 4],
      ];
      for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
    });

    it('refuses what Go refuses, a unit-less number, negatives, fractions of a millisecond and too long', () => {
      const cases: Array<[string, RegExp]> = [
        ['15', /no unit/], ['', /not a duration/], ['s', /not a duration/], ['1d', /unknown unit "d"/], ['-1s', /negative/],
        ['1.5ms', /whole number of milliseconds/], ['1500us', /whole number of milliseconds/], ['600h', /too long/], ['1s 2s', /unknown unit/], ['.s', /not a duration/],
      ];
      for (const [text, message] of cases) {
        assert.throws(() => parseDuration(text), (error: unknown) => error instanceof DurationError && message.test(error.message), text);
      }
    });

    it('writes durations that read back the same', () => {
      for (const ms of [0, 1, 500, 1000, 1500, 90_000, 7_200_000, 3_723_004, 2_147_483_647]) assert.equal(parseDuration(formatDuration(ms)), ms, String(ms));
      assert.equal(formatDuration(90_000), '1m30s');
      assert.equal(formatDuration(7_200_000), '2h');
      assert.equal(formatDuration(500), '500ms');
    });
  });

  describe('arguments', () => {
    it('reads run with every flag, and the command after --', () => {
      const args = parseCommandLine([
        'run', '--lease', 'jobs/nightly', '--identity', 'me', '--lease-duration', '20s', '--renew-deadline', '15s', '--retry-period', '3s',
        '--wait', '1m30s', '--kill-after', '5s', '--kubeconfig', 'kc.yaml', '--context', 'prod', '--', 'sh', '-c', 'echo --lease; exit 3',
      ]);
      assert.deepEqual(args, {
        kind: 'run', lease: 'jobs/nightly', identity: 'me', timing: { leaseDurationMs: 20_000, renewDeadlineMs: 15_000, retryPeriodMs: 3000 },
        waitMs: 90_000, killAfterMs: 5000, command: ['sh', '-c', 'echo --lease; exit 3'], cluster: { kubeconfig: 'kc.yaml', context: 'prod' },
      } satisfies RunArgs);
    });

    it('defaults to the library timing, waiting for ever and --kill-after 10s; --no-wait and --wait 0 make one attempt', () => {
      const plain = parseCommandLine(['run', '--lease', 'x', '--', 'true']);
      assert.ok(plain.kind === 'run');
      assert.deepEqual(plain.timing, { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2000 });
      assert.equal(plain.waitMs, undefined);
      assert.equal(plain.killAfterMs, 10_000);
      assert.equal(plain.identity, undefined);
      for (const flags of [['--no-wait'], ['--wait', '0s']]) {
        const once = parseCommandLine(['run', '--lease', 'x', ...flags, '--', 'true']);
        assert.ok(once.kind === 'run');
        assert.equal(once.waitMs, 0, flags.join(' '));
      }
    });

    it('reads status and release', () => {
      assert.deepEqual(parseCommandLine(['status', 'ns/a', '--json']), { kind: 'status', lease: 'ns/a', json: true, cluster: { kubeconfig: undefined, context: undefined } });
      assert.deepEqual(parseCommandLine(['release', 'a', '--force', '-y', '--context', 'c']), {
        kind: 'release', lease: 'a', identity: undefined, force: true, yes: true, cluster: { kubeconfig: undefined, context: 'c' },
      });
      assert.deepEqual(parseCommandLine(['release', 'a', '--identity', 'me']), {
        kind: 'release', lease: 'a', identity: 'me', force: false, yes: false, cluster: { kubeconfig: undefined, context: undefined },
      });
    });

    it('answers --help and --version in every form', () => {
      for (const argv of [['--help'], ['-h'], ['help']]) assert.deepEqual(parseCommandLine(argv), { kind: 'help', command: undefined });
      for (const command of ['run', 'status', 'release'] as const) {
        assert.deepEqual(parseCommandLine([command, '--help']), { kind: 'help', command });
        assert.deepEqual(parseCommandLine(['help', command]), { kind: 'help', command });
      }
      for (const argv of [['--version'], ['-v'], ['version']]) assert.deepEqual(parseCommandLine(argv), { kind: 'version' });
    });

    it('refuses bad command lines with a usage error that says what is wrong', () => {
      const cases: Array<[string[], RegExp]> = [
        [[], /missing command/],
        [['frobnicate'], /unknown command "frobnicate"/],
        [['--kubeconfig', 'x', 'run'], /unknown option "--kubeconfig" before the command/],
        [['run', '--lease', 'x', '--bogus', '--', 'true'], /unknown option '--bogus'/],
        [['run', '--lease', 'x', 'sh', '-c', 'true'], /put the command after "--"/],
        [['run', '--lease', 'x'], /missing the command/],
        [['run', '--lease', 'x', '--'], /missing the command/],
        [['run', '--', 'true'], /missing --lease/],
        [['run', '--lease'], /argument missing/],
        [['run', '--lease', 'x', '--wait', '1s', '--no-wait', '--', 'true'], /either --wait or --no-wait/],
        [['run', '--lease', 'x', '--wait', '10', '--', 'true'], /invalid --wait: "10" has no unit/],
        [['run', '--lease', 'x', '--kill-after=-1s', '--', 'true'], /invalid --kill-after: "-1s" is negative/],
        [['run', '--lease', 'x', '--kill-after', '-1s', '--', 'true'], /argument is ambiguous.*'--kill-after=-XYZ'/],
        [['run', '--lease', 'x', '--no-wait=yes', '--', 'true'], /does not take an argument/],
        [['status'], /missing the lease/],
        [['status', 'a', 'b'], /unexpected argument "b"/],
        [['release', 'a'], /--identity.*or --force/],
        [['help', 'frobnicate'], /unknown command "frobnicate"/],
      ];
      for (const [argv, message] of cases) {
        assert.throws(() => parseCommandLine(argv), (error: unknown) => error instanceof UsageError && error.exitCode === exitCodes.usage && message.test(error.message), argv.join(' '));
      }
    });

    it('reads <namespace>/<name>, and a bare <name> in the context namespace or "default"', () => {
      assert.deepEqual(parseLeaseArg('jobs/nightly', 'ctx'), { namespace: 'jobs', name: 'nightly' });
      assert.deepEqual(parseLeaseArg('nightly', 'ctx'), { namespace: 'ctx', name: 'nightly' });
      assert.deepEqual(parseLeaseArg('nightly', undefined), { namespace: 'default', name: 'nightly' });
      for (const bad of ['', '/x', 'x/', 'a/b/c']) assert.throws(() => parseLeaseArg(bad, undefined), UsageError, bad);
    });

    it('makes an identity of HOSTNAME and a random suffix', () => {
      const first = defaultIdentity({ HOSTNAME: 'nightly-28861430-x7k2p' });
      assert.match(first, /^nightly-28861430-x7k2p-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
      assert.notEqual(defaultIdentity({ HOSTNAME: 'pod' }), defaultIdentity({ HOSTNAME: 'pod' }));
      assert.match(defaultIdentity({}), /^.+-[a-z0-9]{5}$/);
    });
  });

  describe('failures', () => {
    it('tells the library\'s InvalidConfigError as a usage error naming the flag, in durations', () => {
      const kubeConfig = new KubeConfig();
      const invalid = (timing: object, owner = 'me', lease = { namespace: 'default', name: 'x' }): unknown => {
        try {
          new LeaseLocker(kubeConfig, lease, owner, timing);
        } catch (error) {
          assert.ok(error instanceof InvalidConfigError);
          return error;
        }
        return assert.fail('the library accepted it');
      };
      const cases: Array<[unknown, RegExp]> = [
        [invalid({ leaseDurationMs: 5000, renewDeadlineMs: 10_000, retryPeriodMs: 2000 }), /^invalid --lease-duration: must be greater than --renew-deadline \(10s\); got 5s$/],
        [invalid({ leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 500 }), /^invalid --lease-duration: must be whole seconds.*got 1\.5s$/],
        [invalid({ leaseDurationMs: 15_000, renewDeadlineMs: 2000, retryPeriodMs: 2000 }), /^invalid --renew-deadline: must be greater than 1\.2 × --retry-period \(2\.4s\); got 2s$/],
        [invalid({ retryPeriodMs: 0 }), /^invalid --retry-period: /],
        [invalid({}, ' '), /^invalid --identity: /],
        [invalid({}, 'me', { namespace: 'Jobs', name: 'x' }), /^invalid lease namespace: /],
        [invalid({}, 'me', { namespace: 'jobs', name: 'x/y' }), /^invalid lease name: /],
      ];
      for (const [error, message] of cases) {
        const failure = describeFailure(error);
        assert.equal(failure.exitCode, exitCodes.usage);
        assert.match(failure.message, message);
      }
    });

    it('tells API, request and credential errors as cluster errors, and anything else as internal, on one line', () => {
      const forbidden = new LeaseApiError('get lease default/x', { statusCode: 403, reason: 'Forbidden', statusMessage: 'leases "x" is forbidden:\nUser "u" cannot get' });
      assert.deepEqual(describeFailure(forbidden), { exitCode: exitCodes.cluster, message: 'get lease default/x: HTTP 403 Forbidden: leases "x" is forbidden: User "u" cannot get' });
      assert.equal(describeFailure(new ClusterError('no cluster')).exitCode, exitCodes.cluster);
      assert.deepEqual(describeFailure(new TypeError('boom\n    at x (y.js:1:2)')), { exitCode: exitCodes.internal, message: 'internal error: boom at x (y.js:1:2)' });
    });

    it('uses distinct exit codes', () => {
      const { signalBase, ok, ...distinct } = exitCodes;
      const codes = Object.values(distinct);
      assert.equal(new Set(codes).size, codes.length);
      assert.equal(ok, 0);
      assert.equal(signalBase, 128);
      for (const code of codes) assert.ok(code > 0 && code < 128, String(code));
    });
  });

  describe('finding the cluster as kubectl does', () => {
    let dir = '';
    const config = (name: string, namespace?: string, clusterName = name): string => JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': name,
      clusters: [{ name: clusterName, cluster: { server: `https://${name}.example:6443` } }],
      users: [{ name, user: { token: `token-of-${name}` } }],
      contexts: [{ name, context: { cluster: clusterName, user: name, ...(namespace === undefined ? {} : { namespace }) } }],
    });
    const environment = (env: NodeJS.ProcessEnv, home = join(dir, 'nohome'), inClusterRoot = join(dir, 'nopod')): ClusterEnvironment => ({ env, home, inClusterRoot });
    const server = (kubeConfig: KubeConfig): string | undefined => kubeConfig.getCurrentCluster()?.server;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'leaselocker-cli-kubeconfig-'));
      await writeFile(join(dir, 'a.yaml'), config('a', 'team-a'));
      await writeFile(join(dir, 'b.yaml'), config('b', undefined, 'a'));
      await mkdir(join(dir, 'home', '.kube'), { recursive: true });
      await writeFile(join(dir, 'home', '.kube', 'config'), config('home'));
      const account = join(dir, 'pod', 'var', 'run', 'secrets', 'kubernetes.io', 'serviceaccount');
      await mkdir(account, { recursive: true });
      await writeFile(join(account, 'token'), 'service-account-token');
      await writeFile(join(account, 'namespace'), 'pod-namespace');
      await writeFile(join(dir, 'broken.yaml'), 'clusters: [\n  token: secret-token-value\n   - oops: :\n');
    });

    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('takes --kubeconfig first, and its context\'s namespace', () => {
      const access = loadClusterAccess({ kubeconfig: join(dir, 'a.yaml'), context: undefined }, environment({ KUBECONFIG: join(dir, 'b.yaml') }, join(dir, 'home')));
      assert.equal(server(access.kubeConfig), 'https://a.example:6443');
      assert.equal(access.namespace, 'team-a');
    });

    it('then KUBECONFIG, a list in which missing files are skipped and the first file to name something wins', () => {
      const list = [join(dir, 'missing.yaml'), join(dir, 'b.yaml'), join(dir, 'a.yaml')].join(':');
      const access = loadClusterAccess({ kubeconfig: undefined, context: undefined }, environment({ KUBECONFIG: list }, join(dir, 'home')));
      assert.equal(access.kubeConfig.getCurrentContext(), 'b');
      assert.equal(server(access.kubeConfig), 'https://b.example:6443', 'b.yaml defines cluster "a" first');
      assert.equal(access.namespace, undefined);
      const switched = loadClusterAccess({ kubeconfig: undefined, context: 'a' }, environment({ KUBECONFIG: list }));
      assert.equal(switched.namespace, 'team-a');
      assert.throws(() => loadClusterAccess({ kubeconfig: undefined, context: undefined }, environment({ KUBECONFIG: join(dir, 'missing.yaml') })), ClusterError);
    });

    it('then ~/.kube/config, then the pod\'s service account with its namespace', () => {
      const home = loadClusterAccess({ kubeconfig: undefined, context: undefined }, environment({}, join(dir, 'home')));
      assert.equal(server(home.kubeConfig), 'https://home.example:6443');
      const service = { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' };
      const saved = { KUBERNETES_SERVICE_HOST: process.env['KUBERNETES_SERVICE_HOST'], KUBERNETES_SERVICE_PORT: process.env['KUBERNETES_SERVICE_PORT'] };
      Object.assign(process.env, service); // client-node reads the service address from the process's environment
      try {
        const pod = loadClusterAccess({ kubeconfig: undefined, context: undefined }, environment(service, join(dir, 'nohome'), join(dir, 'pod')));
        assert.equal(server(pod.kubeConfig), 'https://10.0.0.1:443');
        assert.equal(pod.namespace, 'pod-namespace');
        assert.equal(pod.source, 'the in-cluster service account');
      } finally {
        for (const [key, value] of Object.entries(saved)) {
          if (value === undefined) delete process.env[key];
          else process.env[key] = value;
        }
      }
      // Without a token file, a pod's environment alone is no configuration.
      assert.throws(() => loadClusterAccess({ kubeconfig: undefined, context: undefined }, environment(service)), ClusterError);
    });

    it('fails clearly when there is nothing to use, a flag names nothing, or a file cannot be read (without quoting it)', () => {
      assert.throws(() => loadClusterAccess({ kubeconfig: undefined, context: undefined }, environment({})), (error: unknown) => error instanceof ClusterError && /no cluster configuration found/.test(error.message));
      assert.throws(() => loadClusterAccess({ kubeconfig: join(dir, 'missing.yaml'), context: undefined }, environment({})), (error: unknown) => error instanceof UsageError && /--kubeconfig/.test(error.message));
      assert.throws(() => loadClusterAccess({ kubeconfig: join(dir, 'a.yaml'), context: 'nope' }, environment({})), (error: unknown) => error instanceof UsageError && /--context: there is no context "nope"/.test(error.message));
      assert.throws(() => loadClusterAccess({ kubeconfig: join(dir, 'broken.yaml'), context: undefined }, environment({})), (error: unknown) => {
        assert.ok(error instanceof ClusterError);
        assert.match(error.message, /cannot read the kubeconfig/);
        assert.doesNotMatch(error.message, /secret-token-value|\n/);
        return true;
      });
    });
  });
});

let emulator: LeaseApiEmulator;

// The scenarios shared with a real kube-apiserver (test/suites/cli-behaviour.ts), then those only
// the emulator can play: fault injection, request counts, users and tokens made on the spot, a
// terminal, and failures that need no cluster at all.
cliBehaviourSuite('the leaselocker command against the Lease API emulator', async () => {
  emulator = await startLeaseApiEmulator();
  return {
    namespace: 'default',
    kubeConfig: () => emulator.kubeConfig(),
    putLease: (name, { acquireTime, renewTime, ...record }) => {
      const times = { ...(acquireTime === undefined ? {} : { acquireTime }), ...(renewTime === undefined ? {} : { renewTime }) };
      emulator.putLease('default', { metadata: { name }, spec: { ...record, ...times } });
      return Promise.resolve();
    },
    readLease: (name) => {
      const lease = emulator.getLease('default', name);
      if (lease === undefined) return Promise.resolve(undefined);
      const { holderIdentity, leaseTransitions, leaseDurationSeconds, acquireTime, renewTime } = lease.spec ?? {};
      return Promise.resolve({ holderIdentity, leaseTransitions, leaseDurationSeconds, acquireTime, renewTime, resourceVersion: lease.metadata.resourceVersion });
    },
    deleteLease: (name) => Promise.resolve(emulator.deleteLease('default', name)),
    close: () => emulator.close(),
  };
}, (cli) => {
  const { path, cluster, holdElsewhere, leaveLease, holderOf } = cli;

  describe('run', () => {
    it('exits 128 + N when signal N ended the command', async () => {
      const outcome = await leaselocker(['run', '--lease', uniqueLeaseName('cli-sig'), ...cluster(), '--', '/bin/sh', '-c', 'kill -TERM $$']);
      assert.equal(outcome.code, 128 + 15, outcome.stderr);
      const hup = await leaselocker(['run', '--lease', uniqueLeaseName('cli-sig'), ...cluster(), '--', '/bin/sh', '-c', 'kill -HUP $$']);
      assert.equal(hup.code, 128 + 1, hup.stderr);
    });

    it('--wait 1s runs out: exits 75 after about a second, without running the command', async () => {
      const name = uniqueLeaseName('cli-wait');
      await holdElsewhere(name, 'other-holder');
      const marker = path('ran');
      const outcome = await leaselocker(['run', '--lease', name, '--wait', '1s', ...fast, ...cluster(), '--', '/bin/sh', '-c', `touch "${marker}"`]);
      assert.equal(outcome.code, exitCodes.held, outcome.stderr);
      assert.match(outcome.stderr, /gave up waiting after 1s: default\/.* is held by other-holder/);
      assert.equal(existsSync(marker), false, 'the command ran');
      // At least the second it was given; not much more (the rest is starting Node.js on a busy machine).
      assert.ok(outcome.ms >= 1000 && outcome.ms < 10_000, `gave up after ${Math.round(outcome.ms)} ms`);
    });

    it('waits for a holder to release, telling off a terminal who holds the lease, one line per change', async () => {
      const name = uniqueLeaseName('cli-waits');
      const holder = await holdElsewhere(name, 'slow-holder');
      const marker = path('ran');
      const run = new Cli(['run', '--lease', name, ...fast, ...cluster(), '--', '/bin/sh', '-c', `touch "${marker}"`]);
      await waitFor(() => run.stderr.includes('held by slow-holder'), 'the waiting line', 10_000);
      // Renewals of the holder are no change worth a line.
      await waitFor(() => emulator.countRequests({ verb: 'update', name }) >= 4, 'a few renewals', 10_000);
      assert.equal(existsSync(marker), false);
      await holder.unlock();
      const outcome = await run.done;
      assert.equal(outcome.code, 0, outcome.stderr);
      assert.ok(existsSync(marker));
      const lines = outcome.stderr.trimEnd().split('\n');
      assert.match(lines[0] ?? '', /^leaselocker: waiting for default\/.*: held by slow-holder since \S+Z, expires in \d+m?s unless renewed$/);
      assert.equal(lines.filter((line) => line.includes('held by slow-holder')).length, 1, outcome.stderr);
      assert.match(lines.at(-1) ?? '', /^leaselocker: acquired default\/.* as cli-test-[a-z0-9]{5} after /);
    });

    it('forwards SIGTERM to the command and exits 128 + 15 once it ends, releasing the lease', async () => {
      const name = uniqueLeaseName('cli-forward');
      const [up, term] = [path('up'), path('term')];
      const run = new Cli(['run', '--lease', name, ...fast, ...cluster(), '--', '/bin/sh', '-c', `trap 'echo term > "${term}"; trap - TERM; kill -TERM $$' TERM; echo up > "${up}"; ${busyLoop}`]);
      await waitFor(() => existsSync(up), 'the command to start', 15_000);
      run.child.kill('SIGTERM');
      const outcome = await run.done;
      assert.equal(outcome.code, 128 + 15, outcome.stderr);
      assert.equal(await readFile(term, 'utf8'), 'term\n', 'the command got SIGTERM');
      assert.equal(await holderOf(name), '', 'released');
    });

    it('a signal while waiting ends the wait with 128 + N, without running the command', async () => {
      const name = uniqueLeaseName('cli-sigwait');
      await holdElsewhere(name);
      const marker = path('ran');
      const run = new Cli(['run', '--lease', name, ...fast, ...cluster(), '--', '/bin/sh', '-c', `touch "${marker}"`]);
      await waitFor(() => run.stderr.includes('waiting for'), 'the wait', 10_000);
      run.child.kill('SIGINT');
      const outcome = await run.done;
      assert.equal(outcome.code, 128 + 2, outcome.stderr);
      assert.match(outcome.stderr, /SIGINT received while waiting for default\/.*; the command was not run\n$/);
      assert.equal(existsSync(marker), false, 'the command ran');
      assert.equal(await holderOf(name), 'elsewhere');
    });

    it('cannot start the command: 127 when it is not found, 126 when it is not executable; the lease is released', async () => {
      const name = uniqueLeaseName('cli-nocmd');
      const missing = await leaselocker(['run', '--lease', name, ...cluster(), '--', 'leaselocker-no-such-command']);
      assertOneLineError(missing, exitCodes.notFound, /cannot run "leaselocker-no-such-command": command not found/);
      assert.equal(await holderOf(name), '');
      const script = path('not-executable');
      await writeFile(script, '#!/bin/sh\ntrue\n');
      await chmod(script, 0o644);
      const denied = await leaselocker(['run', '--lease', name, ...cluster(), '--', script]);
      assertOneLineError(denied, exitCodes.cannotExecute, /cannot run ".*not-executable-\d+": .*EACCES/);
      assert.equal(await holderOf(name), '');
    });

    it('shows a live line on a terminal while it waits', { skip: existsSync('/usr/bin/script') ? false : 'needs script(1) for a terminal' }, async () => {
      const name = uniqueLeaseName('cli-tty');
      const holder = await holdElsewhere(name, 'tty-holder');
      const run = new Cli([], {
        file: '/usr/bin/script',
        // A wide terminal, so that the line is not cut short.
        fileArgs: ['-qfec', `stty cols 200; exec "${process.execPath}" "${cliPath}" run --lease ${name} ${fast.join(' ')} --kubeconfig "${cli.kubeconfig}" -- true`, '/dev/null'],
      });
      const liveLine = new RegExp(`${eraseLine}leaselocker: default/\\S+: held by tty-holder since \\d\\d:\\d\\d:\\d\\dZ \\(\\d+m?s\\), expires in \\d`);
      await waitFor(() => liveLine.test(run.stdout), 'the live line', 15_000);
      await holder.unlock();
      const outcome = await run.done;
      assert.equal(outcome.code, 0, outcome.stdout);
      assert.match(outcome.stdout, new RegExp(`${eraseLine}leaselocker: acquired default/\\S+ as cli-test-[a-z0-9]{5} after `));
    });
  });

  describe('attacks', () => {
    it('run --no-wait takes over a lease whose holder stopped renewing long ago, after a lease duration', async () => {
      const name = uniqueLeaseName('cli-dead');
      const long = new Date(Date.now() - 3_600_000);
      emulator.putLease('default', { metadata: { name }, spec: { holderIdentity: 'crashed-pod', leaseDurationSeconds: 2, acquireTime: long, renewTime: long, leaseTransitions: 3 } });
      const marker = path('ran');
      const outcome = await leaselocker(['run', '--lease', name, '--no-wait', ...fast, ...cluster(), '--', '/bin/sh', '-c', `touch "${marker}"`]);
      assert.equal(outcome.code, 0, outcome.stderr);
      assert.ok(existsSync(marker), 'the command ran');
      assert.match(outcome.stderr, /stopped renewing/);
      assert.ok(outcome.ms >= 2_000, `waited out the lease duration on its own clock (${Math.round(outcome.ms)} ms)`);
    });

    it('run --no-wait still skips a live holder at once', async () => {
      const name = uniqueLeaseName('cli-live');
      await holdElsewhere(name);
      const outcome = await leaselocker(['run', '--lease', name, '--no-wait', ...fast, ...cluster(), '--', '/bin/true']);
      assert.equal(outcome.code, exitCodes.held, outcome.stderr);
      assert.doesNotMatch(outcome.stderr, /stopped renewing/, 'a live holder is not waited out');
    });

    it('a reader of stderr that went away (EPIPE) neither crashes run nor leaves its command unguarded or the lease held', async () => {
      const name = uniqueLeaseName('cli-epipe');
      const other = await holdElsewhere(name);
      const pidFile = path('pid');
      const run = new Cli(['run', '--lease', name, ...fast, ...cluster(), '--', '/bin/sh', '-c', `echo $$ > "${pidFile}"; sleep 1`]);
      await waitFor(() => run.stderr.includes('waiting for'), 'the waiting line', 10_000);
      run.child.stderr?.destroy(); // leaselocker's next message (acquired) meets a broken pipe
      await other.unlock();
      const outcome = await run.done;
      assert.equal(outcome.code, 0, 'the command ran to its end under the lock');
      assert.ok(existsSync(pidFile), 'the command ran');
      assert.equal(await holderOf(name), '', 'released');
    });

    it('release --force --yes with stdout closed exits 0 (it released), without a stack trace', async () => {
      const name = uniqueLeaseName('cli-stdout');
      await leaveLease(name, 'crashed');
      const cli = new Cli(['release', name, '--force', '--yes', ...cluster()]);
      cli.child.stdout?.destroy();
      const outcome = await cli.done;
      assert.equal(await holderOf(name), '', 'released');
      assert.doesNotMatch(outcome.stderr, /\n\s+at .+:\d+:\d+/);
      assert.equal(outcome.code, 0);
    });

    it('an empty file in KUBECONFIG is an empty configuration, as kubectl reads it', async () => {
      const empty = path('empty');
      await writeFile(empty, '');
      const name = uniqueLeaseName('cli-empty-kubeconfig');
      const outcome = await leaselocker(['status', name, '--json'], { env: { KUBECONFIG: `${empty}:${cli.kubeconfig}` } });
      assert.equal(outcome.code, exitCodes.noLease, outcome.stderr);
    });
  });

  describe('status', () => {
    it('shows a released lease as held by nobody, and exits 66 for a Lease that does not exist', async () => {
      const name = uniqueLeaseName('cli-status-free');
      await leaveLease(name, '');
      const json = await leaselocker(['status', name, '--json', ...cluster()]);
      assert.equal(json.code, 0, json.stderr);
      assert.deepEqual(JSON.parse(json.stdout), { ...JSON.parse(json.stdout), holder: null, held: false, expiresInSeconds: null });
      const table = await leaselocker(['status', name, ...cluster()]);
      assert.match(table.stdout, /^Holder: +\(none: released or never taken\)$/m);
      assert.match(table.stdout, /^Expires in: +-$/m);
      const missing = await leaselocker(['status', uniqueLeaseName('cli-none'), ...cluster()]);
      assertOneLineError(missing, exitCodes.noLease, /does not exist/);
    });

    it('names the lockers waiting in line, first first', async () => {
      const name = uniqueLeaseName('cli-status-line');
      const lockers = ['holder', 'first', 'second'].map((id) => new LeaseLocker(emulator.kubeConfig(), { namespace: 'default', name }, id));
      const [holder, first, second] = lockers as [LeaseLocker, LeaseLocker, LeaseLocker];
      try {
        await holder.lock();
        const waits = [first.lock()];
        const line = (): string => emulator.getLease('default', name)?.metadata.annotations?.['leaselocker/waiting-line'] ?? '';
        await waitFor(() => line().includes('"first"'), 'the first waiter in line');
        waits.push(second.lock());
        await waitFor(() => line().includes('"second"'), 'the second waiter in line');
        const json = await leaselocker(['status', name, '--json', ...cluster()]);
        assert.deepEqual((JSON.parse(json.stdout) as { waiting: unknown }).waiting, ['first', 'second']);
        const table = await leaselocker(['status', name, ...cluster()]);
        assert.match(table.stdout, /^Waiting: +2: first, second$/m);
        await holder.unlock();
        await waits[0];
        await first.unlock();
        await waits[1];
      } finally {
        await Promise.all(lockers.map(async (locker) => locker.unlock()));
      }
    });
  });

  describe('release', () => {
    it('releases the lease --identity holds: holder cleared, transitions kept, duration 1 s, as the library releases', async () => {
      const name = uniqueLeaseName('cli-release');
      await leaveLease(name, 'me', { transitions: 9 });
      const other = await leaselocker(['release', name, '--identity', 'someone-else', ...cluster()]);
      assertOneLineError(other, exitCodes.held, /is held by me, not by someone-else: nothing was written \(add --force/);
      assert.equal(await holderOf(name), 'me');
      const released = await leaselocker(['release', name, '--identity', 'me', ...cluster()]);
      assert.equal(released.code, 0, released.stderr);
      assert.match(released.stdout, /^released default\/.* \(was held by me\)\n$/);
      const spec = emulator.getLease('default', name)?.spec;
      assert.equal(spec?.holderIdentity, '');
      assert.equal(spec?.leaseTransitions, 9);
      assert.equal(spec?.leaseDurationSeconds, 1);
      const again = await leaselocker(['release', name, '--identity', 'me', ...cluster()]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /is not held: nothing to release/);
      const missing = await leaselocker(['release', uniqueLeaseName('cli-none'), '--force', ...cluster()]);
      assert.equal(missing.code, 0, missing.stderr);
      assert.match(missing.stdout, /does not exist: nothing to release/);
    });

    it('never clobbers a change made since the read: on 409 it says so and exits 75', async () => {
      const name = uniqueLeaseName('cli-conflict');
      await leaveLease(name, 'crashed-pod');
      const hook = emulator.faults.onRequest(async () => {
        await leaveLease(name, 'new-holder', { transitions: 5 }); // someone writes between our read and our write
      }, { verb: 'update', name, times: 1 });
      const outcome = await leaselocker(['release', name, '--force', '--yes', ...cluster()]);
      hook.clear();
      assertOneLineError(outcome, exitCodes.held, /changed since it was read \(then held by crashed-pod\): nothing was written/);
      assert.equal(await holderOf(name), 'new-holder');
    });
  });

  describe('errors', () => {
    it('bad flags and values: exit 64 with one line naming the problem, no stack trace', async () => {
      const lease = uniqueLeaseName('cli-usage');
      // One of each way to fail (the units above check every case): the parser, a duration, the
      // library's validation, the lease, the place of the command, the kubeconfig, no command at all.
      const cases: Array<[string[], RegExp]> = [
        [['run', '--lease', lease, '--bogus', ...cluster(), '--', 'true'], /unknown option '--bogus'/],
        [['run', '--lease', lease, '--lease-duration', '15', ...cluster(), '--', 'true'], /invalid --lease-duration: "15" has no unit/],
        [['run', '--lease', lease, '--lease-duration', '5s', ...cluster(), '--', 'true'], /invalid --lease-duration: must be greater than --renew-deadline \(10s\); got 5s/],
        [['run', '--lease', 'Default/x', ...cluster(), '--', 'true'], /invalid lease namespace/],
        [['run', '--lease', lease, ...cluster(), 'sh', '-c', 'true'], /put the command after "--"/],
        [['run', '--lease', lease, '--kubeconfig', join(cli.dir, 'no-such-file'), '--', 'true'], /--kubeconfig: ".*no-such-file" does not exist/],
        [[], /missing command/],
      ];
      for (const [args, message] of cases) assertOneLineError(await leaselocker(args), exitCodes.usage, message);
      assert.equal(emulator.getLease('default', lease), undefined, 'nothing was written');
    });

    it('--help on every command, and --version', async () => {
      for (const args of [['--help'], ['run', '--help'], ['status', '--help'], ['release', '-h']]) {
        const outcome = await leaselocker(args);
        assert.equal(outcome.code, 0, args.join(' '));
        assert.match(outcome.stdout, /^(Usage:|leaselocker: a distributed mutex)/, args.join(' '));
        assert.match(outcome.stdout, /Exit|Exits/);
        assert.equal(outcome.stderr, '');
      }
      const version = await leaselocker(['--version']);
      assert.equal(version.code, 0);
      assert.equal(version.stdout, `${packageVersion}\n`);
    });

    it('an unreachable server, refused credentials or a missing permission: exit 69 at once, one line', async () => {
      // A port nobody listens on.
      const port = await new Promise<number>((resolve) => {
        const server = createNetServer().listen(0, '127.0.0.1', () => {
          const { port: free } = server.address() as AddressInfo;
          server.close(() => resolve(free));
        });
      });
      const closed = path('closed-kubeconfig');
      await writeKubeConfig(closed, { server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true }, emulator.token());
      const marker = path('ran');
      assertOneLineError(await leaselocker(['status', 'x', '--kubeconfig', closed]), exitCodes.cluster, /ECONNREFUSED/);
      const noWait = await leaselocker(['run', '--lease', 'x', '--no-wait', '--kubeconfig', closed, '--', '/bin/sh', '-c', `touch "${marker}"`]);
      assertOneLineError(noWait, exitCodes.cluster, /ECONNREFUSED/);
      // Waiting retries what may heal; when the wait runs out, the server's absence is the news, not a holder.
      const wait = await leaselocker(['run', '--lease', 'x', '--wait', '1s', '--kubeconfig', closed, '--', '/bin/sh', '-c', `touch "${marker}"`]);
      assert.equal(wait.code, exitCodes.cluster, wait.stderr);
      assert.match(wait.stderr, /^leaselocker: waiting for default\/x: cannot read the lease \(.*ECONNREFUSED.*\); retrying\nleaselocker: gave up waiting for default\/x after 1s: .*ECONNREFUSED.*\n$/);
      // A token the server does not know.
      const stranger = path('stranger-kubeconfig');
      await writeKubeConfig(stranger, { server: emulator.url, 'insecure-skip-tls-verify': true }, 'not-a-known-token');
      assertOneLineError(await leaselocker(['run', '--lease', 'x', '--kubeconfig', stranger, '--', '/bin/sh', '-c', `touch "${marker}"`]), exitCodes.cluster, /401 Unauthorized.*refused the credentials/);
      // A user allowed to read leases but not to write them.
      const reader = path('reader-kubeconfig');
      await writeFile(reader, emulator.addUser('cli-reader', { verbs: ['get', 'list', 'watch'] }).exportConfig(), { mode: 0o600 });
      const forbidden = await leaselocker(['run', '--lease', uniqueLeaseName('cli-forbidden'), '--kubeconfig', reader, '--', '/bin/sh', '-c', `touch "${marker}"`]);
      assertOneLineError(forbidden, exitCodes.cluster, /403 Forbidden/);
      assert.equal(existsSync(marker), false, 'the command ran');
    });

    it('a server whose certificate the kubeconfig\'s CA did not sign: exit 69 at once, although run would wait for ever', async () => {
      const tls = await tlsServerWithWrongCa(cli.dir);
      try {
        const wrongCa = path('wrong-ca-kubeconfig');
        await writeKubeConfig(wrongCa, { server: tls.url, 'certificate-authority-data': Buffer.from(tls.otherCa).toString('base64') }, 'some-token');
        const marker = path('ran');
        const outcome = await leaselocker(['run', '--lease', 'x', '--kubeconfig', wrongCa, '--', '/bin/sh', '-c', `touch "${marker}"`], { timeoutMs: 15_000 });
        assertOneLineError(outcome, exitCodes.cluster, /request failed: .*(certificate|self.signed|issuer)/i);
        assert.ok(outcome.ms < 10_000, `took ${Math.round(outcome.ms)} ms`);
        assert.equal(existsSync(marker), false, 'the command ran');
        assert.doesNotMatch(outcome.stderr, /some-token/);
      } finally {
        await tls.close();
      }
    });
  });
});

async function writeKubeConfig(file: string, cluster: Record<string, unknown>, token: string): Promise<void> {
  const config = {
    apiVersion: 'v1', kind: 'Config', 'current-context': 'test',
    clusters: [{ name: 'test', cluster }], users: [{ name: 'test', user: { token } }], contexts: [{ name: 'test', context: { cluster: 'test', user: 'test' } }],
  };
  await writeFile(file, JSON.stringify(config), { mode: 0o600 });
}

/** A TLS server with a self-signed certificate for 127.0.0.1, and the certificate of another CA (from the openssl CLI). */
async function tlsServerWithWrongCa(dir: string): Promise<{ url: string; otherCa: string; close: () => Promise<void> }> {
  const run = promisify(execFile);
  const files: Record<string, string> = {};
  for (const name of ['server', 'other-ca']) {
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', `/CN=${name}`,
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`)]);
    files[name] = await readFile(join(dir, `${name}.crt`), 'utf8');
  }
  const server = createTlsServer({ cert: files['server'], key: await readFile(join(dir, 'server.key'), 'utf8') }, (socket) => socket.destroy());
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    otherCa: files['other-ca'] ?? '',
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
