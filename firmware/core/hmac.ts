/**
 * HMAC (RFC 2104) over an injected one-shot hash: on the card Espruino's
 * native require("crypto"), on a host @noble/hashes.
 *
 *   HMAC(K, m) = H((K0 ^ opad) || H((K0 ^ ipad) || m))
 *
 * K0 is the key zero-padded to the block length; a key longer than the
 * block is hashed first. One scratch buffer serves both passes, and is
 * wiped before returning because it holds the padded key.
 */
import type { Hash } from "./types";
import { checkBytes, isIntIn, wipe } from "./bytes";

/** Throws unless hash looks like a usable Hash (its sizes drive the buffers below). */
export function checkHash(hash: Hash): void {
  if (!hash || typeof hash.digest !== "function") throw new Error("hash must have a digest function");
  if (!isIntIn(hash.blockLen, 1, 1024) || !isIntIn(hash.outputLen, 1, hash.blockLen)) {
    throw new Error("hash has invalid blockLen/outputLen");
  }
}

export function hmac(hash: Hash, key: Uint8Array, message: Uint8Array): Uint8Array {
  checkHash(hash);
  checkBytes(key, "HMAC key");
  checkBytes(message, "HMAC message");
  const B = hash.blockLen;
  const L = hash.outputLen;
  const k = key.length > B ? digest(hash, key) : key;

  // [ K0 ^ pad | message or inner digest ]
  const buf = new Uint8Array(B + (message.length > L ? message.length : L));
  for (let i = 0; i < B; i++) buf[i] = (i < k.length ? k[i] : 0) ^ 0x36;
  buf.set(message, B);
  const inner = digest(hash, buf.subarray(0, B + message.length));

  // ipad ^ opad = 0x36 ^ 0x5c = 0x6a turns the inner pad into the outer one.
  for (let i = 0; i < B; i++) buf[i] ^= 0x6a;
  buf.set(inner, B);
  const out = digest(hash, buf.subarray(0, B + L));

  // The padded key and a hashed long key are key-equivalent; the inner
  // digest is not. (Guard against a Hash that hands back one shared array.)
  wipe(buf);
  if (k !== key && k !== out) wipe(k);
  return out;
}

/** hash.digest with its output length checked: a wrong Hash must not yield a short MAC. */
function digest(hash: Hash, data: Uint8Array): Uint8Array {
  const d = hash.digest(data);
  if (!(d instanceof Uint8Array) || d.length !== hash.outputLen) {
    throw new Error(hash.name + " digest is not " + hash.outputLen + " bytes");
  }
  return d;
}
