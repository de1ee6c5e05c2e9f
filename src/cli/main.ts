import { parseCommandLine } from './args.js';
import { exitCodes } from './exit-codes.js';
import { describeFailure } from './failure.js';
import { helpText } from './help.js';
import { cliLog } from './log.js';
import { releaseCommand } from './release.js';
import { runCommand } from './run.js';
import { statusCommand } from './status.js';
import { packageVersion } from './version.js';

/**
 * The `leaselocker` command: runs the command line `argv` (the arguments after the program
 * name) and resolves with the code to exit with. Never rejects: a failure is told as one line
 * on stderr (`leaselocker: ...`), with its stack only in the debug log (`DEBUG=leaselocker:cli`).
 */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    const commandLine = parseCommandLine(argv);
    switch (commandLine.kind) {
      case 'help':
        process.stdout.write(helpText(commandLine.command));
        return exitCodes.ok;
      case 'version':
        process.stdout.write(`${packageVersion()}\n`);
        return exitCodes.ok;
      case 'run':
        return await runCommand(commandLine);
      case 'status':
        return await statusCommand(commandLine);
      case 'release':
        return await releaseCommand(commandLine);
    }
  } catch (error) {
    cliLog('failed: %O', error);
    const failure = describeFailure(error);
    process.stderr.write(`leaselocker: ${failure.message}\n`);
    return failure.exitCode;
  }
}
