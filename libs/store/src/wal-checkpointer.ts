import { Worker } from 'node:worker_threads';

/**
 * Keeps the SQLite write-ahead log short from a thread of its own: every `intervalMs` it runs
 * `PRAGMA wal_checkpoint(PASSIVE)` on a second connection to the same file. A checkpoint
 * copies the log's pages into the database file and syncs it; done on the event loop's
 * thread, it stalls every ACK for its duration. PASSIVE never blocks the writer: what it
 * cannot copy now it copies next time. The store's own connection keeps SQLite's automatic
 * checkpoint as a fallback, with a high threshold that this thread keeps it from reaching.
 */
export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;

  constructor(file: string, intervalMs = 500) {
    this.worker = new Worker(WORKER_CODE, {
      eval: true,
      workerData: { file, intervalMs, module: require.resolve('better-sqlite3') },
    });
    this.worker.unref();
    // A checkpointer that fails leaves the fallback in charge; it never takes the store down.
    this.worker.on('error', () => undefined);
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
  }

  /** Stops checkpointing and closes the thread's connection. */
  async stop(): Promise<void> {
    this.worker.postMessage('stop');
    const timer = setTimeout(() => void this.worker.terminate(), 2_000);
    await this.exited;
    clearTimeout(timer);
  }
}

const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file, { timeout: 1000 });
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy or locked: the next round catches up.
  }
}, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;
