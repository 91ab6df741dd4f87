/**
 * The phone's two errands, for `inkcard phone pair|pay` (command.ts) and the
 * phone page (web/page.ts) alike, without Node: ask the issuer
 * (IssuerClient, which is fetch only), relay to the card (relay.ts) over a
 * CardTransport, and for a payment post the card's answer back. They report
 * outcomes only, never the pair key, the payment's code or the card's answer.
 */
import { hexToBytes, readU32BE } from "../../firmware/core/bytes.ts";
import type { IssuerClient } from "../issuer/client.ts";
import { PhoneRelay, linkKey, type PhoneStore, type RelayClock } from "./relay.ts";
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
