// The package as a user installs it: `npm pack` (from the build in dist/, which `npm test` makes
// first), the tarball installed into a fresh project next to each @kubernetes/client-node major
// that runs on this Node.js, a consumer file type-checked by tsc under `nodenext` and `bundler`
// resolution with `skipLibCheck: false` and the @types/node floor the README states, then run by
// plain node: a lock and an unlock against `leaselocker/testing`, the CommonJS path, and the
// `leaselocker` command as npm installs it (node_modules/.bin, npx).
// Installs use the npm cache first (`--prefer-offline`); every temporary directory is removed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const commandTimeoutMs = 180_000;

interface Pins {
  readonly node: Readonly<Record<string, string>>;
  readonly clientNode: Readonly<Record<string, string>>;
  readonly consumerTypes: Readonly<Record<string, string>>;
}
const pins = JSON.parse(readFileSync(join(root, 'scripts', 'ci', 'versions.json'), 'utf8')) as Pins;

/** client-node 2.x runs on Node.js >= 22.19 only (its undici needs it); 1.4 runs everywhere. */
function clientNodeVersionsForThisNode(): string[] {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  const runs2 = major > 22 || (major === 22 && minor >= 19);
  return Object.entries(pins.clientNode)
    .filter(([clientNodeMajor]) => clientNodeMajor !== '2' || runs2)
    .map(([, version]) => version);
}

interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion; rejects with its output when it fails or outlives the timeout. */
function run(file: string, args: readonly string[], cwd: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, timeout: commandTimeoutMs, maxBuffer: 16 * 1024 * 1024, env: childEnv() }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${[file, ...args].join(' ')} failed in ${cwd}:\n${stdout}\n${stderr}`, { cause: error }));
      else resolve({ stdout, stderr });
    });
  });
}

/** {@link run} with this Node.js first on PATH, where the `leaselocker` command's shebang looks for node. */
function runOnThisNode(file: string, args: readonly string[], cwd: string): Promise<RunResult> {
  const env = { ...childEnv(), PATH: [dirname(process.execPath), process.env['PATH'] ?? ''].join(delimiter) };
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, timeout: commandTimeoutMs, env }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${[file, ...args].join(' ')} failed in ${cwd}:\n${stdout}\n${stderr}`, { cause: error }));
      else resolve({ stdout, stderr });
    });
  });
}

