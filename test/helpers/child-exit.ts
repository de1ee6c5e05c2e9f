import { spawn } from 'node:child_process';

/** How a child process ended, and what it printed. */
export interface ChildOutcome {
  /** Exit code; undefined when the child was killed for not exiting in time. */
  readonly code: number | null | undefined;
  readonly stdout: string;
  readonly stderr: string;
  /** Milliseconds from the child's last line on stdout to its exit. */
  readonly exitAfterOutputMs: number | undefined;
}

/** Options of {@link runUntilExit}. */
export interface RunUntilExitOptions {
  readonly cwd?: string | URL;
  /**
   * How long the child may take to print its result. Generous: starting a TypeScript child on a
   * loaded machine can take seconds, and this is not what the test measures.
   * @default 120000
   */
  readonly outputTimeoutMs?: number;
  /** How long the child may live after its first line on stdout: what the test measures. @default 10000 */
  readonly exitTimeoutMs?: number;
}

/**
 * Runs `node ...args` and waits for it to exit by itself. The deadline that matters starts when
 * the child prints (its work is done): a timer or socket left behind keeps it alive past
 * `exitTimeoutMs`, however slowly the machine started it. A child past either deadline is killed.
 */
export async function runUntilExit(args: readonly string[], options: RunUntilExitOptions = {}): Promise<ChildOutcome> {
  const { outputTimeoutMs = 120_000, exitTimeoutMs = 10_000 } = options;
  const child = spawn(process.execPath, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let outputAt: number | undefined;
  let deadline = setTimeout(() => child.kill('SIGKILL'), outputTimeoutMs);
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (outputAt === undefined && stdout.includes('\n')) {
      outputAt = performance.now();
      clearTimeout(deadline);
      deadline = setTimeout(() => child.kill('SIGKILL'), exitTimeoutMs);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    // 'close', not 'exit': stdout may still hold the child's last words at 'exit'.
    child.once('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
  });
  clearTimeout(deadline);
  return {
    code: signal === 'SIGKILL' ? undefined : code,
    stdout,
    stderr,
    exitAfterOutputMs: outputAt === undefined ? undefined : performance.now() - outputAt,
  };
}
