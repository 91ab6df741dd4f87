/**
 * The embedded store: one SQLite file in WAL mode (better-sqlite3).
 *
 * Changes are group-committed: every `change` requested during one turn of
 * the event loop runs in a single BEGIN IMMEDIATE ... COMMIT, and each
 * caller's promise resolves only after that COMMIT. A response is therefore
 * never sent for a verification that is not yet in the WAL, yet one commit
 * (one fsync with synchronous=FULL) serves a whole burst of requests.
 * BEGIN IMMEDIATE takes SQLite's write lock before reading the card, so
 * changes from other processes on the same file are serialised too.
 *
 * Inside that lock the batch reads cards from an in-memory copy of the rows
 * this connection last wrote or read, and appends all its audit entries with
 * a few multi-row INSERTs. The copy is dropped whenever PRAGMA data_version
 * says another connection has committed since (read under the write lock,
 * so nothing can commit between the check and our writes), and whenever a
 * batch rolls back; the UPDATE stays conditional on the card's version, so
 * even a stale copy could never apply a decision.
 */
import Database from "better-sqlite3";
import type { CardRecord } from "../card.ts";
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
   * FULL (default) fsyncs the WAL at every commit: an accepted verification
   * survives power loss. NORMAL survives a crash of the process (kill -9) but
   * may lose the last commits on power loss.
   */
  synchronous?: "FULL" | "NORMAL";
  /** How long to wait for another process's write lock. */
  busyTimeoutMs?: number;
}

interface Pending {
  id: string;
  decide: (card: CardRecord) => Change<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** Most changes per transaction: bounds the time the write lock is held. */
const MAX_BATCH = 1000;
/** Cards kept in memory between batches (a row is a few hundred bytes). */
const MAX_CACHED = 100_000;
/** Rows per multi-row audit INSERT, largest first; the last must be 1. */
const AUDIT_CHUNKS = [64, 8, 1];
const AUDIT_FIELDS = 8;

/** A card as this connection last wrote or read it, with the head of its audit chain. */
interface Cached {
  card: CardRecord;
  auditHead: number;
}

type Statements = ReturnType<SqliteStore["prepare"]>;

export class SqliteStore implements Store {
  readonly kind = "sqlite";
  private readonly db: Database.Database;
  private s?: Statements;
  private queue: Pending[] = [];
  private readonly cards = new Map<string, Cached>();
  /** PRAGMA data_version when `cards` was last known to match the database. */
  private cardsVersion = -1;
  private readonly auditInserts = new Map<number, Database.Statement>();

