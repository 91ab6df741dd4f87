/**
 * A card's codes on the issuer's verify path: HOTP (RFC 4226) under its key.
 *
 * HMAC(K, m) = SHA1((K0 ^ opad) || SHA1((K0 ^ ipad) || m)), and the first
 * block of each hash depends on the key alone. For SHA-1 (HOTP's algorithm
 * and the cards' default) this module compresses those two blocks once per
 * key and keeps the states; a code then costs two SHA-1 compressions in
 * JavaScript, each on one block that holds its whole input with padding (the
 * 8-byte counter, then the 20-byte inner digest), and no allocation but the
 * code's string. Dynamic truncation is core/otp.ts's. Other algorithms go
 * through core hotp over node:crypto (fast-hash.ts).
 *
 * test/issuer/card-codes.test.ts checks the codes against RFC 4226 and
 * against core hotp over @noble/hashes, for random keys up to and past a
 * block, counters past 2^32 and every length of code. Run bench/hotp.ts
 * after any change here.
 */
import { isIntIn } from "../../firmware/core/bytes.ts";
import { hotp, MAX_DIGITS, MIN_DIGITS, MIN_KEY_BYTES, truncate } from "../../firmware/core/otp.ts";
import type { HashName } from "../../firmware/core/types.ts";
import { fastHash } from "./fast-hash.ts";

const BLOCK = 64;

/** A key's two pad states: SHA-1 after (K0 ^ ipad), and after (K0 ^ opad). */
interface Pads {
  ipad: Int32Array;
  opad: Int32Array;
}

/** One Pads per key array: DerivedKeys hands out the same array while the card's key is cached. */
const byKey = new WeakMap<Uint8Array, Pads>();

/** The card's code for a counter (or TOTP time step), a non-negative safe integer. */
export function cardCodes(algorithm: HashName, key: Uint8Array, digits: number): (counter: number) => string {
  if (!(key instanceof Uint8Array) || key.length < MIN_KEY_BYTES) throw new Error(`HOTP key must be at least ${MIN_KEY_BYTES} bytes`);
  if (!isIntIn(digits, MIN_DIGITS, MAX_DIGITS)) throw new Error(`HOTP digits must be an integer ${MIN_DIGITS}..${MAX_DIGITS}`);
  if (algorithm !== "SHA1") {
    const hash = fastHash(algorithm);
    return (counter) => hotp(hash, key, counter, digits);
  }
  let pads = byKey.get(key);
  if (!pads) {
    pads = padsOf(key);
    byKey.set(key, pads);
  }
  const p = pads;
  return (counter) => sha1Hotp(p, counter, digits);
}

function padsOf(key: Uint8Array): Pads {
  // K0 as HMAC forms it: a key longer than a block is hashed first.
  const k = key.length > BLOCK ? fastHash("SHA1").digest(key) : key;
  const pads = { ipad: new Int32Array(5), opad: new Int32Array(5) };
  for (const [pad, into] of [[0x36, pads.ipad], [0x5c, pads.opad]] as const) {
    for (let t = 0; t < 16; t++) {
      let w = 0;
      for (let i = 4 * t; i < 4 * t + 4; i++) w = (w << 8) | ((i < k.length ? k[i] : 0) ^ pad);
      W[t] = w;
    }
    compress(IV, into);
  }
  return pads;
}

function sha1Hotp(pads: Pads, counter: number, digits: number): string {
  if (!isIntIn(counter, 0, 9007199254740991)) throw new Error("HOTP counter must be an integer 0..2^53-1");
  // Inner: the counter, 64-bit big-endian, after the ipad block (72 bytes in all).
  W[0] = Math.floor(counter / 4294967296);
  W[1] = counter >>> 0;
  lastBlock(2, BLOCK + 8);
  compress(pads.ipad, inner);
  // Outer: the inner digest after the opad block (84 bytes in all).
  for (let t = 0; t < 5; t++) W[t] = inner[t];
  lastBlock(5, BLOCK + 20);
  compress(pads.opad, outer);
  for (let i = 0; i < 5; i++) {
    const v = outer[i];
    digest[4 * i] = v >>> 24;
    digest[4 * i + 1] = v >>> 16;
    digest[4 * i + 2] = v >>> 8;
    digest[4 * i + 3] = v;
  }
  return truncate(digest, digits);
}

/** SHA-1 padding after `words` words of message in W: the 1 bit, zeros, and the message's length in bits (< 2^32). */
function lastBlock(words: number, bytes: number): void {
  W[words] = 0x80000000 | 0;
  for (let t = words + 1; t < 15; t++) W[t] = 0;
  W[15] = bytes * 8;
}

const IV = Int32Array.of(0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0);
/** Scratch, safe to share: all of this is synchronous. */
const W = new Int32Array(80);
const inner = new Int32Array(5);
const outer = new Int32Array(5);
const digest = new Uint8Array(20);

/**
 * The SHA-1 compression function (FIPS 180-4, 6.1.2): `into` = `from` after
 * the block in W[0..15]. One loop per round function, so no round branches;
 * the message schedule W[16..79] is extended as the rounds reach it.
 */
function compress(from: Int32Array, into: Int32Array): void {
  const w = W;
  let a = from[0], b = from[1], c = from[2], d = from[3], e = from[4], t = 0, x = 0;
  for (; t < 16; t++) {
    x = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + w[t]) | 0;
    e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = x;
  }
  for (; t < 20; t++) {
    x = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16];
    w[t] = x = (x << 1) | (x >>> 31);
    x = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + x) | 0;
    e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = x;
  }
  for (; t < 40; t++) {
    x = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16];
    w[t] = x = (x << 1) | (x >>> 31);
    x = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + x) | 0;
    e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = x;
  }
  for (; t < 60; t++) {
    x = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16];
    w[t] = x = (x << 1) | (x >>> 31);
    x = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e + (0x8f1bbcdc | 0) + x) | 0;
    e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = x;
  }
  for (; t < 80; t++) {
    x = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16];
    w[t] = x = (x << 1) | (x >>> 31);
    x = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + (0xca62c1d6 | 0) + x) | 0;
    e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = x;
  }
  into[0] = (from[0] + a) | 0;
  into[1] = (from[1] + b) | 0;
  into[2] = (from[2] + c) | 0;
  into[3] = (from[3] + d) | 0;
  into[4] = (from[4] + e) | 0;
}
