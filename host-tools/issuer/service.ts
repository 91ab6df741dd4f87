/**
 * The issuer's operations, independent of HTTP: issue a card, verify and
 * resynchronise its codes, block it, read the audit trail, manage API
 * tokens. Every change goes through Store.change, so it is atomic per card
 * and audited in the same transaction.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { bytesToHex } from "../../firmware/core/bytes.ts";
import { DEFAULT_DIGITS, DEFAULT_TIME_STEP, MAX_DIGITS, MAX_STEP_SECONDS, MIN_DIGITS } from "../issuance/limits.ts";
import { ALGORITHMS, MODES, stateOf, viewOf, type Algorithm, type CardRecord, type CardView, type Mode, type ProvisioningPackage } from "./card.ts";
import { newCardData, TEST_BIN } from "./card-data.ts";
import { cardCodes } from "./card-codes.ts";
import type { KeySource } from "./keys.ts";
import { makePolicy, strongResyncCodes, type Policy } from "./policy.ts";
import {
  checkPaymentRequest,
  decideConfirm,
  decidePairing,
  decidePayment,
  LinkRefusal,
  type ConfirmResult,
  type CreatedPayment,
  type Pairing,
  type PaymentRequest,
} from "./payments.ts";
import {
  answerVerification,
  decideApply,
  decideAuth,
  decideConfirmWrite,
  decideCreateVerification,
  decideOtp,
  decideVerification,
  verificationSession,
  type Application,
  type Applied,
  type AuthInput,
  type ConfirmedWrite,
  type OtpAccepted,
  type Outcome,
  type ProofInput,
  type Released,
  type VerificationCreated,
  type VerificationResult as CardVerification,
} from "./personal.ts";
import { MAX_SERIAL, NONCE_BYTES, SLOTS } from "../../firmware/core/personal.ts";
import { DuplicateCard, type AuditEvent, type AuditRecord, type PersonalSession, type Role, type Store, type TokenRecord } from "./store/types.ts";
import { createToken, TokenCheck } from "./tokens.ts";
import { decideResync, decideVerify, type CodeAt, type Decision, type VerifyResult } from "./verify.ts";

/** A refusal the HTTP layer passes on with its status and message. */
export class IssuerError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface CreateCardRequest {
  mode: Mode;
  digits?: number;
  algorithm?: Algorithm;
  step?: number;
}

export interface IssuedCard {
  /** The card's record with its full PAN (for embossing); later reads mask it. */
  card: CardView;
  package: ProvisioningPackage;
}

export interface AuditView {
  id: number;
  at: string;
  cardId: string;
  event: AuditEvent;
  outcome: string;
  caller: string;
  detail?: string;
}

/** POST /v1/personalisations (personal.ts). */
export interface ApplyRequest {
  chipSerial: string;
  slot: number;
  deviceId: string;
  application: { label: string; mode: Mode; digits?: number; holder?: string };
}

/** Digits of a personalised profile's codes. */
export const PROFILE_MIN_DIGITS = 6;
export const PROFILE_MAX_DIGITS = 8;
export const MAX_LABEL = 12;
export const MAX_HOLDER = 64;
/** A chip serial as the card sends it (personal.ts readSerial): printable ASCII without space. */
export const SERIAL_RE = new RegExp(`^[!-~]{1,${MAX_SERIAL}}$`);
/** A profile's label (profile.ts: its card id, shown beside the codes). */
export const LABEL_RE = new RegExp(`^[ -~]{1,${MAX_LABEL}}$`);
/** The holder's name: any text but control characters. */
export const HOLDER_RE = /^[^\u0000-\u001f\u007f]*$/;

export interface IssuerOptions {
  store: Store;
  keys: KeySource;
  policy?: Partial<Policy>;
  /** Milliseconds since 1970; tests inject a clock. */
  now?: () => number;
  /** BIN of the PANs issued. */
  bin?: string;
}

/**
 * Refusals that change nothing (backoff, locked, blocked, the last code
 * again, a failed strong resync, an answered retry) are audited at most
 * AUDIT_BURST at once per caller, then one per AUDIT_EVERY_MS; the next
 * entry audited says how many were not. Hammering a card then grows
 * neither the audit trail nor the database (issue 10: 13k refusals wrote
 * 15 MB). Failures that count (mismatch, replay) are always audited: each
 * changes the card, and the back-off and lock bound how many there are.
 */
