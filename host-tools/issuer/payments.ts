/**
 * The issuer's part of dynamic data over Bluetooth (document C,
 * docs/dynamic-data.md; the API in docs/issuer-api.md): pair a phone with a
 * card, seal a payment for the card, and check the card's answer to it.
 *
 * Every key comes from the card's key K (keys.ts) through the core key
 * schedule (firmware/core/pairing.ts), and every byte the card reads is made
 * by the core codecs the card itself runs (frames.ts, payment.ts, ocra.ts,
 * aead.ts): the issuer has no encoding of its own to disagree with.
 *
 * The decisions below are pure (the caller gives the time, the randomness
 * is local) and run inside Store.changeLink, under the card's lock, so the
 * issuer seq they take is durable and audited with the envelope's sealing,
 * atomically: a seq is sealed under once, whatever the crash.
 */
import { randomBytes, randomInt, timingSafeEqual } from "node:crypto";
import { etmAead } from "../../firmware/core/aead.ts";
import { bytesToHex, hexToBytes, utf8Bytes, wipe } from "../../firmware/core/bytes.ts";
import { sealFrame, T_GRANT, T_PAYMENT_DATA } from "../../firmware/core/frames.ts";
import { ocra, PAYMENT_OCRA_SUITE, transactionChallenge } from "../../firmware/core/ocra.ts";
import { deriveAnswerKey, deriveCardId, derivePairKey, deriveSealKey, encodeGrant } from "../../firmware/core/pairing.ts";
import { encodePayment, TXID_BYTES, type Payment } from "../../firmware/core/payment.ts";
import type { CardRecord } from "./card.ts";
import { fastHash } from "./fast-hash.ts";
import type { AuditEntry, LinkChange, LinkState, PaymentRecord } from "./store/types.ts";

/** Digits of the one-time code sealed in a payment (payment.ts takes 4..10). */
export const CODE_DIGITS = 6;
export const DEFAULT_TTL_SECONDS = 300;
export const MIN_TTL_SECONDS = 30;
export const MAX_TTL_SECONDS = 3600;
/** How long a pairing grant stays valid: time for the phone to connect, bond (passkey) and send PAIR. */
export const GRANT_TTL_SECONDS = 600;
/** Wrong answers after which a payment is void: a guess of 8 digits then succeeds with probability 3e-8. */
export const MAX_ANSWER_FAILURES = 3;
const U32 = 0xffffffff;

const sha256 = fastHash("SHA256");
const aead = etmAead(sha256);

/** Thrown by a decision; service.ts turns it into an IssuerError with this status (nothing is written). */
export class LinkRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The next issuer seq of a card: one more than the last, and never below the
 * clock in Unix seconds. The floor is for a restored backup, whose seqs are
 * older than the live issuer's: sealing under an old seq again would reuse a
 * nonce under K_seal: the same keystream twice (the phone could then read the
 * XOR of two payloads). With the floor, a restore resumes above every seq
 * the live issuer used unless some card was sealed for faster than once a
 * second on average up to the restore. u32 seconds last until 2106.
 */
export function nextIssuerSeq(link: LinkState, nowMs: number): number {
  const seq = Math.max(link.issuerSeq + 1, Math.floor(nowMs / 1000));
  if (seq > U32) throw new LinkRefusal(409, "the card's issuer sequence numbers are used up");
  return seq;
}

/** The 8 hex digits of the card id frames carry (deriveCardId). */
export function linkIdHex(cardId: number): string {
  return cardId.toString(16).padStart(8, "0");
}

export interface Pairing {
  /** The card id of frames, 8 hex. */
  linkId: string;
  epoch: number;
  /** K_pair for this device and epoch, 64 hex: the phone's secret. */
  pairKey: string;
  /** The T_GRANT envelope, sealed under K_seal, for the phone's PAIR frame. */
  grant: string;
  /** When the grant expires (the card refuses it after). */
  expiry: string;
}

