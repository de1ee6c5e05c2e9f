import { exitCodes } from './exit-codes.js';

/** A failure of the command, told as one line on stderr and an exit code. */
export class CliError extends Error {
  /** The code the process exits with. */
  readonly exitCode: number;

  constructor(exitCode: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** A bad command line: exits with {@link exitCodes.usage}. */
export class UsageError extends CliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(exitCodes.usage, message, options);
  }
}

/** The cluster could not be used: exits with {@link exitCodes.cluster}. */
export class ClusterError extends CliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(exitCodes.cluster, message, options);
  }
}
