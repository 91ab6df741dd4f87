/**
 * Schema migrations, in order, for each database. A migration is never
 * edited once released: add the next one. Times are integer milliseconds
 * since 1970 (UTC) in both databases, so the two stores behave alike.
 */
export interface Migration {
  version: number;
  sqlite: string;
  /** Absent when the version changes nothing on PostgreSQL. */
  postgres?: string;
}

const cards = (int: string, bool: string) => `
  CREATE TABLE cards (
    id                     TEXT PRIMARY KEY,
    pan                    TEXT NOT NULL,
    expiry                 TEXT NOT NULL,
    psn                    TEXT NOT NULL,
    mode                   TEXT NOT NULL CHECK (mode IN ('counter', 'time')),
    digits                 INTEGER NOT NULL CHECK (digits BETWEEN 3 AND 10),
    algorithm              TEXT NOT NULL CHECK (algorithm IN ('SHA1', 'SHA256')),
    step                   INTEGER NOT NULL CHECK (step > 0),
    start_counter          ${int} NOT NULL,
    created_at             ${int} NOT NULL,
    version                ${int} NOT NULL DEFAULT 0,
    blocked                ${bool} NOT NULL,
    next_counter           ${int} NOT NULL,
    last_step              ${int} NOT NULL,
    drift                  INTEGER NOT NULL,
    failures               INTEGER NOT NULL,
    last_failure_at        ${int} NOT NULL,
    resync_failures        INTEGER NOT NULL,
    last_resync_failure_at ${int} NOT NULL,
    -- The card's newest audit entry: the head of its chain through audit.prev_id.
    last_audit_id          ${int} NOT NULL DEFAULT 0,
    UNIQUE (pan, psn)
  );
  CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    label      TEXT NOT NULL,
    created_at ${int} NOT NULL
  );`;

/**
 * The audit trail is append-only, and each entry points at the previous
 * entry of its card (prev_id, 0 for none): a card's trail is read by walking
 * that chain from cards.last_audit_id. An index on (card_id, id) would do the
 * same, but every verify would then dirty a page of that index at a random
 * place (each card's newest entries), doubling the pages a commit writes.
 */
const audit = (id: string, int: string) => `
  CREATE TABLE audit (
    id      ${id},
    at      ${int} NOT NULL,
    card_id TEXT NOT NULL,
    event   TEXT NOT NULL,
    outcome TEXT NOT NULL,
    caller  TEXT NOT NULL,
    detail  TEXT,
    prev_id ${int} NOT NULL
  );`;

/**
 * Version 2: each audit entry records what it did to its card's state
 * (store/delta.ts). The SQLite store then keeps the cards' changing state in
 * the audit log alone and folds it into the cards table at checkpoints:
 * store_meta.checkpoint is the newest audit id the cards table includes.
 * Version 1 wrote every change to the cards table, so it includes them all.
 * PostgreSQL keeps writing each change to the cards table (postgres.ts) and
 * needs no checkpoint.
 */
const STATE_COLUMN = "ALTER TABLE audit ADD COLUMN state TEXT;";
const CHECKPOINT = `
  CREATE TABLE store_meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  );
  INSERT INTO store_meta (name, value) SELECT 'checkpoint', COALESCE(MAX(id), 0) FROM audit;`;

/**
 * Version 3 (SQLite): the log is stored one group commit per row
 * (store/log.ts). A batch of changes appends one row, whose entries are
 * numbered first_id, first_id + 1, ... in order: a JSON array of [at,
 * card_id, event, outcome, caller, detail, prev_id, state], each at in
 * milliseconds after the row's. The bytes are about those of a row per
 * entry (114 against 107 a verification); the per-entry work of SQLite's
 * row insert is gone. The audit view shows the entries as the audit table
 * did, for reading with SQL; the store reads the log itself. Each earlier
 * entry becomes a row of its own.
 */
const LOG = `
  CREATE TABLE log (
    first_id INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    entries  TEXT NOT NULL
  );
  INSERT INTO log (first_id, at, entries)
    SELECT id, at, json_array(json_array(0, card_id, event, outcome, caller, detail, prev_id, COALESCE(state, ''))) FROM audit ORDER BY id;
  DROP TABLE audit;
  CREATE VIEW audit (id, at, card_id, event, outcome, caller, detail, prev_id, state) AS
    SELECT l.first_id + e.key, l.at + (e.value ->> 0), e.value ->> 1, e.value ->> 2, e.value ->> 3, e.value ->> 4, e.value ->> 5,
           e.value ->> 6, e.value ->> 7
    FROM log l, json_each(l.entries) e;`;

/**
 * Version 4: each API token has a role (tokens.ts, http.ts); tokens made
 * before it become admin tokens, which can do everything they could. The
 * issuer_meta table holds the master key's check value (keys.ts) and the
 * marker of a restored backup (restore.ts).
 */
const ROLES_AND_META = `
  ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'admin' CHECK (role IN ('verify', 'issue', 'admin'));
  CREATE TABLE issuer_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );`;

