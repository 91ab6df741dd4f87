/**
 * The card's side of a whole frame from the phone: the phone's layer (clear,
 * or sealed under K_pair), then, for the types that carry one, the issuer's
 * envelope inside it (sealed under K_seal). docs/dynamic-data.md, "Checks".
 *
 * Pure: nothing is changed but out. On OK the caller persists
 *   lastSeq = out.seq           (when the frame's type is sealed)
 *   lastIssuerSeq = out.issuerSeq (when it carried an envelope)
 * before it acts on out.body (a payment, a grant, ...) and then answers ACK;
 * on DUPLICATE it answers the same ACK and does nothing else; on an E_ code
 * it answers ERROR with that code.
 */
import type { Aead, Frame } from "./frames";
import { ANY, DIR_TO_CARD, OK, envelopeType, openFrame } from "./frames";

/** What the card knows of its link: from its key and its persisted state. */
export interface Link {
  /** pairing.ts deriveCardId; 0 on a card without a key. */
  cardId: number;
  /** K_seal, or null without a key. */
  seal: Uint8Array | null;
  /** K_pair of the bound phone, or null when no phone is bound. */
  pair: Uint8Array | null;
  /** Highest phone sequence number accepted under this pairing (0: none yet). */
  lastSeq: number;
  /** Highest issuer sequence number accepted. */
  lastIssuerSeq: number;
}

/** The phone's header, the issuer envelope's seq and expiry (0 when none), and the body: the envelope's plaintext when there is one. */
export interface Received extends Frame {
  issuerSeq: number;
  issuerExpiry: number;
}

export function newReceived(): Received {
  return { type: 0, cardId: 0, seq: 0, expiry: 0, body: new Uint8Array(0), issuerSeq: 0, issuerExpiry: 0 };
}

/** OK, DUPLICATE (either layer) or an E_ code for one whole frame; see the header. */
export function receive(aead: Aead, link: Link, bytes: Uint8Array, now: number, out: Received): number {
  out.issuerSeq = 0;
  out.issuerExpiry = 0;
  const code = openFrame(aead, link.pair, bytes, ANY + DIR_TO_CARD, link.cardId, link.lastSeq, now, out);
  const inner = envelopeType(out.type);
  // A duplicate phone frame was accepted whole before: its envelope too.
  if (code !== OK || inner === 0) return code;
  const type = out.type;
  const seq = out.seq;
  const expiry = out.expiry;
  const c = openFrame(aead, link.seal, out.body, inner, link.cardId, link.lastIssuerSeq, now, out);
  out.issuerSeq = out.seq;
  out.issuerExpiry = out.expiry;
  out.type = type;
  out.seq = seq;
  out.expiry = expiry;
  return c;
}
