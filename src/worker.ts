#!/usr/bin/env node
/** The program each `--workers` process runs (forked by the primary through node:cluster); not for people. */
import { runWorker } from './daemon.js';

process.exitCode = await runWorker();
