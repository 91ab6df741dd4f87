/**
 * The issuer's storage contract. Two implementations (sqlite.ts, postgres.ts)
 * pass one behaviour suite (test/issuer/store.test.ts).
 */
import type { CardRecord, CardState } from "../card.ts";

/**
 * "provision": issuance steps (issuance.ts): begun, proven on the card, abandoned, replaced, console password given.
 * "restore": the rule applied to each card on the first start from a restored backup (restore.ts).
 */
export type AuditEvent = "issue" | "verify" | "resync" | "block" | "unblock" | "provision" | "restore" | LinkEvent;

/** Dynamic data (payments.ts): a phone paired, a payment sealed, a payment's answer checked. */
export type LinkEvent = "pair" | "payment" | "confirm";

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

/**
 * A card's link state (docs/dynamic-data.md, "Keys" and "Nonces"): the
 * issuer's sequence number for envelopes sealed under K_seal (the nonce
 * depends on it: it only grows, and a value is never sealed under twice),
 * and the count of pairings (the newest epoch). Both 0 for a card that has
 * had neither.
 */
export interface LinkState {
  issuerSeq: number;
  pairEpoch: number;
}

export type PaymentStatus = "pending" | "accepted" | "void";

/** A payment the issuer sealed for a card (payments.ts). Never its one-time code: the issuer keeps none. */
export interface PaymentRecord {
  /** UUID, the API's handle. */
  id: string;
  cardId: string;
  /** The transaction id sealed in the payload, 32 hex. */
  txId: string;
  /** Minor units. */
  amount: number;
  currency: string;
  exponent: number;
  payee: string;
  details: string;
  /** Unix seconds, as sealed. */
  expiry: number;
  /** The issuer seq of its envelope. */
  issuerSeq: number;
  status: PaymentStatus;
  /** Wrong answers so far. */
  failures: number;
  createdAt: number;
  updatedAt: number;
}

/**
 * A decision of changeLink: a Change of the card (its audit entry is
 * required when anything below is written), and the link state and payment
 * to write in the same transaction. The store refuses (throws, writing
 * nothing) a link state that goes back, or a payment of another card.
 */
export interface LinkChange<T> extends Change<T> {
  link?: LinkState | undefined;
  /** Inserted when new, else updated (its id, card and transaction never change). */
  payment?: PaymentRecord | undefined;
}

/** An issuance's state (schema.ts, version 6, says what each means). */
export type IssuanceState = "pending" | "issued" | "void" | "replaced";

/** A row of the issuance table: which chip a card was issued to (issuance.ts). */
export interface IssuanceRow {
  cardId: string;
  chipSerial: string;
  state: IssuanceState;
  /** SHA-256 of the profile record issued, hex ("" until known). */
  digest: string;
  /** Firmware version the card reported. */
  firmware: string;
  createdAt: number;
  updatedAt: number;
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
  /**
   * As change, with the card's link state and one of its payments (or
   * undefined: none with that id, or another card's) read in the same
   * transaction, under the same exclusion, and what the decision returns
   * written with its audit entry, atomically. Resolves to undefined for an
   * unknown card, and only once the change is durable.
   */
  changeLink<T>(
    cardId: string,
    paymentId: string | undefined,
    decide: (card: CardRecord, link: LinkState, payment: PaymentRecord | undefined) => LinkChange<T>,
  ): Promise<T | undefined>;
  getPayment(id: string): Promise<PaymentRecord | undefined>;
  /** The issuance of a card (issuance.ts), if it has one. */
  getIssuance(cardId: string): Promise<IssuanceRow | undefined>;
  /** The chip's pending and issued cards, oldest first. */
  chipIssuance(chipSerial: string): Promise<IssuanceRow[]>;
  /** Every issued card, oldest first (what an export carries). */
  issuedCards(): Promise<IssuanceRow[]>;
  /**
   * A pending issuance with no digest yet. False, writing nothing, when the
   * chip already has a pending card (another tool is at it) or the card an
   * issuance: the unique indexes decide, so of tools racing one wins.
   */
  insertPendingIssuance(r: { cardId: string; chipSerial: string; firmware: string; at: number }): Promise<boolean>;
  /** The digest of a pending issuance (nothing when it is not pending). */
  setIssuanceDigest(cardId: string, digest: string, at: number): Promise<void>;
  /** pending -> void (nothing when it is not pending). */
  abandonIssuance(cardId: string, at: number): Promise<void>;
  /**
   * In one transaction: the chip's issued card becomes replaced, and this
   * pending one issued. False (nothing changed) if it was not pending.
   */
  promoteIssuance(cardId: string, chipSerial: string, at: number): Promise<boolean>;
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

/** A row of api_tokens (both stores select the same columns). */
export function tokenFromRow(r: Record<string, unknown>): TokenRecord {
  return { id: r.id as string, hash: r.hash as string, label: r.label as string, role: r.role as Role, createdAt: Number(r.created_at) };
}

export const PAYMENT_COLUMNS = "id, card_id, tx_id, amount, currency, exponent, payee, details, expiry, issuer_seq, status, failures, created_at, updated_at";

export function paymentFromRow(r: Record<string, unknown>): PaymentRecord {
  return {
    id: r.id as string,
    cardId: r.card_id as string,
    txId: r.tx_id as string,
    amount: Number(r.amount),
    currency: r.currency as string,
    exponent: Number(r.exponent),
    payee: r.payee as string,
    details: r.details as string,
    expiry: Number(r.expiry),
    issuerSeq: Number(r.issuer_seq),
    status: r.status as PaymentStatus,
    failures: Number(r.failures),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

/** The values of a payment in PAYMENT_COLUMNS' order. */
export function paymentValues(p: PaymentRecord): unknown[] {
  return [p.id, p.cardId, p.txId, p.amount, p.currency, p.exponent, p.payee, p.details, p.expiry, p.issuerSeq, p.status, p.failures, p.createdAt, p.updatedAt];
}

/**
 * Throws (before anything is written) when a link decision breaks the
 * rules of LinkChange: writes without an audit entry of this card, a link
 * state that goes back, a payment of another card or one whose fixed fields
 * changed.
 */
export function checkLinkChange(cardId: string, link: LinkState, before: PaymentRecord | undefined, ch: LinkChange<unknown>): void {
  if (!ch.link && !ch.payment) return;
  if (!ch.audit || ch.audit.cardId !== cardId) throw new Error("a link change must be audited under its own card");
  if (ch.link && !(ch.link.issuerSeq >= link.issuerSeq && ch.link.pairEpoch >= link.pairEpoch && ch.link.issuerSeq <= 0xffffffff && ch.link.pairEpoch <= 0xffffffff)) {
    throw new Error("a card's link state only grows, within u32");
  }
  const p = ch.payment;
  if (p) {
    if (p.cardId !== cardId) throw new Error("a payment must be changed under its own card");
    if (before && (before.id !== p.id || before.txId !== p.txId || before.issuerSeq !== p.issuerSeq)) throw new Error("a payment's id, transaction and seq never change");
  }
}

export const ISSUANCE_COLUMNS = "card_id, chip_serial, state, digest, firmware, created_at, updated_at";

/** A row of the issuance table (both stores select ISSUANCE_COLUMNS). */
export function issuanceFromRow(r: Record<string, unknown>): IssuanceRow {
  return {
    cardId: String(r.card_id),
    chipSerial: String(r.chip_serial),
    state: r.state as IssuanceState,
    digest: String(r.digest),
    firmware: String(r.firmware),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}
