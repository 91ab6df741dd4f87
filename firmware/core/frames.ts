/**
 * The Bluetooth transport between issuer, phone and card, shared by dynamic
 * data (document C) and personalisation (document A): frames, their
 * fragments over BLE writes and notifications, and the AEAD layer with its
 * card, expiry and replay checks. docs/dynamic-data.md is the normative
 * description (message types, layouts with offsets, rules); keep the two in
 * step.
 *
 * A frame, integers big-endian:
 *
 *   off  len  field
 *   0    1    version = 1
 *   1    1    type (bits 7-6 direction, bit 5 sealed, bit 4 carries an issuer envelope)
 *   2    4    card id (pairing.ts; 0 = any card, only in the clear requests: HELLO, READ_SERIAL, VERIFY_CHALLENGE)
 *   6    4    sequence number
 *   10   4    expiry, Unix seconds: refused once the clock is past it
 *   14   n    body; a sealed type: AEAD(key, nonce(type, seq), aad = bytes 0..13, body), tag last
 *
 * Everything here is pure and allocation-aware for the card: the reassembly
 * buffer is allocated once and every fragment is copied into it; nothing
 * allocates per fragment. Functions that read received bytes never throw:
 * they return OK or an error code (E_*), which is also the code the card
 * answers with. Functions that build frames from the caller's own data throw
 * on a programming error, naming the field.
 */
import type { Aead } from "./aead";
import { isIntIn, readU32BE, writeU32BE } from "./bytes";

/** The AEAD is injected (core/aead.ts's etmAead over the hash at hand: native SHA-256 on the card); this is its shape. */
export type { Aead } from "./aead";

/**
 * The card's one GATT service: the phone writes fragments to LINK_WRITE
 * (write without response, at most MAX_WRITE bytes) and subscribes to
 * LINK_NOTIFY for the card's answers. Nothing in it is readable.
 */
export const LINK_SERVICE = "5d7f0001-6e6b-4b1a-9c2d-1a7e0c4f3b21";
export const LINK_WRITE = "5d7f0002-6e6b-4b1a-9c2d-1a7e0c4f3b21";
export const LINK_NOTIFY = "5d7f0003-6e6b-4b1a-9c2d-1a7e0c4f3b21";

export const FRAME_VERSION = 1;
export const HEADER_BYTES = 14;
export const TAG_BYTES = 16;
export const KEY_BYTES = 32;
/** The largest frame either side accepts: the reassembly buffer's size. */
export const MAX_FRAME = 320;
/** The largest BLE write or notification: ATT MTU 53 (the MDBT42Q's maximum) less 3. */
export const MAX_WRITE = 50;
/** What a phone writes until it knows the link takes more (ATT MTU 23 less 3). */
export const DEFAULT_WRITE = 20;
/** Fragment indexes are 5 bits. */
export const MAX_FRAGMENTS = 32;

// Message types: bits 7-6 direction, bit 5 sealed, bit 4 (phone to card) carries an issuer envelope.
export const DIR_TO_CARD = 0; //   phone -> card, sealed under the pairing key
export const DIR_ISSUER = 1; //    issuer -> card inside a phone frame, sealed under the card's seal key
export const DIR_TO_PHONE = 2; //  card -> phone, sealed under the pairing key
export const DIR_TO_ISSUER = 3; // card -> issuer through the phone, sealed under the seal key (reserved: unused)