/** The environment minus what a parent `npm test` sets for its own project. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_(?!config_(cache|registry|userconfig)$)/i.test(key)) env[key] = value;
  }
  return env;
}

const consumerPackageJson = { name: 'leaselocker-consumer', private: true, type: 'module' };

// What a strict TypeScript user writes: the public API, its types, the emulator, and the
// consumer's own KubeConfig class (the peer dependency) where leaselocker expects one.
const consumerTs = `import { KubeConfig } from '@kubernetes/client-node';
import { LeaseLocker, LockLostError, type LeaseLockerOptions } from 'leaselocker';
import { startLeaseApiEmulator } from 'leaselocker/testing';

const options: LeaseLockerOptions = { leaseDurationMs: 15_000, requestTimeoutMs: 5_000 };
await using emulator = await startLeaseApiEmulator();
const kubeConfig: KubeConfig = emulator.kubeConfig();
const locker = new LeaseLocker(kubeConfig, { namespace: 'default', name: 'consumer' }, 'consumer-1', options);
locker.on('lost', (error: LockLostError) => {
  console.error(error.code, error.reason);
  process.exitCode = 1;
});
await locker.lock({ signal: AbortSignal.timeout(30_000) });
const heldBy = emulator.getLease('default', 'consumer')?.spec?.holderIdentity ?? null;
const fencingToken: number | undefined = locker.fencingToken;
const released: boolean = await locker.unlock({ signal: AbortSignal.timeout(30_000) });
const after = emulator.getLease('default', 'consumer')?.spec?.holderIdentity ?? null;
console.log(JSON.stringify({ heldBy, fencingToken, released, after }));
`;

// A CommonJS user: `await import()` is the documented way in; `require()` must either give the
// very same module (Node's require(esm)) or fail with an error that names the problem.
const consumerCjs = `'use strict';
async function main() {
  const { LeaseLocker } = await import('leaselocker');
  let required;
  try {
    required = { same: require('leaselocker').LeaseLocker === LeaseLocker };
  } catch (error) {
    required = { code: error.code, message: String(error.message).split('\\n')[0] };
  }
  console.log(JSON.stringify({ imported: typeof LeaseLocker, required }));
}
main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
`;

// A shell job's use of the installed command: `leaselocker run` against leaselocker/testing,
// the guarded command's exit code passed through and the lease released afterwards. Spawned
// without blocking, since the emulator answers from this very process.
const consumerCli = `import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { startLeaseApiEmulator } from 'leaselocker/testing';

const emulator = await startLeaseApiEmulator();
const dir = mkdtempSync(join(tmpdir(), 'leaselocker-consumer-cli-'));
try {
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, emulator.kubeConfig().exportConfig(), { mode: 0o600 });
  const bin = join('node_modules', '.bin', 'leaselocker');
  // The command's shebang finds node on PATH: this Node.js first.
  const env = { ...process.env, PATH: [dirname(process.execPath), process.env.PATH].join(delimiter) };
  const child = spawn(bin, ['run', '--lease', 'default/consumer-cli', '--identity', 'cli-1', '--kubeconfig', kubeconfig, '--', process.execPath, '-e', 'process.exit(3)'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const code = await new Promise((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  const lease = emulator.getLease('default', 'consumer-cli')?.spec;
  console.log(JSON.stringify({ code, holder: lease?.holderIdentity ?? null, transitions: lease?.leaseTransitions ?? null }));
} finally {
  rmSync(dir, { recursive: true, force: true });
  await emulator.close();
}
`;

const strictOptions = {
  target: 'ES2022',
  lib: ['ES2022', 'ESNext.Disposable'],
  types: ['node'],
  strict: true,
  skipLibCheck: false,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
};
const tsconfigNodenext = {
  compilerOptions: { ...strictOptions, module: 'nodenext', moduleResolution: 'nodenext', outDir: 'out' },
  files: ['consumer.ts'],
};
const tsconfigBundler = {
  compilerOptions: { ...strictOptions, module: 'preserve', moduleResolution: 'bundler', noEmit: true },
  files: ['consumer.ts'],
};

interface Manifest {
  readonly version: string;
  readonly bin: Readonly<Record<string, string>>;
  readonly engines: { readonly node: string };
  readonly peerDependencies: Readonly<Record<string, string>>;
  readonly exports: Readonly<Record<string, Readonly<Record<string, string>>>>;
}
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Manifest;

const writeJson = (path: string, value: unknown): Promise<void> => writeFile(path, `${JSON.stringify(value, null, 2)}\n`);

describe('the package as it is installed', () => {
  let work = '';
  let tarball = '';
  let packedFiles: string[] = [];

  before(async () => {
    assert.ok(existsSync(join(root, 'dist', 'index.js')), 'dist/ is missing: run `npm run build` first (npm test does)');
    work = await mkdtemp(join(tmpdir(), 'leaselocker-package-'));
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], root);
    const [packed] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
    tarball = join(work, packed.filename);
    packedFiles = packed.files.map((file) => file.path).sort();
  });

  after(async () => {
    if (work !== '') await rm(work, { recursive: true, force: true });
  });

  it('ships the build, README and LICENSE, and nothing else', () => {
    for (const file of ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/testing/index.js', 'dist/testing/index.d.ts', 'dist/cli.js', 'dist/cli/main.js']) {
      assert.ok(packedFiles.includes(file), `${file} is missing from the tarball`);
    }
    const unexpected = packedFiles.filter(
      (file) => !['package.json', 'README.md', 'LICENSE'].includes(file) && !/^dist\/.+\.(js|d\.ts)$/.test(file),
    );
    assert.deepEqual(unexpected, [], 'the tarball holds files that are not the build');
    for (const [subpath, conditions] of Object.entries(manifest.exports)) {
      for (const target of Object.values(conditions)) {
        assert.ok(packedFiles.includes(target.replace(/^\.\//, '')), `export ${subpath} points at ${target}, which is not shipped`);
      }
    }
    assert.deepEqual(Object.keys(manifest.bin), ['leaselocker']);
    for (const [command, target] of Object.entries(manifest.bin)) {
      assert.ok(packedFiles.includes(target.replace(/^\.\//, '')), `command ${command} points at ${target}, which is not shipped`);
      assert.match(readFileSync(join(root, target), 'utf8'), /^#!\/usr\/bin\/env node\n/, `${target} starts with a node shebang`);
    }
  });

  for (const clientNodeVersion of clientNodeVersionsForThisNode()) {
    describe(`installed next to @kubernetes/client-node ${clientNodeVersion} on Node.js ${process.versions.node}`, () => {
      let project = '';

      before(async () => {
        project = join(work, `client-node-${clientNodeVersion}`);
        await mkdir(project);
        await writeJson(join(project, 'package.json'), consumerPackageJson);
        await writeJson(join(project, 'tsconfig.nodenext.json'), tsconfigNodenext);
        await writeJson(join(project, 'tsconfig.bundler.json'), tsconfigBundler);
        await writeFile(join(project, 'consumer.ts'), consumerTs);
        await writeFile(join(project, 'consumer.cjs'), consumerCjs);
        await writeFile(join(project, 'consumer-cli.mjs'), consumerCli);
        const typePackages = Object.entries(pins.consumerTypes).map(([name, version]) => `${name}@${version}`);
        await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', tarball, `@kubernetes/client-node@${clientNodeVersion}`, ...typePackages], project);
      });

      it('type-checks a strict consumer with nodenext resolution (skipLibCheck: false)', async () => {
        await run(process.execPath, [tsc, '-p', 'tsconfig.nodenext.json'], project);
      });

      it('type-checks a strict consumer with bundler resolution (skipLibCheck: false)', async () => {
        await run(process.execPath, [tsc, '-p', 'tsconfig.bundler.json'], project);
      });

      it('locks and unlocks against leaselocker/testing from the compiled consumer', async () => {
        assert.ok(existsSync(join(project, 'out', 'consumer.js')), 'the nodenext type-check did not emit out/consumer.js');
        const { stdout } = await run(process.execPath, ['out/consumer.js'], project);
        assert.deepEqual(JSON.parse(stdout), { heldBy: 'consumer-1', fencingToken: 0, released: true, after: '' });
      });

      it('installs the leaselocker command: --version runs from node_modules/.bin and through npx', async () => {
        const { stdout } = await runOnThisNode(join(project, 'node_modules', '.bin', 'leaselocker'), ['--version'], project);
        assert.equal(stdout, `${manifest.version}\n`);
        const viaNpx = await runOnThisNode('npx', ['--no', '--', 'leaselocker', '--version'], project);
        assert.equal(viaNpx.stdout, `${manifest.version}\n`);
      });

      it('the installed command runs a command under the lock, passes its exit code through and releases', async () => {
        const { stdout } = await run(process.execPath, ['consumer-cli.mjs'], project);
        assert.deepEqual(JSON.parse(stdout), { code: 3, holder: '', transitions: 0 });
      });

      it('CommonJS: await import() works, require() gives the same module or a clear error', async () => {
        const { stdout } = await run(process.execPath, ['consumer.cjs'], project);
        const result = JSON.parse(stdout) as { imported: string; required: { same?: boolean; code?: string; message?: string } };
        assert.equal(result.imported, 'function');
        if (result.required.same === undefined) {
          assert.match(result.required.code ?? '', /^ERR_REQUIRE_(ESM|ASYNC_MODULE)$/, JSON.stringify(result.required));
          assert.match(result.required.message ?? '', /leaselocker/);
        } else {
          assert.equal(result.required.same, true, 'require() and import() gave two different copies of the module');
        }
      });
    });
  }
});

describe('README states what CI tests', () => {
  it('names the peer range, the engines ranges, every pinned release and the @types/node floor', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const start = readme.indexOf('\n## Install\n');
    const install = readme.slice(start, readme.indexOf('\n## ', start + 1));
    assert.ok(install.includes(`\`${manifest.peerDependencies['@kubernetes/client-node'] ?? 'no peer range'}\``), 'peer range');
    for (const range of manifest.engines.node.split('||')) assert.ok(install.includes(`\`${range.trim()}\``), `engines range ${range}`);
    for (const version of [...Object.values(pins.node), ...Object.values(pins.clientNode)]) {
      assert.ok(install.includes(version), `pinned release ${version}`);
    }
    const floor = (pins.consumerTypes['@types/node'] ?? '').split('.').slice(0, 2).join('.');
    assert.ok(install.includes(`\`@types/node\` ${floor} or newer`), `@types/node floor ${floor}`);
  });
});
