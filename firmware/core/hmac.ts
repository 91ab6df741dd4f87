/**
 * HMAC (RFC 2104) over an injected one-shot hash: on the card Espruino's
 * native require("crypto"), on a host @noble/hashes.
 *
 *   HMAC(K, m) = H((K0 ^ opad) || H((K0 ^ ipad) || m))
 *
 * K0 is the key zero-padded to the block length; a key longer than the
 * block is hashed first.
 */
import type { Hash } from "./types";
import { checkBytes, isIntIn, wipe } from "./bytes";

/**
 * The two hash inputs, [ K0 ^ ipad | message ] and [ K0 ^ opad | inner
 * digest ], kept between calls (the issuer runs HMAC for every code it
 * checks, and allocating them each time showed in bench/hotp.ts) and remade
 * when a call needs another block length or more room. Between calls they
 * hold only the bare pads (0x36.., 0x5c..) and zeros: a call writes its key
 * bytes in and puts the pad bytes back before returning, so no key stays
 * behind and only key.length bytes of each pad change per call. The card
 * makes its codes from stored pads instead (otp.ts padOtp): its bundle has
 * no hmac() and, the allocation being marked pure, none of these buffers.
 * Sharing them is safe because all of this is synchronous and a Hash
 * never calls back into hmac(). `inView` is the prefix of `inner` last
 * hashed, kept because a view is an allocation too.
 */
let padLen = 0;
let inner = /* @__PURE__ */ new Uint8Array(0); // pure: dropped from a bundle that has no hmac() (the card's)
let outer = inner;
let inView = inner;

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
  const n = B + message.length;
  if (padLen !== B || outer.length !== B + L || inner.length < n) {
    padLen = B;
    inView = inner = new Uint8Array(n);
    outer = new Uint8Array(B + L);
    inner.fill(0x36, 0, B);
    outer.fill(0x5c, 0, B);
  }
  if (inView.length !== n) inView = inner.subarray(0, n);
  const ib = inner;
  const ob = outer;

  let out: Uint8Array;
  let i = 0;
  for (; i < k.length; i++) {
    ib[i] = k[i] ^ 0x36;
    ob[i] = k[i] ^ 0x5c;
  }
  try {
    // Plain loops, not set() or fill(): for these few bytes they are faster
    // in V8 (bench/hotp.ts), and the card copies only a few bytes either way.
    for (i = 0; i < message.length; i++) ib[B + i] = message[i];
    const d = digest(hash, inView);
    for (i = 0; i < L; i++) ob[B + i] = d[i];
    out = digest(hash, ob);
  } finally {
    // Back to bare pads and zeros, even when the hash threw.
    for (i = 0; i < k.length; i++) {
      ib[i] = 0x36;
      ob[i] = 0x5c;
    }
    for (i = B; i < n; i++) ib[i] = 0;
    for (i = B; i < B + L; i++) ob[i] = 0;
  }
  // A hashed long key is key-equivalent too. (Guard against a Hash that
  // hands back one shared array: then k is the result.)
  if (k !== key && k !== out) wipe(k);
  return out;
}

/**
 * A Hash that can also hash a list of parts as if joined, without joining
 * them: Espruino's require("crypto").SHA1/SHA256 do, natively (an array of
 * arrays is read part by part, a view of memory-mapped flash included), so
 * on the card hal/crypto.ts hands the native function over as is. Its
 * result, outputLen bytes, may itself be a part and is read by index: on
 * Espruino it is an ArrayBuffer, which Espruino indexes as bytes (ab[i]), so
 * it is typed as the view that indexes so in JavaScript; a host's is a
 * Uint8Array (the simulator's crypto gives an ArrayBuffer that indexes as
 * Espruino's does, sim/board/libs.ts). Read only. Called unbound.
 */
export interface PartsHash extends Hash {
  digestParts?: (parts: Array<Uint8Array | ArrayBuffer>) => Uint8Array;
}

/**
 * hash's parts digest: its own when it has one, else one that joins the
 * parts and calls digest (hosts; the joined copy is wiped: it may hold a pad).
 */
export function partsDigest(hash: Hash): (parts: Array<Uint8Array | ArrayBuffer>) => Uint8Array {
  const own = (hash as PartsHash).digestParts;
  if (typeof own === "function") return own;
  return function (parts: Array<Uint8Array | ArrayBuffer>): Uint8Array {
    const bytes: Uint8Array[] = [];
    let n = 0;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      bytes.push(p instanceof Uint8Array ? p : new Uint8Array(p));
      n += bytes[i].length;
    }
    const joined = new Uint8Array(n);
    n = 0;
    for (let i = 0; i < bytes.length; i++) {
      joined.set(bytes[i], n);
      n += bytes[i].length;
    }
    try {
      return digest(hash, joined);
    } finally {
      wipe(joined);
    }
  };
}

/** hash.digest with its output length checked: a wrong Hash must not yield a short MAC. */
function digest(hash: Hash, data: Uint8Array): Uint8Array {
  const d = hash.digest(data);
  if (!(d instanceof Uint8Array) || d.length !== hash.outputLen) {
    throw new Error(hash.name + " digest is not " + hash.outputLen + " bytes");
  }
  return d;
}