export const T_HELLO = 0x01; //              clear: who are you, what do you take
export const T_READ_SERIAL = 0x02; //        clear: the chip serial (personal.ts)
export const T_PAIR = 0x11; //               clear, carries T_GRANT
export const T_SECURITY_CHALLENGE = 0x21; // prove the security code before a rewrite
export const T_VERIFY_CHALLENGE = 0x03; //   clear: a verification device's challenge (personal.ts)
export const T_PAYMENT = 0x32; //            carries T_PAYMENT_DATA
export const T_PROFILE_WRITE = 0x33; //      carries T_PROFILE_DATA
export const T_GRANT = 0x71;
export const T_PAYMENT_DATA = 0x72;
export const T_PROFILE_DATA = 0x73; //       a profile and its security code, for one slot
export const T_ACK = 0x80;
export const T_ERROR = 0x81;
export const T_INFO = 0x82; //               answer to HELLO
export const T_SERIAL = 0x83; //             answer to READ_SERIAL
export const T_ANSWER = 0xa1; //             the transaction-bound answer
export const T_SECURITY_PROOF = 0xa2; //     answer to SECURITY_CHALLENGE
export const T_VERIFY_PROOF = 0x84; //       clear: the proof a verification device checks with the issuer

/** `want` of openFrame: any type of this direction rather than one type. */
export const ANY = 0x100;

// Results. OK and the three statuses below are never sent; the E_ codes are the ERROR answer's code byte.
export const OK = 0;
export const E_TRUNCATED = 1; //   shorter than its layout (a frame, a fragment, a field)
export const E_OVERSIZED = 2; //   a write over MAX_WRITE, a frame over MAX_FRAME, a field over its bound
export const E_ORDER = 3; //       a fragment out of order (detail: the index expected)
export const E_FLOOD = 4; //       more than the card takes in a while
export const E_VERSION = 5;
export const E_TYPE = 6; //        unknown type, wrong direction, or not what the card expects here
export const E_WRONG_CARD = 7;
export const E_EXPIRED = 8;
export const E_OLD_SEQ = 9; //     replay: a sequence number (or pairing epoch) not above the last accepted
export const E_BAD_TAG = 10;
export const E_NOT_PAIRED = 11; // no key for this layer yet
export const E_MALFORMED = 12; //  a value out of its domain, a non-canonical encoding, trailing bytes
export const E_BUSY = 13; //       valid, but the card cannot take it now (application level)
/** Reassembly: the fragment was taken, more to come. */
export const MORE = 0x40;
/** Reassembly: the frame is whole, in buf[0..len). */
export const COMPLETE = 0x41;
/** An authentic frame whose sequence number equals the last accepted: acknowledge it again, do nothing else. */
export const DUPLICATE = 0x42;

export interface Header {
  type: number;
  /** u32 */
  cardId: number;
  /** u32 */
  seq: number;
  /** u32, Unix seconds */
  expiry: number;
}

/** A frame as read: the header and its body (the plaintext of a sealed frame). */
export interface Frame extends Header {
  body: Uint8Array;
}

export function newFrame(): Frame {
  return { type: 0, cardId: 0, seq: 0, expiry: 0, body: new Uint8Array(0) };
}

/** Well-formed type byte: issuer and to-issuer types are always sealed, an issuer envelope's type is 0x7X. */
export function isType(t: number): boolean {
  if (!isIntIn(t, 1, 255)) return false;
  const dir = t >> 6;
  if (dir === DIR_ISSUER) return (t & 0x30) === 0x30;
  if (dir === DIR_TO_ISSUER) return (t & 0x20) !== 0;
  if (dir === DIR_TO_PHONE) return (t & 0x10) === 0;
  return true;
}

export function isSealed(t: number): boolean {
  return (t & 0x20) !== 0;
}

/** The issuer envelope a phone-to-card type carries (T_PAYMENT -> T_PAYMENT_DATA), or 0. */
export function envelopeType(t: number): number {
  return t >> 6 === DIR_TO_CARD && (t & 0x10) !== 0 ? (t & 0x0f) | 0x70 : 0;
}

/** The 12-byte nonce of a sealed frame: type, seven zeros, sequence number. Unique per key as long as (type, seq) is. */
export function nonceFor(type: number, seq: number): Uint8Array {
  const n = new Uint8Array(12);
  n[0] = type;
  writeU32BE(n, 8, seq);
  return n;
}