  constructor(path: string, opts: SqliteOptions = {}) {
    this.db = new Database(path);
    // First, so that switching to WAL also waits for a process that holds the lock.
    this.db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 10_000}`);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma(`synchronous = ${opts.synchronous === "NORMAL" ? "NORMAL" : "FULL"}`);
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
    this.s = this.prepare();
  }

  private prepare() {
    const db = this.db;
    return {
      begin: db.prepare("BEGIN IMMEDIATE"),
      commit: db.prepare("COMMIT"),
      rollback: db.prepare("ROLLBACK"),
      dataVersion: db.prepare("PRAGMA data_version").pluck(),
      // AUTOINCREMENT's next id: past every id ever used, even of deleted rows.
      lastAuditId: db
        .prepare("SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'audit'), 0), COALESCE((SELECT MAX(id) FROM audit), 0))")
        .pluck(),
      card: db.prepare(`SELECT ${CARD_COLUMNS}, last_audit_id FROM cards WHERE id = ?`),
      insertCard: db.prepare(
        `INSERT INTO cards (${CARD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (pan, psn) DO NOTHING`,
      ),
      update: db.prepare(
        `UPDATE cards SET version = version + 1, blocked = ?, next_counter = ?, last_step = ?, drift = ?, failures = ?,
           last_failure_at = ?, resync_failures = ?, last_resync_failure_at = ?, last_audit_id = ?
         WHERE id = ? AND version = ?`,
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
      head: db.prepare("SELECT last_audit_id AS id FROM cards WHERE id = ?"),
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

  /** Appends an entry after `prev` in its card's chain; returns its id. */
  private writeAudit(a: AuditEntry, prev: number): number {
    return Number(this.st.audit.run(a.at, a.cardId, a.event, a.outcome, a.caller, a.detail ?? null, prev).lastInsertRowid);
  }

  async insertCard(card: CardRecord, audit: AuditEntry): Promise<boolean> {
    const c = card;
    return this.db
      .transaction(() => {
        const inserted = this.st.insertCard.run(
          c.id, c.pan, c.expiry, c.psn, c.mode, c.digits, c.algorithm, c.step, c.startCounter, c.createdAt, c.version,
          c.blocked ? 1 : 0, c.nextCounter, c.lastStep, c.drift, c.failures, c.lastFailureAt, c.resyncFailures, c.lastResyncFailureAt,
        );
        if (inserted.changes !== 1) return false;
        this.st.linkAudit.run(this.writeAudit(audit, 0), c.id);
        return true;
      })
      .immediate();
  }

  async getCard(id: string): Promise<CardRecord | undefined> {
    const row = this.st.card.get(id) as Record<string, unknown> | undefined;
    return row && cardFromRow(row);
  }

  change<T>(id: string, decide: (card: CardRecord) => Change<T>): Promise<T | undefined> {
    this.st; // fail now, not in the flush, when used before migrate()
    return new Promise<T | undefined>((resolve, reject) => {
      this.queue.push({ id, decide, resolve: resolve as (v: unknown) => void, reject });
      if (this.queue.length === 1) setImmediate(this.flush);
    });
  }

  private readonly flush = (): void => {
    const batch = this.queue.splice(0, MAX_BATCH);
    if (batch.length === 0) return;
    if (this.queue.length > 0) setImmediate(this.flush);
    const outcomes: { value?: unknown; error?: unknown }[] = [];
    try {
      this.st.begin.run();
      try {
        const version = this.st.dataVersion.get() as number;
        if (version !== this.cardsVersion) {
          this.cards.clear();
          this.cardsVersion = version;
        }
        const audit: unknown[] = [];
        let auditId = this.st.lastAuditId.get() as number;
        for (const p of batch) outcomes.push(this.apply(p, ++auditId, audit));
        this.insertAudit(audit);
        this.st.commit.run();
      } catch (e) {
        if (this.db.inTransaction) this.st.rollback.run();
        this.cards.clear();
        this.cardsVersion = -1;
        throw e;
      }
    } catch (e) {
      for (const p of batch) p.reject(e);
      return;
    }
    batch.forEach((p, i) => ("error" in outcomes[i] ? p.reject(outcomes[i].error) : p.resolve(outcomes[i].value)));
  };

  /**
   * One change inside the batch's transaction; its audit entry, numbered
   * `auditId`, goes onto `audit` for insertAudit. A failing decide skips only
   * its own card (and leaves `auditId` unused); a failing write aborts the batch.
   */
  private apply(p: Pending, auditId: number, audit: unknown[]): { value?: unknown; error?: unknown } {
    const cached = this.cards.get(p.id) ?? this.load(p.id);
    if (!cached) return { value: undefined };
    const card = cached.card;
    let ch: Change<unknown>;
    try {
      ch = p.decide({ ...card }); // a copy: decide cannot touch the cached record
    } catch (error) {
      return { error };
    }
    const a = ch.audit;
    audit.push(auditId, a.at, a.cardId, a.event, a.outcome, a.caller, a.detail ?? null, cached.auditHead);
    // Written even when the state is unchanged: the card's chain gets its new head.
    const s = ch.state ?? card;
    const r = this.st.update.run(
      s.blocked ? 1 : 0, s.nextCounter, s.lastStep, s.drift, s.failures, s.lastFailureAt, s.resyncFailures, s.lastResyncFailureAt,
      auditId, card.id, card.version,
    );
    if (r.changes !== 1) throw new Error("card changed inside its own transaction");
    const next: CardRecord = {
      ...card, blocked: s.blocked, nextCounter: s.nextCounter, lastStep: s.lastStep, drift: s.drift, failures: s.failures,
      lastFailureAt: s.lastFailureAt, resyncFailures: s.resyncFailures, lastResyncFailureAt: s.lastResyncFailureAt, version: card.version + 1,
    };
    this.cards.set(card.id, { card: next, auditHead: auditId });
    return { value: ch.result };
  }

  private load(id: string): Cached | undefined {
    const row = this.st.card.get(id) as Record<string, unknown> | undefined;
    if (!row) return undefined;
    // Map keeps insertion order: dropping the first entry evicts the oldest.
    if (this.cards.size >= MAX_CACHED) this.cards.delete(this.cards.keys().next().value as string);
    const cached = { card: cardFromRow(row), auditHead: Number(row.last_audit_id) };
    this.cards.set(id, cached);
    return cached;
  }

  /** Appends a batch's audit rows (AUDIT_FIELDS values each, ids in order) with as few statements as the chunk sizes allow. */
  private insertAudit(values: unknown[]): void {
    let at = 0;
    for (const rows of AUDIT_CHUNKS) {
      const n = rows * AUDIT_FIELDS;
      for (; values.length - at >= n; at += n) this.auditInsert(rows).run(values.slice(at, at + n));
    }
  }

  private auditInsert(rows: number): Database.Statement {
    let st = this.auditInserts.get(rows);
    if (!st) {
      const row = `(${new Array(AUDIT_FIELDS).fill("?").join(", ")})`;
      st = this.db.prepare(`INSERT INTO audit (id, at, card_id, event, outcome, caller, detail, prev_id) VALUES ${new Array(rows).fill(row).join(", ")}`);
      this.auditInserts.set(rows, st);
    }
    return st;
  }

  async listAudit(q: AuditQuery): Promise<AuditRecord[]> {
    let rows: Record<string, unknown>[];
    if (q.cardId === undefined) {
      rows = this.st.recent.all(q.beforeId ?? Number.MAX_SAFE_INTEGER, q.limit) as Record<string, unknown>[];
    } else {
      const start = (q.beforeId === undefined ? this.st.head.get(q.cardId) : this.st.prevOf.get(q.beforeId, q.cardId)) as { id: number } | undefined;
      rows = start ? (this.st.chain.all(start.id, q.limit) as Record<string, unknown>[]) : [];
    }
    return rows.map(auditFromRow);
  }

  async insertToken(t: TokenRecord): Promise<void> {
    this.st.insertToken.run(t.id, t.hash, t.label, t.createdAt);
  }

  async findToken(hash: string): Promise<TokenRecord | undefined> {
    const r = this.st.token.get(hash) as Record<string, unknown> | undefined;
    return r && { id: r.id as string, hash: r.hash as string, label: r.label as string, createdAt: Number(r.created_at) };
  }

  async close(): Promise<void> {
    while (this.queue.length > 0) this.flush();
    if (this.db.open) this.db.close();
  }
}
