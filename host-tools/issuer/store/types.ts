/**
 * The issuer's storage contract. Two implementations (sqlite.ts, postgres.ts)
 * pass one behaviour suite (test/issuer/store.test.ts).
 */
import type { CardRecord, CardState } from "../card.ts";

/**
 * "provision": issuance steps (issuance.ts): begun, proven on the card, abandoned, replaced, console password given.
 * "restore": the rule applied to each card on the first start from a restored backup (restore.ts).
 */
export type AuditEvent = "issue" | "verify" | "resync" | "block" | "unblock" | "provision" | "restore" | LinkEvent | PersonalEvent;

/** Dynamic data (payments.ts): a phone paired, a payment sealed, a payment's answer checked. */
export type LinkEvent = "pair" | "payment" | "confirm";

/**
 * Personalisation (personal.ts): a step of a profile write ("personalise":
 * apply, otp, auth, confirm), and a verification device's check of a
 * security code ("verification"), both under the chip's base card.
 */
export type PersonalEvent = "personalise" | "verification";

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

/**
 * A slot's security code at the issuer (personal.ts, docs/personalisation.md):
 * its current generation and, until the card proves it, at most one pending
 * one. Salts, never codes: a code is derived again from the base card's key
 * and its salt (deriveSecurityCode). A slot without a row holds no code.
 */
export interface SlotState {
  /** The base card: the card issued to the chip, whose key anchors the link. */
  cardId: string;
  slot: number;
  /** The current generation, 0 when the slot holds no code yet. */
  generation: number;
  /** Its salt, 32 hex ("" with generation 0). */
  salt: string;
  /** The issuer card of the profile the current code came with ("" with generation 0). */
  profileCardId: string;
  /** The generation released and not yet proven, 0 for none. */
  pendingGeneration: number;
  pendingSalt: string;
  pendingCardId: string;
  /** The application the pending profile was made for, JSON ("" for none): a retry must ask for the same. */
  pendingApplication: string;
  updatedAt: number;
}

export type SessionKind = "write" | "verify";

/**
 * applied -> otp_ok -> released -> confirmed (a write), open -> done (a
 * verification); void after MAX_SESSION_FAILURES wrong answers. Expiry is
 * not a state: a session past expiresAt is dead whatever its state says.
 */
export type SessionState = "applied" | "otp_ok" | "released" | "confirmed" | "void" | "open" | "done";

/**
 * A personalisation or verification session (personal.ts). Its nonces are
 * not secret (they cross the air); its one-time password and authentication
 * code are derived again from the base card's key and the nonce, so the
 * database holds neither.
 */
export interface PersonalSession {
  /** UUID, the API's handle. */
  id: string;
  kind: SessionKind;
  /** The base card; "" for a verification of a chip the issuer does not know. */
  cardId: string;
  chipSerial: string;
  slot: number;
  /** The phone's device id, 32 hex ("" for a verification). */
  deviceId: string;
  /** The application asked for, JSON ("" for a verification). */
  application: string;
  /** 32 hex. */
  nonce: string;
  /** The confirmation's challenge, 32 hex, once the profile is released. */
  confirmNonce: string;
  state: SessionState;
  failures: number;
  /** The generation released to this session (0 before). */
  generation: number;
  /** Milliseconds since 1970. */
  expiresAt: number;
  createdAt: number;
  updatedAt: number;
}

/** What changePersonal reads under the card's lock, besides the card. */
export interface PersonalContext {
  link: LinkState;
  /** The slot's row, if it has one. */
  slot: SlotState | undefined;
  /** The session, when asked for and it is this card's. */
  session: PersonalSession | undefined;
  /** The slot's pending profile card, when it has one. */
  pendingCard: CardRecord | undefined;
}

/**
 * A decision of changePersonal: a Change of the base card (its audit entry
 * required when anything below is written), and in the same transaction
 * the link state, the slot, the session, and a new profile card (inserted:
 * DuplicateCard when its PAN is taken, and nothing is written).
 */
export interface PersonalChange<T> extends Change<T> {
  link?: LinkState | undefined;
  slot?: SlotState | undefined;
  session?: PersonalSession | undefined;
  profileCard?: CardRecord | undefined;
  /** Not written by the store: the profile card a roll replaced, which service.ts blocks once this change is durable. */
  retire?: string | undefined;
}