function checkHeader(h: Header): void {
  if (!h || typeof h !== "object") throw new Error("frame header missing");
  if (!isType(h.type)) throw new Error("frame type is not a valid type");
  if (!isIntIn(h.cardId, 0, 0xffffffff)) throw new Error("frame card id must be a u32");
  if (!isIntIn(h.seq, 0, 0xffffffff)) throw new Error("frame seq must be a u32");
  if (!isIntIn(h.expiry, 0, 0xffffffff)) throw new Error("frame expiry must be a u32");
}

function writeHeader(out: Uint8Array, h: Header): void {
  out[0] = FRAME_VERSION;
  out[1] = h.type;
  writeU32BE(out, 2, h.cardId);
  writeU32BE(out, 6, h.seq);
  writeU32BE(out, 10, h.expiry);
}

/** A clear frame (HELLO, PAIR, ACK, ERROR, ...). Throws on a sealed type or a frame over MAX_FRAME. */
export function encodeFrame(h: Header, body: Uint8Array): Uint8Array {
  checkHeader(h);
  if (isSealed(h.type)) throw new Error("frame type is sealed: use sealFrame");
  if (!(body instanceof Uint8Array) || HEADER_BYTES + body.length > MAX_FRAME) throw new Error("frame body must be bytes, frame at most " + MAX_FRAME);
  const out = new Uint8Array(HEADER_BYTES + body.length);
  writeHeader(out, h);
  out.set(body, HEADER_BYTES);
  return out;
}

/** A sealed frame: header, then the AEAD of body under key with the header as associated data. */
export function sealFrame(aead: Aead, key: Uint8Array, h: Header, body: Uint8Array): Uint8Array {
  checkHeader(h);
  if (!isSealed(h.type)) throw new Error("frame type is clear: use encodeFrame");
  if (!aead || typeof aead.seal !== "function") throw new Error("aead missing");
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) throw new Error("frame key must be " + KEY_BYTES + " bytes");
  if (!(body instanceof Uint8Array) || HEADER_BYTES + body.length + TAG_BYTES > MAX_FRAME) {
    throw new Error("frame body must be bytes, frame at most " + MAX_FRAME);
  }
  const head = new Uint8Array(HEADER_BYTES);
  writeHeader(head, h);
  const sealed = aead.seal(key, nonceFor(h.type, h.seq), head, body);
  if (!(sealed instanceof Uint8Array) || sealed.length !== body.length + TAG_BYTES) throw new Error("aead.seal must return ciphertext || 16-byte tag");
  const out = new Uint8Array(HEADER_BYTES + sealed.length);
  out.set(head, 0);
  out.set(sealed, HEADER_BYTES);
  return out;
}

/**
 * Header and bounds of any frame, no key: OK, E_TRUNCATED, E_OVERSIZED,
 * E_VERSION or E_TYPE. out.body is a view of the body as received (sealed
 * bytes for a sealed type). For a host reading a card's clear answers.
 */
export function readFrame(bytes: Uint8Array, out: Frame): number {
  if (!(bytes instanceof Uint8Array) || bytes.length < HEADER_BYTES) return E_TRUNCATED;
  if (bytes.length > MAX_FRAME) return E_OVERSIZED;
  if (bytes[0] !== FRAME_VERSION) return E_VERSION;
  if (!isType(bytes[1])) return E_TYPE;
  out.type = bytes[1];
  out.cardId = readU32BE(bytes, 2);
  out.seq = readU32BE(bytes, 6);
  out.expiry = readU32BE(bytes, 10);
  out.body = bytes.subarray(HEADER_BYTES);
  return OK;
}

/**
 * Every check of a received frame, cheapest first, and nothing changed
 * anywhere but out (see docs/dynamic-data.md, "Checks"):
 *
 *   length, version, type (want: one type, or ANY + a direction), card id
 *   (cardId; 0 in the frame is taken for a clear HELLO or READ_SERIAL),
 *   expiry (refused when now > expiry; 0 in a card's answer is none), then for a sealed type: key (null:
 *   E_NOT_PAIRED), sequence number (0 or below lastSeq: E_OLD_SEQ; lastSeq
 *   -1 skips the replay check), tag, and DUPLICATE when seq equals lastSeq.
 *   A clear frame to the card must carry seq 0: it is not authenticated.
 *
 * Returns OK, DUPLICATE or an E_ code; out holds the header and the body
 * (plaintext) after OK or DUPLICATE. The caller commits out.seq as its new
 * lastSeq only after OK, and before it acts on the frame.
 */
