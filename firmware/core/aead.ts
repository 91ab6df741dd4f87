/**
 * The card's AEAD: an encrypt-then-MAC built from HMAC-SHA256 alone, over an
 * injected SHA-256 (on the card Espruino's native require("crypto").SHA256,
 * which hashes a list of parts as if joined: core/hmac.ts PartsHash). Named
 * `inkcard/etm/v1`; 32-byte key, 12-byte nonce, 16-byte tag.
 *
 *   kE ‖ kM  = HKDF-Expand(PRK = key, info = "inkcard/etm/v1", 64)   (RFC 5869 2.3)
 *   S_i      = HMAC(kE, nonce ‖ be32(i)), i = 0, 1, ...              (32 bytes each)
 *   ct       = plaintext XOR (S_0 ‖ S_1 ‖ ...)
 *   tag      = first 16 bytes of HMAC(kM, nonce ‖ be32(|aad|) ‖ aad ‖ ct)
 *   sealed   = ct ‖ tag
 *
 * The key is always an HKDF output already (K_pair, K_seal: docs/dynamic-data.md
 * "Keys"), a pseudorandom key, so Expand alone derives the two keys (RFC 5869
 * section 3.3). The tag covers the nonce and the length of the associated
 * data, so no two (nonce, aad, ct) share a MAC input. open() checks the tag,
 * in time that does not depend on where it differs, before it decrypts: a
 * bad tag gives null and no plaintext is ever made.
 *
 * Written for the interpreter, which pays for every token it reads: each
 * HMAC is two native hash calls over parts ([K ^ ipad, message...], then
 * [K ^ opad, inner digest]); JavaScript only builds the pads (one loop of 64
 * per key) and XORs the stream. The pads are key-equivalent and wiped before
 * a call returns.
 */
import { checkBytes } from "./bytes";
import { checkHash, partsDigest } from "./hmac";
import type { Hash } from "./types";

export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;

/** An AEAD with a 32-byte key, a 12-byte nonce and a 16-byte tag. */
export interface Aead {
  /** ciphertext || 16-byte tag (a new array). */
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** The plaintext (a new array), or null when sealed is shorter than a tag or its tag does not verify. */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null;
}

/** "inkcard/etm/v1" and the counter bytes of HKDF-Expand's T(1), T(2). */
const INFO1 = [105, 110, 107, 99, 97, 114, 100, 47, 101, 116, 109, 47, 118, 49, 1];

type Digest = (parts: Array<Uint8Array | ArrayBuffer>) => Uint8Array;

/** The HMAC pads of a key of at most 64 bytes into p: K ^ ipad at 0, K ^ opad at 64. */
function padsOf(key: Uint8Array | ArrayBuffer, p: Uint8Array): void {
  const k = key as Uint8Array; // an ArrayBuffer (a native digest) indexes as bytes on Espruino; lengths: 32
  for (let i = 0; i < 64; i++) {
    const b = i < 32 ? k[i] : 0;
    p[i] = b ^ 0x36;
    p[i + 64] = b ^ 0x5c;
  }
}

/** Throws unless the arguments are byte arrays and the key and nonce have their lengths (programming errors). */
export function checkAeadArgs(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, what: string): void {
  checkBytes(key, "AEAD key");
  checkBytes(nonce, "AEAD nonce");
  checkBytes(aad, "AEAD aad");
  checkBytes(data, "AEAD " + what);
  if (key.length !== AEAD_KEY_BYTES) throw new Error("AEAD key must be 32 bytes");
  if (nonce.length !== AEAD_NONCE_BYTES) throw new Error("AEAD nonce must be 12 bytes");
}

/** Zeros over a digest that is key material: a Uint8Array on a host, an ArrayBuffer on Espruino. */
function wipeDigest(d: Uint8Array | ArrayBuffer): void {
  (d instanceof Uint8Array ? d : new Uint8Array(d)).fill(0);
}

/**
 * The keys' pads for one call: kE's at 0 (inner, outer), kM's at 128. The
 * caller wipes them.
 */
function keysOf(h: Digest, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, what: string): Uint8Array {
  checkAeadArgs(key, nonce, aad, data, what);
  const p = new Uint8Array(256);
  const info = new Uint8Array(INFO1);
  const kp = p.subarray(128);
  padsOf(key, kp);
  const inner = kp.subarray(0, 64);
  const outer = kp.subarray(64);
  // T(1) = HMAC(key, info ‖ 1), T(2) = HMAC(key, T(1) ‖ info ‖ 2)
  const t1 = h([outer, h([inner, info])]);
  info[14] = 2;
  const t2 = h([outer, h([inner, t1, info])]);
  padsOf(t1, p);
  padsOf(t2, kp);
  wipeDigest(t1);
  wipeDigest(t2);
  return p;
}

/** HMAC over prepared pads (inner at p[at..], outer at p[at+64..]) of the parts. */
function mac(h: Digest, p: Uint8Array, at: number, parts: Array<Uint8Array | ArrayBuffer>): Uint8Array {
  parts.unshift(p.subarray(at, at + 64));
  return h([p.subarray(at + 64, at + 128), h(parts)]);
}

/** data XOR the stream of kE (pads at p[0..128]) into out. */
function crypt(h: Digest, p: Uint8Array, nonce: Uint8Array, data: Uint8Array, out: Uint8Array): void {
  const ctr = new Uint8Array(4);
  for (let off = 0; off < data.length; off += 32) {
    const s = mac(h, p, 0, [nonce, ctr]);
    const n = data.length - off < 32 ? data.length - off : 32;
    for (let j = 0; j < n; j++) out[off + j] = data[off + j] ^ s[j];
    // Block counter, big-endian (a frame has far fewer than 2^8 blocks; written in full all the same).
    for (let j = 3; j >= 0 && ++ctr[j] === 0; j--);
  }
}

/** The full MAC of (nonce, aad, ct) under kM (pads at p[128..256]). */
function tagOf(h: Digest, p: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array {
  const n = aad.length;
  return mac(h, p, 128, [nonce, new Uint8Array([n >>> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255]), aad, ct]);
}

/** The AEAD over this SHA-256 (hash.name must be SHA256). */
export function etmAead(sha256: Hash): Aead {
  checkHash(sha256);
  if (sha256.name !== "SHA256") throw new Error("the AEAD needs SHA256");
  const h = partsDigest(sha256);
  return {
    seal: function (key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
      const p = keysOf(h, key, nonce, aad, plaintext, "plaintext");
      const n = plaintext.length;
      const out = new Uint8Array(n + AEAD_TAG_BYTES);
      const ct = out.subarray(0, n);
      crypt(h, p, nonce, plaintext, ct);
      const t = tagOf(h, p, nonce, aad, ct);
      for (let i = 0; i < AEAD_TAG_BYTES; i++) out[n + i] = t[i];
      p.fill(0);
      return out;
    },
    open: function (key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
      const p = keysOf(h, key, nonce, aad, sealed, "sealed data");
      const n = sealed.length - AEAD_TAG_BYTES;
      let out: Uint8Array | null = null;
      if (n >= 0) {
        const ct = sealed.subarray(0, n);
        const t = tagOf(h, p, nonce, aad, ct);
        let diff = 0;
        for (let i = 0; i < AEAD_TAG_BYTES; i++) diff |= t[i] ^ sealed[n + i];
        if (diff === 0) {
          out = new Uint8Array(n);
          crypt(h, p, nonce, ct, out);
        }
      }
      p.fill(0);
      return out;
    },
  };
}
