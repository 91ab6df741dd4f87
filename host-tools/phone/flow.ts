/**
 * The phone's errands, for `inkcard phone pair|pay|apply`, `inkcard
 * verify-card` (command.ts) and the phone page (web/page.ts) alike, without
 * Node: ask the issuer (IssuerClient, PersonalClient: fetch only), relay to
 * the card (relay.ts) over a CardTransport, and post the card's answer back.
 * They report outcomes only, never the pair key, the payment's code, the
 * card's answer, the one-time password or a security code.
 */
import { bytesToHex, equalBytes, hexToBytes, readU32BE } from "../../firmware/core/bytes.ts";
import { PURPOSE_WRITE, SLOTS, STEP_AUTH, STEP_OTP, applyResponse, securityProof } from "../../firmware/core/personal.ts";
import { IssuerHttpError, type IssuerClient } from "../issuer/client.ts";
import { nodeHash } from "../lib/hash.ts";
import type { Application, PersonalApi } from "./personal-client.ts";
import { PhoneRelay, RelayError, linkKey, type CardProof, type PhoneStore, type RelayClock, type SlotCode } from "./relay.ts";
import type { CardTransport } from "./transport.ts";

/** A link to the card, and a way to make it again (the relay's reconnects). */
export type Connect = () => Promise<CardTransport>;

export class FlowError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FlowError";
  }
}

export interface FlowDeps {
  issuer: Pick<IssuerClient, "createPairing" | "createPayment" | "confirmPayment">;
  store: PhoneStore;
  connect: Connect;
  log?: (line: string) => void;
  clock?: RelayClock;
}

/** ISO 4217 minor units that are not 2 (the currencies in use; 2 for the rest). */
export const EXPONENTS: Record<string, number> = { BHD: 3, BIF: 0, CLF: 4, CLP: 0, DJF: 0, GNF: 0, IQD: 3, ISK: 0, JOD: 3, JPY: 0, KMF: 0, KRW: 0, KWD: 3, LYD: 3, OMR: 3, PYG: 0, RWF: 0, TND: 3, UGX: 0, UYI: 0, UYW: 4, VND: 0, VUV: 0, XAF: 0, XOF: 0, XPF: 0 };

/** "12.34" at exponent 2 -> 1234; refuses more decimals than the currency has. */
export function minorUnits(amount: string, exponent: number): number {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(amount.trim());
  if (!m) throw new FlowError(`the amount must be a decimal number like 12.34, got ${JSON.stringify(amount.slice(0, 40))}`);
  const frac = m[2] ?? "";
  if (frac.length > exponent) throw new FlowError(`the amount has ${frac.length} decimals; the currency has ${exponent}`);
  const n = Number(m[1] + frac.padEnd(exponent, "0"));
  if (!Number.isSafeInteger(n)) throw new FlowError("the amount is too large");
  return n;
}

export interface HelloResult {
  linkId: string;
  epoch: number;
  maxWrite: number;
  /** Whether this phone holds a pairing for the card at the card's epoch. */
  paired: boolean;
}

/** HELLO only: who the card in range is, and whether this phone is its bound phone. */
export async function helloCard(d: Omit<FlowDeps, "issuer">): Promise<HelloResult> {
  const relay = new PhoneRelay(await d.connect(), { store: d.store, reconnect: d.connect, log: d.log, clock: d.clock });
  try {
    const h = await relay.hello();
    const mine = (await d.store.load()).cards[linkKey(h.linkId)];
    return { linkId: linkKey(h.linkId), epoch: h.epoch, maxWrite: h.maxWrite, paired: mine !== undefined && mine.epoch === h.epoch && h.epoch > 0 };
  } finally {
    await relay.close().catch(() => {});
  }
}

/** Pair this phone with the card: the issuer's grant, relayed. Returns the epoch. */
export async function pairCard(d: FlowDeps, cardId: string): Promise<number> {
  const log = d.log ?? (() => {});
  const state = await d.store.load();
  const pairing = await d.issuer.createPairing(cardId, state.deviceId);
  log(`the issuer granted pairing epoch ${pairing.epoch}`);
  const relay = new PhoneRelay(await d.connect(), { store: d.store, reconnect: d.connect, log, clock: d.clock });
  try {
    const h = await relay.hello();
    if (linkKey(h.linkId) !== pairing.linkId.toLowerCase()) throw new FlowError("the card in range is not the card asked for");
    await relay.pair(hexToBytes(pairing.grant), hexToBytes(pairing.pairKey), pairing.epoch, hexToBytes(state.deviceId));
    // Which issuer card this link is: a later errand naming the card checks the card in range against it.
    const after = await d.store.load();
    const link = after.cards[linkKey(h.linkId)];
    if (link && /^[0-9A-Za-z-]{1,64}$/.test(cardId)) {
      link.card = cardId;
      await d.store.save(after);
    }
  } finally {
    await relay.close().catch(() => {});
  }
  return pairing.epoch;
}

