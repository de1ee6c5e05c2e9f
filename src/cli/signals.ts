import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { CliError } from './cli-error.js';
import { exitCodes } from './exit-codes.js';
import { cliLog } from './log.js';

/** The signals `run` handles: it forwards them to the command, or, while waiting, stops waiting. */
export const handledSignals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** One of {@link handledSignals}. */
export type HandledSignal = (typeof handledSignals)[number];

/** The exit code of a process ended by `signal`: 128 + its number, as a shell reports it. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return exitCodes.signalBase + (constants.signals[signal] ?? 0);
}

/** A signal ended the wait: exits 128 + its number. */
export class Interrupted extends CliError {
  readonly signal: HandledSignal;

  constructor(signal: HandledSignal, message: string) {
    super(signalExitCode(signal), message);
    this.signal = signal;
  }
}

/**
 * Takes SIGINT, SIGTERM and SIGHUP from their default action (ending leaselocker at once, with
 * the lease still held) for as long as `run` works. First they abort {@link interrupted} (the
 * wait); once {@link forwardTo} names the command, they go to it; after {@link ignore}, they
 * are only noted. {@link dispose} gives them back.
 */
export class SignalTrap implements Disposable {
  readonly #controller = new AbortController();
  readonly #listeners = new Map<HandledSignal, () => void>();
  #child: ChildProcess | undefined;
  #ignoring = false;
  /** The first signal received, if any. */
  received: HandledSignal | undefined;

  constructor() {
    for (const signal of handledSignals) {
      const listener = (): void => this.#on(signal);
      this.#listeners.set(signal, listener);
      process.on(signal, listener);
    }
  }

  /** Aborts at the first signal, with the signal's name as the reason. */
  get interrupted(): AbortSignal {
    return this.#controller.signal;
  }

  /** From now on, signals go to `child`. */
  forwardTo(child: ChildProcess): void {
    this.#child = child;
  }

  /** From now on, signals are noted and otherwise ignored (the command has ended; the lease is being released). */
  ignore(): void {
    this.#child = undefined;
    this.#ignoring = true;
  }

  /** Gives the signals their default action back. */
  dispose(): void {
    for (const [signal, listener] of this.#listeners) process.off(signal, listener);
    this.#listeners.clear();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #on(signal: HandledSignal): void {
    this.received ??= signal;
    const child = this.#child;
    if (child !== undefined) {
      cliLog('forwarding %s to the command (pid %d)', signal, child.pid ?? 0);
      child.kill(signal);
      return;
    }
    if (this.#ignoring) {
      cliLog('%s received while releasing; ignored', signal);
      return;
    }
    if (this.#controller.signal.aborted) {
      // A second signal while the wait winds down: the user insists.
      process.exit(signalExitCode(signal));
    }
    this.#controller.abort(signal);
  }
}
