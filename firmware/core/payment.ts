/**
 * The payment the issuer seals for the card (T_PAYMENT_DATA, document C):
 * binary, canonical (one encoding per value: fixed widths, exact lengths, no
 * trailing bytes), every field bounded. docs/dynamic-data.md, "Payment".
 *
 *   off    len  field
 *   0      16   transaction id (the issuer's, opaque)
 *   16     4    expiry, Unix seconds (u32 >= 1): the card wipes the payment then
 *   20     6    amount in minor units, u48 <= MAX_AMOUNT (999,999,999,999)
 *   26     3    currency, ISO 4217 alphabetic code: three of A..Z
 *   29     1    minor-unit exponent, 0..4 (ISO 4217's "minor unit": EUR 2, JPY 0, BHD 3, CLF 4)
 *   30     1    c = code length, 4..10
 *   31     c    one-time code, ASCII digits
 *   31+c   1    p = payee length in bytes, 1..30
 *   32+c   p    payee, UTF-8
 *   32+c+p 1    d = details length in bytes, 0..90
 *   33+c+p d    details, UTF-8
 *
 * At most 163 bytes. Text is strict UTF-8 (shortest form, no surrogates, at
 * most U+10FFFF) without control characters (U+0000..U+001F, U+007F,
 * U+0080..U+009F). The card's small font has printable ASCII only: it shows
 * each other code point as one "?" (panelText), so a field never takes more
 * characters on screen than it has bytes, and the bounds are what the panel
 * shows in the small font: the payee one line of 30, the details three.
 */
import { isIntIn, readU32BE, utf8Bytes, writeU32BE } from "./bytes";
import { E_MALFORMED, E_OVERSIZED, E_TRUNCATED, OK } from "./frames";

export const TXID_BYTES = 16;
export const MIN_CODE = 4;
export const MAX_CODE = 10;
export const MAX_PAYEE = 30;
export const MAX_DETAILS = 90;
export const MAX_AMOUNT = 999999999999;
export const MAX_EXPONENT = 4;
/** The largest encoded payment. */
export const MAX_PAYMENT = 31 + MAX_CODE + 1 + MAX_PAYEE + 1 + MAX_DETAILS;

export interface Payment {
  /** One-time code, MIN_CODE..MAX_CODE decimal digits. */
  code: string;
  /** Minor units, integer 0..MAX_AMOUNT. */
  amount: number;
  /** ISO 4217 alphabetic, e.g. "EUR". */
  currency: string;
  /** Minor-unit digits, 0..4. */
  exponent: number;
  /** UTF-8 1..MAX_PAYEE bytes. */
  payee: string;
  /** UTF-8 0..MAX_DETAILS bytes. */
  details: string;
  /** Unix seconds. */
  expiry: number;
  /** TXID_BYTES bytes. */
  txId: Uint8Array;
}

/** A decoded payment as the card keeps it: text fields as UTF-8 (views of the decoded bytes). */
export interface PaymentView {
  code: string;
  amount: number;
  currency: string;
  exponent: number;
  payee: Uint8Array;
  details: Uint8Array;
  expiry: number;
  txId: Uint8Array;
}

export function newPaymentView(): PaymentView {
  const none = new Uint8Array(0);
  return { code: "", amount: 0, currency: "", exponent: 0, payee: none, details: none, expiry: 0, txId: none };
}

/** True when s is n..m characters, each between lo and hi (char codes). */
function charsIn(s: unknown, n: number, m: number, lo: number, hi: number): boolean {
  if (typeof s !== "string" || s.length < n || s.length > m) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < lo || c > hi) return false;
  }
  return true;
}

/** The encoded payment. Throws naming the field (never its value) when one is out of bounds. */
export function encodePayment(p: Payment): Uint8Array {
  if (!p || typeof p !== "object") throw new Error("payment missing");
  if (!charsIn(p.code, MIN_CODE, MAX_CODE, 48, 57)) throw new Error("payment code must be " + MIN_CODE + ".." + MAX_CODE + " digits");
  if (!isIntIn(p.amount, 0, MAX_AMOUNT)) throw new Error("payment amount must be an integer 0.." + MAX_AMOUNT + " minor units");
  if (!charsIn(p.currency, 3, 3, 65, 90)) throw new Error("payment currency must be an ISO 4217 alphabetic code (3 of A-Z)");
  if (!isIntIn(p.exponent, 0, MAX_EXPONENT)) throw new Error("payment exponent must be 0.." + MAX_EXPONENT);
  if (!isIntIn(p.expiry, 1, 0xffffffff)) throw new Error("payment expiry must be a u32 >= 1");
  if (!(p.txId instanceof Uint8Array) || p.txId.length !== TXID_BYTES) throw new Error("payment transaction id must be " + TXID_BYTES + " bytes");
  const payee = textBytes(p.payee, 1, MAX_PAYEE, "payee");
  const details = textBytes(p.details, 0, MAX_DETAILS, "details");
  const c = p.code.length;
  const out = new Uint8Array(33 + c + payee.length + details.length);
  out.set(p.txId, 0);
  writeU32BE(out, 16, p.expiry);
  const hi = Math.floor(p.amount / 0x100000000);
  out[20] = hi >> 8;
  out[21] = hi & 255;
  writeU32BE(out, 22, p.amount - hi * 0x100000000);
  for (let i = 0; i < 3; i++) out[26 + i] = p.currency.charCodeAt(i);
  out[29] = p.exponent;
  out[30] = c;
  for (let i = 0; i < c; i++) out[31 + i] = p.code.charCodeAt(i);
  let off = 31 + c;
  out[off++] = payee.length;
  out.set(payee, off);
  off += payee.length;
  out[off++] = details.length;
  out.set(details, off);
  return out;
}