const AUDIT_BURST = 60;
const AUDIT_EVERY_MS = 1000;
/** How long after an acceptance a retry with the same Idempotency-Key gets the original answer. */
export const RETRY_WINDOW_MS = 60_000;
const MAX_REMEMBERED = 100_000;

/** Per caller: audit entries left (a token bucket), when it was last filled, refusals not audited since the last audited one. */
interface AuditBudget {
  left: number;
  at: number;
  skipped: number;
}

/** A keyed verify that was accepted (and is durable): its retry gets the same answer. */
interface Accepted {
  caller: string;
  key: string;
  code: string;
  at: number;
  result: VerifyResult;
}

export class Issuer {
  readonly policy: Policy;
  readonly store: Store;
  private readonly keys: KeySource;
  private readonly now: () => number;
  private readonly bin: string;
  private readonly budgets = new Map<string, AuditBudget>();
  private readonly accepted = new Map<string, Accepted>();
  private readonly tokens: TokenCheck;

  constructor(o: IssuerOptions) {
    this.store = o.store;
    this.keys = o.keys;
    this.policy = makePolicy(o.policy);
    this.now = o.now ?? Date.now;
    this.bin = o.bin ?? TEST_BIN;
    if (!/^[0-9]{6,8}$/.test(this.bin)) throw new Error("BIN must be 6 to 8 digits");
    this.tokens = new TokenCheck(o.store);
  }

  /** opts (issuance.ts): the card's id, and created blocked until issuance proves the card holds it. */
  async createCard(req: CreateCardRequest, caller: string, opts: { id?: string; blocked?: boolean } = {}): Promise<IssuedCard> {
    const mode = req.mode;
    const digits = req.digits ?? DEFAULT_DIGITS;
    const algorithm = req.algorithm ?? "SHA1";
    const step = req.step ?? DEFAULT_TIME_STEP;
    if (!MODES.includes(mode)) throw new IssuerError(400, 'mode must be "counter" or "time"');
    if (!Number.isInteger(digits) || digits < MIN_DIGITS || digits > MAX_DIGITS) throw new IssuerError(400, `digits must be an integer ${MIN_DIGITS}..${MAX_DIGITS}`);
    if (!ALGORITHMS.includes(algorithm)) throw new IssuerError(400, 'algorithm must be "SHA1" or "SHA256"');
    if (!Number.isInteger(step) || step < 1 || step > MAX_STEP_SECONDS) {
      throw new IssuerError(400, `step must be an integer 1..${MAX_STEP_SECONDS} seconds`);
    }
    const now = this.now();
    // A random account number collides with an issued one rarely; try again then.
    for (let attempt = 0; attempt < 5; attempt++) {
      const card = this.newCardRecord({ mode, digits, algorithm, step }, now, opts.id ?? randomUUID(), opts.blocked ?? false);
      const audit = { at: now, cardId: card.id, event: "issue" as const, outcome: "ok", caller, detail: `mode=${mode} digits=${digits} algorithm=${algorithm}` };
      if (!(await this.store.insertCard(card, audit))) continue;
      const pkg: ProvisioningPackage = {
        cardId: card.id,
        mode,
        digits,
        algorithm,
        step,
        counter: card.startCounter,
        key: bytesToHex(this.keys.cardKey(card)),
      };
      return { card: { ...viewOf(card, this.policy), pan: card.pan }, package: pkg };
    }
    throw new Error("could not allocate an unused PAN");
  }

  /** A new card's record: fresh card data (a random PAN under the BIN), its first state. */
  private newCardRecord(t: { mode: Mode; digits: number; algorithm: Algorithm; step: number }, now: number, id: string, blocked: boolean): CardRecord {
    return {
      id,
      ...newCardData(now, this.bin),
      mode: t.mode,
      digits: t.digits,
      algorithm: t.algorithm,
      step: t.step,
      startCounter: 0,
      createdAt: now,
      version: 0,
      blocked,
      nextCounter: 0,
      lastStep: -1,
      drift: 0,
      failures: 0,
      lastFailureAt: 0,
      resyncFailures: 0,
      lastResyncFailureAt: 0,
    };
  }

  async getCard(id: string): Promise<CardView | undefined> {
    const card = await this.store.getCard(id);
    return card && viewOf(card, this.policy);
  }

