/**
 * A Hash bound to one HMAC key, for core/hmac.ts to call on the verify path.
 *
 * core/hmac.ts hashes (K0 ^ ipad || message) and then (K0 ^ opad || inner).
 * Their first blocks depend on the key alone, so this Hash compresses them
 * once per key and, when handed data that starts with either block, resumes
 * from the saved state: an HOTP then costs two SHA-1 compressions in
 * JavaScript instead of four plus two calls into node:crypto. Any other input
 * goes to fastHash, so the result is SHA-1 of the data whatever it is given
 * (test/issuer/fast-hash.test.ts checks both paths). The HMAC construction
 * itself stays in core/hmac.ts, the one copy the card runs too.
 *
 * SHA-1 only: it is HOTP's algorithm and the cards' default. Other hashes
 * get fastHash unchanged.
 *
 * Each digest is a new array, though handing back one shared array would
 * save an allocation: callers keep or wipe what they get (HKDF wipes each
 * block it has used), and a shared one would change under them.
 * Run bench/hotp.ts after any change here.
 */
import type { Hash, HashName } from "../../firmware/core/types.ts";
import { fastHash } from "./fast-hash.ts";

const BLOCK = 64;
/** Longest tail after the first block that fits, with padding, in one more block. */
const MAX_TAIL = BLOCK - 9;

/** One Hash per key array: DerivedKeys hands out the same array while the card's key is cached. */
const byKey = new WeakMap<Uint8Array, Hash>();

export function hmacHash(name: HashName, key: Uint8Array): Hash {
  if (name !== "SHA1") return fastHash(name);
  let h = byKey.get(key);
  if (!h) {
    h = new Sha1HmacHash(key);
    byKey.set(key, h);
  }
  return h;
}

class Sha1HmacHash implements Hash {
  readonly name = "SHA1" as const;
  readonly blockLen = BLOCK;
  readonly outputLen = 20;
  private readonly ipad = new Uint8Array(BLOCK);
  private readonly opad = new Uint8Array(BLOCK);
  private readonly ipadState = new Int32Array(5);
  private readonly opadState = new Int32Array(5);

  constructor(key: Uint8Array) {
    // K0 as core/hmac.ts forms it: a key longer than a block is hashed first.
    const k = key.length > BLOCK ? fastHash("SHA1").digest(key) : key;
    for (let i = 0; i < BLOCK; i++) {
      this.ipad[i] = (i < k.length ? k[i] : 0) ^ 0x36;
      this.opad[i] = this.ipad[i] ^ 0x6a;
    }
    for (let t = 0; t < 16; t++) W[t] = word(this.ipad, 4 * t);
    compress(IV, this.ipadState);
    for (let t = 0; t < 16; t++) W[t] = word(this.opad, 4 * t);
    compress(IV, this.opadState);
  }

  digest(data: Uint8Array): Uint8Array {
    const tail = data.length - BLOCK;
    if (tail >= 0 && tail <= MAX_TAIL) {
      // The pads differ in every byte (by 0x6a), so the first byte picks the one to compare.
      if (data[0] === this.ipad[0]) {
        if (startsWith(data, this.ipad)) return finish(this.ipadState, data, tail);
      } else if (startsWith(data, this.opad)) {
        return finish(this.opadState, data, tail);
      }
    }
    return fastHash("SHA1").digest(data);
  }
}

/** data[0..64) === block, four bytes a step (faster in V8 than one). */
function startsWith(data: Uint8Array, block: Uint8Array): boolean {
  let x = 0;
  for (let i = 0; i < BLOCK; i += 4) {
    x |= (data[i] ^ block[i]) | (data[i + 1] ^ block[i + 1]) | (data[i + 2] ^ block[i + 2]) | (data[i + 3] ^ block[i + 3]);
  }
  return x === 0;
}

const IV = Int32Array.of(0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0);
/** Scratch, safe to share: all of this is synchronous. */
const W = new Int32Array(80);
const state = new Int32Array(5);

/** The big-endian word at b[i..i+4). */
function word(b: Uint8Array, i: number): number {
  return (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3];
}

/**
 * SHA-1 of (the block behind `from`) || data[64 .. 64 + tail): the final
 * block, the tail with its padding and bit length, goes straight into W.
 */
function finish(from: Int32Array, data: Uint8Array, tail: number): Uint8Array {
  let t = 0;
  for (let i = BLOCK; t < tail >> 2; t++, i += 4) W[t] = word(data, i);
  // The last 0..3 bytes, then the 0x80 that ends the message.
  let w = 0x80 << (24 - 8 * (tail & 3));
  for (let i = BLOCK + 4 * t, k = 24; i < BLOCK + tail; i++, k -= 8) w |= data[i] << k;
  W[t++] = w;
  while (t < 15) W[t++] = 0;
  W[15] = (BLOCK + tail) * 8; // the length in bits, < 2^32; W[14], its high word, is 0
  compress(from, state);
  const out = new Uint8Array(20);
  for (let i = 0; i < 5; i++) {
    const v = state[i];
    out[4 * i] = v >>> 24;
    out[4 * i + 1] = v >>> 16;
    out[4 * i + 2] = v >>> 8;
    out[4 * i + 3] = v;
  }
  return out;
}

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
