/**
 * HOTP (RFC 4226) and TOTP (RFC 6238) over an injected hash.
 *
 * The moving factor is a 64-bit big-endian counter. Espruino has no BigInt
 * and its integers are 32-bit, so the counter travels as two uint32 words;
 * `hotp` and `totp` split a safe integer (< 2^53) into those words with
 * arithmetic. TOTP time steps pass 2^32 after the year 2106 at a 1 s step,
 * and that works the same way.
 */
import type { Hash } from "./types";
import { checkBytes, isIntIn, writeU32BE } from "./bytes";
import { checkHash, hmac, partsDigest } from "./hmac";

export const MIN_DIGITS = 3;
export const MAX_DIGITS = 10;
/** RFC 4226 R6: the shared secret MUST be at least 128 bits. */
export const MIN_KEY_BYTES = 16;

/**
 * The 8-byte counter block, allocated once. Sharing it is safe because all of
 * this is synchronous: hotpWords writes it and hmac() has consumed it before
 * hotpWords returns, and a Hash never calls back into the code engine.
 */
const block = /* @__PURE__ */ new Uint8Array(8);

/** HOTP for the 64-bit counter counterHi * 2^32 + counterLo. */
export function hotpWords(hash: Hash, key: Uint8Array, counterHi: number, counterLo: number, digits: number): string {
  checkBytes(key, "HOTP key");
  if (key.length < MIN_KEY_BYTES) throw new Error("HOTP key must be at least " + MIN_KEY_BYTES + " bytes");
  if (!isIntIn(counterHi, 0, 0xffffffff) || !isIntIn(counterLo, 0, 0xffffffff)) {
    throw new Error("HOTP counter words must be integers 0..2^32-1");
  }
  if (!isIntIn(digits, MIN_DIGITS, MAX_DIGITS)) {
    throw new Error("HOTP digits must be an integer " + MIN_DIGITS + ".." + MAX_DIGITS);
  }
  writeU32BE(block, 0, counterHi);
  writeU32BE(block, 4, counterLo);
  return truncate(hmac(hash, key, block), digits);
}

/**
 * The code in an HMAC result (RFC 4226 5.3), for digits 3..10: the low nibble
 * of the last byte picks 4 bytes; dropping their top bit gives a
 * non-negative 31-bit number, whose last `digits` decimal digits are the code
 * (all of them, padded, for 10: it is below 2^31 < 10^10).
 */
export function truncate(h: Uint8Array, digits: number): string {
  const o = h[h.length - 1] & 15;
  let bin = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  // Digit by digit: no powers of ten (Math.pow is inexact on Espruino), and
  // faster in V8 than String() and padding (bench/hotp.ts).
  let s = "";
  for (let i = 0; i < digits; i++) {
    s = String.fromCharCode(48 + (bin % 10)) + s;
    bin = (bin / 10) | 0;
  }
  return s;
}

/** HOTP for counter, a non-negative safe integer (0..2^53-1). */
export function hotp(hash: Hash, key: Uint8Array, counter: number, digits: number): string {
  if (!isIntIn(counter, 0, 9007199254740991)) throw new Error("HOTP counter must be an integer 0..2^53-1");
  // Exact in doubles: counter < 2^53, so the quotient and remainder are too.
  const hi = Math.floor(counter / 4294967296);
  return hotpWords(hash, key, hi, counter - hi * 4294967296, digits);
}

/** RFC 6238 time step T = floor((unixSeconds - T0) / step) with T0 = 0. */
export function timeStep(unixSeconds: number, stepSeconds: number): number {
  if (typeof unixSeconds !== "number" || !(unixSeconds >= 0 && unixSeconds <= 9007199254740991)) {
    throw new Error("TOTP time must be a number of seconds 0..2^53-1");
  }
  if (!isIntIn(stepSeconds, 1, 0xffffffff)) throw new Error("TOTP step must be an integer number of seconds >= 1");
  // Whole seconds first (getTime() is fractional); then both operands are
  // integers below 2^53, and floor of their double quotient is exact.
  return Math.floor(Math.floor(unixSeconds) / stepSeconds);
}

/** TOTP: HOTP of the current time step. */
export function totp(hash: Hash, key: Uint8Array, unixSeconds: number, stepSeconds: number, digits: number): string {
  return hotp(hash, key, timeStep(unixSeconds, stepSeconds), digits);
}

/** 10^d for d = 0..10, exact (Espruino's Math.pow is not). */
const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];

