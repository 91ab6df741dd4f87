/**
 * The store for several issuer processes on one PostgreSQL database.
 *
 * A change locks the card's row (SELECT ... FOR UPDATE) for the length of
 * its transaction, so requests for one card are serialised across every
 * process, and writes with a conditional UPDATE on the version. COMMIT
 * returns once the WAL is flushed (synchronous_commit = on, the default).
 * The issuance table's writes (issuance.ts) run one after another across
 * every process, each in a transaction under an advisory lock.
 */
import pg from "pg";
import type { CardRecord } from "../card.ts";
import { encodeDelta } from "./delta.ts";
import { notAnIssuer } from "./open.ts";
import { LATEST_VERSION, MIGRATIONS } from "./schema.ts";
import {
  auditFromRow,
  CARD_COLUMNS,
  cardFromRow,
  cardValues,
  checkLinkChange,
  checkPersonalChange,
  DuplicateCard,
  ISSUANCE_COLUMNS,
  issuanceFromRow,
  PAYMENT_COLUMNS,
  paymentFromRow,
  paymentValues,
  SESSION_COLUMNS,
  sessionFromRow,
  sessionValues,
  SLOT_COLUMNS,
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

/** BIGINT columns as numbers: every value the issuer stores is below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === pg.types.builtins.INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** Key of the advisory lock that serialises migrations run by several processes at once. */
const MIGRATION_LOCK = 0x696e6b63; // "inkc"
/** Key of the advisory lock that serialises the issuance table's writes (the key they have always taken). */
const ISSUANCE_LOCK = 1769632617;

const SELECT_FOR_UPDATE = { name: "card_for_update", text: `SELECT ${CARD_COLUMNS}, last_audit_id FROM cards WHERE id = $1 FOR UPDATE` };
const UPDATE_STATE = {
  name: "card_update",
  text: `UPDATE cards SET version = version + 1, blocked = $3, next_counter = $4, last_step = $5, drift = $6,
           failures = $7, last_failure_at = $8, resync_failures = $9, last_resync_failure_at = $10, last_audit_id = $11
         WHERE id = $1 AND version = $2`,
};
const INSERT_AUDIT = {
  name: "audit_insert",
  text: "INSERT INTO audit (at, card_id, event, outcome, caller, detail, prev_id, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
};
/** A card's trail, newest first, walking prev_id from $1; evaluated only as far as LIMIT fetches. */
const CHAIN = `WITH RECURSIVE chain AS (
    SELECT id, at, card_id, event, outcome, caller, detail, prev_id FROM audit WHERE id = $1
    UNION ALL
    SELECT a.id, a.at, a.card_id, a.event, a.outcome, a.caller, a.detail, a.prev_id FROM audit a JOIN chain c ON a.id = c.prev_id
  )
  SELECT id, at, card_id, event, outcome, caller, detail FROM chain LIMIT $2`;

export interface PostgresOptions {
  /** Connections in this process's pool. */
  poolSize?: number;
  /** Make the issuer's tables in a database that has none (default true); see OpenOptions.create. */
  create?: boolean | undefined;
}

export class PostgresStore implements Store {
  readonly kind = "postgres";
  private readonly pool: pg.Pool;
  private readonly create: boolean;
  private readonly name: string;
  created = false;

  constructor(url: string, opts: PostgresOptions = {}) {
    this.create = opts.create ?? true;
    this.name = `PostgreSQL database ${new URL(url).pathname.slice(1) || "(default)"}`; // never the URL: it may hold a password
    this.pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 20, types });
    // An idle connection dropped by the server must not crash the process;
    // the next query on the pool gets a fresh connection or its own error.
    this.pool.on("error", () => {});
  }

  /** Runs fn in a transaction on one pooled connection; a connection that failed is discarded, not reused. */
  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await c.query("BEGIN");
      const result = await fn(c);
      await c.query("COMMIT");
      return result;
    } catch (e) {
      await c.query("ROLLBACK").catch((err: Error) => (broken = err));
      throw e;
    } finally {
      c.release(broken);
    }
  }

  async migrate(): Promise<void> {
    await this.tx(async (c) => {
      await c.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
      const known = (await c.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS known")).rows[0].known as boolean;
      if (!known && !this.create) throw notAnIssuer(this.name);
      await c.query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)");
      const current = Number((await c.query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")).rows[0].v);
      if (current > LATEST_VERSION) {
        throw new Error(`database schema version ${current} is newer than this issuer's (${LATEST_VERSION})`);
      }
      if (current === 0) this.created = true;
      for (const m of MIGRATIONS) {
        if (m.version <= current) continue;
        if (m.postgres) await c.query(m.postgres);
        await c.query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", [m.version, Date.now()]);
      }
    });
  }

  /** Appends an entry after `prev` in its card's chain, with what it did to the card (delta.ts); returns its id. */
  private async writeAudit(c: pg.PoolClient, a: AuditEntry, prev: number, state: string | null): Promise<number> {
    const r = await c.query({ ...INSERT_AUDIT, values: [a.at, a.cardId, a.event, a.outcome, a.caller, a.detail ?? null, prev, state] });
    return Number(r.rows[0].id);
  }

  async insertCard(card: CardRecord, audit: AuditEntry): Promise<boolean> {
    return this.tx(async (c) => {
      const r = await c.query(
        `INSERT INTO cards (${CARD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
         ON CONFLICT (pan, psn) DO NOTHING`,
        [
          card.id, card.pan, card.expiry, card.psn, card.mode, card.digits, card.algorithm, card.step, card.startCounter,
          card.createdAt, card.version, card.blocked, card.nextCounter, card.lastStep, card.drift, card.failures,
          card.lastFailureAt, card.resyncFailures, card.lastResyncFailureAt,
        ],
      );
      if (r.rowCount !== 1) return false;
      await c.query("UPDATE cards SET last_audit_id = $1 WHERE id = $2", [await this.writeAudit(c, audit, 0, null), card.id]);
      return true;
    });
  }

  async getCard(id: string): Promise<CardRecord | undefined> {
    const r = await this.pool.query(`SELECT ${CARD_COLUMNS} FROM cards WHERE id = $1`, [id]);
    return r.rows[0] && cardFromRow(r.rows[0]);
  }

  change<T>(id: string, decide: (card: CardRecord) => Change<T>): Promise<T | undefined> {
    return this.tx(async (c) => {
      const r = await c.query({ ...SELECT_FOR_UPDATE, values: [id] });
      if (r.rows.length === 0) return undefined;
      const card = cardFromRow(r.rows[0]);
      return this.commit(c, card, Number(r.rows[0].last_audit_id), decide(card));
    });
  }

  /** Writes a decision on `card` (locked by this transaction): its audit entry, then its state. */
  private async commit<T>(c: pg.PoolClient, card: CardRecord, lastAuditId: number, ch: Change<T>): Promise<T> {
    const id = card.id;
    if (!ch.audit) {
      if (ch.state) throw new Error("a change must be audited under its own card");
      return ch.result; // nothing to write: a refusal not audited
    }
    if (ch.audit.cardId !== id) throw new Error("a change must be audited under its own card");
    // Written even when the state is unchanged: the card's chain gets its new head.
    const s = ch.state ?? card;
    const delta = encodeDelta(card, { ...s, version: card.version + 1 });
    const auditId = await this.writeAudit(c, ch.audit, lastAuditId, delta);
    const u = await c.query({
      ...UPDATE_STATE,
      values: [card.id, card.version, s.blocked, s.nextCounter, s.lastStep, s.drift, s.failures, s.lastFailureAt,
        s.resyncFailures, s.lastResyncFailureAt, auditId],
    });
    if (u.rowCount !== 1) throw new Error("card changed inside its own transaction");
    return ch.result;
  }

  /** As change, the card's row locked first: every link change of a card is serialised on it, in every process. */
  changeLink<T>(
    cardId: string,
    paymentId: string | undefined,
    decide: (card: CardRecord, link: LinkState, payment: PaymentRecord | undefined) => LinkChange<T>,
  ): Promise<T | undefined> {
    return this.tx(async (c) => {
      const r = await c.query({ ...SELECT_FOR_UPDATE, values: [cardId] });
      if (r.rows.length === 0) return undefined;
      const card = cardFromRow(r.rows[0]);
      const l = (await c.query({ name: "link", text: "SELECT issuer_seq, pair_epoch FROM card_link WHERE card_id = $1", values: [cardId] })).rows[0];
      const link: LinkState = { issuerSeq: Number(l?.issuer_seq ?? 0), pairEpoch: Number(l?.pair_epoch ?? 0) };
      let before: PaymentRecord | undefined;
      if (paymentId !== undefined) {
        const p = (await c.query({ name: "payment", text: `SELECT ${PAYMENT_COLUMNS} FROM payments WHERE id = $1 AND card_id = $2`, values: [paymentId, cardId] })).rows[0];
        before = p && paymentFromRow(p);
      }
      const ch = decide(card, link, before);
      checkLinkChange(cardId, link, before, ch);
      if (ch.link) {
        await c.query(
          `INSERT INTO card_link (card_id, issuer_seq, pair_epoch) VALUES ($1, $2, $3)
           ON CONFLICT (card_id) DO UPDATE SET issuer_seq = excluded.issuer_seq, pair_epoch = excluded.pair_epoch`,
          [cardId, ch.link.issuerSeq, ch.link.pairEpoch],
        );
      }
      const p = ch.payment;
      if (p && before) await c.query("UPDATE payments SET status = $1, failures = $2, updated_at = $3 WHERE id = $4", [p.status, p.failures, p.updatedAt, p.id]);
      else if (p) await c.query(`INSERT INTO payments (${PAYMENT_COLUMNS}) VALUES (${paymentValues(p).map((_, i) => `$${i + 1}`).join(", ")})`, paymentValues(p));
      return this.commit(c, card, Number(r.rows[0].last_audit_id), ch);
    });
  }

  /**
   * As changeLink, for personalisation: the base card's row locked first,
   * so every change of its slots and sessions is serialised on it. The
   * profile card is inserted in the same transaction (a taken PAN rolls it
   * all back: DuplicateCard).
   */
  changePersonal<T>(
    cardId: string,
    slot: number,
    sessionId: string | undefined,
    decide: (card: CardRecord, ctx: PersonalContext) => PersonalChange<T>,
  ): Promise<T | undefined> {
    return this.tx(async (c) => {
      const r = await c.query({ ...SELECT_FOR_UPDATE, values: [cardId] });
      if (r.rows.length === 0) return undefined;
      const card = cardFromRow(r.rows[0]);
      const l = (await c.query({ name: "link", text: "SELECT issuer_seq, pair_epoch FROM card_link WHERE card_id = $1", values: [cardId] })).rows[0];
      const sr = (await c.query({ name: "slot", text: `SELECT ${SLOT_COLUMNS} FROM card_slots WHERE card_id = $1 AND slot = $2`, values: [cardId, slot] })).rows[0];
      const slotState = sr && slotFromRow(sr);
      let session: PersonalSession | undefined;
      if (sessionId !== undefined) {
        const x = (await c.query({ name: "session", text: `SELECT ${SESSION_COLUMNS} FROM personal_sessions WHERE id = $1 AND card_id = $2`, values: [sessionId, cardId] })).rows[0];
        session = x && sessionFromRow(x);
      }
      let pendingCard: CardRecord | undefined;
      if (slotState?.pendingCardId) {
        const p = (await c.query(`SELECT ${CARD_COLUMNS} FROM cards WHERE id = $1`, [slotState.pendingCardId])).rows[0];
        pendingCard = p && cardFromRow(p);
      }
      const ctx: PersonalContext = { link: { issuerSeq: Number(l?.issuer_seq ?? 0), pairEpoch: Number(l?.pair_epoch ?? 0) }, slot: slotState, session, pendingCard };
      const ch = decide(card, ctx);
      checkPersonalChange(cardId, slot, ctx, ch);
      if (ch.link) {
        await c.query(
          `INSERT INTO card_link (card_id, issuer_seq, pair_epoch) VALUES ($1, $2, $3)
           ON CONFLICT (card_id) DO UPDATE SET issuer_seq = excluded.issuer_seq, pair_epoch = excluded.pair_epoch`,
          [cardId, ch.link.issuerSeq, ch.link.pairEpoch],
        );
      }
      if (ch.profileCard) {
        const v = cardValues(ch.profileCard, (b) => b);
        const ins = await c.query(`INSERT INTO cards (${CARD_COLUMNS}) VALUES (${v.map((_, i) => `$${i + 1}`).join(", ")}) ON CONFLICT (pan, psn) DO NOTHING`, v);
        if (ins.rowCount !== 1) throw new DuplicateCard();
      }
      if (ch.slot) {
        const v = slotValues(ch.slot);
        await c.query(
          `INSERT INTO card_slots (${SLOT_COLUMNS}) VALUES (${v.map((_, i) => `$${i + 1}`).join(", ")})
           ON CONFLICT (card_id, slot) DO UPDATE SET generation = excluded.generation, salt = excluded.salt, profile_card_id = excluded.profile_card_id,
             pending_generation = excluded.pending_generation, pending_salt = excluded.pending_salt, pending_card_id = excluded.pending_card_id,
             pending_application = excluded.pending_application, updated_at = excluded.updated_at`,
          v,
        );
      }
      const x = ch.session;
      if (x && session) await this.updateSession(c, x, cardId);
      else if (x) await this.insertSession(c, x);
      return this.commit(c, card, Number(r.rows[0].last_audit_id), ch);
    });
  }

  private updateSession(c: pg.PoolClient | pg.Pool, x: PersonalSession, cardId: string): Promise<pg.QueryResult> {
    return c.query("UPDATE personal_sessions SET confirm_nonce = $1, state = $2, failures = $3, generation = $4, updated_at = $5 WHERE id = $6 AND card_id = $7", [
      x.confirmNonce, x.state, x.failures, x.generation, x.updatedAt, x.id, cardId,
    ]);
  }

  private insertSession(c: pg.PoolClient | pg.Pool, x: PersonalSession): Promise<pg.QueryResult> {
    const v = sessionValues(x);
    return c.query(`INSERT INTO personal_sessions (${SESSION_COLUMNS}) VALUES (${v.map((_, i) => `$${i + 1}`).join(", ")})`, v);
  }

  async getSession(id: string): Promise<PersonalSession | undefined> {
    const r = await this.pool.query(`SELECT ${SESSION_COLUMNS} FROM personal_sessions WHERE id = $1`, [id]);
    return r.rows[0] && sessionFromRow(r.rows[0]);
  }

  async putSession(s: PersonalSession): Promise<void> {
    if (s.cardId !== "") throw new Error("a card's session is written by changePersonal");
    if ((await this.updateSession(this.pool, s, "")).rowCount === 0) await this.insertSession(this.pool, s);
  }

  async getSlot(cardId: string, slot: number): Promise<SlotState | undefined> {
    const r = await this.pool.query(`SELECT ${SLOT_COLUMNS} FROM card_slots WHERE card_id = $1 AND slot = $2`, [cardId, slot]);
    return r.rows[0] && slotFromRow(r.rows[0]);
  }

  async getPayment(id: string): Promise<PaymentRecord | undefined> {
    const r = await this.pool.query(`SELECT ${PAYMENT_COLUMNS} FROM payments WHERE id = $1`, [id]);
    return r.rows[0] && paymentFromRow(r.rows[0]);
  }

  async listAudit(q: AuditQuery): Promise<AuditRecord[]> {
    if (q.cardId === undefined) {
      const r = await this.pool.query(
        "SELECT id, at, card_id, event, outcome, caller, detail FROM audit WHERE id < $1 ORDER BY id DESC LIMIT $2",
        [q.beforeId ?? Number.MAX_SAFE_INTEGER, q.limit],
      );
      return r.rows.map(auditFromRow);
    }
    const start =
      q.beforeId === undefined
        ? await this.pool.query("SELECT last_audit_id AS id FROM cards WHERE id = $1", [q.cardId])
        : await this.pool.query("SELECT prev_id AS id FROM audit WHERE id = $1 AND card_id = $2", [q.beforeId, q.cardId]);
    if (start.rows.length === 0) return [];
    return (await this.pool.query(CHAIN, [start.rows[0].id, q.limit])).rows.map(auditFromRow);
  }

  async insertToken(t: TokenRecord): Promise<void> {
    await this.pool.query("INSERT INTO api_tokens (id, hash, label, role, created_at) VALUES ($1, $2, $3, $4, $5)", [
      t.id, t.hash, t.label, t.role, t.createdAt,
    ]);
  }

  /** Read on every request (no tokenEpoch, so no cache: a revoke holds from the next request, in every process). */
  async findToken(hash: string): Promise<TokenRecord | undefined> {
    const r = await this.pool.query({ name: "token", text: "SELECT id, hash, label, role, created_at FROM api_tokens WHERE hash = $1", values: [hash] });
    return r.rows[0] && tokenFromRow(r.rows[0]);
  }

  async listTokens(): Promise<TokenRecord[]> {
    return (await this.pool.query("SELECT id, hash, label, role, created_at FROM api_tokens ORDER BY created_at, id")).rows.map(tokenFromRow);
  }

  async deleteToken(id: string): Promise<boolean> {
    return (await this.pool.query("DELETE FROM api_tokens WHERE id = $1", [id])).rowCount === 1;
  }

  async getMeta(name: string): Promise<string | undefined> {
    return (await this.pool.query("SELECT value FROM issuer_meta WHERE name = $1", [name])).rows[0]?.value;
  }

  async setMetaIfAbsent(name: string, value: string): Promise<string> {
    await this.pool.query("INSERT INTO issuer_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", [name, value]);
    return (await this.getMeta(name))!;
  }

  async deleteMeta(name: string): Promise<void> {
    await this.pool.query("DELETE FROM issuer_meta WHERE name = $1", [name]);
  }

  async cardIds(): Promise<string[]> {
    return (await this.pool.query("SELECT id FROM cards ORDER BY created_at, id")).rows.map((r) => r.id as string);
  }

  async getIssuance(cardId: string): Promise<IssuanceRow | undefined> {
    return (await this.issuance("card_id = $1", [cardId]))[0];
  }

  chipIssuance(chipSerial: string): Promise<IssuanceRow[]> {
    return this.issuance("chip_serial = $1 AND state IN ('pending', 'issued')", [chipSerial]);
  }

  issuedCards(): Promise<IssuanceRow[]> {
    return this.issuance("state = 'issued'", []);
  }

  private async issuance(where: string, values: unknown[]): Promise<IssuanceRow[]> {
    const r = await this.pool.query(`SELECT ${ISSUANCE_COLUMNS} FROM issuance WHERE ${where} ORDER BY created_at, card_id`, values);
    return r.rows.map(issuanceFromRow);
  }

  /** The unique indexes refuse a second pending card of a chip: DO NOTHING, no row. */
  insertPendingIssuance(r: { cardId: string; chipSerial: string; firmware: string; at: number }): Promise<boolean> {
    return this.issuanceTx(async (c) => {
      const q = await c.query(`INSERT INTO issuance (${ISSUANCE_COLUMNS}) VALUES ($1, $2, 'pending', '', $3, $4, $5) ON CONFLICT DO NOTHING`, [
        r.cardId, r.chipSerial, r.firmware, r.at, r.at,
      ]);
      return q.rowCount === 1;
    });
  }

  async setIssuanceDigest(cardId: string, digest: string, at: number): Promise<void> {
    await this.issuanceTx((c) => c.query("UPDATE issuance SET digest = $1, updated_at = $2 WHERE card_id = $3 AND state = 'pending'", [digest, at, cardId]));
  }

  async abandonIssuance(cardId: string, at: number): Promise<void> {
    await this.issuanceTx((c) => c.query("UPDATE issuance SET state = 'void', updated_at = $1 WHERE card_id = $2 AND state = 'pending'", [at, cardId]));
  }

  promoteIssuance(cardId: string, chipSerial: string, at: number): Promise<boolean> {
    return this.issuanceTx(async (c) => {
      await c.query(
        `UPDATE issuance SET state = 'replaced', updated_at = $1 WHERE chip_serial = $2 AND state = 'issued'
           AND EXISTS (SELECT 1 FROM issuance WHERE card_id = $3 AND state = 'pending')`,
        [at, chipSerial, cardId],
      );
      return (await c.query("UPDATE issuance SET state = 'issued', updated_at = $1 WHERE card_id = $2 AND state = 'pending'", [at, cardId])).rowCount === 1;
    });
  }

  /**
   * An issuance write in a transaction under ISSUANCE_LOCK: the writes of
   * every process run one after another, so a promotion's two steps see the
   * pending row as no abandon in between could leave it.
   */
  private issuanceTx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.tx(async (c) => {
      await c.query("SELECT pg_advisory_xact_lock($1)", [ISSUANCE_LOCK]);
      return fn(c);
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
