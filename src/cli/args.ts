import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { UsageError } from './cli-error.js';
import { DurationError, parseDuration } from './duration.js';
import { oneLine } from './failure.js';
import type { ClusterFlags } from './kube-config.js';

/** The subcommands. */
export const commandNames = ['run', 'status', 'release'] as const;
/** A subcommand. */
export type CommandName = (typeof commandNames)[number];

/** The timing of a `run`'s hold, in milliseconds (the library's options). */
export interface Timing {
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
}

/** `leaselocker run`. */
export interface RunArgs {
  readonly kind: 'run';
  /** The lease argument as written: `<namespace>/<name>` or `<name>`. */
  readonly lease: string;
  readonly identity: string | undefined;
  readonly timing: Timing;
  /** How long to wait for the lease: undefined waits for ever, 0 makes one attempt (`--no-wait`). */
  readonly waitMs: number | undefined;
  readonly killAfterMs: number;
  /** The command and its arguments, as given after `--`. */
  readonly command: readonly [string, ...string[]];
  readonly cluster: ClusterFlags;
}

/** `leaselocker status`. */
export interface StatusArgs {
  readonly kind: 'status';
  readonly lease: string;
  readonly json: boolean;
  readonly cluster: ClusterFlags;
}

/** `leaselocker release`. */
export interface ReleaseArgs {
  readonly kind: 'release';
  readonly lease: string;
  readonly identity: string | undefined;
  readonly force: boolean;
  readonly yes: boolean;
  readonly cluster: ClusterFlags;
}

/** A command line, understood. */
export type CommandLine =
  | RunArgs
  | StatusArgs
  | ReleaseArgs
  /** `--help`: of the whole tool, or of one subcommand. */
  | { readonly kind: 'help'; readonly command: CommandName | undefined }
  | { readonly kind: 'version' };

/** Defaults of `run`'s timing flags: the library's own defaults. */
export const defaultTiming: Timing = Object.freeze({ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 });
/** Default of `--kill-after`. */
export const defaultKillAfterMs = 10_000;

type Options = NonNullable<ParseArgsConfig['options']>;

const clusterOptions = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

const runOptions = {
  ...clusterOptions,
  lease: { type: 'string' },
  identity: { type: 'string' },
  'lease-duration': { type: 'string' },
  'renew-deadline': { type: 'string' },
  'retry-period': { type: 'string' },
  wait: { type: 'string' },
  'no-wait': { type: 'boolean' },
  'kill-after': { type: 'string' },
} as const satisfies Options;

const statusOptions = {
  ...clusterOptions,
  json: { type: 'boolean' },
} as const satisfies Options;

const releaseOptions = {
  ...clusterOptions,
  identity: { type: 'string' },
  force: { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
} as const satisfies Options;

/**
 * Reads a command line (the arguments after `leaselocker`) with `node:util`'s `parseArgs`.
 * @throws UsageError naming the first problem: an unknown command or flag, a missing or bad
 * value, a bad duration.
 */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  const [first, ...rest] = argv;
  switch (first) {
    case undefined:
      throw new UsageError('missing command: run, status or release (see leaselocker --help)');
    case '--help':
    case '-h':
    case 'help': {
      const topic = first === 'help' ? rest[0] : undefined;
      if (topic !== undefined && !isCommandName(topic)) throw new UsageError(`unknown command ${JSON.stringify(topic)} (see leaselocker --help)`);
      return { kind: 'help', command: topic };
    }
    case '--version':
    case '-v':
    case 'version':
      return { kind: 'version' };
    case 'run':
      return parseRun(rest);
    case 'status':
      return parseStatus(rest);
    case 'release':
      return parseRelease(rest);
    default:
      throw new UsageError(first.startsWith('-')
        ? `unknown option ${JSON.stringify(first)} before the command (see leaselocker --help)`
        : `unknown command ${JSON.stringify(first)}: use run, status or release (see leaselocker --help)`);
  }
}

function isCommandName(name: string): name is CommandName {
  return (commandNames as readonly string[]).includes(name);
}

