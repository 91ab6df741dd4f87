/**
 * The SQLite store's SQL (store/sqlite.ts): every statement it runs,
 * prepared once when the store has migrated, and the reads of the audit
 * trail out of the card log's rows (store/log.ts). They are plain queries,
 * kept apart so that sqlite.ts holds only how the store commits, caches and
 * syncs.
 *
 * A card's trail is followed through each entry's prev_id, one lookup per
 * entry; the trail of all cards is read row by row from the newest. SQLite
 * takes an entry out of its row (`entries -> n`), which costs a fraction of
 * parsing the whole row in JavaScript.
 */
import type Database from "better-sqlite3";
import { auditRecord, parseBatch, parseEntry, PREV, type BatchRow, type LogEntry } from "./log.ts";
import { CARD_COLUMNS, ISSUANCE_COLUMNS, PAYMENT_COLUMNS, SESSION_COLUMNS, SLOT_COLUMNS, type AuditRecord } from "./types.ts";

export type Statements = ReturnType<typeof prepareStatements>;

/** The store's statements on `db`, whose schema is migrated. */
export function prepareStatements(db: Database.Database) {
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
    // Personalisation (personal.ts): slots and sessions, written inside a change of the base card.
    slot: db.prepare(`SELECT ${SLOT_COLUMNS} FROM card_slots WHERE card_id = ? AND slot = ?`),
    setSlot: db.prepare(
      `INSERT INTO card_slots (${SLOT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (card_id, slot) DO UPDATE SET generation = excluded.generation, salt = excluded.salt, profile_card_id = excluded.profile_card_id,
         pending_generation = excluded.pending_generation, pending_salt = excluded.pending_salt, pending_card_id = excluded.pending_card_id,
         pending_application = excluded.pending_application, updated_at = excluded.updated_at`,
    ),
    session: db.prepare(`SELECT ${SESSION_COLUMNS} FROM personal_sessions WHERE id = ?`),
    insertSession: db.prepare(`INSERT INTO personal_sessions (${SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    updateSession: db.prepare(
      "UPDATE personal_sessions SET confirm_nonce = ?, state = ?, failures = ?, generation = ?, updated_at = ? WHERE id = ? AND card_id = ?",
    ),
    // Issuance (issuance.ts). The unique indexes refuse a second pending card of a chip: DO NOTHING, changes 0.
    issuance: db.prepare(`SELECT ${ISSUANCE_COLUMNS} FROM issuance WHERE card_id = ?`),
    chipIssuance: db.prepare(
      `SELECT ${ISSUANCE_COLUMNS} FROM issuance WHERE chip_serial = ? AND state IN ('pending', 'issued') ORDER BY created_at, card_id`,
    ),
    issuedCards: db.prepare(`SELECT ${ISSUANCE_COLUMNS} FROM issuance WHERE state = 'issued' ORDER BY created_at, card_id`),
    insertPendingIssuance: db.prepare(
      `INSERT INTO issuance (${ISSUANCE_COLUMNS}) VALUES (?, ?, 'pending', '', ?, ?, ?) ON CONFLICT DO NOTHING`,
    ),
    setIssuanceDigest: db.prepare("UPDATE issuance SET digest = ?, updated_at = ? WHERE card_id = ? AND state = 'pending'"),
    abandonIssuance: db.prepare("UPDATE issuance SET state = 'void', updated_at = ? WHERE card_id = ? AND state = 'pending'"),
    // A promotion's two steps, in one transaction: the issued card of the chip is replaced only if this one is pending.
    replaceIssued: db.prepare(
      `UPDATE issuance SET state = 'replaced', updated_at = ? WHERE chip_serial = ? AND state = 'issued'
         AND EXISTS (SELECT 1 FROM issuance WHERE card_id = ? AND state = 'pending')`,
    ),
    promoteIssuance: db.prepare("UPDATE issuance SET state = 'issued', updated_at = ? WHERE card_id = ? AND state = 'pending'"),
  };
}

/** The entry numbered `id`, if there is one. */
export function entryAt(st: Statements, id: number): LogEntry | undefined {
  const row = st.entry.get({ id }) as { at: number; entry: string | null } | undefined;
  return row?.entry ? parseEntry(row.at, row.entry) : undefined;
}

/**
 * Follows a card's chain through prev_id from entry `id` back, adding
 * entries to `out` until it holds `limit`; returns the next entry to read
 * (0 at the card's first).
 */
export function trail(st: Statements, id: number, limit: number, out: AuditRecord[]): number {
  while (id > 0 && out.length < limit) {
    const e = entryAt(st, id);
    if (!e) throw new Error(`the audit log has no entry ${id}`);
    out.push(auditRecord(id, e));
    id = e[PREV];
  }
  return id;
}

/** All cards' entries before `before`, newest first. */
export function recent(st: Statements, before: number, limit: number): AuditRecord[] {
  const out: AuditRecord[] = [];
  for (const row of st.batchesBefore.iterate(before) as Iterable<BatchRow>) {
    const { first, entries } = parseBatch(row);
    for (let i = entries.length - 1; i >= 0 && out.length < limit; i--) if (first + i < before) out.push(auditRecord(first + i, entries[i]));
    if (out.length >= limit) break;
  }
  return out;
}
