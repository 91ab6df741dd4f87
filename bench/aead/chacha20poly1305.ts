/**
 * The measured alternative to the card's AEAD (bench/aead.ts): ChaCha20-Poly1305
 * (RFC 8439 section 2.8) in JavaScript written for the interpreter, the card's
 * AEAD until issue 11's card wiring showed it too large for the MDBT42Q's
 * flash (4.75 KB minified with its ChaCha20 and Poly1305) and, once the
 * encrypt-then-MAC's HMACs ran over native SHA-256 with prepared pads, about
 * 3x slower (docs/dynamic-data.md, "The card's AEAD"). Not in the firmware;
 * the bench checks its frames against @noble/ciphers before timing them.
 *
 *   poly key = first 32 bytes of ChaCha20(key, nonce, counter 0)
 *   ct       = plaintext XOR ChaCha20(key, nonce, counter 1..)
 *   tag      = Poly1305(poly key, aad | pad16 | ct | pad16 | le64(|aad|) | le64(|ct|))
 *   sealed   = ct | tag
 */
import { checkAeadArgs } from "../../firmware/core/aead.ts";
import { equalBytes, wipe } from "../../firmware/core/bytes.ts";
import { chacha20 } from "./chacha20.ts";
import { poly1305Finish, poly1305Init, poly1305Update } from "./poly1305.ts";

const AEAD_TAG_BYTES = 16;

/** Room reused by every call (all synchronous): the one-time Poly1305 key, the lengths block, the expected tag. */
const polyKey = new Uint8Array(32);
const lens = new Uint8Array(16);
const expected = new Uint8Array(AEAD_TAG_BYTES);

/** Little-endian uint32 n at lens[off], the high 4 bytes of its le64 staying 0 (lengths here are far below 2^32). */
function le32(off: number, n: number): void {
  lens[off] = n & 255;
  lens[off + 1] = (n >> 8) & 255;
  lens[off + 2] = (n >> 16) & 255;
  lens[off + 3] = (n >>> 24) & 255;
}

/** The tag of (aad, ct) into tag; the one-time key is wiped. */
function tagOf(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array, tag: Uint8Array): void {
  polyKey.fill(0);
  chacha20(key, nonce, 0, polyKey, polyKey);
  try {
    poly1305Init(polyKey);
  } finally {
    wipe(polyKey);
  }
  poly1305Update(aad, true);
  poly1305Update(ct, true);
  le32(0, aad.length);
  le32(8, ct.length);
  poly1305Update(lens, true);
  poly1305Finish(tag);
}

export function seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  checkAeadArgs(key, nonce, aad, plaintext, "plaintext");
  const n = plaintext.length;
  const out = new Uint8Array(n + AEAD_TAG_BYTES);
  const ct = out.subarray(0, n);
  chacha20(key, nonce, 1, plaintext, ct);
  tagOf(key, nonce, aad, ct, out.subarray(n));
  return out;
}

export function open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
  checkAeadArgs(key, nonce, aad, sealed, "sealed data");
  const n = sealed.length - AEAD_TAG_BYTES;
  if (n < 0) return null;
  const ct = sealed.subarray(0, n);
  tagOf(key, nonce, aad, ct, expected);
  const ok = equalBytes(expected, sealed.subarray(n));
  wipe(expected);
  return ok ? chacha20(key, nonce, 1, ct) : null;
}