  private codeAt(card: CardRecord): CodeAt {
    return cardCodes(card.algorithm, this.keys.cardKey(card), card.digits);
  }

  /**
   * Runs a decision on the card under the store's lock and audits it; a
   * decision that changes nothing is audited within the caller's budget.
   */
  private decide(id: string, event: AuditEvent, caller: string, fn: (card: CardRecord, now: number) => Decision<VerifyResult>) {
    return this.store.change(id, (card) => {
      const now = this.now();
      const d = fn(card, now);
      let detail = d.detail;
      if (!d.state) {
        const skipped = this.auditBudget(caller, now);
        if (skipped < 0) return { result: d.result };
        if (skipped > 0) detail = `${detail ? detail + "; " : ""}${skipped} more like it not audited`;
      }
      return { state: d.state, audit: { at: now, cardId: id, event, outcome: d.outcome, caller, detail }, result: d.result };
    });
  }

  /** -1 when the caller's refusals are not to be audited now; else how many were not since the last. */
  private auditBudget(caller: string, now: number): number {
    let b = this.budgets.get(caller);
    if (!b) {
      if (this.budgets.size >= MAX_REMEMBERED) this.budgets.clear();
      b = { left: AUDIT_BURST, at: now, skipped: 0 };
      this.budgets.set(caller, b);
    }
    b.left = Math.min(AUDIT_BURST, b.left + Math.max(0, now - b.at) / AUDIT_EVERY_MS);
    b.at = now;
    if (b.left < 1) {
      b.skipped++;
      return -1;
    }
    b.left--;
    const skipped = b.skipped;
    b.skipped = 0;
    return skipped;
  }

  /**
   * `key`: the caller's Idempotency-Key. A retry of an accepted verify (same
   * caller, key and code, within RETRY_WINDOW_MS, nothing accepted or failed
   * on the card since) gets the original answer and changes nothing. Without
   * the key a retry is refused as a replay, but that is no failure either
   * (verify.ts): one answer lost does not count against the holder. The key
   * is what makes it safe to say "ok" twice: a replay of the code by anyone
   * else, or by the caller for another payment (another key), is refused.
   * Kept in memory: after a restart, or on another issuer process, the retry
   * is refused as a replay (and still no failure).
   */
  verify(id: string, code: string, caller: string, key?: string): Promise<VerifyResult | undefined> {
    if (key === undefined) return this.decide(id, "verify", caller, (card, now) => decideVerify(card, code, now, this.codeAt(card), this.policy));
    return this.verifyKeyed(id, code, caller, key);
  }

  private async verifyKeyed(id: string, code: string, caller: string, key: string): Promise<VerifyResult | undefined> {
    let retry = false;
    const result = await this.decide(id, "verify", caller, (card, now) => {
      const prev = this.accepted.get(id);
      retry = !!prev && prev.key === key && prev.caller === caller && prev.code === code && now - prev.at <= RETRY_WINDOW_MS && stillLatest(card, prev.result);
      if (retry) return { outcome: "ok", detail: "retry: the answer already given", result: prev!.result };
      return decideVerify(card, code, now, this.codeAt(card), this.policy);
    });
    // Remembered once durable: a retry never gets "ok" for a change that might not be on disk. The window
    // runs from the acceptance, not from the last retry.
    if (result?.ok && !retry) {
      if (this.accepted.size >= MAX_REMEMBERED) this.accepted.clear();
      this.accepted.set(id, { caller, key, code, at: this.now(), result });
    }
    return result;
  }

  /** Either policy.resyncCodes codes, or a strong proof (policy.ts strongResyncCodes); any other number is a 400. */
  async resync(id: string, codes: string[], caller: string): Promise<VerifyResult | undefined> {
    const needed = (digits: number) => {
      const strong = strongResyncCodes(this.policy, digits);
      return `resync needs exactly ${this.policy.resyncCodes} consecutive codes, or ${strong} or more (a strong proof)`;
    };
    if (codes.length < this.policy.resyncCodes) throw new IssuerError(400, needed(DEFAULT_DIGITS));
    return this.decide(id, "resync", caller, (card, now) => {
      if (codes.length !== this.policy.resyncCodes && codes.length < strongResyncCodes(this.policy, card.digits)) {
        throw new IssuerError(400, needed(card.digits));
      }
      return decideResync(card, codes, now, this.codeAt(card), this.policy);
    });
  }

