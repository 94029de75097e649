#!/usr/bin/env node
/** The program each `--workers` process runs (forked by the primary through node:cluster); not for people. */
import { ignoreWorkerSignals } from './daemon.js';
import { runWorker } from './workers/worker-main.js';

process.exitCode = await runWorker(ignoreWorkerSignals);
