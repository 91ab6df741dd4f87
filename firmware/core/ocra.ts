/**
 * OCRA (RFC 6287), the OATH challenge-response algorithm, over an injected
 * hash and core's HMAC and HOTP truncation:
 *
 *   R = truncate(HMAC-H(K, suite | 00 | [C] | Q | [P] | [S] | [T]), t)
 *
 *   suite  the OCRASuite string's ASCII bytes, then one 0 byte
 *   C      8-byte big-endian counter                     (DataInput has C)
 *   Q      the challenge, 128 bytes: numeric (N) as its hex digits, hex (H)
 *          as is, alphanumeric (A) as ASCII; right-padded with zeros (a
 *          numeric or hex challenge of odd length gets its last nibble 0)
 *   P      the hash of the PIN: 20, 32 or 64 bytes       (PSHA1/PSHA256/PSHA512)
 *   S      session information, nnn bytes, left-padded with zeros (Snnn)
 *   T      8-byte big-endian count of time steps since the epoch (T{n}{S,M,H})
 *
 * t = 0 means no truncation: the response is the whole HMAC in lower-case
 * hex. Suites are OCRA-1:HOTP-{SHA1,SHA256,SHA512}-{0,4..10}:
 * [C-]Q{A,N,H}{04..64}[-P{SHA1,SHA256,SHA512}][-S{001..999}][-T{1..59}{S,M}|T{1..48}H].
 * The challenge may be longer than the suite's xx, up to the 128-byte field:
 * in mutual challenge-response (RFC 6287 7.3) Q is two challenges joined.
 *
 * The product's suite and challenge (transactionChallenge) are at the end.
 * docs/dynamic-data.md, "Transaction-bound answer".
 */
import type { Hash, HashName } from "./types";
import { asciiBytes, bytesToHex, checkBytes, isIntIn, utf8Bytes, wipe, writeU32BE } from "./bytes";
import { hmac } from "./hmac";
import { truncate } from "./otp";

export interface OcraSuite {
  /** The suite string as given: its bytes start the HMAC message. */
  text: string;
  hash: HashName;
  /** Response digits, 4..10; 0: the whole HMAC in hex. */
  digits: number;
  counter: boolean;
  /** Challenge format: "A" alphanumeric, "N" numeric, "H" hex. */
  qFormat: string;
  /** The suite's challenge length xx, 4..64. */
  qLength: number;
  /** Hash of the PIN (P), or "" for none. */
  pin: string;
  /** Session information bytes (S), 0 for none. */
  session: number;
  /** Time step in seconds (T), 0 for none. */
  timeStep: number;
}

export interface OcraInput {
  /** C: 0..2^53-1, when the suite has a counter. */
  counter?: number;
  /** Q: digits (N), hex digits (H) or printable ASCII (A). */
  question: string;
  /** P: the PIN's hash, as many bytes as the suite's P hash gives. */
  pinHash?: Uint8Array;
  /** S: at most the suite's nnn bytes (left-padded with zeros). */
  session?: Uint8Array;
  /** T: Unix seconds; the suite's step turns it into T. */
  time?: number;
}

const Q_BYTES = 128;
const HASH_LEN: { [name: string]: number } = { SHA1: 20, SHA256: 32, SHA512: 64 };

/** A decimal integer of the given number of digits at s[from..], else -1 (no sign, no spaces). */
function decimal(s: string, from: number, to: number): number {
  if (to <= from || to - from > 3) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/** The hash named by "SHA1" | "SHA256" | "SHA512", else "". */
function hashName(s: string): HashName | "" {
  return s === "SHA1" || s === "SHA256" || s === "SHA512" ? s : "";
}

/** Parse an OCRASuite string; throws naming the part that is wrong. */
export function parseOcraSuite(text: string): OcraSuite {
  if (typeof text !== "string" || text.length > 64) throw new Error("OCRA suite must be a string of at most 64 characters");
  const parts = text.split(":");
  if (parts.length !== 3 || parts[0] !== "OCRA-1") throw new Error("OCRA suite must be OCRA-1:<crypto function>:<data input>");
  const cf = parts[1].split("-");
  const hash = cf.length === 3 && cf[0] === "HOTP" ? hashName(cf[1]) : "";
  const digits = cf.length === 3 ? decimal(cf[2], 0, cf[2].length) : -1;
  if (!hash || !(digits === 0 || (digits >= 4 && digits <= 10))) {
    throw new Error("OCRA crypto function must be HOTP-SHA1/SHA256/SHA512-{0,4..10}");
  }
  const suite: OcraSuite = { text: text, hash: hash, digits: digits, counter: false, qFormat: "", qLength: 0, pin: "", session: 0, timeStep: 0 };
  const di = parts[2].split("-");
  let i = 0;
  if (di[i] === "C") {
    suite.counter = true;
    i++;
  }
  const q = di[i++] || "";
  const len = decimal(q, 2, q.length);
  if (q.charAt(0) !== "Q" || "ANH".indexOf(q.charAt(1)) < 0 || q.length !== 4 || len < 4 || len > 64) {
    throw new Error("OCRA data input needs a challenge Q{A,N,H}{04..64}");
  }
  suite.qFormat = q.charAt(1);
  suite.qLength = len;
  // The optional parts, each at most once and in the order P, S, T.
  if (i < di.length && di[i].charAt(0) === "P") {
    const p = hashName(di[i++].substring(1));
    if (!p) throw new Error("OCRA PIN hash must be PSHA1, PSHA256 or PSHA512");
    suite.pin = p;
  }
  if (i < di.length && di[i].charAt(0) === "S") {
    const s = di[i++];
    const n = s.length === 4 ? decimal(s, 1, 4) : -1;
    if (n < 1) throw new Error("OCRA session information must be S001..S999");
    suite.session = n;
  }
  if (i < di.length && di[i].charAt(0) === "T") {
    const t = di[i++];
    const unit = t.charAt(t.length - 1);
    const n = decimal(t, 1, t.length - 1);
    const max = unit === "H" ? 48 : 59;
    const secs = unit === "S" ? 1 : unit === "M" ? 60 : unit === "H" ? 3600 : 0;
    if (!secs || n < 1 || n > max) throw new Error("OCRA time step must be T{1..59}S, T{1..59}M or T{1..48}H");
    suite.timeStep = n * secs;
  }
  if (i !== di.length) throw new Error("OCRA data input has an unknown or misplaced part");
  return suite;
}

/** Value of hex digit c (either case), or -1. */
function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  c |= 32;
  return c >= 97 && c <= 102 ? c - 87 : -1;
}

