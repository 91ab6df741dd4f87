/**
 * The measured alternative to ChaCha20-Poly1305 (bench/aead.ts): an
 * encrypt-then-MAC built only from HMAC-SHA256 over an injected hash (on the
 * card the native require("crypto").SHA256), as issue 11 describes it. Not
 * part of the firmware: it lost on speed (docs/dynamic-data.md, "The card's
 * AEAD"). Written with core's hmac/hkdf and ES5-safe, so the bench can run it
 * on the interpreter exactly as the card would.
 *
 *   kE | kM  = HKDF-SHA256(IKM = key, salt = nonce, info = "inkcard/etm/v1", 64)
 *   stream   = HMAC(kE, be32(0)) | HMAC(kE, be32(1)) | ...   (32 bytes a block)
 *   ct       = plaintext XOR stream
 *   tag      = first 16 bytes of HMAC(kM, aad | ct | be32(|aad|) | be32(|ct|))
 *   sealed   = ct | tag; open checks the tag (equalBytes) before decrypting.
 */
import { checkBytes, equalBytes, utf8Bytes, wipe, writeU32BE } from "../../firmware/core/bytes.ts";
import { hkdf } from "../../firmware/core/hkdf.ts";
import { hmac } from "../../firmware/core/hmac.ts";
import type { Hash } from "../../firmware/core/types.ts";

const TAG = 16;

function check(hash: Hash, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array): void {
  if (!hash || hash.name !== "SHA256") throw new Error("EtM needs SHA256");
  checkBytes(key, "EtM key");
  checkBytes(nonce, "EtM nonce");
  checkBytes(aad, "EtM aad");
  checkBytes(data, "EtM data");
  if (key.length !== 32 || nonce.length !== 12) throw new Error("EtM key must be 32 bytes, nonce 12");
}

/** data XOR the HMAC counter-mode stream of kE, into out. */
function crypt(hash: Hash, kE: Uint8Array, data: Uint8Array, out: Uint8Array): void {
  const ctr = new Uint8Array(4);
  for (let off = 0, i = 0; off < data.length; off += 32, i++) {
    writeU32BE(ctr, 0, i);
    const s = hmac(hash, kE, ctr);
    const n = data.length - off < 32 ? data.length - off : 32;
    for (let j = 0; j < n; j++) out[off + j] = data[off + j] ^ s[j];
    wipe(s);
  }
}

/** The 16-byte tag of aad and ct under kM. */
function tagOf(hash: Hash, kM: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array {
  const m = new Uint8Array(aad.length + ct.length + 8);
  m.set(aad, 0);
  m.set(ct, aad.length);
  writeU32BE(m, aad.length + ct.length, aad.length);
  writeU32BE(m, aad.length + ct.length + 4, ct.length);
  return hmac(hash, kM, m).subarray(0, TAG);
}

function keys(hash: Hash, key: Uint8Array, nonce: Uint8Array): Uint8Array {
  return hkdf(hash, key, nonce, utf8Bytes("inkcard/etm/v1"), 64);
}

export function etmSeal(hash: Hash, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  check(hash, key, nonce, aad, plaintext);
  const k = keys(hash, key, nonce);
  const out = new Uint8Array(plaintext.length + TAG);
  const ct = out.subarray(0, plaintext.length);
  crypt(hash, k.subarray(0, 32), plaintext, ct);
  out.set(tagOf(hash, k.subarray(32), aad, ct), plaintext.length);
  wipe(k);
  return out;
}

export function etmOpen(hash: Hash, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
  check(hash, key, nonce, aad, sealed);
  const n = sealed.length - TAG;
  if (n < 0) return null;
  const k = keys(hash, key, nonce);
  const ct = sealed.subarray(0, n);
  let out: Uint8Array | null = null;
  if (equalBytes(tagOf(hash, k.subarray(32), aad, ct), sealed.subarray(n))) {
    out = new Uint8Array(n);
    crypt(hash, k.subarray(0, 32), ct, out);
  }
  wipe(k);
  return out;
}
