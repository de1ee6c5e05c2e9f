// Synchronous cleanups that must run however the Node process ends: normal
// exit, process.exit(), or SIGINT/SIGTERM/SIGHUP (e.g. Ctrl-C or a test
// runner's timeout). Listeners are installed only while a cleanup is pending,
// so an idle harness changes nothing about how the process handles signals.

type Cleanup = () => void;

const cleanups = new Set<Cleanup>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function runAll(): void {
  for (const cleanup of [...cleanups]) {
    cleanups.delete(cleanup);
    try {
      cleanup();
    } catch {
      // best effort: the process is going away
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  runAll();
  uninstall();
  // Having a listener disables Node's default "terminate on signal". If no
  // one else handles it, re-raise so the process still dies with the signal.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off('exit', runAll);
  for (const signal of SIGNALS) process.off(signal, onSignal);
}

/** Registers `cleanup` to run synchronously if the process ends; returns the unregister function. */
export function onProcessExit(cleanup: Cleanup): () => void {
  cleanups.add(cleanup);
  install();
  return () => {
    cleanups.delete(cleanup);
    if (cleanups.size === 0) uninstall();
  };
}
