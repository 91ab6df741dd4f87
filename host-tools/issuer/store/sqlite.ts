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

type Statements = ReturnType<SqliteStore["prepare"]>;

export class SqliteStore implements Store {
  readonly kind = "sqlite";
  private readonly db: Database.Database;
  private s?: Statements;
  private queue: Pending[] = [];

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
      card: db.prepare(`SELECT ${CARD_COLUMNS} FROM cards WHERE id = ?`),
      insertCard: db.prepare(
        `INSERT INTO cards (${CARD_COLUMNS}) VALUES (@id, @pan, @expiry, @psn, @mode, @digits, @algorithm, @step,
           @startCounter, @createdAt, @version, @blocked, @nextCounter, @lastStep, @drift, @failures, @lastFailureAt,
           @resyncFailures, @lastResyncFailureAt)
         ON CONFLICT (pan, psn) DO NOTHING`,
      ),
      update: db.prepare(
        `UPDATE cards SET version = version + 1, blocked = @blocked, next_counter = @nextCounter, last_step = @lastStep,
           drift = @drift, failures = @failures, last_failure_at = @lastFailureAt, resync_failures = @resyncFailures,
           last_resync_failure_at = @lastResyncFailureAt
         WHERE id = @id AND version = @version`,
      ),
      audit: db.prepare("INSERT INTO audit (at, card_id, event, outcome, caller, detail) VALUES (?, ?, ?, ?, ?, ?)"),
      insertToken: db.prepare("INSERT INTO api_tokens (id, hash, label, created_at) VALUES (?, ?, ?, ?)"),
      token: db.prepare("SELECT id, hash, label, created_at FROM api_tokens WHERE hash = ?"),
    };
  }

  private get st(): Statements {
    if (!this.s) throw new Error("store used before migrate()");
    return this.s;
  }

  private writeAudit(a: AuditEntry): void {
    this.st.audit.run(a.at, a.cardId, a.event, a.outcome, a.caller, a.detail ?? null);
  }

  async insertCard(card: CardRecord, audit: AuditEntry): Promise<boolean> {
    return this.db
      .transaction(() => {
        if (this.st.insertCard.run({ ...card, blocked: card.blocked ? 1 : 0 }).changes !== 1) return false;
        this.writeAudit(audit);
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
        for (const p of batch) outcomes.push(this.apply(p));
        this.st.commit.run();
      } catch (e) {
        if (this.db.inTransaction) this.st.rollback.run();
        throw e;
      }
    } catch (e) {
      for (const p of batch) p.reject(e);
      return;
    }
    batch.forEach((p, i) => ("error" in outcomes[i] ? p.reject(outcomes[i].error) : p.resolve(outcomes[i].value)));
  };

  /** One change inside the batch's transaction. A failing decide skips only its own card; a failing write aborts the batch. */
  private apply(p: Pending): { value?: unknown; error?: unknown } {
    const row = this.st.card.get(p.id) as Record<string, unknown> | undefined;
    if (!row) return { value: undefined };
    const card = cardFromRow(row);
    let ch: Change<unknown>;
    try {
      ch = p.decide(card);
    } catch (error) {
      return { error };
    }
    if (ch.state) {
      const s = ch.state;
      const r = this.st.update.run({ ...s, blocked: s.blocked ? 1 : 0, id: card.id, version: card.version });
      if (r.changes !== 1) throw new Error("card changed inside its own transaction");
    }
    this.writeAudit(ch.audit);
    return { value: ch.result };
  }

  async listAudit(q: AuditQuery): Promise<AuditRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.cardId !== undefined) {
      where.push("card_id = ?");
      args.push(q.cardId);
    }
    if (q.beforeId !== undefined) {
      where.push("id < ?");
      args.push(q.beforeId);
    }
    const sql = `SELECT id, at, card_id, event, outcome, caller, detail FROM audit
      ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY id DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args, q.limit) as Record<string, unknown>[]).map(auditFromRow);
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
