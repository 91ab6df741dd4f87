/**
 * The embedded store: one SQLite file in WAL mode (better-sqlite3).
 *
 * The audit trail is the card log (store/log.ts). Each entry records what
 * it did to its card's state (store/delta.ts), so a batch of changes
 * appends one row to the log and writes nothing else: the cards table is
 * brought up to date only at checkpoints, every CHECKPOINT_ROWS entries and
 * on close, and store_meta.checkpoint says which entry it includes up to.
 * SQLite's own checkpoint (WAL into the database file) runs right after
 * each of those, instead of every 1,000 pages. The current state of a card
 * is its cards row with the later entries of the log applied.
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
import { chmodSync, closeSync, existsSync, fdatasync, fstatSync, openSync, statSync } from "node:fs";
import type { CardRecord, CardState } from "../card.ts";
import { applyDelta, encodeDelta } from "./delta.ts";
import { auditRecord, CARD, encodeBatch, logEntry, parseBatch, parseEntry, PREV, STATE, type BatchRow, type LogEntry } from "./log.ts";
import { notAnIssuer } from "./open.ts";
import { LATEST_VERSION, MIGRATIONS } from "./schema.ts";
import {
  CARD_COLUMNS,
  cardFromRow,
  checkLinkChange,
  PAYMENT_COLUMNS,
  paymentFromRow,
  paymentValues,
  type AuditEntry,
  type AuditQuery,
  type AuditRecord,
  type Change,
  type LinkChange,
  type LinkState,
  type PaymentRecord,
  type Role,
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
  /** Make a new database if the file holds none (default true); see OpenOptions.create. */
  create?: boolean;
}

/**
 * The database file, created 0600 if it does not exist (SQLite gives its
 * -wal and -shm files the database file's mode). An existing file that
 * others may read is made 0600 too: it holds the PANs and the audit trail.
 */
