import { CredentialError, InvalidConfigError, LeaseApiError, LeaseLockerError, LeaseRequestError } from '../index.js';
import { CliError } from './cli-error.js';
import { formatDuration } from './duration.js';
import { exitCodes } from './exit-codes.js';

/** What the command tells when it fails: one line for stderr and the exit code. */
export interface Failure {
  readonly exitCode: number;
  readonly message: string;
}

/** The flag (or argument) of the command line behind each option or argument the library validates. */
const flagOfField: Readonly<Record<string, string>> = {
  leaseDurationMs: '--lease-duration',
  renewDeadlineMs: '--renew-deadline',
  retryPeriodMs: '--retry-period',
  owner: '--identity',
  lease: 'lease',
  'lease.namespace': 'lease namespace',
  'lease.name': 'lease name',
};
const timingFields = new Set(['leaseDurationMs', 'renewDeadlineMs', 'retryPeriodMs']);

/**
 * Turns whatever ended a command into the line it prints and the code it exits with: a
 * {@link CliError} as it is; the library's `InvalidConfigError` as a usage error naming the
 * flag; `LeaseApiError`, `LeaseRequestError` and `CredentialError` as a cluster error; anything
 * else as an internal error. The message is a single line and never carries a stack trace.
 */
export function describeFailure(error: unknown): Failure {
  if (error instanceof CliError) return { exitCode: error.exitCode, message: oneLine(error.message) };
  if (error instanceof InvalidConfigError) return { exitCode: exitCodes.usage, message: oneLine(invalidFlagMessage(error)) };
  if (error instanceof LeaseApiError) return { exitCode: exitCodes.cluster, message: oneLine(apiErrorMessage(error)) };
  if (error instanceof LeaseRequestError || error instanceof CredentialError) return { exitCode: exitCodes.cluster, message: oneLine(error.message) };
  if (error instanceof LeaseLockerError) return { exitCode: exitCodes.internal, message: oneLine(`unexpected ${error.code}: ${error.message}`) };
  const message = error instanceof Error ? error.message : String(error);
  return { exitCode: exitCodes.internal, message: oneLine(`internal error: ${message}`) };
}

/** The library's message about an option, told in the command line's words: `invalid --lease-duration: must be greater than --renew-deadline (10s); got 5s`. */
function invalidFlagMessage(error: InvalidConfigError): string {
  const flag = flagOfField[error.field] ?? error.field;
  const prefix = `invalid ${error.field}: `;
  let detail = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
  if (timingFields.has(error.field)) {
    detail = detail
      .replace(/\b(leaseDurationMs|renewDeadlineMs|retryPeriodMs)\b/g, (field) => flagOfField[field] ?? field)
      .replace(/ \(a multiple of 1000\)/, '')
      .replace(/\((\d+(?:\.\d+)?)\)/g, (_all, ms: string) => `(${formatDuration(Number(ms))})`)
      .replace(/\bgot (\d+(?:\.\d+)?)\b/g, (_all, ms: string) => `got ${formatDuration(Number(ms))}`);
  }
  return `invalid ${flag}: ${detail}`;
}

function apiErrorMessage(error: LeaseApiError): string {
  if (error.statusCode === 401) return `${error.message} (the cluster refused the credentials)`;
  return error.message;
}

/** Collapses a message to one line. */
export function oneLine(message: string): string {
  return message.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}
