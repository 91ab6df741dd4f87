/**
 * Schema migrations, in order, for each database. A migration is never
 * edited once released: add the next one. Times are integer milliseconds
 * since 1970 (UTC) in both databases, so the two stores behave alike.
 */
export interface Migration {
  version: number;
  sqlite: string;
  postgres: string;
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
    UNIQUE (pan, psn)
  );
  CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    label      TEXT NOT NULL,
    created_at ${int} NOT NULL
  );`;

const audit = (id: string, int: string) => `
  CREATE TABLE audit (
    id      ${id},
    at      ${int} NOT NULL,
    card_id TEXT NOT NULL,
    event   TEXT NOT NULL,
    outcome TEXT NOT NULL,
    caller  TEXT NOT NULL,
    detail  TEXT
  );
  CREATE INDEX audit_by_card ON audit (card_id, id);`;

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    sqlite: cards("INTEGER", "INTEGER") + audit("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER"),
    postgres: cards("BIGINT", "BOOLEAN") + audit("BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "BIGINT"),
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;
