/**
 * Issuance at the issuer (issue 5, docs/provisioning.md): a card is made for
 * one chip, handed out once, and counts as issued only after the tool has
 * proven the chip holds it: the profile digest the card reports matches the
 * one issued, and the first code the card computed verifies.
 *
 *   POST /v1/issuance                 {chipSerial, firmware, mode, digits?, algorithm?, step?, force?}
 *        -> 201 {card, package, caption, digest, replaces?}   the card, blocked while pending
 *   GET  /v1/issuance/chips/{serial}  -> {chipSerial, issued?, pending?}   each {cardId, digest}
 *   POST /v1/issuance/{id}/confirm    {digest, code} -> {cardId, state: "issued", consolePassword}
 *   POST /v1/issuance/{id}/password   -> {cardId, consolePassword}   for an issued card
 *
 * A chip with an issued card gets another only with force (a reissue); the
 * old card verifies until the new one is proven, then it is blocked. A new
 * attempt abandons the chip's pending one (its card stays blocked for good).
 * Every step is in the issuer's audit trail as a "provision" event. Each
 * step is safe to repeat after a crash between its writes: see the notes.
 * Which chip each card went to, and its state, is the issuer store's
 * issuance table (store/schema.ts, version 6).
 * The messages are host-tools/issuance/protocol.ts, the profile record both
 * sides compute host-tools/issuance/package.ts.
 */
import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { captionOf, consolePassword, profileRecord } from "../issuance/package.ts";
import type { Begun, ChipStatus, Confirmed } from "../issuance/protocol.ts";
import { ALGORITHMS, MODES, stateOf } from "./card.ts";
import { cardCodes } from "./card-codes.ts";
import { ISSUERS } from "./http.ts";
import type { KeySource } from "./keys.ts";
import { MAX_DIGITS, MAX_STEP_SECONDS, MIN_DIGITS } from "../issuance/limits.ts";
import { IssuerError, type CreateCardRequest, type Issuer } from "./service.ts";
import type { IssuanceRow, Role } from "./store/types.ts";
import { decideVerify } from "./verify.ts";

export interface BeginRequest extends CreateCardRequest {
  chipSerial: string;
  firmware: string;
  force?: boolean;
}

export const CHIP_SERIAL = /^[0-9A-Za-z][0-9A-Za-z:._-]{3,63}$/;
export const FIRMWARE_VERSION = /^[0-9A-Za-z.+_-]{1,32}$/;

export class Issuance {
  constructor(
    private readonly issuer: Issuer,
    private readonly keys: KeySource,
    private readonly now: () => number = Date.now,
  ) {}

  async status(chipSerial: string): Promise<ChipStatus> {
    const out: ChipStatus = { chipSerial };
    for (const r of await this.issuer.store.chipIssuance(chipSerial)) {
      if (r.state === "issued" || r.state === "pending") out[r.state] = { cardId: r.cardId, digest: r.digest };
    }
    return out;
  }

  async begin(req: BeginRequest, caller: string): Promise<Begun> {
    const chip = req.chipSerial;
    const rows = await this.issuer.store.chipIssuance(chip);
    const issued = rows.find((r) => r.state === "issued");
    if (issued && !req.force) {
      throw new IssuerError(409, `chip ${chip} already holds issued card ${issued.cardId}; reissuing it needs force`);
    }
    for (const r of rows) if (r.state === "pending") await this.abandon(r, caller);

    // The row first, with the card's id: a crash before the card exists leaves a pending row the next attempt abandons.
    const id = randomUUID();
    if (!(await this.issuer.store.insertPendingIssuance({ cardId: id, chipSerial: chip, firmware: req.firmware, at: this.now() }))) {
      throw new IssuerError(409, `another issuance for chip ${chip} started just now; try again`);
    }
    const made = await this.issuer.createCard({ mode: req.mode, digits: req.digits, algorithm: req.algorithm, step: req.step }, caller, { id, blocked: true });
    const caption = captionOf(made.card.pan);
    const { record, digest } = profileRecord(made.package, caption);
    record.fill(0);
    await this.issuer.store.setIssuanceDigest(id, digest, this.now());
    const detail = `begun for chip ${chip}, firmware ${req.firmware}` + (issued ? `, to replace ${issued.cardId}` : "");
    await this.audit(id, "ok", caller, detail);
    return { ...made, caption, digest, ...(issued ? { replaces: issued.cardId } : {}) };
  }

  /**
   * Verify after burn. The code is checked as a verify would (forward only,
   * look-ahead), on the card as if it were not blocked; on success the card
   * is unblocked in the same change. A refused code is a 409 and, like every
   * 4xx, changes nothing and writes no audit entry: the card is blocked and
   * pending, and the caller (an issue token) already holds its key. If the
   * process dies before the table says "issued", a retry with the card's next
   * code finishes it.
   */
  async confirm(cardId: string, digest: string, code: string, caller: string): Promise<Confirmed> {
    const row = await this.issuer.store.getIssuance(cardId);
    if (!row) throw new IssuerError(404, "no issuance for this card");
    if (row.state !== "pending") throw new IssuerError(409, `this card's issuance is ${row.state}, not pending: start again`);
    if (digest !== row.digest) {
      throw new IssuerError(409, "the card reports another profile than the one issued for it: write the profile again");
    }
    let key: Uint8Array | undefined;
    const result = await this.issuer.store.change(cardId, (card) => {
      const now = this.now();
      key = this.keys.cardKey(card);
      const d = decideVerify({ ...card, blocked: false }, code, now, cardCodes(card.algorithm, key, card.digits), this.issuer.policy);
      if (!d.result.ok) return { result: d.result };
      return {
        state: { ...(d.state ?? stateOf(card)), blocked: false },
        audit: { at: now, cardId, event: "provision", outcome: d.outcome, caller, detail: `proven on chip ${row.chipSerial}` },
        result: d.result,
      };
    });
    if (!result || !key) throw new IssuerError(404, "no such card");
    if (!result.ok) {
      const wait = result.retryAfter ? ` (retry after ${result.retryAfter} s)` : "";
      throw new IssuerError(409, `the card's first code was refused: ${result.reason}${wait}`);
    }
    // A reissue: the card it replaces stops verifying before the new one counts as issued.
    for (const old of await this.issuer.store.chipIssuance(row.chipSerial)) {
      if (old.state === "issued" && old.cardId !== cardId) await this.block(old.cardId, caller, `replaced by ${cardId}`);
    }
    if (!(await this.issuer.store.promoteIssuance(cardId, row.chipSerial, this.now()))) {
      throw new IssuerError(409, "this card's issuance was abandoned meanwhile: start again");
    }
    return { cardId, state: "issued", consolePassword: consolePassword(key) };
  }

