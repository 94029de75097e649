#!/usr/bin/env node
// The executable: the one place that ends the process.
import { main } from './cli/main.js';

process.exitCode = await main(process.argv.slice(2));