  /** Block (nothing verifies) or unblock (also clears failures, lifting a lock and any back-off). */
  setBlocked(id: string, blocked: boolean, caller: string): Promise<CardView | undefined> {
    return this.store.change(id, (card) => {
      const state = blocked
        ? { ...stateOf(card), blocked }
        : { ...stateOf(card), blocked, failures: 0, lastFailureAt: 0, resyncFailures: 0, lastResyncFailureAt: 0 };
      const audit = { at: this.now(), cardId: id, event: blocked ? ("block" as const) : ("unblock" as const), outcome: "ok", caller };
      return { state, audit, result: viewOf({ ...card, ...state }, this.policy) };
    });
  }

  async audit(q: { cardId?: string | undefined; limit?: number | undefined; beforeId?: number | undefined }): Promise<AuditView[]> {
    const rows = await this.store.listAudit({ cardId: q.cardId, beforeId: q.beforeId, limit: q.limit ?? 100 });
    return rows.map((r: AuditRecord) => ({
      id: r.id,
      at: new Date(r.at).toISOString(),
      cardId: r.cardId,
      event: r.event,
      outcome: r.outcome,
      caller: r.caller,
      ...(r.detail === undefined ? {} : { detail: r.detail }),
    }));
  }

  /**
   * Pairs the phone `deviceId` (32 hex) with the card: the card's next
   * pairing epoch and issuer seq, taken atomically and durably, audited
   * (payments.ts decidePairing). Undefined for an unknown card.
   */
  createPairing(id: string, deviceId: string, caller: string): Promise<Pairing | undefined> {
    if (!/^[0-9a-f]{32}$/.test(deviceId)) throw new IssuerError(400, "deviceId must be 32 lower-case hex digits (16 bytes)");
    return linkCall(this.store.changeLink(id, undefined, (card, link) => decidePairing(card, link, this.keys.cardKey(card), deviceId, this.now(), caller)));
  }

  /** A payment sealed for the card (payments.ts decidePayment); a bad field is a 400 before anything is taken. */
  createPayment(id: string, req: PaymentRequest, caller: string): Promise<CreatedPayment | undefined> {
    try {
      checkPaymentRequest(req);
    } catch (e) {
      if (e instanceof LinkRefusal) throw new IssuerError(e.status, e.message);
      throw e;
    }
    const paymentId = randomUUID();
    return linkCall(this.store.changeLink(id, paymentId, (card, link) => decidePayment(card, link, this.keys.cardKey(card), paymentId, req, this.now(), caller)));
  }

  /** Checks the card's answer to a payment, once (payments.ts decideConfirm). Undefined for an unknown payment. */
  async confirmPayment(paymentId: string, answer: string, caller: string): Promise<ConfirmResult | undefined> {
    if (!/^[0-9]{8}$/.test(answer)) throw new IssuerError(400, "answer must be 8 digits");
    const p = await this.store.getPayment(paymentId);
    if (!p) return undefined;
    return linkCall(this.store.changeLink(p.cardId, paymentId, (card, _link, pay) => decideConfirm(card, pay, this.keys.cardKey(card), answer, this.now(), caller)));
  }

  // ---- Personalisation (personal.ts, docs/personalisation.md) ----------------------------------

  /** The card issued to the chip: its key anchors the link, and the chip's slots are kept under it. */
  private async baseCard(chipSerial: string): Promise<string | undefined> {
    return (await this.store.chipIssuance(chipSerial)).find((r) => r.state === "issued")?.cardId;
  }

  /** A write session's (or a verification's) session, or 404; the decision then reads it again under the card's lock. */
  private async sessionOf(id: string, kind: PersonalSession["kind"]): Promise<PersonalSession> {
    const s = await this.store.getSession(id);
    if (!s || s.kind !== kind) throw new IssuerError(404, kind === "write" ? "no such personalisation" : "no such verification");
    return s;
  }

