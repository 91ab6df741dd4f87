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
 * The cards as the log has them are held in memory (store/sqlite-cache.ts),
 * which catches up with other connections' commits through PRAGMA
 * data_version and, when the store opens, replays the log after the
 * checkpoint: that is how a crash is recovered.
 *
 * Changes are group-committed: the changes requested during one turn of
 * the event loop (up to MAX_BATCH) run in a single BEGIN IMMEDIATE ...
 * COMMIT. BEGIN IMMEDIATE takes SQLite's write lock before reading the card,
 * so changes from other processes on the same file are serialised too.
 *
 * Durability (synchronous FULL, the default) is the store's own fdatasync
 * of the WAL after COMMIT (store/sqlite-durability.ts): a change resolves
 * only once it is on disk, and a failed sync fails the store. The
 * statements and the reads of the audit trail are in store/sqlite-queries.ts.
 * The issuance table's few writes (issuance.ts) are not batched: each runs
 * in a BEGIN IMMEDIATE ... COMMIT of its own and resolves, as a change
 * does, once the WAL holding it is synced.
 */
import Database from "better-sqlite3";
import { chmodSync, closeSync, existsSync, openSync, statSync } from "node:fs";
import type { CardRecord } from "../card.ts";
import { encodeDelta } from "./delta.ts";
import { CARD, encodeBatch, logEntry, PREV, type LogEntry } from "./log.ts";
import { notAnIssuer } from "./open.ts";
import { LATEST_VERSION, MIGRATIONS } from "./schema.ts";
import { CardCache, withState } from "./sqlite-cache.ts";
import { WalSync } from "./sqlite-durability.ts";
import { entryAt, prepareStatements, recent, trail, type Statements } from "./sqlite-queries.ts";
import {
  cardValues,
  checkLinkChange,
  checkPersonalChange,
  DuplicateCard,
  issuanceFromRow,
  paymentFromRow,
  paymentValues,
  sessionFromRow,
  sessionValues,
  slotFromRow,
  slotValues,
  tokenFromRow,
  type AuditEntry,
  type AuditQuery,
  type AuditRecord,
  type Change,
  type IssuanceRow,
  type LinkChange,
  type LinkState,
  type PaymentRecord,
  type PersonalChange,
  type PersonalContext,
  type PersonalSession,
  type SlotState,
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
/**
 * Log entries between checkpoints. It bounds the cards held in memory for
 * being changed since the checkpoint, and the replay when the store opens
 * (a few hundred milliseconds at most).
 */
const CHECKPOINT_ROWS = 50_000;
/** A card's audit entries read per turn of the event loop (3–5 ms when each is in a different row). */
const TRAIL_PART = 100;

export class SqliteStore implements Store {
  readonly kind = "sqlite";
  private readonly db: Database.Database;
  private readonly checkpointRows: number;
  private s?: Statements;
  /** The cards in memory; made with the statements, by migrate(). */
  private c?: CardCache;
  private queue: Pending[] = [];
  private readonly path: string;
  /** FULL: the WAL file, synced by the store after commits. */
  private readonly walSync: WalSync;
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
    this.walSync = new WalSync(path, wal && opts.synchronous !== "NORMAL");
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
    this.s ??= prepareStatements(this.db);
    this.c ??= new CardCache(this.s);
    this.c.forget();
    this.read(() => this.cache.catchUp());
    // A migration just committed needs no sync of its own: the next change's fdatasync covers the whole WAL.
    this.walSync.open();
  }

  /**
   * Resolves once everything this connection has committed is on disk
   * (FULL), or at once (NORMAL). Rejects when a sync failed.
   */
  private durable(): Promise<void> {
    return this.walSync.durable();
  }

  private get st(): Statements {
    if (!this.s) throw new Error("store used before migrate()");
    return this.s;
  }

  private get cache(): CardCache {
    if (!this.c) throw new Error("store used before migrate()");
    return this.c;
  }

  /** Runs fn in a read transaction after catching up: it sees one snapshot that memory matches. */
  private read<T>(fn: () => T): T {
    this.st.beginRead.run();
    try {
      this.cache.catchUp();
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
      const id = this.cache.logEnd + 1;
      this.append(id, [logEntry(audit, 0, "")]);
      this.st.linkAudit.run(id, c.id);
      this.cache.logEnd = id;
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
      this.cache.catchUp();
      const result = fn();
      const checkpoint = this.cache.logEnd - this.cache.checkpointAt >= this.checkpointRows;
      if (checkpoint) this.cache.checkpoint();
      this.st.commit.run();
      if (checkpoint) this.copyWal();
      return result;
    } catch (e) {
      if (this.db.inTransaction) this.st.rollback.run();
      this.cache.forget();
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

  async getCard(id: string): Promise<CardRecord | undefined> {
    return this.read(() => {
      const cached = this.cache.get(id);
      return cached && { ...cached.card };
    });
  }

  change<T>(id: string, decide: (card: CardRecord) => Change<T>): Promise<T | undefined> {
    this.st; // fail now, not in the flush, when used before migrate()
    if (this.walSync.failed) return Promise.reject(this.walSync.failed);
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

  /**
   * A change (above) whose decision also reads and writes the card's link
   * state, a slot, a session, and inserts a profile card, as changeLink
   * does: reads under the batch's write lock, writes in a savepoint once the
   * decision is checked. The profile card's row is written whole (its state
   * is its first): the log has nothing of it to replay until it changes.
   */
  changePersonal<T>(
    cardId: string,
    slot: number,
    sessionId: string | undefined,
    decide: (card: CardRecord, ctx: PersonalContext) => PersonalChange<T>,
  ): Promise<T | undefined> {
    return this.change(cardId, (card) => {
      const row = this.st.link.get(cardId) as Record<string, unknown> | undefined;
      const slotRow = this.st.slot.get(cardId, slot) as Record<string, unknown> | undefined;
      const sessionRow = sessionId === undefined ? undefined : (this.st.session.get(sessionId) as Record<string, unknown> | undefined);
      const session = sessionRow && sessionFromRow(sessionRow);
      const slotState = slotRow && slotFromRow(slotRow);
      const ctx: PersonalContext = {
        link: { issuerSeq: Number(row?.issuer_seq ?? 0), pairEpoch: Number(row?.pair_epoch ?? 0) },
        slot: slotState,
        session: session && session.cardId === cardId ? session : undefined,
        pendingCard: slotState?.pendingCardId ? this.cache.get(slotState.pendingCardId)?.card : undefined,
      };
      const ch = decide(card, ctx);
      checkPersonalChange(cardId, slot, ctx, ch);
      if (ch.link || ch.slot || ch.session || ch.profileCard) {
        this.db.transaction(() => {
          if (ch.link) this.st.setLink.run(cardId, ch.link.issuerSeq, ch.link.pairEpoch);
          if (ch.profileCard && this.st.insertCard.run(...cardValues(ch.profileCard, (b) => (b ? 1 : 0))).changes !== 1) throw new DuplicateCard();
          if (ch.slot) this.st.setSlot.run(...slotValues(ch.slot));
          const x = ch.session;
          if (x && ctx.session) this.st.updateSession.run(x.confirmNonce, x.state, x.failures, x.generation, x.updatedAt, x.id, cardId);
          else if (x) this.st.insertSession.run(...sessionValues(x));
        })();
      }
      return ch;
    });
  }

  async getSession(id: string): Promise<PersonalSession | undefined> {
    const r = this.st.session.get(id) as Record<string, unknown> | undefined;
    return r && sessionFromRow(r);
  }

  async putSession(s: PersonalSession): Promise<void> {
    if (s.cardId !== "") throw new Error("a card's session is written by changePersonal");
    // A transaction of its own, durable before it resolves, as an issuance write.
    await this.issuanceWrite(() => {
      if (this.st.updateSession.run(s.confirmNonce, s.state, s.failures, s.generation, s.updatedAt, s.id, "").changes === 0) {
        this.st.insertSession.run(...sessionValues(s));
      }
    });
  }

  async getSlot(cardId: string, slot: number): Promise<SlotState | undefined> {
    const r = this.st.slot.get(cardId, slot) as Record<string, unknown> | undefined;
    return r && slotFromRow(r);
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
    if (this.walSync.failed) return batch.forEach((p) => p.reject(this.walSync.failed));
    let outcomes: { value?: unknown; error?: unknown }[];
    try {
      outcomes = this.write(() => {
        // Caught up under the write lock, logEnd is the newest entry in the log.
        const first = this.cache.logEnd + 1;
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
    if (!this.walSync.syncs) return settle();
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
    const cache = this.cache;
    const cached = cache.get(p.id);
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
    cache.dirty.add(p.id);
    cache.logEnd = auditId;
    return { value: ch.result };
  }

  async listAudit(q: AuditQuery): Promise<AuditRecord[]> {
    const cardId = q.cardId;
    if (cardId === undefined) return this.read(() => recent(this.st, q.beforeId ?? Number.MAX_SAFE_INTEGER, q.limit));
    let next = this.read(() => {
      if (q.beforeId === undefined) return this.cache.get(cardId)?.head ?? 0;
      const e = entryAt(this.st, q.beforeId);
      return e?.[CARD] === cardId ? e[PREV] : 0;
    });
    // Each entry costs a lookup and a parse, so a long trail is read a part per turn of the
    // event loop, leaving the verifications in between. Entries never change once written.
    const out: AuditRecord[] = [];
    for (;;) {
      next = trail(this.st, next, Math.min(out.length + TRAIL_PART, q.limit), out);
      if (next === 0 || out.length >= q.limit) return out;
      await new Promise(setImmediate);
    }
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

  async getIssuance(cardId: string): Promise<IssuanceRow | undefined> {
    const r = this.st.issuance.get(cardId) as Record<string, unknown> | undefined;
    return r && issuanceFromRow(r);
  }

  async chipIssuance(chipSerial: string): Promise<IssuanceRow[]> {
    return (this.st.chipIssuance.all(chipSerial) as Record<string, unknown>[]).map(issuanceFromRow);
  }

  async issuedCards(): Promise<IssuanceRow[]> {
    return (this.st.issuedCards.all() as Record<string, unknown>[]).map(issuanceFromRow);
  }

  insertPendingIssuance(r: { cardId: string; chipSerial: string; firmware: string; at: number }): Promise<boolean> {
    return this.issuanceWrite(() => this.st.insertPendingIssuance.run(r.cardId, r.chipSerial, r.firmware, r.at, r.at).changes === 1);
  }

  async setIssuanceDigest(cardId: string, digest: string, at: number): Promise<void> {
    await this.issuanceWrite(() => this.st.setIssuanceDigest.run(digest, at, cardId));
  }

  async abandonIssuance(cardId: string, at: number): Promise<void> {
    await this.issuanceWrite(() => this.st.abandonIssuance.run(at, cardId));
  }

  promoteIssuance(cardId: string, chipSerial: string, at: number): Promise<boolean> {
    return this.issuanceWrite(() => {
      this.st.replaceIssued.run(at, chipSerial, cardId);
      return this.st.promoteIssuance.run(at, cardId).changes === 1;
    });
  }

  /**
   * An issuance write: fn in a transaction of its own under the write lock
   * (write()), resolving once it is durable, as a change. A store whose
   * sync failed refuses it before writing.
   */
  private async issuanceWrite<T>(fn: () => T): Promise<T> {
    if (this.walSync.failed) throw this.walSync.failed;
    const result = this.write(fn);
    await this.durable();
    return result;
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
    const c = this.c;
    if (c && this.db.open && !this.walSync.failed && c.dirty.size > 0) this.write(() => c.checkpoint());
    await this.durable().catch(() => {}); // the changes it failed have been rejected
    this.walSync.close();
    if (this.db.open) this.db.close();
  }
}
