// Runs a server binary (etcd, kube-apiserver) as a child process whose output
// goes to a log file rather than the console, and which cannot outlive us:
// on Linux it is started through `setpriv --pdeathsig KILL`, so the kernel
// kills it even if Node itself is SIGKILLed; callers also register
// exit/signal hooks (see exit-hooks.ts) for the cases that allow cleanup.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';

export interface ManagedProcess {
  readonly name: string;
  readonly logFile: string;
  readonly pid: number | undefined;
  /** True once the process has exited (or failed to start). */
  hasExited(): boolean;
  /** "exit code 1", "signal SIGKILL", or the spawn error. */
  exitDescription(): string;
  /** Sends SIGKILL without waiting: for synchronous exit hooks. */
  killNow(): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs: number): Promise<void>;
}

let pdeathsigSupport: Promise<boolean> | undefined;

// setpriv (util-linux) sets PR_SET_PDEATHSIG and then execs the binary, so the
// child keeps its pid. Elsewhere (macOS) only the exit hooks protect us.
function canUsePdeathsig(): Promise<boolean> {
  pdeathsigSupport ??= new Promise((resolve) => {
    execFile('setpriv', ['--help'], (error, stdout) => resolve(!error && stdout.includes('--pdeathsig')));
  });
  return pdeathsigSupport;
}

export async function startManagedProcess(
  name: string,
  binary: string,
  args: readonly string[],
  options: { logFile: string; cwd: string },
): Promise<ManagedProcess> {
  const [command, commandArgs] = (await canUsePdeathsig())
    ? ['setpriv', ['--pdeathsig', 'KILL', '--', binary, ...args]]
    : [binary, [...args]];
  const logFd = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, commandArgs, {
      cwd: options.cwd,
      stdio: ['ignore', logFd, logFd],
      env: process.env,
    });
  } finally {
    closeSync(logFd); // the child has its own copy
  }
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (error) => {
      spawnError = error;
      resolve();
    });
  });
  const hasExited = (): boolean =>
    spawnError !== undefined || child.exitCode !== null || child.signalCode !== null;

  return {
    name,
    logFile: options.logFile,
    pid: child.pid,
    hasExited,
    exitDescription: () =>
      spawnError
        ? `failed to start: ${spawnError.message}`
        : child.signalCode
          ? `killed by ${child.signalCode}`
          : `exit code ${String(child.exitCode)}`,
    killNow: () => {
      if (!hasExited()) child.kill('SIGKILL');
    },
    stop: async (graceMs) => {
      if (hasExited()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The last `maxLines` lines of a log file, for error messages. */
export async function tailLog(path: string, maxLines = 40): Promise<string> {
  const maxBytes = 64 * 1024;
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, maxBytes);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      return buffer.toString('utf8').trimEnd().split('\n').slice(-maxLines).join('\n');
    } finally {
      await handle.close();
    }
  } catch (error) {
    return `(cannot read ${path}: ${error instanceof Error ? error.message : String(error)})`;
  }
}