/**
 * The card's code maker: HOTP from the HMAC key pads instead of the key
 * (core/profile.ts stores them), RFC 4226 exactly. pads is K0 ^ ipad then
 * K0 ^ opad, 2 x hash.blockLen bytes, left as it is (on the card a view of
 * flash). Returns code(counter), counter an integer 0..2^53-1 (time mode:
 * the time step, timeStep()), each call two hash calls:
 *
 *   code(C) = truncate(H([K0 ^ opad, H([K0 ^ ipad, C as 8 bytes])]), digits)
 *
 * On the card each H is one call of Espruino's native crypto on a list of
 * parts (see PartsHash in hmac.ts): the pads are hashed where they lie, and
 * neither a pad nor the key is ever copied into RAM, so there is nothing
 * secret to wipe afterwards (the inner digest is not key-equivalent). The
 * counter block is not secret. Synchronous, as everything here: one code
 * maker per press.
 *
 * What a call does in JavaScript is cut to what measured cheapest on the
 * interpreter, which pays for every token it reads (a block it skips
 * included) and every variable it makes: everything that can be is
 * prepared here, once; the call's scope chain holds only what it reads
 * (codeMaker); no local variables in the call (the counter is reused for
 * the offset and then the number); the digest indexed as it comes (on
 * Espruino an ArrayBuffer indexes as bytes: PartsHash), not through a
 * Uint8Array made over it; the rare high word out of line; the leading
 * zeros added only to a code that has them. Not a DataView for the counter,
 * though it measured faster still: Espruino keeps the DataView class once
 * a program names it, and those variables, held while the press draws its
 * screen, ran the simulator's espruino engine (whose shim takes RAM of its
 * own) out of memory. bench/press.ts, one interpreter run: 0.45x Espruino's
 * TOTP module at best, 0.48x by the median of per-round ratios (0.55x
 * before); bench/memory.ts: press peak 2,146 variables then (2,122 before;
 * 2,151 since the shell makes the frame first, main.ts open).
 */
export function padOtp(hash: Hash, pads: Uint8Array, digits: number): (counter: number) => string {
  checkHash(hash);
  checkBytes(pads, "HMAC pads");
  if (pads.length !== 2 * hash.blockLen) throw new Error("HMAC pads must be 2 x " + hash.blockLen + " bytes");
  if (!isIntIn(digits, MIN_DIGITS, MAX_DIGITS)) {
    throw new Error("HOTP digits must be an integer " + MIN_DIGITS + ".." + MAX_DIGITS);
  }
  return codeMaker(partsDigest(hash), [pads.subarray(0, hash.blockLen), new Uint8Array(8)], pads.subarray(hash.blockLen), hash.outputLen - 1, POW10[digits], digits);
}

/**
 * padOtp's code(counter), in a function of its own so that the call's scope
 * chain holds only what a call reads (the interpreter walks it by name).
 */
function codeMaker(
  h: (parts: Array<Uint8Array | ArrayBuffer>) => Uint8Array,
  inner: [Uint8Array, Uint8Array],
  outer: Uint8Array,
  last: number,
  mod: number,
  digits: number,
): (counter: number) => string {
  /** The counter block (byte stores, not a DataView: see padOtp). */
  const block = inner[1];
  /** Codes below this have leading zeros. */
  const short = mod / 10;
  /** Above this the block's high word must be written: 2^32 - 1 while it is zero, else -1 (every call, until it is zero again). */
  let high = 4294967295;
  /** The digest of the call under way. */
  let d: Uint8Array;
  return function (c: number): string {
    // Not checked here: the card's counters come checked from MonotonicCounter
    // and timeStep(), and each check would cost every code. The high word is
    // written only when it is or was not zero (it rarely is), out of line: the
    // interpreter reads every token of a block it skips.
    if (c > high) high = highWord(block, c);
    // A Uint8Array keeps the low 8 bits of what is stored (a counter of 2^32 or more: its low word).
    block[4] = c >>> 24;
    block[5] = c >> 16;
    block[6] = c >> 8;
    block[7] = c;
    // RFC 4226 5.3, as truncate() above: c is the offset, then the number; "000000000" pads 10 digits too (n < 2^31 < 10^10).
    c = (d = h([outer, h(inner)]))[last] & 15;
    return (c = (((d[c] & 0x7f) << 24) | (d[c + 1] << 16) | (d[c + 2] << 8) | d[c + 3]) % mod) < short ? ("000000000" + c).substr(-digits) : c + "";
  };
}

/** Writes counter's high word into the block; returns codeMaker's next `high`. */
function highWord(block: Uint8Array, counter: number): number {
  const hi = Math.floor(counter / 4294967296);
  block[0] = hi >>> 24;
  block[1] = hi >> 16;
  block[2] = hi >> 8;
  block[3] = hi;
  return hi ? -1 : 4294967295;
}