export interface PayRequest {
  amount: string;
  currency: string;
  exponent?: number;
  payee: string;
  details?: string;
  ttlSeconds?: number;
}

export type PayOutcome =
  | { outcome: "accepted"; paymentId: string }
  | { outcome: "declined" | "expired"; paymentId: string }
  | { outcome: "refused"; paymentId: string; reason: string };

/**
 * A payment: the issuer seals it, the relay carries it to the card, the
 * holder decides on the card, the card's answer goes back to the issuer.
 * `onSent` runs once the frame is on its way to the card (after HELLO), while the holder decides.
 */
export async function payCard(d: FlowDeps, cardId: string, req: PayRequest, onSent: (paymentId: string) => void = () => {}): Promise<PayOutcome> {
  const log = d.log ?? (() => {});
  const currency = req.currency.trim().toUpperCase();
  if (!/^[A-Z]{3}$/.test(currency)) throw new FlowError("the currency must be an ISO 4217 code like EUR");
  const exponent = req.exponent ?? EXPONENTS[currency] ?? 2;
  const amount = minorUnits(req.amount, exponent);
  if (!req.payee.trim()) throw new FlowError("say who is paid (the payee)");
  const created = await d.issuer.createPayment(cardId, {
    amount,
    currency,
    exponent,
    payee: req.payee,
    ...(req.details ? { details: req.details } : {}),
    ...(req.ttlSeconds ? { ttlSeconds: req.ttlSeconds } : {}),
  });
  if (typeof created.frame !== "string" || !/^(?:[0-9a-f]{2})+$/i.test(created.frame) || created.frame.length < 28) throw new FlowError("the issuer's payment is not a frame");
  const envelope = hexToBytes(created.frame.toLowerCase());
  const linkId = readU32BE(envelope, 2);
  const mine = (await d.store.load()).cards[linkKey(linkId)];
  if (!mine) throw new FlowError("this phone is not paired with the card: pair first");
  const relay = new PhoneRelay(await d.connect(), {
    store: d.store,
    reconnect: d.connect,
    clock: d.clock,
    log: (line) => {
      log(line);
    },
  });
  let answer: string;
  try {
    const h = await relay.hello();
    if (h.linkId !== linkId) throw new FlowError("the card in range is not the card asked for");
    if (h.epoch !== mine.epoch) throw new FlowError("the card is paired with another phone (or an earlier pairing): pair again");
    log("payment sent: confirm on the card (a long press declines)");
    const paying = relay.pay(envelope);
    onSent(created.paymentId);
    answer = await paying;
  } finally {
    await relay.close().catch(() => {});
  }
  if (answer === "declined" || answer === "expired") return { outcome: answer, paymentId: created.paymentId };
  const result = await d.issuer.confirmPayment(created.paymentId, answer);
  if (!result.ok) return { outcome: "refused", paymentId: created.paymentId, reason: result.reason };
  return { outcome: "accepted", paymentId: created.paymentId };
}

// ------------------------------------------------------------ personalisation (docs/personalisation.md)

export interface PersonalDeps {
  issuer: PersonalApi;
  store: PhoneStore;
  connect: Connect;
  log?: (line: string) => void;
  clock?: RelayClock;
}

export interface ApplyRequest {
  slot: number;
  application: Application;
}

export interface ApplyResult {
  slot: number;
  /** The slot's generation now: the code this phone holds. */
  generation: number;
  /** The issuer's id of the profile written. */
  profileCardId: string;
  chipSerial: string;
}

export interface VerifyOutcome {
  genuine: boolean;
  /** The generation the card proved (0: its slot holds no code). */
  generation: number;
  chipSerial: string;
  /** Why not genuine, when the issuer did not even take the chip and slot. */
  reason?: string;
}

/** The FlowError of a failed local check: the card in range is not the one this phone last wrote (a copy, or another card). */
export const NOT_MY_CODE = "this card does not hold the security code this phone wrote";

const SHA = nodeHash("SHA256");
const HEX32 = /^[0-9a-f]{32}$/;
const HEX64 = /^[0-9a-f]{64}$/;

