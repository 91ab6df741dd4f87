/**
 * Poly1305 (RFC 8439 section 2.5): a one-time authenticator with a 32-byte
 * key (r, clamped, then s). tag = ((sum of m_i * r^(n-i+1)) mod 2^130-5 + s) mod 2^128
 * over 16-byte blocks m_i, each with a 1 bit above its top byte.
 *
 * Arithmetic in doubles, exact below 2^53, since Espruino has no Math.imul
 * and a 32x32 product is not exact in one: numbers mod 2^130-5 are six limbs
 * of 22 bits (the last holds the top 20), so a limb product is below 2^45,
 * and with 2^132 = 4 * 2^130 = 20 (mod p) folding the high products back
 * multiplies r by 20: a column of six products stays below 2^52. Carries
 * divide by 2^22 (exact) and take |0 of a quotient below 2^31. Fewer, wider
 * limbs would not be exact; more, narrower ones cost more statements, which
 * is what Espruino pays for.
 *
 * Streaming for the AEAD (poly1305Init / poly1305Update / poly1305Finish over
 * one shared state: everything here is synchronous) and one-shot poly1305().
 */
import { checkBytes } from "../../firmware/core/bytes.ts";

export const POLY1305_KEY_BYTES = 32;
export const POLY1305_TAG_BYTES = 16;

const TWO22 = 4194304;
const TWO20 = 1048576;

/** The accumulator, r and s between calls (h and r as limbs, s as bytes); a last partial block. */
const H = new Int32Array(6);
const R = new Int32Array(6);
const S = new Uint8Array(16);
const last = new Uint8Array(16);
/** 0: no tag started; 1: taking data; 2: a partial final block was taken, only Finish may follow. */
let state = 0;

/** Start a tag under key (32 bytes: r, then s). */
export function poly1305Init(key: Uint8Array): void {
  checkBytes(key, "Poly1305 key");
  if (key.length !== POLY1305_KEY_BYTES) throw new Error("Poly1305 key must be 32 bytes");
  // r clamped (RFC 8439 2.5): the top 4 bits of bytes 3, 7, 11, 15 and the low 2 of 4, 8, 12 cleared.
  const w0 = key[0] | (key[1] << 8) | (key[2] << 16) | ((key[3] & 15) << 24);
  const w1 = (key[4] & 252) | (key[5] << 8) | (key[6] << 16) | ((key[7] & 15) << 24);
  const w2 = (key[8] & 252) | (key[9] << 8) | (key[10] << 16) | ((key[11] & 15) << 24);
  const w3 = (key[12] & 252) | (key[13] << 8) | (key[14] << 16) | ((key[15] & 15) << 24);
  limbs(R, w0, w1, w2, w3);
  for (let i = 0; i < 16; i++) S[i] = key[16 + i];
  H.fill(0);
  state = 1;
}

/** Four little-endian 32-bit words (bits 0..127) as 22-bit limbs. */
function limbs(L: Int32Array, w0: number, w1: number, w2: number, w3: number): void {
  L[0] = w0 & 0x3fffff;
  L[1] = (w0 >>> 22) | ((w1 & 0xfff) << 10);
  L[2] = (w1 >>> 12) | ((w2 & 3) << 20);
  L[3] = (w2 >>> 2) & 0x3fffff;
  L[4] = (w2 >>> 24) | ((w3 & 0x3fff) << 8);
  L[5] = w3 >>> 14;
}

/**
 * h = (h + m) * r mod p for each 16-byte block of m from off to end (a
 * multiple of 16 apart), with the 2^128 bit added (hibit 2^18 in limb 5) or
 * not (0, for a final partial block padded with 1 then zeros).
 */