export function openFrame(aead: Aead, key: Uint8Array | null, bytes: Uint8Array, want: number, cardId: number, lastSeq: number, now: number, out: Frame): number {
  const code = readFrame(bytes, out);
  if (code !== OK) return code;
  const t = out.type;
  if (want >= ANY ? t >> 6 !== want - ANY : t !== want) return E_TYPE;
  if (out.cardId !== cardId && !(out.cardId === 0 && t >> 6 === DIR_TO_CARD && (t & 0x30) === 0)) return E_WRONG_CARD;
  // A NaN clock expires everything. The card's answers may carry expiry 0: none.
  if (!(now <= out.expiry) && !(t >> 6 === DIR_TO_PHONE && out.expiry === 0)) return E_EXPIRED;
  if (!isSealed(t)) return t >> 6 === DIR_TO_CARD && out.seq !== 0 ? E_MALFORMED : OK;
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) return E_NOT_PAIRED;
  if (out.seq === 0 || out.seq < lastSeq) return E_OLD_SEQ;
  if (bytes.length < HEADER_BYTES + TAG_BYTES) return E_TRUNCATED;
  let plain: Uint8Array | null = null;
  try {
    plain = aead.open(key, nonceFor(t, out.seq), bytes.subarray(0, HEADER_BYTES), bytes.subarray(HEADER_BYTES));
  } catch (e) {
    plain = null; // an AEAD that throws on hostile bytes refuses them
  }
  if (!(plain instanceof Uint8Array)) return E_BAD_TAG;
  out.body = plain;
  return out.seq === lastSeq ? DUPLICATE : OK;
}

/** The card's ACK to an accepted (or duplicate) request: its header echoed, type ACK, no body. Same bytes every time. */
export function encodeAck(req: Header, cardId: number): Uint8Array {
  return encodeFrame({ type: T_ACK, cardId: cardId, seq: req.seq, expiry: req.expiry }, new Uint8Array(0));
}

/** The card's ERROR answer: code and detail (E_ORDER: the fragment index expected), seq and expiry of the request when known, else 0. */
export function encodeError(cardId: number, seq: number, expiry: number, code: number, detail: number): Uint8Array {
  if (!isIntIn(code, 1, 255) || !isIntIn(detail, 0, 255)) throw new Error("error code and detail must be bytes");
  const body = new Uint8Array(2);
  body[0] = code;
  body[1] = detail;
  return encodeFrame({ type: T_ERROR, cardId: cardId, seq: seq, expiry: expiry }, body);
}

// ---- Fragments: one per BLE write or notification ------------------------------------------
//
//   off  len  field
//   0    1    control: bit 7 LAST, bits 6-5 frame id (the sender's frame count mod 4), bits 4-0 index
//   1    n    the next n bytes of the frame, n >= 1
//
// Index 0 starts a frame (dropping any partial one); each next fragment must
// have the next index and the same frame id; LAST ends it.

export const CTL_LAST = 0x80;

/** Number of writes of at most maxWrite bytes that carry a frame of len bytes. */
export function fragmentCount(len: number, maxWrite: number): number {
  return Math.ceil(len / (maxWrite - 1));
}