/** The application as the issuer takes it, or a FlowError naming the field. */
export function checkApplication(slot: number, a: Application): Application {
  if (!Number.isInteger(slot) || slot < 1 || slot >= SLOTS) throw new FlowError(`the slot must be 1..${SLOTS - 1} (slot 0 is the card's own profile)`);
  if (!a || typeof a !== "object") throw new FlowError("say what to apply for");
  if (typeof a.label !== "string" || !/^[\x20-\x7e]{1,12}$/.test(a.label)) throw new FlowError("the label must be 1..12 printable ASCII characters");
  if (a.mode !== "counter" && a.mode !== "time") throw new FlowError('the mode must be "counter" or "time"');
  if (a.digits !== undefined && !Number.isInteger(a.digits)) throw new FlowError("the digits must be an integer");
  // The issuer's bounds on the rest (digits, the holder's length) are its own: its 400 names the field.
  if (a.holder !== undefined && (typeof a.holder !== "string" || /[\u0000-\u001f\u007f]/.test(a.holder))) throw new FlowError("the holder's name must have no control characters");
  return { label: a.label, mode: a.mode, ...(a.digits !== undefined ? { digits: a.digits } : {}), ...(a.holder !== undefined ? { holder: a.holder } : {}) };
}

/** A hex field of the issuer's answer, or a FlowError naming it (never its value). */
function hexField(v: unknown, re: RegExp, what: string): Uint8Array {
  if (typeof v !== "string" || !re.test(v.toLowerCase())) throw new FlowError(`the issuer's ${what} is not ${re === HEX32 ? 16 : 32} bytes of hex`);
  return hexToBytes(v.toLowerCase());
}

/**
 * The local check before the issuer is asked: when this phone wrote the
 * slot, the card must prove a code this phone holds (the current one, or
 * the pending one when a write landed unconfirmed). A phone that never
 * wrote the slot holds none and leaves the check to the issuer.
 */
function checkHeld(held: SlotCode[] | undefined, p: CardProof, serial: string, nonce: Uint8Array): void {
  if (!held || held.length === 0) return;
  const mine = p.generation > 0 ? held.find((c) => c.generation === p.generation) : undefined;
  if (!mine) throw new FlowError(NOT_MY_CODE);
  const code = hexToBytes(mine.code);
  const want = securityProof(SHA, code, PURPOSE_WRITE, p.slot, p.generation, serial, nonce);
  code.fill(0);
  if (!equalBytes(want, p.proof)) throw new FlowError(NOT_MY_CODE);
}

/** Keep `codes` for the card's slot (saved whole, durable before the caller goes on). */
async function keepCodes(store: PhoneStore, linkId: number, slot: number, codes: SlotCode[]): Promise<void> {
  const state = await store.load();
  const card = state.cards[linkKey(linkId)];
  if (!card) throw new FlowError("this phone's pairing with the card is gone: pair again");
  card.codes = { ...(card.codes ?? {}), [String(slot)]: codes };
  await store.save(state);
}

/**
 * Personalisation (docs/personalisation.md, "Message sequence"): the card's
 * chip serial, the issuer's session, the two responses under K_pair, the
 * card's proof (checked here first with the code this phone holds), the
 * profile written, and the card's proof of the new code, confirmed with the
 * issuer. The new code is kept as pending before the write and as the only
 * one after the confirmation, so a run cut anywhere is finished by running
 * it again: the card proves the code it holds, current or pending, and the
 * issuer takes either (a pending one rolls).
 */
