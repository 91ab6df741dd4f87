/**
 * The issuer's storage contract. Two implementations (sqlite.ts, postgres.ts)
 * pass one behaviour suite (test/issuer/store.test.ts).
 */
import type { CardRecord, CardState } from "../card.ts";

/**
 * "provision": issuance steps (issuance.ts): begun, proven on the card, abandoned, replaced, console password given.
 * "restore": the rule applied to each card on the first start from a restored backup (restore.ts).
 */
export type AuditEvent = "issue" | "verify" | "resync" | "block" | "unblock" | "provision" | "restore";

/** One line of the audit trail. Never a key, a code or a token. */
export interface AuditEntry {
  /** Milliseconds since 1970. */
  at: number;
  cardId: string;
  event: AuditEvent;
  outcome: string;
  /** The id of the API token that made the call. */
  caller: string;
  detail?: string | undefined;
}

export interface AuditRecord extends AuditEntry {
  id: number;
}

export interface AuditQuery {
  cardId?: string | undefined;
  limit: number;
  /**
   * Only entries older than this one (paging backwards from the newest).
   * With cardId it must be the id of one of that card's entries, as the last
   * page returned; otherwise nothing is returned.
   */
  beforeId?: number | undefined;
}

/**
 * What a decision inside `change` writes: the card's new state (if any) and
 * one audit entry. Without either, nothing is written (a refusal the issuer
 * chose not to audit, service.ts): the card keeps its version.
 */
export interface Change<T> {
  state?: CardState | undefined;
  audit?: AuditEntry | undefined;
  result: T;
}

/** What a token may do (http.ts checks it on every route; docs/issuer-api.md has the table). */
export type Role = "verify" | "issue" | "admin";
export const ROLES: readonly Role[] = ["verify", "issue", "admin"];

export interface TokenRecord {
  id: string;
  /** SHA-256 of the token, hex: the token itself is never stored. */
  hash: string;
  label: string;
  role: Role;
  createdAt: number;
}

export interface Store {
  readonly kind: "sqlite" | "postgres";
  /** Brings the schema to the newest version; safe to run from several processes at once. */
  migrate(): Promise<void>;
  /** False when a card with the same PAN and PSN exists (nothing is written then). */
  insertCard(card: CardRecord, audit: AuditEntry): Promise<boolean>;
  getCard(id: string): Promise<CardRecord | undefined>;
  /**
   * Reads the card, runs `decide` on it and writes what it returns, all in
   * one transaction that excludes every other change to that card (in this
   * process or another), and bumps the card's version. `decide` must be
   * synchronous, free of I/O, and must not modify the card it is given (the
   * SQLite store hands it the record it keeps, frozen). Resolves to undefined
   * for an unknown card, and only once the change is durable.
   */
  change<T>(id: string, decide: (card: CardRecord) => Change<T>): Promise<T | undefined>;
  listAudit(q: AuditQuery): Promise<AuditRecord[]>;
  insertToken(t: TokenRecord): Promise<void>;
  findToken(hash: string): Promise<TokenRecord | undefined>;
  /** Every token, oldest first (their hashes too: callers show none). */
  listTokens(): Promise<TokenRecord[]>;
  /**
   * A number that changes whenever a token may have been revoked since it was
   * last read (tokens.ts caches lookups while it stays the same); absent when
   * the store cannot tell cheaply (PostgreSQL: every request looks its token up).
   */
  tokenEpoch?(): number;
  /** Deletes the token; false when there is none with this id. */
  deleteToken(id: string): Promise<boolean>;
  /** A value of the issuer_meta table (the master key's check value, a restore marker...). */
  getMeta(name: string): Promise<string | undefined>;
  /** Stores `value` unless the name has one; resolves to the value stored (either). */
  setMetaIfAbsent(name: string, value: string): Promise<string>;
  deleteMeta(name: string): Promise<void>;
  /** The ids of every card, for rules applied to them all (restore.ts). */
  cardIds(): Promise<string[]>;
  /** True when the database held no issuer schema before this store migrated it. */
  readonly created: boolean;
  close(): Promise<void>;
}

/** Column order shared by both stores' SELECTs and the row mapping. */
export const CARD_COLUMNS =
  "id, pan, expiry, psn, mode, digits, algorithm, step, start_counter, created_at, version, " +
  "blocked, next_counter, last_step, drift, failures, last_failure_at, resync_failures, last_resync_failure_at";

export function cardFromRow(r: Record<string, unknown>): CardRecord {
  return {
    id: r.id as string,
    pan: r.pan as string,
    expiry: r.expiry as string,
    psn: r.psn as string,
    mode: r.mode as CardRecord["mode"],
    digits: Number(r.digits),
    algorithm: r.algorithm as CardRecord["algorithm"],
    step: Number(r.step),
    startCounter: Number(r.start_counter),
    createdAt: Number(r.created_at),
    version: Number(r.version),
    blocked: Boolean(r.blocked),
    nextCounter: Number(r.next_counter),
    lastStep: Number(r.last_step),
    drift: Number(r.drift),
    failures: Number(r.failures),
    lastFailureAt: Number(r.last_failure_at),
    resyncFailures: Number(r.resync_failures),
    lastResyncFailureAt: Number(r.last_resync_failure_at),
  };
}

export function auditFromRow(r: Record<string, unknown>): AuditRecord {
  return {
    id: Number(r.id),
    at: Number(r.at),
    cardId: r.card_id as string,
    event: r.event as AuditEvent,
    outcome: r.outcome as string,
    caller: r.caller as string,
    detail: (r.detail as string | null) ?? undefined,
  };
}
