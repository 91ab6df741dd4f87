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
    this.ipadState.set(IV);
    compress(this.ipadState, this.ipad);
    this.opadState.set(IV);
    compress(this.opadState, this.opad);
  }

  digest(data: Uint8Array): Uint8Array {
    const tail = data.length - BLOCK;
    if (tail >= 0 && tail <= MAX_TAIL) {
      if (startsWith(data, this.ipad)) return finish(this.ipadState, data, tail);
      if (startsWith(data, this.opad)) return finish(this.opadState, data, tail);
    }
    return fastHash("SHA1").digest(data);
  }
}

function startsWith(data: Uint8Array, block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (data[i] !== block[i]) return false;
  return true;
}

const IV = Int32Array.of(0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0);
/** Scratch, safe to share: all of this is synchronous. */
const state = new Int32Array(5);
const last = new Uint8Array(BLOCK);
const W = new Int32Array(80);

/** SHA-1 of (the block behind `from`) || data[64 .. 64 + tail): the final block is padded here. */
function finish(from: Int32Array, data: Uint8Array, tail: number): Uint8Array {
  state.set(from);
  for (let i = 0; i < tail; i++) last[i] = data[BLOCK + i];
  last[tail] = 0x80;
  last.fill(0, tail + 1, 60);
  const bits = (BLOCK + tail) * 8; // < 2^32
  last[60] = bits >>> 24;
  last[61] = bits >>> 16;
  last[62] = bits >>> 8;
  last[63] = bits;
  compress(state, last);
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

/** The SHA-1 compression function (FIPS 180-4, 6.1.2) on one 64-byte block. */
function compress(s: Int32Array, b: Uint8Array): void {
  for (let t = 0; t < 16; t++) {
    const i = 4 * t;
    W[t] = (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3];
  }
  for (let t = 16; t < 80; t++) {
    const x = W[t - 3] ^ W[t - 8] ^ W[t - 14] ^ W[t - 16];
    W[t] = (x << 1) | (x >>> 31);
  }
  let a = s[0], bb = s[1], c = s[2], d = s[3], e = s[4];
  for (let t = 0; t < 80; t++) {
    let f: number, k: number;
    if (t < 20) (f = (bb & c) | (~bb & d)), (k = 0x5a827999);
    else if (t < 40) (f = bb ^ c ^ d), (k = 0x6ed9eba1);
    else if (t < 60) (f = (bb & c) | (bb & d) | (c & d)), (k = 0x8f1bbcdc | 0);
    else (f = bb ^ c ^ d), (k = 0xca62c1d6 | 0);
    const tmp = (((a << 5) | (a >>> 27)) + f + e + k + W[t]) | 0;
    e = d;
    d = c;
    c = (bb << 30) | (bb >>> 2);
    bb = a;
    a = tmp;
  }
  s[0] = (s[0] + a) | 0;
  s[1] = (s[1] + bb) | 0;
  s[2] = (s[2] + c) | 0;
  s[3] = (s[3] + d) | 0;
  s[4] = (s[4] + e) | 0;
}
