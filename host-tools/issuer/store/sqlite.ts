/**
 * The embedded store: one SQLite file in WAL mode (better-sqlite3).
 *
 * The audit table is the card log. Each entry records what it did to its
 * card's state (audit.state, store/delta.ts), so a change appends one row
 * and writes nothing else: the cards table is brought up to date only at
 * checkpoints, every CHECKPOINT_ROWS entries and on close, and
 * store_meta.checkpoint says which entry it includes up to. SQLite's own
 * checkpoint (WAL into the database file) runs right after each of those,
 * instead of every 1,000 pages. The current state of a card is its cards
 * row with the later entries of the log applied.
 *
 * This connection holds in memory every card changed since the checkpoint
 * (they are never evicted), plus recently used ones, and the id of the newest
 * log entry it has applied. Whenever PRAGMA data_version says another
 * connection has committed, it reads the entries it has not seen before
 * deciding anything: under the write lock for a change, so nothing can
 * commit between that read and its own writes. Opening the store replays
 * the log after the checkpoint, which is how a crash is recovered.
 *
 * Changes are group-committed: the changes requested during one turn of
 * the event loop (up to MAX_BATCH) run in a single BEGIN IMMEDIATE ...
 * COMMIT. BEGIN IMMEDIATE takes SQLite's write lock before reading the card,
 * so changes from other processes on the same file are serialised too.
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
import Database from "better-sqlite3";
import { closeSync, fdatasync, fstatSync, openSync, statSync } from "node:fs";
import type { CardRecord, CardState } from "../card.ts";
import { applyDelta, encodeDelta } from "./delta.ts";
import { LATEST_VERSION, MIGRATIONS } from "./schema.ts";
import {
  auditFromRow,
  CARD_COLUMNS,
  cardFromRow,
  type AuditEntry,
  type AuditQuery,
  type AuditRecord,
  type Change,
  type Store,
  type TokenRecord,
} from "./types.ts";

export interface SqliteOptions {
  /**
   * FULL (default): a change resolves once the WAL holding it is synced to
   * disk, so an accepted verification survives power loss. NORMAL resolves at
   * COMMIT: it survives a crash of the process (kill -9) but may lose the
   * last commits on power loss.
   */
  synchronous?: "FULL" | "NORMAL";
  /** How long to wait for another process's write lock. */
  busyTimeoutMs?: number;
  /** Log entries between checkpoints (see above); tests lower it. */
  checkpointRows?: number;
}

interface Pending {
  id: string;
  decide: (card: CardRecord) => Change<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * Most changes per transaction: it bounds the time the write lock is held
 * (about a millisecond) and the wait of the first answer of a batch. A
 * larger burst is split, and one part is decided while another is synced.
 */
const MAX_BATCH = 256;
/** Clean cards kept in memory (a row is a few hundred bytes); cards changed since the checkpoint come on top. */
const MAX_CACHED = 100_000;
/**
 * Log entries between checkpoints. It bounds the cards held in memory for
 * being changed since the checkpoint, and the replay when the store opens
 * (a few hundred milliseconds at most).
 */
const CHECKPOINT_ROWS = 50_000;
/** Values per audit row in a batch's INSERT (one statement per batch size, prepared once). */
const AUDIT_FIELDS = 9;

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

/**
 * `card` with state `s` and `version`, as a new record. Every field is
 * written out, in one order, so that all records in memory share one shape
 * (a spread of the record costs several times as much on the verify path).
 */
function withState(card: CardRecord, s: CardState, version: number): CardRecord {
  return {
    id: card.id, pan: card.pan, expiry: card.expiry, psn: card.psn, mode: card.mode, digits: card.digits, algorithm: card.algorithm,
    step: card.step, startCounter: card.startCounter, createdAt: card.createdAt, version,
    blocked: s.blocked, nextCounter: s.nextCounter, lastStep: s.lastStep, drift: s.drift, failures: s.failures,
    lastFailureAt: s.lastFailureAt, resyncFailures: s.resyncFailures, lastResyncFailureAt: s.lastResyncFailureAt,
  };
}

/** A card as the log has it, with the id of its newest entry (the head of its chain). */
interface Cached {
  card: CardRecord;
  head: number;
}

type Statements = ReturnType<SqliteStore["prepare"]>;

export class SqliteStore implements Store {
  readonly kind = "sqlite";
  private readonly db: Database.Database;
  private readonly checkpointRows: number;
  private s?: Statements;
  private queue: Pending[] = [];
  /** Cards as the log has them, up to `logEnd`; least recently loaded first. */
  private readonly cards = new Map<string, Cached>();
  /** Ids of the cards changed after the checkpoint: the cards table is behind on them. */
  private readonly dirty = new Set<string>();
  /** The newest log entry applied to `cards`. */
  private logEnd = 0;
  /** store_meta.checkpoint as last read or written. */
  private checkpointAt = 0;
  /** PRAGMA data_version when `cards` last matched the database; -1: read the log. */
  private knownVersion = -1;
  private readonly auditInserts = new Map<number, Database.Statement>();
  /** FULL: the WAL file, synced by the store after commits. */
  private readonly path: string;
  private readonly syncs: boolean;
  private wal?: number;
  private syncing = false;
  private syncScheduled = false;
  /** Waiting for a sync that begins after their commit. */
  private unsynced: Waiter[] = [];
  private failed?: Error;