/** The writes that carry frame (for the phone, and the card's answers). Throws on a bad size or frame id. */
export function fragmentFrame(frame: Uint8Array, maxWrite: number, fid: number): Uint8Array[] {
  if (!(frame instanceof Uint8Array) || frame.length < 1 || frame.length > MAX_FRAME) throw new Error("frame must be 1.." + MAX_FRAME + " bytes");
  if (!isIntIn(maxWrite, 2, MAX_WRITE)) throw new Error("write size must be 2.." + MAX_WRITE);
  if (!isIntIn(fid, 0, 3)) throw new Error("frame id must be 0..3");
  const count = fragmentCount(frame.length, maxWrite);
  if (count > MAX_FRAGMENTS) throw new Error("frame needs more than " + MAX_FRAGMENTS + " fragments at this write size");
  const out: Uint8Array[] = [];
  for (let i = 0, off = 0; i < count; i++) {
    const n = Math.min(maxWrite - 1, frame.length - off);
    const f = new Uint8Array(n + 1);
    f[0] = (i === count - 1 ? CTL_LAST : 0) | (fid << 5) | i;
    f.set(frame.subarray(off, off + n), 1);
    off += n;
    out.push(f);
  }
  return out;
}

/**
 * A frame being put together: one buffer of MAX_FRAME bytes for the card's
 * whole life. next = index expected, 0 when no frame is under way; after
 * COMPLETE the frame stays in buf[0..len) until the next first fragment.
 */
export interface Reassembly {
  buf: Uint8Array;
  len: number;
  next: number;
  fid: number;
}

export function newReassembly(): Reassembly {
  return { buf: new Uint8Array(MAX_FRAME), len: 0, next: 0, fid: -1 };
}

/** Forget any frame under way (on connect and disconnect). */
export function resetReassembly(r: Reassembly): void {
  r.len = 0;
  r.next = 0;
  r.fid = -1;
}

/**
 * Take one write: MORE, COMPLETE (the frame is r.buf[0..r.len)), or
 * E_TRUNCATED (fewer than 2 bytes), E_OVERSIZED (a write over MAX_WRITE, or
 * the frame would pass MAX_FRAME) or E_ORDER (not the fragment expected:
 * r.next is the index to resend from). A refused write changes nothing.
 */
export function pushFragment(r: Reassembly, data: Uint8Array): number {
  if (!(data instanceof Uint8Array) || data.length < 2) return E_TRUNCATED;
  const n = data.length - 1;
  if (n >= MAX_WRITE) return E_OVERSIZED;
  const ctl = data[0];
  const index = ctl & 31;
  const fid = (ctl >> 5) & 3;
  let base = 0;
  if (index !== 0) {
    if (r.next === 0 || index !== r.next || fid !== r.fid) return E_ORDER;
    base = r.len;
  }
  if (base + n > r.buf.length) return E_OVERSIZED;
  const buf = r.buf;
  for (let i = 0; i < n; i++) buf[base + i] = data[i + 1];
  r.len = base + n;
  r.fid = fid;
  r.next = ctl & CTL_LAST ? 0 : index + 1;
  return ctl & CTL_LAST ? COMPLETE : MORE;
}

// ---- Flood guard: a token bucket over writes, refilled with the injected clock --------------

/** Writes taken at once; the largest frame at 20 bytes a write is 17 of them. */
export const FLOOD_BURST = 64;
/** Writes per second refilled: a largest frame at 20 bytes a write every second, with room to spare. */
export const FLOOD_RATE = 24;
/** What a refused whole frame costs on top of its writes: forging frames empties the bucket 8 times as fast. */
export const REFUSED_COST = 8;

export interface FloodGuard {
  tokens: number;
  at: number;
}

export function newFloodGuard(now: number): FloodGuard {
  return { tokens: FLOOD_BURST, at: now };
}

/**
 * Refill for the time since the last call, then take cost tokens: false
 * (nothing taken) when too few are left. A clock set backwards refills
 * nothing; a clock that is not a number takes nothing and changes nothing.
 */
export function floodSpend(g: FloodGuard, now: number, cost: number): boolean {
  if (!(now >= 0) || !(cost >= 0)) return false;
  const dt = now - g.at;
  if (dt > 0) g.tokens = Math.min(FLOOD_BURST, g.tokens + dt * FLOOD_RATE);
  g.at = now;
  if (g.tokens < cost) return false;
  g.tokens -= cost;
  return true;
}