function blocks(m: Uint8Array, off: number, end: number, hibit: number): void {
  let h0 = H[0], h1 = H[1], h2 = H[2], h3 = H[3], h4 = H[4], h5 = H[5];
  const r0 = R[0], r1 = R[1], r2 = R[2], r3 = R[3], r4 = R[4], r5 = R[5];
  const t1 = 20 * r1, t2 = 20 * r2, t3 = 20 * r3, t4 = 20 * r4, t5 = 20 * r5;
  let w0, w1, w2, w3, d0, d1, d2, d3, d4, d5, c;
  for (; off < end; off += 16) {
    w0 = m[off] | (m[off + 1] << 8) | (m[off + 2] << 16) | (m[off + 3] << 24);
    w1 = m[off + 4] | (m[off + 5] << 8) | (m[off + 6] << 16) | (m[off + 7] << 24);
    w2 = m[off + 8] | (m[off + 9] << 8) | (m[off + 10] << 16) | (m[off + 11] << 24);
    w3 = m[off + 12] | (m[off + 13] << 8) | (m[off + 14] << 16) | (m[off + 15] << 24);
    h0 += w0 & 0x3fffff;
    h1 += (w0 >>> 22) | ((w1 & 0xfff) << 10);
    h2 += (w1 >>> 12) | ((w2 & 3) << 20);
    h3 += (w2 >>> 2) & 0x3fffff;
    h4 += (w2 >>> 24) | ((w3 & 0x3fff) << 8);
    h5 += (w3 >>> 14) + hibit;
    // Limbs below 2^23, r limbs below 2^22, 20r below 2^27: each column below 2^52.
    d0 = h0 * r0 + h1 * t5 + h2 * t4 + h3 * t3 + h4 * t2 + h5 * t1;
    d1 = h0 * r1 + h1 * r0 + h2 * t5 + h3 * t4 + h4 * t3 + h5 * t2;
    d2 = h0 * r2 + h1 * r1 + h2 * r0 + h3 * t5 + h4 * t4 + h5 * t3;
    d3 = h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * t5 + h5 * t4;
    d4 = h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0 + h5 * t5;
    d5 = h0 * r5 + h1 * r4 + h2 * r3 + h3 * r2 + h4 * r1 + h5 * r0;
    // Carry: every quotient is below 2^31 (d5 has no factor 20: below 2^48).
    c = (d0 / TWO22) | 0; h0 = d0 - c * TWO22; d1 += c;
    c = (d1 / TWO22) | 0; h1 = d1 - c * TWO22; d2 += c;
    c = (d2 / TWO22) | 0; h2 = d2 - c * TWO22; d3 += c;
    c = (d3 / TWO22) | 0; h3 = d3 - c * TWO22; d4 += c;
    c = (d4 / TWO22) | 0; h4 = d4 - c * TWO22; d5 += c;
    c = (d5 / TWO20) | 0; h5 = d5 - c * TWO20; h0 += c * 5; // 2^130 = 5
    c = h0 >> 22; h0 &= 0x3fffff; h1 += c;
  }
  H[0] = h0; H[1] = h1; H[2] = h2; H[3] = h3; H[4] = h4; H[5] = h5;
}

/**
 * Add data to the tag. padded: zero-pad a last partial block to 16 bytes and
 * treat it as a full one (RFC 8439 2.8's pad16, for the AEAD); otherwise a
 * last partial block ends the message (1 byte, zeros, no 2^128 bit).
 */
export function poly1305Update(data: Uint8Array, padded: boolean): void {
  checkBytes(data, "Poly1305 data");
  if (state !== 1) throw new Error(state ? "Poly1305 message has ended" : "Poly1305 not initialised");
  const full = data.length - (data.length & 15);
  blocks(data, 0, full, 1 << 18);
  const n = data.length - full;
  if (n === 0) return;
  last.fill(0);
  for (let i = 0; i < n; i++) last[i] = data[full + i];
  if (padded) {
    blocks(last, 0, 16, 1 << 18);
  } else {
    last[n] = 1;
    blocks(last, 0, 16, 0);
    state = 2;
  }
  last.fill(0);
}

/** The 16-byte tag, written to out (a new array when not given); the state is wiped. */
export function poly1305Finish(out?: Uint8Array): Uint8Array {
  if (!state) throw new Error("Poly1305 not initialised");
  const tag = out === undefined ? new Uint8Array(POLY1305_TAG_BYTES) : out;
  checkBytes(tag, "Poly1305 tag");
  if (tag.length !== POLY1305_TAG_BYTES) throw new Error("Poly1305 tag must be 16 bytes");
  const h = H;
  // Carry fully (twice round: a carry out of the top wraps as 5 into limb 0).
  let c = 0, i;
  for (let pass = 0; pass < 2; pass++) {
    for (i = 0; i < 5; i++) {
      h[i] += c;
      c = h[i] >> 22;
      h[i] &= 0x3fffff;
    }
    h[5] += c;
    c = (h[5] >> 20) * 5;
    h[5] &= 0xfffff;
  }
  // c is 0 unless the second pass carried out of the top, which leaves h0 = 0.
  h[0] += c;
  // h < 2^130 < 2p, so h mod p is h - p when h + 5 reaches 2^130, else h.
  // g = h + 5 - 2^130, chosen with a mask rather than a branch.
  let gc = 5;
  const gl = R; // r is no longer needed: reuse its room for g's limbs
  for (i = 0; i < 5; i++) {
    gc += h[i];
    gl[i] = gc & 0x3fffff;
    gc >>= 22;
  }
  gc += h[5];
  gl[5] = gc & 0xfffff;
  const mask = -(gc >> 20); // -1: use g; 0: keep h
  for (i = 0; i < 6; i++) h[i] = (h[i] & ~mask) | (gl[i] & mask);
  // (h + s) mod 2^128, little-endian: limbs out 8 bits at a time, never more than 29 bits held.
  let acc = 0, bits = 0, j = 0;
  c = 0;
  for (i = 0; i < 6; i++) {
    acc |= h[i] << bits;
    bits += 22;
    for (; bits >= 8 && j < 16; bits -= 8, j++) {
      c += (acc & 255) + S[j];
      tag[j] = c;
      c >>= 8;
      acc >>>= 8;
    }
  }
  H.fill(0);
  R.fill(0);
  S.fill(0);
  state = 0;
  return tag;
}

/** The Poly1305 tag of msg under a one-time key. */
export function poly1305(key: Uint8Array, msg: Uint8Array): Uint8Array {
  checkBytes(msg, "Poly1305 message");
  poly1305Init(key);
  poly1305Update(msg, false);
  return poly1305Finish();
}