/**
 * Write the challenge into q (128 zero bytes). A numeric one goes in as the
 * hex digits of its value (written out of its decimal digits by long
 * division: it may have 64 digits, far beyond 2^53).
 */
function putQuestion(q: Uint8Array, s: OcraSuite, text: string): void {
  if (typeof text !== "string" || text.length < 1) throw new Error("OCRA question must be a non-empty string");
  let i;
  if (s.qFormat === "A") {
    if (text.length > Q_BYTES) throw new Error("OCRA question is longer than " + Q_BYTES + " characters");
    for (i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x20 || c > 0x7e) throw new Error("OCRA alphanumeric question must be printable ASCII");
      q[i] = c;
    }
    return;
  }
  const nibbles: number[] = [];
  if (s.qFormat === "H") {
    for (i = 0; i < text.length; i++) {
      const v = nibble(text.charCodeAt(i));
      if (v < 0) throw new Error("OCRA hex question must be hex digits");
      nibbles.push(v);
    }
  } else {
    const dec: number[] = [];
    for (i = 0; i < text.length; i++) {
      const d = text.charCodeAt(i) - 48;
      if (d < 0 || d > 9) throw new Error("OCRA numeric question must be decimal digits");
      dec.push(d);
    }
    // Repeated division by 16: each pass yields the next hex digit, lowest first.
    let start = 0;
    while (start < dec.length && dec[start] === 0) start++;
    const rev: number[] = [];
    while (start < dec.length) {
      let rem = 0;
      for (i = start; i < dec.length; i++) {
        const cur = rem * 10 + dec[i];
        dec[i] = cur >> 4;
        rem = cur & 15;
      }
      rev.push(rem);
      while (start < dec.length && dec[start] === 0) start++;
    }
    if (rev.length === 0) rev.push(0); // zero is "0"
    for (i = rev.length - 1; i >= 0; i--) nibbles.push(rev[i]);
  }
  if (nibbles.length > 2 * Q_BYTES) throw new Error("OCRA question does not fit in " + Q_BYTES + " bytes");
  for (i = 0; i < nibbles.length; i++) q[i >> 1] |= i & 1 ? nibbles[i] : nibbles[i] << 4;
}

/** 8 big-endian bytes of v (an integer 0..2^53-1) at off. */
function putU64(m: Uint8Array, off: number, v: number, what: string): void {
  if (!isIntIn(v, 0, 9007199254740991)) throw new Error("OCRA " + what + " must be an integer 0..2^53-1");
  const hi = Math.floor(v / 4294967296);
  writeU32BE(m, off, hi);
  writeU32BE(m, off + 4, v - hi * 4294967296);
}