function prepareFile(path: string, create: boolean): void {
  if (path === ":memory:" || path === "") return;
  if (!existsSync(path)) {
    if (!create) throw notAnIssuer(path);
    closeSync(openSync(path, "wx", 0o600));
    return;
  }
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      if (statSync(f).mode & 0o077) chmodSync(f, 0o600);
    } catch {
      // absent, or not ours to change: SQLite says so if it matters
    }
  }
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
/** A card's audit entries read per turn of the event loop (3–5 ms when each is in a different row). */
const TRAIL_PART = 100;

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
  /** FULL: the WAL file, synced by the store after commits. */
  private readonly path: string;
  private readonly syncs: boolean;
  private wal?: number;
  private syncing = false;
  private syncScheduled = false;
  /** Waiting for a sync that begins after their commit. */
  private unsynced: Waiter[] = [];
  private failed?: Error;
  private readonly create: boolean;
  created = false;

  constructor(path: string, opts: SqliteOptions = {}) {
    this.path = path;
    this.create = opts.create ?? true;
    prepareFile(path, this.create);
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
    const known = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
    if (!known && !this.create) throw notAnIssuer(this.path);
    this.db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
    this.db
      .transaction(() => {
        const current = (this.db.prepare("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations").get() as { v: number }).v;
        if (current === 0) this.created = true;
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
      // The log's rows after one that ends at an entry, oldest first.
      tail: db.prepare("SELECT first_id, at, entries FROM log WHERE first_id > ? ORDER BY first_id"),
      // An entry, taken out of its row by SQLite (parsing the whole row in JavaScript costs several times as much).
      entry: db.prepare(
        "SELECT at, entries -> CAST(@id - first_id AS INTEGER) AS entry FROM log WHERE first_id <= @id ORDER BY first_id DESC LIMIT 1",
      ),
      // The rows starting before an entry, newest first.
      batchesBefore: db.prepare("SELECT first_id, at, entries FROM log WHERE first_id < ? ORDER BY first_id DESC"),
      append: db.prepare("INSERT INTO log (first_id, at, entries) VALUES (?, ?, ?)"),
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
      insertToken: db.prepare("INSERT INTO api_tokens (id, hash, label, role, created_at) VALUES (?, ?, ?, ?, ?)"),
      token: db.prepare("SELECT id, hash, label, role, created_at FROM api_tokens WHERE hash = ?"),
      tokens: db.prepare("SELECT id, hash, label, role, created_at FROM api_tokens ORDER BY created_at, id"),
      deleteToken: db.prepare("DELETE FROM api_tokens WHERE id = ?"),
      meta: db.prepare("SELECT value FROM issuer_meta WHERE name = ?").pluck(),
      insertMeta: db.prepare("INSERT INTO issuer_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING"),
      deleteMeta: db.prepare("DELETE FROM issuer_meta WHERE name = ?"),
      cardIds: db.prepare("SELECT id FROM cards ORDER BY created_at, id").pluck(),
      link: db.prepare("SELECT issuer_seq, pair_epoch FROM card_link WHERE card_id = ?"),
      setLink: db.prepare(
        `INSERT INTO card_link (card_id, issuer_seq, pair_epoch) VALUES (?, ?, ?)
         ON CONFLICT (card_id) DO UPDATE SET issuer_seq = excluded.issuer_seq, pair_epoch = excluded.pair_epoch`,
      ),
      payment: db.prepare(`SELECT ${PAYMENT_COLUMNS} FROM payments WHERE id = ?`),
      insertPayment: db.prepare(`INSERT INTO payments (${PAYMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      updatePayment: db.prepare("UPDATE payments SET status = ?, failures = ?, updated_at = ? WHERE id = ?"),
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
    // logEnd is always the last entry of a row: rows are read and written whole.
    for (const row of this.st.tail.iterate(this.logEnd) as Iterable<BatchRow>) {
      const { first, entries } = parseBatch(row);
      entries.forEach((e, i) => this.replay(first + i, e));
      this.logEnd = first + entries.length - 1;
    }
    this.knownVersion = version;
  }

  private replay(id: number, e: LogEntry): void {
    const cardId = e[CARD];
    const cached = this.cards.get(cardId) ?? this.load(cardId);
    if (!cached) throw new Error(`the audit log names a card that is not in the cards table (entry ${id})`);
    // A card loaded after this entry was checkpointed has it already.
    if (id <= cached.head) return;
    const card = withState(cached.card, cached.card, cached.card.version);
    applyDelta(card, e[STATE]);
    cached.card = Object.freeze(card);
    cached.head = id;
    if (id > this.checkpointAt) this.dirty.add(cardId);
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

  async insertCard(card: CardRecord, audit: AuditEntry): Promise<boolean> {
    const c = card;
    const inserted = this.write(() => {
      const inserted = this.st.insertCard.run(
        c.id, c.pan, c.expiry, c.psn, c.mode, c.digits, c.algorithm, c.step, c.startCounter, c.createdAt, c.version,
        c.blocked ? 1 : 0, c.nextCounter, c.lastStep, c.drift, c.failures, c.lastFailureAt, c.resyncFailures, c.lastResyncFailureAt,
      );
      if (inserted.changes !== 1) return false;
      // The row holds the card's state and the head of its chain: nothing for the log to replay.
      const id = this.logEnd + 1;
      this.append(id, [logEntry(audit, 0, "")]);
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

  /**
   * A change (above) whose decision also reads and writes the card's link
   * state and a payment. It runs inside the batch's BEGIN IMMEDIATE, so the
   * reads are under the write lock (no other connection can commit between
   * them and the writes); the writes go in a savepoint, after the decision
   * has been checked, so that a refused decision writes nothing and the
   * batch's other changes stand.
   */
  changeLink<T>(
    cardId: string,
    paymentId: string | undefined,
    decide: (card: CardRecord, link: LinkState, payment: PaymentRecord | undefined) => LinkChange<T>,
  ): Promise<T | undefined> {
    return this.change(cardId, (card) => {
      const row = this.st.link.get(cardId) as Record<string, unknown> | undefined;
      const link: LinkState = { issuerSeq: Number(row?.issuer_seq ?? 0), pairEpoch: Number(row?.pair_epoch ?? 0) };
      const before = paymentId === undefined ? undefined : this.paymentOf(paymentId, cardId);
      const ch = decide(card, link, before);
      checkLinkChange(cardId, link, before, ch);
      if (ch.link || ch.payment) {
        this.db.transaction(() => {
          if (ch.link) this.st.setLink.run(cardId, ch.link.issuerSeq, ch.link.pairEpoch);
          const p = ch.payment;
          if (p && before) this.st.updatePayment.run(p.status, p.failures, p.updatedAt, p.id);
          else if (p) this.st.insertPayment.run(...paymentValues(p));
        })();
      }
      return ch;
    });
  }

  private paymentOf(id: string, cardId?: string): PaymentRecord | undefined {
    const r = this.st.payment.get(id) as Record<string, unknown> | undefined;
    const p = r && paymentFromRow(r);
    return p && (cardId === undefined || p.cardId === cardId) ? p : undefined;
  }

  async getPayment(id: string): Promise<PaymentRecord | undefined> {
    return this.paymentOf(id);
  }

  private readonly flush = (): void => {
    const batch = this.queue.splice(0, MAX_BATCH);
    if (batch.length === 0) return;
    if (this.queue.length > 0) setImmediate(this.flush);
    if (this.failed) return batch.forEach((p) => p.reject(this.failed));
    let outcomes: { value?: unknown; error?: unknown }[];
    try {
      outcomes = this.write(() => {
        // Caught up under the write lock, logEnd is the newest entry in the log.
        const first = this.logEnd + 1;
        const entries: LogEntry[] = [];
        const out = batch.map((p) => this.apply(p, first + entries.length, entries));
        if (entries.length > 0) this.append(first, entries);
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

  private append(first: number, entries: LogEntry[]): void {
    const { at, text } = encodeBatch(entries);
    this.st.append.run(first, at, text);
  }

  /**
   * One change inside the batch's transaction; its audit entry, numbered
   * `auditId`, goes onto `entries`. A failing decide skips only its own card
   * (and leaves `auditId` for the next); a failing write aborts the batch.
   */
  private apply(p: Pending, auditId: number, entries: LogEntry[]): { value?: unknown; error?: unknown } {
    const cached = this.cards.get(p.id) ?? this.load(p.id);
    if (!cached) return { value: undefined };
    const card = cached.card; // frozen: decide cannot touch what memory holds
    let ch: Change<unknown>;
    try {
      ch = p.decide(card);
      if (ch.audit ? ch.audit.cardId !== p.id : ch.state) throw new Error("a change must be audited under its own card");
    } catch (error) {
      return { error };
    }
    if (!ch.audit) return { value: ch.result }; // nothing to write: a refusal not audited
    const next = Object.freeze(withState(card, ch.state ?? card, card.version + 1));
    entries.push(logEntry(ch.audit, cached.head, encodeDelta(card, next)));
    cached.card = next;
    cached.head = auditId;
    this.dirty.add(p.id);
    this.logEnd = auditId;
    return { value: ch.result };
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

  async listAudit(q: AuditQuery): Promise<AuditRecord[]> {
    const cardId = q.cardId;
    if (cardId === undefined) return this.read(() => this.recent(q.beforeId ?? Number.MAX_SAFE_INTEGER, q.limit));
    let next = this.read(() => {
      if (q.beforeId === undefined) return (this.cards.get(cardId) ?? this.load(cardId))?.head ?? 0;
      const e = this.entryAt(q.beforeId);
      return e?.[CARD] === cardId ? e[PREV] : 0;
    });
    // Each entry costs a lookup and a parse, so a long trail is read a part per turn of the
    // event loop, leaving the verifications in between. Entries never change once written.
    const out: AuditRecord[] = [];
    for (;;) {
      next = this.trail(next, Math.min(out.length + TRAIL_PART, q.limit), out);
      if (next === 0 || out.length >= q.limit) return out;
      await new Promise(setImmediate);
    }
  }

  /** The entry numbered `id`, if there is one. */
  private entryAt(id: number): LogEntry | undefined {
    const row = this.st.entry.get({ id }) as { at: number; entry: string | null } | undefined;
    return row?.entry ? parseEntry(row.at, row.entry) : undefined;
  }

  /**
   * Follows a card's chain through prev_id from entry `id` back, adding
   * entries to `out` until it holds `limit`; returns the next entry to read
   * (0 at the card's first).
   */
  private trail(id: number, limit: number, out: AuditRecord[]): number {
    while (id > 0 && out.length < limit) {
      const e = this.entryAt(id);
      if (!e) throw new Error(`the audit log has no entry ${id}`);
      out.push(auditRecord(id, e));
      id = e[PREV];
    }
    return id;
  }

  /** All cards' entries before `before`, newest first. */
  private recent(before: number, limit: number): AuditRecord[] {
    const out: AuditRecord[] = [];
    for (const row of this.st.batchesBefore.iterate(before) as Iterable<BatchRow>) {
      const { first, entries } = parseBatch(row);
      for (let i = entries.length - 1; i >= 0 && out.length < limit; i--) if (first + i < before) out.push(auditRecord(first + i, entries[i]));
      if (out.length >= limit) break;
    }
    return out;
  }

  async insertToken(t: TokenRecord): Promise<void> {
    this.st.insertToken.run(t.id, t.hash, t.label, t.role, t.createdAt);
    await this.durable();
  }

  async findToken(hash: string): Promise<TokenRecord | undefined> {
    const r = this.st.token.get(hash) as Record<string, unknown> | undefined;
    return r && tokenFromRow(r);
  }

  async listTokens(): Promise<TokenRecord[]> {
    return (this.st.tokens.all() as Record<string, unknown>[]).map(tokenFromRow);
  }

  /**
   * PRAGMA data_version (it changes when another connection, such as
   * `inkcard issuer token revoke` in another process, commits) and this
   * connection's own token deletions. data_version is read at most once per
   * turn of the event loop: a request handled in a turn arrived before the
   * turn began, so a revoke that returned before the request was sent is
   * seen. Verifies on this connection do not change it; other processes'
   * commits do (the cache then looks tokens up again).
   */
  tokenEpoch(): number {
    if (this.dataVersionNow < 0) {
      this.dataVersionNow = this.st.dataVersion.get() as number;
      setImmediate(this.forgetDataVersion);
    }
    return this.tokenDeletions * 2 ** 32 + this.dataVersionNow;
  }

  private dataVersionNow = -1;
  private tokenDeletions = 0;
  private readonly forgetDataVersion = () => (this.dataVersionNow = -1);

  async deleteToken(id: string): Promise<boolean> {
    this.tokenDeletions++;
    const deleted = this.st.deleteToken.run(id).changes === 1;
    await this.durable();
    return deleted;
  }

  async getMeta(name: string): Promise<string | undefined> {
    return this.st.meta.get(name) as string | undefined;
  }

  async setMetaIfAbsent(name: string, value: string): Promise<string> {
    this.st.insertMeta.run(name, value);
    await this.durable();
    return this.st.meta.get(name) as string;
  }

  async deleteMeta(name: string): Promise<void> {
    this.st.deleteMeta.run(name);
    await this.durable();
  }

  async cardIds(): Promise<string[]> {
    return this.st.cardIds.all() as string[];
  }

  /**
   * A consistent copy of the database at `dest` (SQLite's online backup API:
   * committed changes only, the WAL's included), while the store serves.
   */
  async backup(dest: string): Promise<void> {
    // After the first 100 pages, the rest in one step: a step restarts if another process wrote meanwhile.
    await this.db.backup(dest, { progress: () => 1 << 30 });
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

function tokenFromRow(r: Record<string, unknown>): TokenRecord {
  return { id: r.id as string, hash: r.hash as string, label: r.label as string, role: r.role as Role, createdAt: Number(r.created_at) };
}
