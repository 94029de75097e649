/**
 * How the primary reaches its worker processes: fork one, send it a message, hear its messages and its exit, kill
 * it. {@link WorkerPool} knows workers only through this, so its confirmations, replacements and time limits can
 * be exercised against workers simulated in the same process; {@link clusterChannel} is the real one (node:cluster).
 */
import cluster, { type Worker } from 'node:cluster';
import type { ToWorker } from './messages.js';

/** One worker process as the primary sees it. */
export interface WorkerHandle {
  /** Small number naming the worker in the log (cluster's worker id). */
  readonly id: number;
  /** Its process id, once forked. */
  readonly pid: number | undefined;
  /** True once it has exited. */
  readonly exited: boolean;
  /** Sends a message; one to a worker whose channel has closed is dropped (its exit is what counts). */
  send(message: ToWorker): void;
  /** Ends it at once (SIGKILL). */
  kill(): void;
  /** Every message it sends, unchecked (the pool checks each with `isMessage`). */
  onMessage(listener: (message: unknown) => void): void;
  /** Once, when it has exited. */
  onExit(listener: (code: number | null, signal: string | null) => void): void;
  /** Channel errors (a send racing the worker's exit); they need no action. */
  onError(listener: (error: Error) => void): void;
}

/** Forks worker processes. */
export interface WorkerChannel {
  fork(): WorkerHandle;
}

/**
 * Worker processes run by node:cluster from `exec`, sharing the primary's listening sockets. SCHED_NONE: each
 * worker accepts from the shared sockets itself; the default (round robin) would accept every connection in the
 * primary and pass it on, one more hop for each.
 */
export function clusterChannel(exec: string): WorkerChannel {
  let setUp = false;
  return {
    fork() {
      if (!setUp) {
        cluster.schedulingPolicy = cluster.SCHED_NONE;
        cluster.setupPrimary({ exec, args: [], silent: false });
        setUp = true;
      }
      return clusterHandle(cluster.fork());
    },
  };
}

function clusterHandle(worker: Worker): WorkerHandle {
  return {
    id: worker.id,
    get pid() {
      return worker.process.pid;
    },
    get exited() {
      return worker.process.exitCode !== null || worker.process.signalCode !== null;
    },
    send(message) {
      if (worker.isConnected()) worker.send(message);
    },
    kill() {
      worker.process.kill('SIGKILL');
    },
    onMessage(listener) {
      worker.on('message', listener);
    },
    onExit(listener) {
      worker.once('exit', listener);
    },
    onError(listener) {
      worker.on('error', listener);
    },
  };
}