export interface CreatedPayment {
  paymentId: string;
  expiry: string;
  /** The T_PAYMENT_DATA envelope for the phone's PAYMENT frame: opaque to it. */
  frame: string;
}

export interface PaymentRequest {
  amount: number;
  currency: string;
  exponent: number;
  payee: string;
  details?: string | undefined;
  ttlSeconds?: number | undefined;
}

export type ConfirmResult =
  | { ok: true; paymentId: string }
  | { ok: false; reason: "mismatch"; attemptsLeft: number; status?: "void" };

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

function audit(card: CardRecord, at: number, event: AuditEntry["event"], outcome: string, caller: string, detail: string): AuditEntry {
  return { at, cardId: card.id, event, outcome, caller, detail };
}

function refuseBlocked(card: CardRecord): void {
  // Blocked by the issuer, or issued and not yet proven on its chip (issuance.ts): nothing verifies, nothing is sealed.
  if (card.blocked) throw new LinkRefusal(409, "the card is blocked");
}

/** A new pairing: the next epoch, K_pair for the device, and the grant sealed with the next issuer seq. */
export function decidePairing(card: CardRecord, link: LinkState, cardKey: Uint8Array, deviceId: string, now: number, caller: string): LinkChange<Pairing> {
  refuseBlocked(card);
  const epoch = link.pairEpoch + 1;
  if (epoch > U32) throw new LinkRefusal(409, "the card's pairing epochs are used up");
  const seq = nextIssuerSeq(link, now);
  const expiry = Math.floor(now / 1000) + GRANT_TTL_SECONDS;
  const device = hexToBytes(deviceId);
  const cardId = deriveCardId(sha256, cardKey);
  const seal = deriveSealKey(sha256, cardKey);
  const pair = derivePairKey(sha256, cardKey, device, epoch);
  const grant = sealFrame(aead, seal, { type: T_GRANT, cardId, seq, expiry }, encodeGrant(device, epoch));
  const result: Pairing = { linkId: linkIdHex(cardId), epoch, pairKey: bytesToHex(pair), grant: bytesToHex(grant), expiry: iso(expiry) };
  wipe(seal);
  wipe(pair);
  return {
    link: { issuerSeq: seq, pairEpoch: epoch },
    audit: audit(card, now, "pair", "ok", caller, `epoch=${epoch} seq=${seq} device=${deviceId}`),
    result,
  };
}

/**
 * Checks a payment request with the card's own encoder (which names the
 * field at fault, never its value), before anything is taken or stored.
 * Throws LinkRefusal 400.
 */
export function checkPaymentRequest(req: PaymentRequest): void {
  const ttl = req.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < MIN_TTL_SECONDS || ttl > MAX_TTL_SECONDS) {
    throw new LinkRefusal(400, `ttlSeconds must be an integer ${MIN_TTL_SECONDS}..${MAX_TTL_SECONDS}`);
  }
  try {
    encodePayment(paymentOf(req, "0".repeat(CODE_DIGITS), new Uint8Array(TXID_BYTES), 1));
  } catch (e) {
    throw new LinkRefusal(400, (e as Error).message);
  }
}

function paymentOf(req: PaymentRequest, code: string, txId: Uint8Array, expiry: number): Payment {
  return { code, amount: req.amount, currency: req.currency, exponent: req.exponent, payee: req.payee, details: req.details ?? "", expiry, txId };
}

/** A random one-time code of CODE_DIGITS digits (leading zeros kept). */
function oneTimeCode(): string {
  return String(randomInt(10 ** CODE_DIGITS)).padStart(CODE_DIGITS, "0");
}

/**
 * A payment sealed for the card: a fresh one-time code and transaction id,
 * the next issuer seq, the envelope's expiry that of the payment. The
 * record keeps the transaction, never the code: the code is for the card's
 * screen only, and the answer that confirms the payment does not depend on
 * it.
 */
