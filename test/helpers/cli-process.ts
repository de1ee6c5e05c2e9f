// The built `leaselocker` command (dist/cli.js, which `npm test` builds first and
// `npm run test:e2e` expects built) as a child process: spawned as a shell job would run it,
// its output collected, killed (and failed) if it outlives its deadline.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built command. */
export const cliPath = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** Short timing, so that losses and expiries happen within a test. */
export const fast = ['--lease-duration', '2s', '--renew-deadline', '1500ms', '--retry-period', '500ms'];

/** A guarded command's busy wait: 30 s at most, so that nothing outlives a failed test for long. */
export const busyLoop = 'i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done';

/** How a `leaselocker` process ended. */
export interface Outcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Milliseconds from the start to the exit. */
  readonly ms: number;
  /** When it exited (performance.now()). */
  readonly exitedAt: number;
}

/** How to start a {@link Cli}. */
export interface CliOptions {
  /** Added to this process's environment (without DEBUG, and without KUBECONFIG unless given here). */
  readonly env?: NodeJS.ProcessEnv;
  /** The deadline, from the start. @default 60000 */
  readonly timeoutMs?: number;
  /** Run this program with `fileArgs` instead of `node dist/cli.js ...args` (e.g. script(1), for a terminal). */
  readonly file?: string;
  readonly fileArgs?: readonly string[];
}

/** A running `node dist/cli.js ...`, killed if it outlives its deadline (a failure: nothing may keep it alive). */
export class Cli {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly done: Promise<Outcome>;

  constructor(args: readonly string[], options: CliOptions = {}) {
    const started = performance.now();
    const env: NodeJS.ProcessEnv = { ...process.env, HOSTNAME: 'cli-test', ...options.env };
    delete env['DEBUG'];
    if (options.env?.['KUBECONFIG'] === undefined) delete env['KUBECONFIG'];
    this.child = options.file === undefined
      ? spawn(process.execPath, [cliPath, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(options.file, options.fileArgs ?? [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (chunk: Buffer) => { this.stdout += chunk.toString(); });
    this.child.stderr?.on('data', (chunk: Buffer) => { this.stderr += chunk.toString(); });
    const timeoutMs = options.timeoutMs ?? 60_000;
    let timedOut = false;
    // Past the deadline, fail at once: the command may outlive leaselocker and keep its pipes open.
    const deadline = setTimeout(() => {
      timedOut = true;
      this.child.kill('SIGKILL');
      this.child.stdout?.destroy();
      this.child.stderr?.destroy();
    }, timeoutMs);
    this.done = new Promise((resolve, reject) => {
      this.child.once('close', (code, signal) => {
        clearTimeout(deadline);
        const exitedAt = performance.now();
        if (timedOut) reject(new Error(`leaselocker ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr:\n${this.stderr}`));
        else resolve({ code, signal, stdout: this.stdout, stderr: this.stderr, ms: exitedAt - started, exitedAt });
      });
    });
  }
}

/** Runs `leaselocker ...args` to its end. */
export async function leaselocker(args: readonly string[], options: Pick<CliOptions, 'env' | 'timeoutMs'> = {}): Promise<Outcome> {
  return new Cli(args, options).done;
}

/** A usage or other error: one line on stderr, `leaselocker: ...`, no stack trace. */
export function assertOneLineError(outcome: Outcome, code: number, message?: RegExp): void {
  assert.equal(outcome.code, code, `exit code; stderr: ${outcome.stderr}`);
  assert.match(outcome.stderr, /^leaselocker: [^\n]+\n$/, `one line on stderr, got: ${JSON.stringify(outcome.stderr)}`);
  assert.doesNotMatch(outcome.stderr, /\bat .+:\d+:\d+|Error:/, 'no stack trace');
  if (message !== undefined) assert.match(outcome.stderr, message);
}
