/**
 * HKDF (RFC 5869) over an injected hash: extract, then expand.
 *
 *   PRK  = HMAC(salt, IKM)                     (empty salt = HashLen zero bytes)
 *   T(i) = HMAC(PRK, T(i-1) || info || i)      (T(0) empty, i one byte from 1)
 *   OKM  = first `length` bytes of T(1) || T(2) || ...
 */
import type { Hash } from "./types";
import { checkBytes, isIntIn, wipe } from "./bytes";
import { checkHash, hmac } from "./hmac";

export function hkdf(hash: Hash, ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  checkHash(hash);
  checkBytes(ikm, "HKDF ikm");
  checkBytes(salt, "HKDF salt");
  checkBytes(info, "HKDF info");
  const L = hash.outputLen;
  // The block counter is one byte, so at most 255 blocks.
  if (!isIntIn(length, 1, 255 * L)) throw new Error("HKDF length must be an integer 1.." + 255 * L);

  const prk = hmac(hash, salt.length ? salt : new Uint8Array(L), ikm);
  const okm = new Uint8Array(length);
  // One message buffer for every block: [ T(i-1) | info | i ]; T(0) is empty,
  // so block 1 uses the tail that starts at offset L.
  const msg = new Uint8Array(L + info.length + 1);
  msg.set(info, L);
  for (let i = 1, off = 0; off < length; i++, off += L) {
    msg[msg.length - 1] = i;
    const t = hmac(hash, prk, i === 1 ? msg.subarray(L) : msg);
    okm.set(length - off < L ? t.subarray(0, length - off) : t, off);
    msg.set(t, 0);
    wipe(t);
  }
  wipe(prk);
  wipe(msg);
  return okm;
}