/** The OCRA response for suite (a string or parsed), under key, with hash (the suite's HMAC hash). */
export function ocra(hash: Hash, suite: string | OcraSuite, key: Uint8Array, input: OcraInput): string {
  const s = typeof suite === "string" ? parseOcraSuite(suite) : suite;
  if (!s || typeof s.text !== "string") throw new Error("OCRA suite missing");
  if (!hash || hash.name !== s.hash) throw new Error("OCRA suite " + s.text + " needs " + s.hash);
  checkBytes(key, "OCRA key");
  if (!input) throw new Error("OCRA input missing");
  const sb = utf8Bytes(s.text);
  const pinLen = s.pin ? HASH_LEN[s.pin] : 0;
  const m = new Uint8Array(sb.length + 1 + (s.counter ? 8 : 0) + Q_BYTES + pinLen + s.session + (s.timeStep ? 8 : 0));
  m.set(sb, 0);
  let off = sb.length + 1; // the 0 separator is already there
  if (s.counter) {
    putU64(m, off, input.counter as number, "counter");
    off += 8;
  }
  putQuestion(m.subarray(off, off + Q_BYTES), s, input.question);
  off += Q_BYTES;
  if (pinLen) {
    const p = input.pinHash;
    checkBytes(p, "OCRA PIN hash");
    if ((p as Uint8Array).length !== pinLen) throw new Error("OCRA PIN hash must be " + pinLen + " bytes (" + s.pin + ")");
    m.set(p as Uint8Array, off);
    off += pinLen;
  }
  if (s.session) {
    const si = input.session;
    checkBytes(si, "OCRA session information");
    if ((si as Uint8Array).length > s.session) throw new Error("OCRA session information is longer than " + s.session + " bytes");
    m.set(si as Uint8Array, off + s.session - (si as Uint8Array).length);
    off += s.session;
  }
  if (s.timeStep) {
    const t = input.time;
    if (typeof t !== "number" || !(t >= 0 && t <= 9007199254740991)) throw new Error("OCRA time must be Unix seconds 0..2^53-1");
    putU64(m, off, Math.floor(Math.floor(t) / s.timeStep), "time step");
  }
  const mac = hmac(hash, key, m);
  wipe(m); // holds the PIN's hash
  const r = s.digits ? truncate(mac, s.digits) : bytesToHex(mac);
  wipe(mac);
  return r;
}

// --- The product's transaction-bound answer (docs/dynamic-data.md) -------------------

/**
 * The card's answer to a payment: 8 digits over a 32-byte challenge that is
 * the SHA-256 of the transaction as the screen showed it (transactionChallenge).
 */
export const PAYMENT_OCRA_SUITE = "OCRA-1:HOTP-SHA256-8:QH64";

/** What the card showed, as transactionChallenge takes it. */
export interface ShownTransaction {
  /** The issuer's transaction id, 16 bytes. */
  txId: Uint8Array;
  /** Minor units, 0..2^48-1. */
  amount: number;
  /** ISO 4217 alphabetic code, three of A..Z. */
  currency: string;
  /** Minor-unit exponent, 0..4. */
  exponent: number;
  /** UTF-8 bytes, at most 255. */
  payee: Uint8Array;
  /** UTF-8 bytes, at most 255. */
  details: Uint8Array;
}

const CHALLENGE_LABEL = "inkcard/answer/v1";

/** The challenge (64 hex digits, the suite's QH64) for a transaction: transactionQuestion in hex. */
export function transactionChallenge(sha256: Hash, tx: ShownTransaction): string {
  return bytesToHex(transactionQuestion(sha256, tx));
}

/**
 * The challenge's 32 bytes for a transaction:
 *
 *   SHA-256( "inkcard/answer/v1" | 00 | txId (16) | amount (u48 BE) |
 *            currency (3 ASCII) | exponent (1) | len (1) | payee | len (1) | details )
 *
 * One encoding per transaction (fixed widths, lengths before text), so two
 * different screens never share a challenge. sha256 must be SHA256.
 */
export function transactionQuestion(sha256: Hash, tx: ShownTransaction): Uint8Array {
  if (!sha256 || sha256.name !== "SHA256") throw new Error("transaction challenge needs SHA256");
  if (!tx) throw new Error("transaction missing");
  checkBytes(tx.txId, "transaction id");
  checkBytes(tx.payee, "payee");
  checkBytes(tx.details, "details");
  if (tx.txId.length !== 16) throw new Error("transaction id must be 16 bytes");
  if (!isIntIn(tx.amount, 0, 281474976710655)) throw new Error("amount must be an integer 0..2^48-1 minor units");
  if (typeof tx.currency !== "string" || tx.currency.length !== 3) throw new Error("currency must be three letters A..Z");
  if (!isIntIn(tx.exponent, 0, 4)) throw new Error("exponent must be an integer 0..4");
  if (tx.payee.length > 255 || tx.details.length > 255) throw new Error("payee and details must be at most 255 bytes");
  const label = asciiBytes(CHALLENGE_LABEL);
  const L = label.length + 1;
  const m = new Uint8Array(L + 16 + 6 + 3 + 1 + 1 + tx.payee.length + 1 + tx.details.length);
  m.set(label, 0);
  m.set(tx.txId, L);
  const hi = Math.floor(tx.amount / 4294967296);
  m[L + 16] = hi >> 8;
  m[L + 17] = hi & 255;
  writeU32BE(m, L + 18, tx.amount - hi * 4294967296);
  for (let i = 0; i < 3; i++) {
    const c = tx.currency.charCodeAt(i);
    if (c < 65 || c > 90) throw new Error("currency must be three letters A..Z");
    m[L + 22 + i] = c;
  }
  m[L + 25] = tx.exponent;
  let off = L + 26;
  m[off++] = tx.payee.length;
  m.set(tx.payee, off);
  off += tx.payee.length;
  m[off++] = tx.details.length;
  m.set(tx.details, off);
  return sha256.digest(m);
}
