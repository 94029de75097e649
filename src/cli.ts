#!/usr/bin/env node
// The executable: the one place that ends the process.
import { main } from './cli/main.js';

// Exit as soon as main is done: a forced stop (a second signal) must not wait for handles still closing, and
// stdout/stderr are synchronous for files, pipes and terminals on Linux, so nothing written is lost.
process.exit(await main(process.argv.slice(2)));