  /**
   * A new write session for a slot of the card issued to `chipSerial`: 404
   * when none is, 409 when it is not paired with a phone. The answer holds
   * the one-time password, which the phone answers (personalisationOtp).
   */
  async applyPersonalisation(req: ApplyRequest, caller: string): Promise<Applied> {
    checkSerial(req.chipSerial);
    checkSlot(req.slot);
    if (typeof req.deviceId !== "string" || !/^[0-9a-f]{32}$/.test(req.deviceId)) throw new IssuerError(400, "deviceId must be 32 lower-case hex digits (16 bytes)");
    const a = req.application;
    if (!a || typeof a !== "object") throw new IssuerError(400, "application is missing");
    if (typeof a.label !== "string" || !LABEL_RE.test(a.label)) throw new IssuerError(400, `application.label must be 1..${MAX_LABEL} printable ASCII characters`);
    if (!MODES.includes(a.mode)) throw new IssuerError(400, 'application.mode must be "counter" or "time"');
    const digits = a.digits ?? PROFILE_MIN_DIGITS;
    if (!Number.isInteger(digits) || digits < PROFILE_MIN_DIGITS || digits > PROFILE_MAX_DIGITS) {
      throw new IssuerError(400, `application.digits must be an integer ${PROFILE_MIN_DIGITS}..${PROFILE_MAX_DIGITS}`);
    }
    if (a.holder !== undefined && (typeof a.holder !== "string" || a.holder.length > MAX_HOLDER || !HOLDER_RE.test(a.holder))) {
      throw new IssuerError(400, `application.holder must be at most ${MAX_HOLDER} characters, none a control character`);
    }
    const application: Application = { label: a.label, mode: a.mode, digits, ...(a.holder === undefined ? {} : { holder: a.holder }) };
    const base = await this.baseCard(req.chipSerial);
    if (!base) throw new IssuerError(404, "no card is issued to this chip");
    const r = { id: randomUUID(), chipSerial: req.chipSerial, slot: req.slot, deviceId: req.deviceId, application, nonce: new Uint8Array(randomBytes(NONCE_BYTES)) };
    return this.personal(base, req.slot, undefined, (card, ctx) => decideApply(card, ctx, this.keys.cardKey(card), r, this.now(), caller));
  }

  /** The phone's response (64 hex) to the session's one-time password, once: the authentication code. */
  async personalisationOtp(id: string, response: string, caller: string): Promise<OtpAccepted> {
    checkHex(response, 64, "response");
    const s = await this.sessionOf(id, "write");
    return this.personal(s.cardId, s.slot, id, (card, ctx) => decideOtp(card, ctx, this.keys.cardKey(card), response, this.now(), caller));
  }

  /**
   * The phone's response to the authentication code and the card's proof
   * for the slot: the profile envelope and the new security code. A new
   * profile card is made only when the slot has no pending profile; its
   * PAN, random, may be taken (DuplicateCard): then again with another.
   */
  async personalisationAuth(id: string, input: AuthInput, caller: string): Promise<Released> {
    checkHex(input.response, 64, "response");
    checkGeneration(input.generation);
    checkHex(input.proof, 32, "proof");
    const s = await this.sessionOf(id, "write");
    const application = JSON.parse(s.application) as Application;
    for (let attempt = 0; ; attempt++) {
      const now = this.now();
      const tools = {
        newProfileCard: this.newCardRecord({ mode: application.mode, digits: application.digits, algorithm: "SHA1", step: DEFAULT_TIME_STEP }, now, randomUUID(), false),
        cardKeyOf: (c: CardRecord) => this.keys.cardKey(c),
      };
      try {
        return await this.personal(s.cardId, s.slot, id, (card, ctx) => decideAuth(card, ctx, this.keys.cardKey(card), input, tools, now, caller));
      } catch (e) {
        if (!(e instanceof DuplicateCard) || attempt >= 4) throw e;
      }
    }
  }

  /** The card's proof to the confirmation nonce under the released code: the slot rolls. */
  async confirmPersonalisation(id: string, input: ProofInput, caller: string): Promise<ConfirmedWrite> {
    checkGeneration(input.generation);
    checkHex(input.proof, 32, "proof");
    const s = await this.sessionOf(id, "write");
    return this.personal(s.cardId, s.slot, id, (card, ctx) => decideConfirmWrite(card, ctx, this.keys.cardKey(card), input, this.now(), caller));
  }

