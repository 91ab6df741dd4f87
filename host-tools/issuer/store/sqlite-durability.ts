/**
 * The SQLite store's own durability (store/sqlite.ts): the fdatasync of the
 * WAL file that a change waits for before its promise resolves. It is kept
 * apart from the store because it touches nothing of the database but the
 * WAL file's descriptor.
 *
 * Durability (synchronous FULL, the default) is the store's own: SQLite
 * commits without syncing (its synchronous=NORMAL) and the store then calls
 * fdatasync on the WAL file off the event loop. A caller's promise resolves
 * only once an fdatasync that began after its COMMIT has returned, so no
 * response is ever sent for a change that is not on disk; meanwhile the next
 * batches are decided and committed, so the disk's latency overlaps work
 * instead of stalling it, and one fdatasync serves every batch committed
 * before it began (it starts a turn of the event loop after the commit, so
 * that the batches already scheduled join it). Another connection that reads
 * a batch before its sync returns can only answer after its own sync of the
 * same WAL, which covers that batch too; getCard and listAudit may show a
 * change whose sync is under way. A failed fdatasync fails the store: what
 * reached the disk is then unknown, so it refuses everything until the
 * issuer is restarted.
 */
import { closeSync, fdatasync, fstatSync, openSync, statSync } from "node:fs";

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

/**
 * The WAL file, for fdatasync. SQLite keeps this file (it deletes it only
 * when the last connection closes, and this one stays open), so the
 * descriptor stays valid; its identity is checked against the path once.
 */
function openWal(dbPath: string): number {
  const fd = openSync(`${dbPath}-wal`, "r");
  const a = fstatSync(fd);
  const b = statSync(`${dbPath}-wal`);
  if (a.ino !== b.ino || a.dev !== b.dev) {
    closeSync(fd);
    throw new Error(`${dbPath}-wal changed while it was opened`);
  }
  return fd;
}

/** The syncs of one store's WAL file, and the callers waiting for them. */
export class WalSync {
  /** FULL: the WAL file, synced by the store after commits (open() to close()). */
  wal?: number;
  private syncing = false;
  private syncScheduled = false;
  /** Waiting for a sync that begins after their commit. */
  private unsynced: Waiter[] = [];
  /** Set when a sync failed: the store then refuses everything. */
  failed?: Error;

  /**
   * `dbPath`: the database file, whose WAL is `${dbPath}-wal`. `syncs`: the
   * store syncs (FULL on a database in WAL mode); false, durable() resolves
   * at once.
   */
  constructor(
    private readonly dbPath: string,
    readonly syncs: boolean,
  ) {}

  /** Opens the WAL file once the database is in WAL mode and migrated (nothing to open when not syncing). */
  open(): void {
    if (this.syncs) this.wal ??= openWal(this.dbPath);
  }

  /**
   * Resolves once everything this connection has committed is on disk
   * (FULL), or at once (NORMAL). Rejects when a sync failed.
   */
  durable(): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (!this.syncs || this.wal === undefined) return Promise.resolve(); // NORMAL, or not open
    return new Promise((resolve, reject) => {
      this.unsynced.push({ resolve, reject });
      this.sync();
    });
  }

  /**
   * Syncs the WAL for the waiters so far; a sync under way starts the next
   * when it returns. It starts on the next turn of the event loop, after the
   * batches already scheduled have committed, so that it covers them too.
   */
  private sync(): void {
    if (this.syncing || this.syncScheduled || this.unsynced.length === 0) return;
    this.syncScheduled = true;
    setImmediate(this.startSync);
  }

  private readonly startSync = (): void => {
    this.syncScheduled = false;
    if (this.syncing || this.unsynced.length === 0 || this.wal === undefined) return;
    const waiters = this.unsynced;
    this.unsynced = [];
    this.syncing = true;
    fdatasync(this.wal, (err) => {
      this.syncing = false;
      if (err) {
        this.failed = new Error(`the issuer database's WAL could not be synced to disk (${err.code ?? err.message}): restart the issuer`);
        for (const w of [...waiters, ...this.unsynced.splice(0)]) w.reject(this.failed);
        return;
      }
      for (const w of waiters) w.resolve();
      this.sync();
    });
  };

  /** Closes the WAL file's descriptor (the store has awaited durable() first). */
  close(): void {
    if (this.wal !== undefined) closeSync(this.wal);
    this.wal = undefined;
  }
}