export async function personaliseCard(d: PersonalDeps, cardId: string, req: ApplyRequest): Promise<ApplyResult> {
  const log = d.log ?? (() => {});
  const application = checkApplication(req.slot, req.application);
  const slot = req.slot;
  const relay = new PhoneRelay(await d.connect(), { store: d.store, reconnect: d.connect, log, clock: d.clock });
  try {
    const h = await relay.hello();
    const state = await d.store.load();
    const mine = state.cards[linkKey(h.linkId)];
    if (!mine) throw new FlowError("this phone is not paired with the card: pair first");
    if (mine.card !== undefined && mine.card !== cardId) throw new FlowError("the card in range is not the card asked for");
    if (h.epoch !== mine.epoch) throw new FlowError("the card is paired with another phone (or an earlier pairing): pair again");
    const serial = await relay.readSerial();
    log(`the card's chip serial is ${serial}`);

    const session = await d.issuer.createPersonalisation({ chipSerial: serial, slot, deviceId: state.deviceId, application });
    if (typeof session?.id !== "string" || !session.id) throw new FlowError("the issuer's session has no id");
    const nonce = hexField(session.nonce, HEX32, "nonce");
    const otp = hexField(session.otp, HEX32, "one-time password");
    // The two responses are all that leaves the phone of K_pair and the issuer's two codes.
    const pairKey = hexToBytes(mine.pairKey);
    let authResponse: string;
    let proof: CardProof;
    const held = mine.codes?.[String(slot)];
    try {
      const otpResponse = bytesToHex(applyResponse(SHA, pairKey, STEP_OTP, nonce, serial, otp));
      const authCode = hexField((await d.issuer.personalisationOtp(session.id, otpResponse))?.authCode, HEX32, "authentication code");
      authResponse = bytesToHex(applyResponse(SHA, pairKey, STEP_AUTH, nonce, serial, authCode));
      authCode.fill(0);
      log("the issuer took this phone's response");
      proof = await relay.securityProof(slot, nonce);
    } finally {
      pairKey.fill(0);
      otp.fill(0);
    }
    checkHeld(held, proof, serial, nonce);
    log(proof.generation ? `the card proved its code for slot ${slot} (generation ${proof.generation})` : `slot ${slot} on the card is empty`);

    const released = await d.issuer.personalisationAuth(session.id, { response: authResponse, generation: proof.generation, proof: bytesToHex(proof.proof) });
    if (typeof released?.frame !== "string" || !/^(?:[0-9a-f]{2})+$/i.test(released.frame) || released.frame.length < 28) throw new FlowError("the issuer's profile is not a frame");
    if (released.generation !== proof.generation + 1) throw new FlowError(`the issuer released generation ${String(released.generation)} for a slot at ${proof.generation}`);
    hexField(released.securityCode, HEX64, "security code");
    const confirmNonce = hexField(released.confirmNonce, HEX32, "confirm nonce");
    const pending: SlotCode = { generation: released.generation, code: released.securityCode.toLowerCase() };
    // Durable before the write: if the write lands and this phone dies, the next run still knows the card's new code.
    const current = held?.find((c) => c.generation === proof.generation);
    await keepCodes(d.store, h.linkId, slot, current ? [current, pending] : [pending]);

    try {
      await relay.writeProfile(hexToBytes(released.frame.toLowerCase()));
      log(`the card took the profile for slot ${slot}`);
    } catch (e) {
      // A write that landed while its ACK was lost is refused when resent (the slot moved on): the proof below tells.
      if (!(e instanceof RelayError && e.code === "E_OLD_SEQ")) throw e;
      log("the card refused the profile as old: asking it which code it holds");
    }

    const after = await relay.securityProof(slot, confirmNonce);
    if (after.generation !== released.generation) throw new FlowError(`the card did not take the profile: slot ${slot} is at generation ${after.generation}, not ${released.generation}`);
    checkHeld([pending], after, serial, confirmNonce);
    const confirmed = await d.issuer.confirmPersonalisation(session.id, { generation: after.generation, proof: bytesToHex(after.proof) });
    if (confirmed?.generation !== released.generation) throw new FlowError(`the issuer confirmed generation ${String(confirmed?.generation)}, not ${released.generation}`);
    await keepCodes(d.store, h.linkId, slot, [pending]);
    log(`the issuer confirmed slot ${slot} at generation ${released.generation}`);
    return { slot, generation: released.generation, profileCardId: String(released.profileCardId), chipSerial: serial };
  } finally {
    await relay.close().catch(() => {});
  }
}

/**
 * A verification device's errand (docs/personalisation.md): the chip
 * serial, the issuer's nonce, the card's clear proof, the issuer's verdict.
 * No pairing. A chip and slot the issuer has no profile for is not genuine.
 */
export async function verifyCard(d: Omit<PersonalDeps, "store"> & { store?: PhoneStore }, slot: number): Promise<VerifyOutcome> {
  const log = d.log ?? (() => {});
  if (!Number.isInteger(slot) || slot < 1 || slot >= SLOTS) throw new FlowError(`the slot must be 1..${SLOTS - 1}`);
  // Clear frames only: no state is read or written.
  const store = d.store ?? { load: () => ({ deviceId: "0".repeat(32), cards: {} }), save: () => {} };
  const relay = new PhoneRelay(await d.connect(), { store, reconnect: d.connect, log, clock: d.clock });
  try {
    await relay.hello();
    const serial = await relay.readSerial();
    log(`the card's chip serial is ${serial}`);
    let v;
    try {
      v = await d.issuer.createVerification({ chipSerial: serial, slot });
    } catch (e) {
      if (e instanceof IssuerHttpError && e.status === 404) return { genuine: false, generation: 0, chipSerial: serial, reason: "the issuer knows no profile for this chip and slot" };
      throw e;
    }
    if (typeof v?.id !== "string" || !v.id) throw new FlowError("the issuer's verification has no id");
    const nonce = hexField(v.nonce, HEX32, "nonce");
    const p = await relay.verifyProof(slot, nonce);
    log(p.generation ? `the card proved generation ${p.generation}` : `slot ${slot} on the card holds no code`);
    const r = await d.issuer.answerVerification(v.id, { generation: p.generation, proof: bytesToHex(p.proof) });
    if (typeof r?.genuine !== "boolean") throw new FlowError("the issuer's verdict is not genuine or not");
    return { genuine: r.genuine, generation: p.generation, chipSerial: serial };
  } finally {
    await relay.close().catch(() => {});
  }
}
