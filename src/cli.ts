#!/usr/bin/env node
// The `leaselocker` command. The process exits by itself once the work is done: nothing is left running.
import { main } from './cli/main.js';

// Messages are best effort: a reader of stdout or stderr that went away (EPIPE) must not crash
// the command while it holds a lease and runs a child, nor turn a done release into a failure.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

process.exitCode = await main(process.argv.slice(2));