  constructor(path: string, opts: SqliteOptions = {}) {
    this.path = path;
    this.db = new Database(path);
    this.checkpointRows = opts.checkpointRows ?? CHECKPOINT_ROWS;
    // First, so that switching to WAL also waits for a process that holds the lock.
    this.db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 10_000}`);
    // An in-memory database (tests) has no WAL and nothing to sync.
    const wal = this.db.pragma("journal_mode = WAL", { simple: true }) === "wal";
    this.syncs = wal && opts.synchronous !== "NORMAL";
    // SQLite syncs the WAL before each checkpoint and the database after it; commits are synced by durable().
    this.db.pragma(`synchronous = ${wal || opts.synchronous === "NORMAL" ? "NORMAL" : "FULL"}`);
    // The WAL is copied into the database file at the store's own checkpoints (write()), not every 1,000 pages.
    this.db.pragma("wal_autocheckpoint = 0");
  }

  async migrate(): Promise<void> {
    this.db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
    this.db
      .transaction(() => {
        const current = (this.db.prepare("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations").get() as { v: number }).v;
        if (current > LATEST_VERSION) {
          throw new Error(`database schema version ${current} is newer than this issuer's (${LATEST_VERSION})`);
        }
        for (const m of MIGRATIONS) {
          if (m.version <= current) continue;
          this.db.exec(m.sqlite);
          this.db.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)").run(m.version, Date.now());
        }
      })
      .immediate();
    this.s ??= this.prepare();
    this.forget();
    this.read(() => this.catchUp());
    // A migration just committed needs no sync of its own: the next change's fdatasync covers the whole WAL.
    if (this.syncs) this.wal ??= openWal(this.path);
  }

  /**
   * Resolves once everything this connection has committed is on disk
   * (FULL), or at once (NORMAL). Rejects when a sync failed.
   */
  private durable(): Promise<void> {
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

  private prepare() {
    const db = this.db;
    return {
      begin: db.prepare("BEGIN IMMEDIATE"),
      beginRead: db.prepare("BEGIN DEFERRED"),
      commit: db.prepare("COMMIT"),
      rollback: db.prepare("ROLLBACK"),
      dataVersion: db.prepare("PRAGMA data_version").pluck(),
      walCheckpoint: db.prepare("PRAGMA wal_checkpoint(PASSIVE)").pluck(),
      checkpoint: db.prepare("SELECT value FROM store_meta WHERE name = 'checkpoint'").pluck(),
      setCheckpoint: db.prepare("UPDATE store_meta SET value = ? WHERE name = 'checkpoint'"),
      // The log after an entry, oldest first.
      tail: db.prepare("SELECT id, card_id, state FROM audit WHERE id > ? ORDER BY id"),
      // AUTOINCREMENT's next id: past every id ever used, even of deleted rows.
      lastAuditId: db
        .prepare("SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'audit'), 0), COALESCE((SELECT MAX(id) FROM audit), 0))")
        .pluck(),
      card: db.prepare(`SELECT ${CARD_COLUMNS}, last_audit_id FROM cards WHERE id = ?`),
      insertCard: db.prepare(
        `INSERT INTO cards (${CARD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (pan, psn) DO NOTHING`,
      ),
      // A checkpoint's write of one card.
      update: db.prepare(
        `UPDATE cards SET version = ?, blocked = ?, next_counter = ?, last_step = ?, drift = ?, failures = ?,
           last_failure_at = ?, resync_failures = ?, last_resync_failure_at = ?, last_audit_id = ?
         WHERE id = ?`,
      ),
      linkAudit: db.prepare("UPDATE cards SET last_audit_id = ? WHERE id = ?"),
      audit: db.prepare("INSERT INTO audit (at, card_id, event, outcome, caller, detail, prev_id) VALUES (?, ?, ?, ?, ?, ?, ?)"),
      // A card's trail, newest first: its chain through prev_id from a starting entry.
      chain: db.prepare(
        `WITH RECURSIVE chain (id, at, card_id, event, outcome, caller, detail, prev_id) AS (
           SELECT id, at, card_id, event, outcome, caller, detail, prev_id FROM audit WHERE id = ?
           UNION ALL
           SELECT a.id, a.at, a.card_id, a.event, a.outcome, a.caller, a.detail, a.prev_id FROM audit a JOIN chain c ON a.id = c.prev_id
           LIMIT ?
         )
         SELECT id, at, card_id, event, outcome, caller, detail FROM chain`,
      ),
      prevOf: db.prepare("SELECT prev_id AS id FROM audit WHERE id = ? AND card_id = ?"),
      recent: db.prepare("SELECT id, at, card_id, event, outcome, caller, detail FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?"),
      insertToken: db.prepare("INSERT INTO api_tokens (id, hash, label, created_at) VALUES (?, ?, ?, ?)"),
      token: db.prepare("SELECT id, hash, label, created_at FROM api_tokens WHERE hash = ?"),
    };
  }

  private get st(): Statements {
    if (!this.s) throw new Error("store used before migrate()");
    return this.s;
  }

  /** Drops what memory holds of the log: the next catchUp replays it from the checkpoint. */
  private forget(): void {
    this.cards.clear();
    this.dirty.clear();
    this.checkpointAt = 0;
    this.logEnd = -1;
    this.knownVersion = -1;
  }

  /**
   * Inside a transaction: applies the log entries other connections have
   * committed since this one last looked (all after the checkpoint, after
   * forget()). Costs one PRAGMA when there are none.
   */
  private catchUp(): void {
    const version = this.st.dataVersion.get() as number;
    if (version === this.knownVersion) return;
    const checkpoint = this.st.checkpoint.get() as number;
    if (checkpoint !== this.checkpointAt) {
      // Another connection wrote a checkpoint: the cards table now includes what it covered.
      for (const id of this.dirty) if ((this.cards.get(id)?.head ?? 0) <= checkpoint) this.dirty.delete(id);
      this.checkpointAt = checkpoint;
    }
    if (this.logEnd < 0) this.logEnd = checkpoint; // after forget(): the cards table holds the rest
    for (const row of this.st.tail.iterate(this.logEnd) as Iterable<{ id: number; card_id: string; state: string | null }>) {
      const cached = this.cards.get(row.card_id) ?? this.load(row.card_id);
      if (!cached) throw new Error(`the audit log names a card that is not in the cards table (entry ${row.id})`);
      // A card loaded after this entry was checkpointed has it already.
      if (row.id > cached.head) {
        const card = withState(cached.card, cached.card, cached.card.version);
        applyDelta(card, row.state ?? "");
        cached.card = Object.freeze(card);
        cached.head = row.id;
        if (row.id > this.checkpointAt) this.dirty.add(row.card_id);
      }
      this.logEnd = row.id;
    }
    this.knownVersion = version;
  }

  /** Runs fn in a read transaction after catching up: it sees one snapshot that memory matches. */
  private read<T>(fn: () => T): T {
    this.st.beginRead.run();
    try {
      this.catchUp();
      return fn();
    } finally {
      this.st.commit.run();
    }
  }

  /** Appends an entry after `prev` in its card's chain; returns its id. */
  private writeAudit(a: AuditEntry, prev: number): number {
    return Number(this.st.audit.run(a.at, a.cardId, a.event, a.outcome, a.caller, a.detail ?? null, prev).lastInsertRowid);
  }

  async insertCard(card: CardRecord, audit: AuditEntry): Promise<boolean> {
    const c = card;
    const inserted = this.write(() => {
      const inserted = this.st.insertCard.run(
        c.id, c.pan, c.expiry, c.psn, c.mode, c.digits, c.algorithm, c.step, c.startCounter, c.createdAt, c.version,
        c.blocked ? 1 : 0, c.nextCounter, c.lastStep, c.drift, c.failures, c.lastFailureAt, c.resyncFailures, c.lastResyncFailureAt,
      );
      if (inserted.changes !== 1) return false;
      // The row holds the card's state and the head of its chain: nothing for the log to replay.
      const id = this.writeAudit(audit, 0);
      this.st.linkAudit.run(id, c.id);
      this.logEnd = id;
      return true;
    });
    await this.durable();
    return inserted;
  }

  /**
   * Runs fn under the write lock once memory has caught up, and commits. On
   * any error it rolls back and forgets memory, which may hold fn's changes.
   */
  private write<T>(fn: () => T): T {
    this.st.begin.run();
    try {
      this.catchUp();
      const result = fn();
      const checkpoint = this.logEnd - this.checkpointAt >= this.checkpointRows;
      if (checkpoint) this.checkpoint();
      this.st.commit.run();
      if (checkpoint) this.copyWal();
      return result;
    } catch (e) {
      if (this.db.inTransaction) this.st.rollback.run();
      this.forget();
      throw e;
    }
  }

  /**
   * SQLite's checkpoint: syncs the WAL, copies it into the database file and
   * syncs that, so that the WAL can start over. The changes are committed
   * already; if this fails, the next checkpoint copies them, and the WAL
   * grows until then.
   */
  private copyWal(): void {
    try {
      this.st.walCheckpoint.get();
    } catch {
      // See above: nothing is lost, and a failing disk fails the next sync.
    }
  }

  /** Writes every card changed since the checkpoint to the cards table, and moves the checkpoint to the end of the log. */
  private checkpoint(): void {
    for (const id of this.dirty) {
      const cached = this.cards.get(id);
      if (!cached) throw new Error("a card changed since the checkpoint is missing from memory");
      const s = cached.card;
      this.st.update.run(
        s.version, s.blocked ? 1 : 0, s.nextCounter, s.lastStep, s.drift, s.failures, s.lastFailureAt, s.resyncFailures,
        s.lastResyncFailureAt, cached.head, id,
      );
    }
    this.st.setCheckpoint.run(this.logEnd);
    this.dirty.clear();
    this.checkpointAt = this.logEnd;
  }

  async getCard(id: string): Promise<CardRecord | undefined> {
    return this.read(() => {
      const cached = this.cards.get(id) ?? this.load(id);
      return cached && { ...cached.card };
    });
  }

  change<T>(id: string, decide: (card: CardRecord) => Change<T>): Promise<T | undefined> {
    this.st; // fail now, not in the flush, when used before migrate()
    if (this.failed) return Promise.reject(this.failed);
    return new Promise<T | undefined>((resolve, reject) => {
      this.queue.push({ id, decide, resolve: resolve as (v: unknown) => void, reject });
      if (this.queue.length === 1) setImmediate(this.flush);
    });
  }

  private readonly flush = (): void => {
    const batch = this.queue.splice(0, MAX_BATCH);
    if (batch.length === 0) return;
    if (this.queue.length > 0) setImmediate(this.flush);
    if (this.failed) return batch.forEach((p) => p.reject(this.failed));
    let outcomes: { value?: unknown; error?: unknown }[];
    try {
      outcomes = this.write(() => {
        const audit: unknown[] = [];
        const out = [];
        let next = (this.st.lastAuditId.get() as number) + 1;
        for (const p of batch) {
          const o = this.apply(p, next, audit);
          if (o.logged) next++;
          out.push(o);
        }
        this.insertAudit(audit);
        return out;
      });
    } catch (e) {
      for (const p of batch) p.reject(e);
      return;
    }
    const settle = () => batch.forEach((p, i) => ("error" in outcomes[i] ? p.reject(outcomes[i].error) : p.resolve(outcomes[i].value)));
    if (!this.syncs) return settle();
    this.durable().then(settle, (e: unknown) => batch.forEach((p) => p.reject(e)));
  };

  /**
   * One change inside the batch's transaction; its audit entry, numbered
   * `auditId`, goes onto `audit` for insertAudit. A failing decide skips only
   * its own card (and leaves `auditId` unused); a failing write aborts the batch.
   */
  private apply(p: Pending, auditId: number, audit: unknown[]): { value?: unknown; error?: unknown; logged?: true } {
    const cached = this.cards.get(p.id) ?? this.load(p.id);
    if (!cached) return { value: undefined };
    const card = cached.card; // frozen: decide cannot touch what memory holds
    let ch: Change<unknown>;
    try {
      ch = p.decide(card);
      if (ch.audit.cardId !== p.id) throw new Error("a change must be audited under its own card");
    } catch (error) {
      return { error };
    }
    const next = Object.freeze(withState(card, ch.state ?? card, card.version + 1));
    const a = ch.audit;
    audit.push(auditId, a.at, a.cardId, a.event, a.outcome, a.caller, a.detail ?? null, cached.head, encodeDelta(card, next));
    cached.card = next;
    cached.head = auditId;
    this.dirty.add(p.id);
    this.logEnd = auditId;
    return { value: ch.result, logged: true };
  }

  /** Reads a card into memory from its row, which is current unless the card is dirty (and so already in memory). */
  private load(id: string): Cached | undefined {
    const row = this.st.card.get(id) as Record<string, unknown> | undefined;
    if (!row) return undefined;
    if (this.cards.size >= MAX_CACHED + this.dirty.size) {
      // Map keeps insertion order: the first clean entry is the oldest.
      for (const key of this.cards.keys()) {
        if (this.dirty.has(key)) continue;
        this.cards.delete(key);
        break;
      }
    }
    const card = cardFromRow(row);
    const cached = { card: Object.freeze(withState(card, card, card.version)), head: Number(row.last_audit_id) };
    this.cards.set(id, cached);
    return cached;
  }

  /** Appends a batch's audit rows (AUDIT_FIELDS values each, ids in order) with one statement. */
  private insertAudit(values: unknown[]): void {
    if (values.length > 0) this.auditInsert(values.length / AUDIT_FIELDS).run(values);
  }

  private auditInsert(rows: number): Database.Statement {
    let st = this.auditInserts.get(rows);
    if (!st) {
      const row = `(${new Array(AUDIT_FIELDS).fill("?").join(", ")})`;
      st = this.db.prepare(
        `INSERT INTO audit (id, at, card_id, event, outcome, caller, detail, prev_id, state) VALUES ${new Array(rows).fill(row).join(", ")}`,
      );
      this.auditInserts.set(rows, st);
    }
    return st;
  }

  async listAudit(q: AuditQuery): Promise<AuditRecord[]> {
    const rows = this.read(() => {
      if (q.cardId === undefined) return this.st.recent.all(q.beforeId ?? Number.MAX_SAFE_INTEGER, q.limit);
      const start =
        q.beforeId === undefined
          ? (this.cards.get(q.cardId) ?? this.load(q.cardId))?.head
          : (this.st.prevOf.get(q.beforeId, q.cardId) as { id: number } | undefined)?.id;
      return start === undefined ? [] : this.st.chain.all(start, q.limit);
    }) as Record<string, unknown>[];
    return rows.map(auditFromRow);
  }

  async insertToken(t: TokenRecord): Promise<void> {
    this.st.insertToken.run(t.id, t.hash, t.label, t.createdAt);
    await this.durable();
  }

  async findToken(hash: string): Promise<TokenRecord | undefined> {
    const r = this.st.token.get(hash) as Record<string, unknown> | undefined;
    return r && { id: r.id as string, hash: r.hash as string, label: r.label as string, createdAt: Number(r.created_at) };
  }

  /** Finishes the queued changes and their syncs, and checkpoints, so that the next open has nothing to replay. */
  async close(): Promise<void> {
    while (this.queue.length > 0) this.flush();
    if (this.s && this.db.open && !this.failed && this.dirty.size > 0) this.write(() => this.checkpoint());
    await this.durable().catch(() => {}); // the changes it failed have been rejected
    if (this.wal !== undefined) closeSync(this.wal);
    this.wal = undefined;
    if (this.db.open) this.db.close();
  }
}
