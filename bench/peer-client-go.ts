// The client-go contender: `peers/client-go/`, a Go program on k8s.io/client-go's
// tools/leaderelection that speaks the worker protocol on stdio. It is built with `go build`
// (modules from the Go module proxy) into the benchmark's cache the first time it is needed,
// one binary per hash of its sources, and reused after. Without Go the benchmark runs the
// other designs and says why client-go is missing.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const sourceDir = fileURLToPath(new URL('./peers/client-go/', import.meta.url));

export type ClientGoPeer =
  | {
    readonly available: true;
    readonly binary: string;
    /** What the binary says it was built with, e.g. `k8s.io/client-go v0.37.2, go1.26.8`. */
    readonly version: string;
  }
  | {
    readonly available: false;
    readonly reason: string;
    /** True when something failed (a build error), false when Go is simply not installed. */
    readonly failed: boolean;
  };

/** `$XDG_CACHE_HOME/leaselocker-bench`, or `~/.cache/leaselocker-bench`. */
export function benchCacheDir(): string {
  const xdg = process.env['XDG_CACHE_HOME'];
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache'), 'leaselocker-bench');
}

/** The client-go contender's binary, built first if the cache has none for these sources. */
export function prepareClientGo(): ClientGoPeer {
  const binary = join(benchCacheDir(), `clientgo-${sourceHash()}`);
  if (!isExecutable(binary)) {
    const go = spawnSync('go', ['version'], { encoding: 'utf8' });
    if (go.error !== undefined || go.status !== 0) {
      return { available: false, failed: false, reason: '`go` was not found on PATH (Go ≥ 1.26 builds the client-go contender)' };
    }
    console.log(`Building the client-go contender with ${go.stdout.trim()} (k8s.io/client-go from the Go module proxy; minutes the first time)...`);
    mkdirSync(benchCacheDir(), { recursive: true });
    const building = `${binary}.tmp-${String(process.pid)}`;
    const build = spawnSync('go', ['build', '-mod=mod', '-buildvcs=false', '-trimpath', '-o', building, '.'], {
      cwd: sourceDir,
      stdio: ['ignore', 'inherit', 'inherit'],
      // The local toolchain, outside any workspace; no cgo, so the binary depends on nothing.
      env: { ...process.env, GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local', GOWORK: 'off', CGO_ENABLED: '0' },
    });
    if (build.status !== 0) {
      rmSync(building, { force: true });
      const why = build.error?.message ?? (build.signal === null ? `exit code ${String(build.status)}` : build.signal);
      return { available: false, failed: true, reason: `go build of the client-go contender failed (${why}); its output is above` };
    }
    renameSync(building, binary); // atomic: a concurrent run sees no half-written binary
    console.log(`Built ${binary}.`);
    removeStaleBinaries(binary);
  }
  const version = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  if (version.status !== 0) {
    return { available: false, failed: true, reason: `the client-go contender does not run (--version: ${version.error?.message ?? `exit code ${String(version.status)}`})` };
  }
  return { available: true, binary, version: version.stdout.trim() };
}

/** Of go.mod, go.sum and the Go sources: a change rebuilds. */
function sourceHash(): string {
  const files = ['go.mod', 'go.sum', ...readdirSync(sourceDir).filter((name) => name.endsWith('.go')).sort()];
  const hash = createHash('sha256');
  for (const file of files) hash.update(`${file}\0`).update(readFileSync(join(sourceDir, file))).update('\0');
  return hash.digest('hex').slice(0, 16);
}

/** Binaries built from earlier versions of the sources (38 MB each). */
function removeStaleBinaries(current: string): void {
  for (const name of readdirSync(benchCacheDir())) {
    const file = join(benchCacheDir(), name);
    if (/^clientgo-[0-9a-f]{16}$/.test(name) && file !== current) rmSync(file, { force: true });
  }
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