export function decidePayment(card: CardRecord, link: LinkState, cardKey: Uint8Array, id: string, req: PaymentRequest, now: number, caller: string): LinkChange<CreatedPayment> {
  refuseBlocked(card);
  const seq = nextIssuerSeq(link, now);
  const expiry = Math.floor(now / 1000) + (req.ttlSeconds ?? DEFAULT_TTL_SECONDS);
  const txId = new Uint8Array(randomBytes(TXID_BYTES));
  const payload = encodePayment(paymentOf(req, oneTimeCode(), txId, expiry));
  const seal = deriveSealKey(sha256, cardKey);
  const cardId = deriveCardId(sha256, cardKey);
  const frame = sealFrame(aead, seal, { type: T_PAYMENT_DATA, cardId, seq, expiry }, payload);
  wipe(payload); // holds the code
  wipe(seal);
  const payment: PaymentRecord = {
    id, cardId: card.id, txId: bytesToHex(txId), amount: req.amount, currency: req.currency, exponent: req.exponent, payee: req.payee,
    details: req.details ?? "", expiry, issuerSeq: seq, status: "pending", failures: 0, createdAt: now, updatedAt: now,
  };
  return {
    link: { issuerSeq: seq, pairEpoch: link.pairEpoch },
    payment,
    audit: audit(card, now, "payment", "ok", caller, `payment=${id} seq=${seq} expiry=${iso(expiry)}`),
    result: { paymentId: id, expiry: iso(expiry), frame: bytesToHex(frame) },
  };
}

/** The answer the card makes for this payment (docs/dynamic-data.md, "Transaction-bound answer"), from the issuer's own record. */
export function expectedAnswer(cardKey: Uint8Array, p: PaymentRecord): string {
  const question = transactionChallenge(sha256, {
    txId: hexToBytes(p.txId),
    amount: p.amount,
    currency: p.currency,
    exponent: p.exponent,
    payee: utf8Bytes(p.payee),
    details: utf8Bytes(p.details),
  });
  const key = deriveAnswerKey(sha256, cardKey);
  try {
    return ocra(sha256, PAYMENT_OCRA_SUITE, key, { question });
  } finally {
    wipe(key);
  }
}

/**
 * Checks the card's answer, once. A payment already accepted or void, or
 * past its expiry, or of a blocked card, is refused (409) and changes
 * nothing; a wrong answer counts, and the MAX_ANSWER_FAILURES-th makes the
 * payment void. The comparison takes the same time wherever the digits
 * differ.
 */
export function decideConfirm(card: CardRecord, p: PaymentRecord | undefined, cardKey: Uint8Array, answer: string, now: number, caller: string): LinkChange<ConfirmResult> {
  if (!p) throw new LinkRefusal(404, "no such payment");
  if (p.status === "accepted") throw new LinkRefusal(409, "the payment is already confirmed");
  if (p.status === "void") throw new LinkRefusal(409, `the payment is void: ${MAX_ANSWER_FAILURES} wrong answers`);
  if (now > p.expiry * 1000) throw new LinkRefusal(409, `the payment expired at ${iso(p.expiry)}`);
  refuseBlocked(card);
  const expected = Buffer.from(expectedAnswer(cardKey, p), "latin1");
  const given = Buffer.from(answer, "latin1");
  const ok = given.length === expected.length && timingSafeEqual(given, expected);
  if (ok) {
    return {
      payment: { ...p, status: "accepted", updatedAt: now },
      audit: audit(card, now, "confirm", "ok", caller, `payment=${p.id}`),
      result: { ok: true, paymentId: p.id },
    };
  }
  const failures = p.failures + 1;
  const dead = failures >= MAX_ANSWER_FAILURES;
  return {
    payment: { ...p, failures, status: dead ? "void" : "pending", updatedAt: now },
    audit: audit(card, now, "confirm", "mismatch", caller, `payment=${p.id} failures=${failures}${dead ? " void" : ""}`),
    result: { ok: false, reason: "mismatch", attemptsLeft: MAX_ANSWER_FAILURES - failures, ...(dead ? { status: "void" as const } : {}) },
  };
}
