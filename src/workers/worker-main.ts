/** The main of a worker process (`--workers N`): the IPC handshake with the primary around a {@link WorkerProcess}. */
import cluster from 'node:cluster';
import { tuneHeap } from '../heap.js';
import { createStreamLogger, withFields } from '../log.js';
import { isMessage, type ToPrimary, type ToWorker } from './messages.js';
import { WorkerProcess } from './worker-process.js';

/**
 * The life of a worker process (`--workers`): asks the primary for its settings, serves until the primary says
 * `close`, and resolves with the exit code. Signals are the primary's: `ignoreSignals` (from the composition root,
 * the only place that handles signals) is called first. A worker whose primary is gone is ended at once by
 * node:cluster; it only says so first.
 */
export async function runWorker(ignoreSignals: () => void): Promise<number> {
  tuneHeap();
  ignoreSignals();
  // Every message is listened for from the start and kept until the worker serves: one that arrives without a
  // listener is lost, and the primary may send changes while this worker is still starting.
  const inbox: unknown[] = [];
  let deliver: ((message: unknown) => void) | undefined;
  let initialized!: (init: Extract<ToWorker, { t: 'init' }>) => void;
  const init = new Promise<Extract<ToWorker, { t: 'init' }>>((resolve) => (initialized = resolve));
  process.on('message', (message: unknown) => {
    if (isMessage(message) && message.t === 'init') initialized(message as Extract<ToWorker, { t: 'init' }>);
    else if (deliver !== undefined) deliver(message);
    else inbox.push(message);
  });
  process.send?.({ t: 'hello' } satisfies ToPrimary);
  const { settings, challenges, open } = await init;
  const log = withFields(createStreamLogger(process.stderr, settings.logLevel), { worker: cluster.worker?.id });
  let leaving = false;
  process.prependOnceListener('disconnect', () => {
    if (!leaving) log.log('warn', 'worker-orphaned', {});
  });
  // Marks the disconnect as this worker's own, so node:cluster lets the process end with `code`.
  const leave = (code: number): number => {
    leaving = true;
    cluster.worker?.disconnect();
    return code;
  };
  let worker: WorkerProcess;
  try {
    worker = await WorkerProcess.start({ settings, challenges, open }, (message) => process.send?.(message), log);
  } catch {
    // The primary was told why (`failed`) and reports it.
    return leave(1);
  }
  deliver = (message) => worker.receive(message);
  for (const message of inbox.splice(0)) worker.receive(message);
  await worker.closed;
  return leave(0);
}
