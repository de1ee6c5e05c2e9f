// The machine and software a run measured, recorded next to its figures.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';

export interface Environment {
  readonly node: string;
  readonly os: string;
  readonly cpuModel: string;
  readonly cpuCount: number;
  readonly totalMemoryBytes: number;
  /** 1, 5 and 15 minute load averages when the run started. */
  readonly loadAverageAtStart: readonly number[];
  readonly server: { readonly kind: string; readonly version: string; readonly reason: string };
  readonly library: { readonly version: string; readonly commit: string | undefined };
  /** What the client-go contender was built with, e.g. `k8s.io/client-go v0.37.2, go1.26.8`. */
  readonly clientGo?: string;
}

export function describeEnvironment(server: Environment['server'], clientGo: string | undefined): Environment {
  const processors = cpus();
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
  return {
    node: process.version,
    os: `${process.platform} ${release()} ${process.arch}`,
    cpuModel: processors[0]?.model.trim() ?? 'unknown',
    cpuCount: processors.length,
    totalMemoryBytes: totalmem(),
    loadAverageAtStart: loadavg().map((load) => Number(load.toFixed(2))),
    server,
    library: { version: pkg.version ?? 'unknown', commit: gitCommit() },
    ...(clientGo === undefined ? {} : { clientGo }),
  };
}

/** The commit measured, marked `+modified` when the library's sources differ from it. */
function gitCommit(): string | undefined {
  const cwd = new URL('..', import.meta.url);
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return dirty ? `${head}+modified` : head;
  } catch {
    return undefined;
  }
}