/**
 * Version 5: dynamic data over Bluetooth (payments.ts, docs/dynamic-data.md).
 * card_link holds each card's issuer seq (the nonce of every envelope sealed
 * under its K_seal depends on it: it only grows) and its newest pairing
 * epoch; a card without a row has had neither. payments holds the
 * transactions sealed for cards, as the issuer recomputes the card's answer
 * from them (never from what a phone says), and never their one-time codes.
 * Both stores write them in the transaction that audits the change under the
 * card (Store.changeLink); amounts, seqs and times are BIGINT in both.
 */
const LINK = `
  CREATE TABLE card_link (
    card_id    TEXT PRIMARY KEY,
    issuer_seq BIGINT NOT NULL CHECK (issuer_seq BETWEEN 0 AND 4294967295),
    pair_epoch BIGINT NOT NULL CHECK (pair_epoch BETWEEN 0 AND 4294967295)
  );
  CREATE TABLE payments (
    id         TEXT PRIMARY KEY,
    card_id    TEXT NOT NULL,
    tx_id      TEXT NOT NULL UNIQUE,
    amount     BIGINT NOT NULL,
    currency   TEXT NOT NULL,
    exponent   INTEGER NOT NULL,
    payee      TEXT NOT NULL,
    details    TEXT NOT NULL,
    expiry     BIGINT NOT NULL,
    issuer_seq BIGINT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'void')),
    failures   INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  );
  CREATE INDEX payments_by_card ON payments (card_id);`;

/**
 * Version 6: issuance (issuance.ts, docs/provisioning.md), which chip each
 * card was issued to and how far its issuance got:
 *
 *   pending   a package was handed out; the card is blocked until the tool
 *             proves the card holds it (verify after burn)
 *   issued    proven: the one card of that chip that verifies codes
 *   void      abandoned before it was proven (a later attempt replaced it)
 *   replaced  reissued: the chip now holds another card
 *
 * Unique indexes keep at most one issued and one pending card per chip, so
 * two tools racing on one chip cannot both win. The table and its indexes
 * are those the issuance code made for itself, beside the schema, before
 * this version: IF NOT EXISTS keeps the rows of a database that has them.
 * Times are BIGINT milliseconds in both databases.
 */
const ISSUANCE = `
  CREATE TABLE IF NOT EXISTS issuance (
    card_id     TEXT PRIMARY KEY,
    chip_serial TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'issued', 'void', 'replaced')),
    digest      TEXT NOT NULL,
    firmware    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS issuance_by_chip ON issuance (chip_serial);
  CREATE UNIQUE INDEX IF NOT EXISTS issuance_one_issued ON issuance (chip_serial) WHERE state = 'issued';
  CREATE UNIQUE INDEX IF NOT EXISTS issuance_one_pending ON issuance (chip_serial) WHERE state = 'pending';`;

/**
 * Version 7: personalisation (personal.ts, docs/personalisation.md).
 * card_slots holds each written slot's security code as its generation and
 * salt (the code is derived again from the base card's key: never stored),
 * the current one and at most one pending; personal_sessions the write and
 * verification sessions, with their nonces (they cross the air) and never
 * their one-time password or authentication code (derived again, likewise).
 * A verification of a chip the issuer does not know has a session with
 * card_id ''. Both stores write them in the transaction that audits the
 * change under the base card (Store.changePersonal).
 */
const PERSONAL = `
  CREATE TABLE card_slots (
    card_id             TEXT NOT NULL,
    slot                INTEGER NOT NULL CHECK (slot BETWEEN 1 AND 255),
    generation          BIGINT NOT NULL CHECK (generation BETWEEN 0 AND 4294967295),
    salt                TEXT NOT NULL,
    profile_card_id     TEXT NOT NULL,
    pending_generation  BIGINT NOT NULL CHECK (pending_generation BETWEEN 0 AND 4294967295),
    pending_salt        TEXT NOT NULL,
    pending_card_id     TEXT NOT NULL,
    pending_application TEXT NOT NULL,
    updated_at          BIGINT NOT NULL,
    PRIMARY KEY (card_id, slot)
  );
  CREATE TABLE personal_sessions (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('write', 'verify')),
    card_id       TEXT NOT NULL,
    chip_serial   TEXT NOT NULL,
    slot          INTEGER NOT NULL,
    device_id     TEXT NOT NULL,
    application   TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    confirm_nonce TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('applied', 'otp_ok', 'released', 'confirmed', 'void', 'open', 'done')),
    failures      INTEGER NOT NULL,
    generation    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
  );`;

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    sqlite: cards("INTEGER", "INTEGER") + audit("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER"),
    postgres: cards("BIGINT", "BOOLEAN") + audit("BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "BIGINT"),
  },
  { version: 2, sqlite: STATE_COLUMN + CHECKPOINT, postgres: STATE_COLUMN },
  { version: 3, sqlite: LOG },
  { version: 4, sqlite: ROLES_AND_META, postgres: ROLES_AND_META },
  { version: 5, sqlite: LINK, postgres: LINK },
  { version: 6, sqlite: ISSUANCE, postgres: ISSUANCE },
  { version: 7, sqlite: PERSONAL, postgres: PERSONAL },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;
