/**
 * The card's AEAD (`inkcard/etm/v1`, docs/dynamic-data.md "The card's AEAD")
 * written again from the document on node:crypto alone (createHmac, and
 * HKDF-Expand spelled out, since node:crypto has no Expand without Extract):
 * the independent implementation that core/aead.ts is checked against, on
 * the host and on the interpreter, and that makes the documented vectors.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { Aead } from "../../firmware/core/aead.ts";

const hmac = (key: Uint8Array, ...parts: Uint8Array[]) => {
  const h = createHmac("sha256", key);
  for (const p of parts) h.update(p);
  return h.digest();
};

/** kE ‖ kM = HKDF-Expand(PRK = key, info = "inkcard/etm/v1", 64). */
export function etmKeys(key: Uint8Array): { kE: Buffer; kM: Buffer } {
  const info = Buffer.from("inkcard/etm/v1");
  const t1 = hmac(key, info, Buffer.from([1]));
  const t2 = hmac(key, t1, info, Buffer.from([2]));
  return { kE: t1, kM: t2 };
}

function stream(kE: Uint8Array, nonce: Uint8Array, n: number): Buffer {
  const blocks: Buffer[] = [];
  for (let i = 0; i * 32 < n; i++) {
    const ctr = Buffer.alloc(4);
    ctr.writeUInt32BE(i);
    blocks.push(hmac(kE, nonce, ctr));
  }
  return Buffer.concat(blocks).subarray(0, n);
}

function tag(kM: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(aad.length);
  return hmac(kM, nonce, len, aad, ct).subarray(0, 16);
}

function check(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== 32 || nonce.length !== 12) throw new Error("key 32 bytes, nonce 12");
}

export function refSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  check(key, nonce);
  const { kE, kM } = etmKeys(key);
  const s = stream(kE, nonce, plaintext.length);
  const ct = Buffer.from(plaintext.map((b, i) => b ^ s[i]));
  return new Uint8Array(Buffer.concat([ct, tag(kM, nonce, aad, ct)]));
}

export function refOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
  check(key, nonce);
  if (sealed.length < 16) return null;
  const { kE, kM } = etmKeys(key);
  const ct = sealed.subarray(0, sealed.length - 16);
  if (!timingSafeEqual(tag(kM, nonce, aad, ct), sealed.subarray(sealed.length - 16))) return null;
  const s = stream(kE, nonce, ct.length);
  return new Uint8Array(ct.map((b, i) => b ^ s[i]));
}

/** The reference as an Aead, for code that takes one. */
export const referenceAead: Aead = { seal: refSeal, open: refOpen };
