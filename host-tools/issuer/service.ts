/**
 * The issuer's operations, independent of HTTP: issue a card, verify and
 * resynchronise its codes, block it, read the audit trail, manage API
 * tokens. Every change goes through Store.change, so it is atomic per card
 * and audited in the same transaction.
 */
import { randomUUID } from "node:crypto";
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
import type { AuditEvent, AuditRecord, Role, Store, TokenRecord } from "./store/types.ts";
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
      const card: CardRecord = {
        id: opts.id ?? randomUUID(),
        ...newCardData(now, this.bin),
        mode,
        digits,
        algorithm,
        step,
        startCounter: 0,
        createdAt: now,
        version: 0,
        blocked: opts.blocked ?? false,
        nextCounter: 0,
        lastStep: -1,
        drift: 0,
        failures: 0,
        lastFailureAt: 0,
        resyncFailures: 0,
        lastResyncFailureAt: 0,
      };
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

/** True while the acceptance `r` is still the card's latest event: nothing accepted, failed or blocked since. */
function stillLatest(card: CardRecord, r: VerifyResult): boolean {
  if (card.blocked || card.failures !== 0) return false;
  return card.mode === "counter" ? card.nextCounter === r.counter! + 1 : card.lastStep === r.step;
}