function textBytes(s: string, min: number, max: number, what: string): Uint8Array {
  if (typeof s !== "string") throw new Error("payment " + what + " must be a string");
  let b: Uint8Array;
  try {
    b = utf8Bytes(s);
  } catch (e) {
    throw new Error("payment " + what + " is not valid Unicode text");
  }
  if (b.length < min || b.length > max) throw new Error("payment " + what + " must be " + min + ".." + max + " bytes of UTF-8");
  if (!validText(b, 0, b.length)) throw new Error("payment " + what + " has a control character");
  return b;
}

/**
 * True when b[from..to) is strict UTF-8 (RFC 3629: shortest form, no
 * surrogates, nothing above U+10FFFF) with no C0, DEL or C1 control.
 */
export function validText(b: Uint8Array, from: number, to: number): boolean {
  let i = from;
  while (i < to) {
    const c = b[i];
    let need = 0;
    let lo = 0x80;
    let hi = 0xbf;
    if (c < 0x80) {
      if (c < 0x20 || c === 0x7f) return false;
      i++;
      continue;
    } else if (c === 0xc2) {
      need = 1;
      lo = 0xa0; // C2 80..C2 9F are the C1 controls
    } else if (c > 0xc2 && c <= 0xdf) {
      need = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0; // no overlong
      if (c === 0xed) hi = 0x9f; // no surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90; // no overlong
      if (c === 0xf4) hi = 0x8f; // nothing above U+10FFFF
    } else {
      return false; // 80..C1 (a continuation or an overlong lead), F5..FF
    }
    if (i + need >= to) return false;
    if (b[i + 1] < lo || b[i + 1] > hi) return false;
    for (let k = 2; k <= need; k++) if (b[i + k] < 0x80 || b[i + k] > 0xbf) return false;
    i += need + 1;
  }
  return true;
}

/**
 * Decode a payment the card opened: OK (out filled; text fields and txId
 * are views of bytes), E_TRUNCATED (shorter than its lengths say),
 * E_OVERSIZED (a length over its bound, or longer than any payment), or
 * E_MALFORMED (a value out of its domain, trailing bytes). Never throws;
 * out is written only on OK.
 */
export function decodePayment(bytes: Uint8Array, out: PaymentView): number {
  if (!(bytes instanceof Uint8Array) || bytes.length < 31) return E_TRUNCATED;
  const n = bytes.length;
  if (n > MAX_PAYMENT) return E_OVERSIZED;
  const expiry = readU32BE(bytes, 16);
  const hi = (bytes[20] << 8) | bytes[21];
  const amount = hi * 0x100000000 + readU32BE(bytes, 22);
  if (expiry === 0 || amount > MAX_AMOUNT || bytes[29] > MAX_EXPONENT) return E_MALFORMED;
  for (let i = 26; i < 29; i++) if (bytes[i] < 65 || bytes[i] > 90) return E_MALFORMED;
  const c = bytes[30];
  if (c > MAX_CODE) return E_OVERSIZED;
  if (c < MIN_CODE) return E_MALFORMED;
  if (n < 32 + c) return E_TRUNCATED;
  for (let i = 31; i < 31 + c; i++) if (bytes[i] < 48 || bytes[i] > 57) return E_MALFORMED;
  const po = 32 + c;
  const p = bytes[po - 1];
  if (p > MAX_PAYEE) return E_OVERSIZED;
  if (p < 1) return E_MALFORMED;
  if (n < po + p + 1) return E_TRUNCATED;
  const dOff = po + p + 1;
  const d = bytes[dOff - 1];
  if (d > MAX_DETAILS) return E_OVERSIZED;
  if (n < dOff + d) return E_TRUNCATED;
  if (n > dOff + d) return E_MALFORMED;
  if (!validText(bytes, po, po + p) || !validText(bytes, dOff, dOff + d)) return E_MALFORMED;
  let code = "";
  for (let i = 31; i < 31 + c; i++) code += String.fromCharCode(bytes[i]);
  out.code = code;
  out.amount = amount;
  out.currency = String.fromCharCode(bytes[26], bytes[27], bytes[28]);
  out.exponent = bytes[29];
  out.payee = bytes.subarray(po, po + p);
  out.details = bytes.subarray(dOff, dOff + d);
  out.expiry = expiry;
  out.txId = bytes.subarray(0, TXID_BYTES);
  return OK;
}

/**
 * What the card draws for validated UTF-8 text: printable ASCII as it is,
 * every other code point as one "?" (the small font has printable ASCII only).
 */
export function panelText(utf8: Uint8Array): string {
  let s = "";
  for (let i = 0; i < utf8.length; i++) {
    const c = utf8[i];
    if (c < 0x80) s += String.fromCharCode(c);
    else if (c >= 0xc0) s += "?"; // a lead byte: one per code point; continuation bytes add nothing
  }
  return s;
}

/** The amount with its decimal point, e.g. (123456, 2) -> "1234.56", (5, 2) -> "0.05", (7, 0) -> "7". */
export function formatAmount(amount: number, exponent: number): string {
  if (!isIntIn(amount, 0, MAX_AMOUNT) || !isIntIn(exponent, 0, MAX_EXPONENT)) return "?";
  let s = String(amount);
  while (s.length <= exponent) s = "0" + s;
  return exponent === 0 ? s : s.substring(0, s.length - exponent) + "." + s.substring(s.length - exponent);
}