  /**
   * A verification device's session for a slot of the chip. A chip with no
   * issued card gets one too, kept beside the cards, which only ever
   * answers "not genuine": the device learns nothing more of it.
   */
  async createVerification(chipSerial: string, slot: number, caller: string): Promise<VerificationCreated> {
    checkSerial(chipSerial);
    checkSlot(slot);
    const r = { id: randomUUID(), chipSerial, slot, nonce: new Uint8Array(randomBytes(NONCE_BYTES)) };
    const base = await this.baseCard(chipSerial);
    if (base) {
      const made = await this.store.changePersonal(base, slot, undefined, (card) => decideCreateVerification(card, r, this.now(), caller));
      if (made) return unwrap(made);
    }
    const session = verificationSession("", r, this.now());
    await this.store.putSession(session);
    return { id: r.id, nonce: session.nonce, expiresAt: new Date(session.expiresAt).toISOString() };
  }

  /** The card's proof to the verification's nonce: genuine or not, once. */
  async answerVerification(id: string, input: ProofInput, caller: string): Promise<CardVerification> {
    checkGeneration(input.generation);
    checkHex(input.proof, 32, "proof");
    const s = await this.sessionOf(id, "verify");
    if (s.cardId === "") {
      try {
        await this.store.putSession(answerVerification(s, this.now()));
      } catch (e) {
        if (e instanceof LinkRefusal) throw new IssuerError(e.status, e.message);
        throw e;
      }
      return { genuine: false, generation: input.generation };
    }
    return this.personal(s.cardId, s.slot, id, (card, ctx) => decideVerification(card, ctx, this.keys.cardKey(card), input, this.now(), caller));
  }

  /** Runs a personalisation decision under the base card's lock; its refusal, once what it wrote is durable, as an IssuerError. */
  private async personal<T>(cardId: string, slot: number, sessionId: string | undefined, decide: Parameters<Store["changePersonal"]>[3]): Promise<T> {
    let retire: string | undefined;
    const out = (await linkCall(
      this.store.changePersonal(cardId, slot, sessionId, (card, ctx) => {
        const ch = decide(card, ctx);
        retire = ch.retire;
        return ch;
      }),
    )) as Outcome<T> | undefined;
    if (!out) throw new IssuerError(404, "no such card");
    // The slot rolled: the profile it held is gone from the genuine card, and a copy taken before keeps its key.
    // After the roll, not in its transaction: a crash in between leaves that card to be blocked by hand (docs/personalisation.md).
    if (retire) await this.setBlocked(retire, true, "personalisation: slot rewritten");
    return unwrap(out);
  }

  /**
   * A new API token (see tokens.ts); this is the one time it is seen. The
   * role defaults to admin for programs that embed an issuer and use one
   * token for everything (the simulator); the command line requires --role.
   */
  createToken(label = "api", role: Role = "admin"): Promise<string> {
    return createToken(this.store, label, role, this.now());
  }

  /** The id and role of the API token, or undefined when it is not a valid one (now: tokens.ts). */
  authenticate(token: string): Promise<Pick<TokenRecord, "id" | "role"> | undefined> {
    return this.tokens.callerOf(token);
  }
}

/** A link decision's refusal, as the HTTP layer passes it on. */
async function linkCall<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof LinkRefusal) throw new IssuerError(e.status, e.message);
    throw e;
  }
}

function unwrap<T>(o: Outcome<T>): T {
  if (!o.ok) throw new IssuerError(o.status, o.error);
  return o.value;
}

function checkSerial(serial: unknown): void {
  if (typeof serial !== "string" || !SERIAL_RE.test(serial)) throw new IssuerError(400, `chipSerial must be 1..${MAX_SERIAL} printable ASCII characters, no space`);
}

function checkSlot(slot: unknown): void {
  if (!Number.isInteger(slot) || (slot as number) < 1 || (slot as number) > SLOTS - 1) throw new IssuerError(400, `slot must be an integer 1..${SLOTS - 1}`);
}

function checkGeneration(g: unknown): void {
  if (!Number.isInteger(g) || (g as number) < 0 || (g as number) > 0xffffffff) throw new IssuerError(400, "generation must be an integer 0..4294967295");
}

function checkHex(v: unknown, digits: number, field: string): void {
  if (typeof v !== "string" || v.length !== digits || !/^[0-9a-f]*$/.test(v)) throw new IssuerError(400, `${field} must be ${digits} lower-case hex digits`);
}

/** True while the acceptance `r` is still the card's latest event: nothing accepted, failed or blocked since. */
function stillLatest(card: CardRecord, r: VerifyResult): boolean {
  if (card.blocked || card.failures !== 0) return false;
  return card.mode === "counter" ? card.nextCounter === r.counter! + 1 : card.lastStep === r.step;
}