function parseRun(argv: readonly string[]): CommandLine {
  let parsed: ReturnType<typeof parse<typeof runOptions>>;
  try {
    parsed = parse('run', argv, runOptions);
  } catch (error) {
    // A command given without "--" fails on its first flag (`sh -c`): say what is really wrong.
    const { tokens } = parseArgs({ args: [...argv], options: runOptions, strict: false, allowPositionals: true, tokens: true });
    commandBeforeTerminator(tokens);
    throw error;
  }
  const { values, tokens } = parsed;
  if (values.help === true) return { kind: 'help', command: 'run' };
  commandBeforeTerminator(tokens);
  const terminator = tokens.findIndex((token) => token.kind === 'option-terminator');
  const words = tokens.slice(terminator + 1).flatMap((token) => (token.kind === 'positional' ? [token.value] : []));
  const [program, ...args] = words;
  if (terminator === -1 || program === undefined) throw new UsageError('missing the command to run after "--" (see leaselocker run --help)');
  if (program === '') throw new UsageError('the command to run is an empty string');
  if (values.lease === undefined) throw new UsageError('missing --lease <namespace>/<name> (see leaselocker run --help)');
  if (values['no-wait'] === true && values.wait !== undefined) throw new UsageError('give either --wait or --no-wait, not both');
  const waitMs = values['no-wait'] === true ? 0 : values.wait === undefined ? undefined : duration('--wait', values.wait);
  return {
    kind: 'run',
    lease: values.lease,
    identity: values.identity,
    timing: {
      leaseDurationMs: duration('--lease-duration', values['lease-duration'], defaultTiming.leaseDurationMs),
      renewDeadlineMs: duration('--renew-deadline', values['renew-deadline'], defaultTiming.renewDeadlineMs),
      retryPeriodMs: duration('--retry-period', values['retry-period'], defaultTiming.retryPeriodMs),
    },
    waitMs,
    killAfterMs: duration('--kill-after', values['kill-after'], defaultKillAfterMs),
    command: [program, ...args],
    cluster: { kubeconfig: values.kubeconfig, context: values.context },
  };
}

/** @throws UsageError when a positional argument comes before `--`: the command must follow it. */
function commandBeforeTerminator(tokens: ReturnType<typeof parseArgs>['tokens'] = []): void {
  const terminator = tokens.findIndex((token) => token.kind === 'option-terminator');
  const early = tokens.find((token, index) => token.kind === 'positional' && (terminator === -1 || index < terminator));
  if (early?.kind === 'positional') {
    throw new UsageError(`unexpected argument ${JSON.stringify(early.value)}: put the command after "--", as in: leaselocker run --lease <namespace>/<name> -- <command> [args...]`);
  }
}

function parseStatus(argv: readonly string[]): CommandLine {
  const { values, positionals } = parse('status', argv, statusOptions);
  if (values.help === true) return { kind: 'help', command: 'status' };
  return { kind: 'status', lease: onlyLease('status', positionals), json: values.json === true, cluster: { kubeconfig: values.kubeconfig, context: values.context } };
}

function parseRelease(argv: readonly string[]): CommandLine {
  const { values, positionals } = parse('release', argv, releaseOptions);
  if (values.help === true) return { kind: 'help', command: 'release' };
  const lease = onlyLease('release', positionals);
  if (values.force !== true && values.identity === undefined) {
    throw new UsageError('give the holder\'s --identity to release its lease, or --force to release whoever holds it');
  }
  return {
    kind: 'release',
    lease,
    identity: values.identity,
    force: values.force === true,
    yes: values.yes === true,
    cluster: { kubeconfig: values.kubeconfig, context: values.context },
  };
}

function onlyLease(command: CommandName, positionals: readonly string[]): string {
  const [lease, extra] = positionals;
  if (lease === undefined) throw new UsageError(`missing the lease: leaselocker ${command} <namespace>/<name> (see leaselocker ${command} --help)`);
  if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)} (see leaselocker ${command} --help)`);
  return lease;
}

/** `parseArgs`, strict, with its errors as usage errors. */
function parse<T extends Options>(command: CommandName, argv: readonly string[], options: T): ReturnType<typeof parseArgs<{ options: T; strict: true; allowPositionals: true; tokens: true }>> {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: true, tokens: true });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // parseArgs explains itself in sentences. Of an unknown option, the first names the problem
    // (the next suggests "--", which does not apply to flags); the others all help.
    const unknown = (error as { code?: unknown }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION';
    const told = oneLine(unknown ? (message.split(/\.\s/)[0] ?? message) : message);
    throw new UsageError(`${told.charAt(0).toLowerCase()}${told.slice(1)} (see leaselocker ${command} --help)`, { cause: error });
  }
}

/** A duration flag's value in milliseconds, or `fallback` when it was not given. */
function duration(flag: string, text: string | undefined, fallback: number): number;
function duration(flag: string, text: string): number;
function duration(flag: string, text: string | undefined, fallback?: number): number {
  if (text === undefined) return fallback ?? 0;
  try {
    return parseDuration(text);
  } catch (error) {
    if (error instanceof DurationError) throw new UsageError(`invalid ${flag}: ${error.message}`);
    throw error;
  }
}