/** A new card's PAN and PSN are another card's (rare: they are random); the caller tries again with another. */
export class DuplicateCard extends Error {
  constructor() {
    super("a card with this PAN and PSN exists");
  }
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
  /**
   * As changeLink, for personalisation (personal.ts): the card's link
   * state, its slot's row, the session `sessionId` (undefined: none, or
   * another card's) and the slot's pending profile card, read in one
   * transaction under the card's exclusion; what the decision returns is
   * written with its audit entry, atomically (checkPersonalChange says what
   * the store refuses). Undefined for an unknown card; resolves once durable.
   */
  changePersonal<T>(
    cardId: string,
    slot: number,
    sessionId: string | undefined,
    decide: (card: CardRecord, ctx: PersonalContext) => PersonalChange<T>,
  ): Promise<T | undefined>;
  getSession(id: string): Promise<PersonalSession | undefined>;
  /** A session of no card (a verification of an unknown chip), inserted or updated on its own; a card's go through changePersonal. */
  putSession(s: PersonalSession): Promise<void>;
  getSlot(cardId: string, slot: number): Promise<SlotState | undefined>;
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

export const SLOT_COLUMNS =
  "card_id, slot, generation, salt, profile_card_id, pending_generation, pending_salt, pending_card_id, pending_application, updated_at";

export function slotFromRow(r: Record<string, unknown>): SlotState {
  return {
    cardId: String(r.card_id),
    slot: Number(r.slot),
    generation: Number(r.generation),
    salt: String(r.salt),
    profileCardId: String(r.profile_card_id),
    pendingGeneration: Number(r.pending_generation),
    pendingSalt: String(r.pending_salt),
    pendingCardId: String(r.pending_card_id),
    pendingApplication: String(r.pending_application),
    updatedAt: Number(r.updated_at),
  };
}

/** The values of a slot in SLOT_COLUMNS' order. */
export function slotValues(s: SlotState): unknown[] {
  return [s.cardId, s.slot, s.generation, s.salt, s.profileCardId, s.pendingGeneration, s.pendingSalt, s.pendingCardId, s.pendingApplication, s.updatedAt];
}

export const SESSION_COLUMNS =
  "id, kind, card_id, chip_serial, slot, device_id, application, nonce, confirm_nonce, state, failures, generation, expires_at, created_at, updated_at";

export function sessionFromRow(r: Record<string, unknown>): PersonalSession {
  return {
    id: String(r.id),
    kind: r.kind as SessionKind,
    cardId: String(r.card_id),
    chipSerial: String(r.chip_serial),
    slot: Number(r.slot),
    deviceId: String(r.device_id),
    application: String(r.application),
    nonce: String(r.nonce),
    confirmNonce: String(r.confirm_nonce),
    state: r.state as SessionState,
    failures: Number(r.failures),
    generation: Number(r.generation),
    expiresAt: Number(r.expires_at),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

/** The values of a session in SESSION_COLUMNS' order. */
export function sessionValues(s: PersonalSession): unknown[] {
  return [s.id, s.kind, s.cardId, s.chipSerial, s.slot, s.deviceId, s.application, s.nonce, s.confirmNonce, s.state, s.failures, s.generation, s.expiresAt, s.createdAt, s.updatedAt];
}

/** The card's values in CARD_COLUMNS' order, as a store inserts them (blocked as 0/1 for SQLite, a boolean for PostgreSQL). */
export function cardValues(c: CardRecord, bool: (b: boolean) => unknown): unknown[] {
  return [
    c.id, c.pan, c.expiry, c.psn, c.mode, c.digits, c.algorithm, c.step, c.startCounter, c.createdAt, c.version,
    bool(c.blocked), c.nextCounter, c.lastStep, c.drift, c.failures, c.lastFailureAt, c.resyncFailures, c.lastResyncFailureAt,
  ];
}

/**
 * Throws (before anything is written) when a personalisation decision
 * breaks the rules of PersonalChange: writes without an audit entry of this
 * card, a link state that goes back, a slot or session of another card or
 * slot, a generation that goes back, a session whose fixed fields changed,
 * a profile card that is the base card.
 */
export function checkPersonalChange(cardId: string, slot: number, ctx: PersonalContext, ch: PersonalChange<unknown>): void {
  if (!ch.link && !ch.slot && !ch.session && !ch.profileCard) return;
  checkLinkChange(cardId, ctx.link, undefined, { result: undefined, audit: ch.audit, link: ch.link });
  if (!ch.audit || ch.audit.cardId !== cardId) throw new Error("a personalisation change must be audited under its own card");
  const s = ch.slot;
  if (s) {
    if (s.cardId !== cardId || s.slot !== slot) throw new Error("a slot must be changed under its own card");
    const b = ctx.slot;
    if (b && s.generation < b.generation) throw new Error("a slot's generation only grows");
    if (s.pendingGeneration !== 0 && s.pendingGeneration !== s.generation + 1) throw new Error("a slot's pending generation is its current one + 1");
    if (s.generation > 0xffffffff || s.pendingGeneration > 0xffffffff) throw new Error("a slot's generations are u32");
  }
  const x = ch.session;
  if (x) {
    if (x.cardId !== cardId || x.slot !== slot) throw new Error("a session must be changed under its own card and slot");
    const b = ctx.session;
    if (b && (b.id !== x.id || b.kind !== x.kind || b.nonce !== x.nonce || b.chipSerial !== x.chipSerial)) throw new Error("a session's id, kind, chip and nonce never change");
  }
  if (ch.profileCard && ch.profileCard.id === cardId) throw new Error("a profile card is a card of its own");
}
