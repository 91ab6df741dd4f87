/**
 * The issuer's operations, independent of HTTP: issue a card, verify and
 * resynchronise its codes, block it, read the audit trail, manage API
 * tokens. Every change goes through Store.change, so it is atomic per card
 * and audited in the same transaction.
 */
import { randomUUID } from "node:crypto";
import { bytesToHex } from "../../firmware/core/bytes.ts";
import { DEFAULT_DIGITS, DEFAULT_TIME_STEP } from "../../firmware/core/dcvv.ts";
import { ALGORITHMS, MODES, stateOf, viewOf, type Algorithm, type CardRecord, type CardView, type Mode, type ProvisioningPackage } from "./card.ts";
import { newCardData, TEST_BIN } from "./card-data.ts";
import { cardCodes } from "./card-codes.ts";
import type { KeySource } from "./keys.ts";
import { makePolicy, type Policy } from "./policy.ts";
import type { AuditEvent, AuditRecord, Store } from "./store/types.ts";
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

export const MAX_STEP_SECONDS = 86400;

export class Issuer {
  readonly policy: Policy;
  readonly store: Store;
  private readonly keys: KeySource;
  private readonly now: () => number;
  private readonly bin: string;
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
    if (!Number.isInteger(digits) || digits < 3 || digits > 10) throw new IssuerError(400, "digits must be an integer 3..10");
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

  /** Runs a decision on the card under the store's lock and audits it. */
  private decide(id: string, event: AuditEvent, caller: string, fn: (card: CardRecord, now: number) => Decision<VerifyResult>) {
    return this.store.change(id, (card) => {
      const now = this.now();
      const d = fn(card, now);
      return { state: d.state, audit: { at: now, cardId: id, event, outcome: d.outcome, caller, detail: d.detail }, result: d.result };
    });
  }

  verify(id: string, code: string, caller: string): Promise<VerifyResult | undefined> {
    return this.decide(id, "verify", caller, (card, now) => decideVerify(card, code, now, this.codeAt(card), this.policy));
  }

  async resync(id: string, codes: string[], caller: string): Promise<VerifyResult | undefined> {
    if (codes.length !== this.policy.resyncCodes) {
      throw new IssuerError(400, `resync needs exactly ${this.policy.resyncCodes} consecutive codes`);
    }
    return this.decide(id, "resync", caller, (card, now) => {
      if (card.mode !== "counter") {
        throw new IssuerError(409, "resync is for counter-mode cards; time-mode cards learn their drift on each accepted code");
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

  /** A new API token (see tokens.ts); this is the one time it is seen. */
  createToken(label = "api"): Promise<string> {
    return createToken(this.store, label, this.now());
  }

  /** The id of the API token, or undefined when it is not a valid one. */
  authenticate(token: string): Promise<string | undefined> {
    return this.tokens.callerOf(token);
  }
}
