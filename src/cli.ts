#!/usr/bin/env node
// The `leaselocker` command. The process exits by itself once the work is done: nothing is left running.
import { main } from './cli/main.js';

process.exitCode = await main(process.argv.slice(2));