  /**
   * The console password of an issued card, to unlock it for a reissue or to
   * finish locking it. An admin token gets any card's; an issue token only
   * that of a card it issued itself (it was given the card's key then, which
   * the password derives from: nothing new), so a station can finish its own
   * work, and no station reads the others' cards.
   */
  async password(cardId: string, caller: string, role: Role = "admin"): Promise<Confirmed> {
    const row = await this.issuer.store.getIssuance(cardId);
    if (!row) throw new IssuerError(404, "no issuance for this card");
    if (row.state !== "issued") throw new IssuerError(409, `this card is ${row.state}, not issued`);
    if (role !== "admin") {
      // The card's first audit entry is its issue, made by the token that began its issuance.
      const trail = await this.issuer.store.listAudit({ cardId, limit: 1000 });
      const first = trail[trail.length - 1];
      if (first?.event !== "issue" || first.caller !== caller) {
        throw new IssuerError(403, "an issue token gets the console password only of a card it issued: use an admin token");
      }
    }
    let key: Uint8Array | undefined;
    await this.issuer.store.change(cardId, (card) => {
      key = this.keys.cardKey(card);
      return { audit: { at: this.now(), cardId, event: "provision", outcome: "ok", caller, detail: "console password given" }, result: undefined };
    });
    if (!key) throw new IssuerError(404, "no such card");
    return { cardId, state: "issued", consolePassword: consolePassword(key) };
  }

  /** Block first, then mark void: a crash in between leaves a pending row the next attempt abandons again. */
  private async abandon(r: IssuanceRow, caller: string): Promise<void> {
    await this.block(r.cardId, caller, "abandoned: a new attempt for the chip began");
    await this.issuer.store.abandonIssuance(r.cardId, this.now());
  }

  private async block(cardId: string, caller: string, detail: string): Promise<void> {
    await this.issuer.store.change(cardId, (card) => ({
      state: { ...stateOf(card), blocked: true },
      audit: { at: this.now(), cardId, event: "provision", outcome: "ok", caller, detail },
      result: undefined,
    }));
  }

  private async audit(cardId: string, outcome: string, caller: string, detail: string): Promise<void> {
    await this.issuer.store.change(cardId, () => ({ audit: { at: this.now(), cardId, event: "provision", outcome, caller, detail }, result: undefined }));
  }
}

const object = (properties: Record<string, unknown>, required: string[] = []) =>
  ({ type: "object", properties, required, additionalProperties: false }) as const;
const ID_PARAMS = object({ id: { type: "string", pattern: "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$" } }, ["id"]);
const DIGEST = { type: "string", pattern: "^[0-9a-f]{64}$" } as const;

/** Adds the routes above to the issuer's app (its bearer-token check covers them). */
export function registerIssuance(app: FastifyInstance, o: { issuer: Issuer; keys: KeySource; now?: (() => number) | undefined }): Issuance {
  const issuance = new Issuance(o.issuer, o.keys, o.now);

  app.post(
    "/v1/issuance",
    {
      config: { roles: ISSUERS },
      schema: {
        body: object(
          {
            chipSerial: { type: "string", pattern: CHIP_SERIAL.source },
            firmware: { type: "string", pattern: FIRMWARE_VERSION.source },
            force: { type: "boolean" },
            mode: { enum: MODES },
            digits: { type: "integer", minimum: MIN_DIGITS, maximum: MAX_DIGITS },
            algorithm: { enum: ALGORITHMS },
            step: { type: "integer", minimum: 1, maximum: MAX_STEP_SECONDS },
          },
          ["chipSerial", "firmware", "mode"],
        ),
      },
    },
    async (req, reply) => reply.code(201).send(await issuance.begin(req.body as BeginRequest, req.caller)),
  );
  app.get(
    "/v1/issuance/chips/:serial",
    { config: { roles: ISSUERS }, schema: { params: object({ serial: { type: "string", pattern: CHIP_SERIAL.source } }, ["serial"]) } },
    async (req) => issuance.status((req.params as { serial: string }).serial),
  );
  app.post(
    "/v1/issuance/:id/confirm",
    { config: { roles: ISSUERS }, schema: { params: ID_PARAMS, body: object({ digest: DIGEST, code: { type: "string", pattern: "^[0-9]{3,10}$" } }, ["digest", "code"]) } },
    async (req) => {
      const body = req.body as { digest: string; code: string };
      return issuance.confirm((req.params as { id: string }).id, body.digest, body.code, req.caller);
    },
  );
  // Issue tokens too, for the cards they issued (see password()); admin tokens for any.
  app.post("/v1/issuance/:id/password", { config: { roles: ISSUERS }, schema: { params: ID_PARAMS } }, async (req) =>
    issuance.password((req.params as { id: string }).id, req.caller, req.role),
  );
  return issuance;
}
