/**
 * The transport's key schedule and the pairing grant (docs/dynamic-data.md,
 * "Keys" and "Pairing"). Everything comes from the card's key K (the
 * profile's key, 16..64 bytes) as HMAC uses it, K0 = K zero-padded to 64
 * bytes, through HKDF-SHA256 with one versioned salt:
 *
 *   card id   = HKDF(IKM = K0, salt = "inkcard/link/v1", info = "card-id", L = 4)   as a u32; 0 becomes 1
 *   K_seal    = HKDF(IKM = K0, salt,                     info = "seal",    L = 32)  issuer <-> card, end to end
 *   K_pair    = HKDF(IKM = K0, salt,                     info = "pair" || device id (16) || epoch (u32), L = 32)
 *   K_answer  = HKDF(IKM = K0, salt,                     info = "answer",  L = 32)  the payment answer's OCRA key
 *
 * K0, not K: the card holds only the profile's HMAC pads (K0 ^ ipad,
 * K0 ^ opad), from which K0 comes back exactly, while K does not when it
 * ends in zero bytes (HMAC makes no difference between K and K ‖ 00: they
 * are one key to HOTP too). Deriving from K itself, such a card (about one
 * in 256) and its issuer would disagree on every link key.
 *
 * The issuer, which holds K, derives K_pair for a phone it has bound to the
 * card (its device identifier) and gives it to that phone; the card derives
 * the same once a grant sealed under K_seal tells it the device identifier
 * and the pairing's epoch. The phone never learns K or K_seal, so it can
 * neither read nor alter what the issuer seals; a frame not sealed under
 * the bound phone's K_pair is refused.
 *
 * Grant body (T_GRANT, sealed under K_seal by the issuer):
 *   off len field
 *   0   16  device identifier (random, chosen by the phone at install)
 *   16  4   epoch, u32 >= 1: the issuer's count of pairings of this card; the card takes only a larger one
 */
import type { Hash } from "./types";
import { asciiBytes, isIntIn, readU32BE, wipe, writeU32BE } from "./bytes";
import { E_MALFORMED, E_OLD_SEQ, E_OVERSIZED, E_TRUNCATED, OK } from "./frames";
import { hkdf } from "./hkdf";

/** HKDF salt, ASCII. The version lets a later scheme coexist with this one. */
export const LINK_SALT = "inkcard/link/v1";
export const DEVICE_ID_BYTES = 16;
export const GRANT_BYTES = 20;

function checkInputs(sha256: Hash, cardKey: Uint8Array): void {
  if (!sha256 || sha256.name !== "SHA256") throw new Error("the link keys need SHA-256");
  if (!(cardKey instanceof Uint8Array) || cardKey.length < 16 || cardKey.length > 64) throw new Error("card key must be 16..64 bytes");
}

/** The link keys' input: the card key zero-padded to 64 bytes, as HMAC pads it (see above). */
export const LINK_IKM_BYTES = 64;

/** HKDF-SHA256 of the card key (padded) under LINK_SALT with an ASCII label, then extra bytes. */
function derive(sha256: Hash, cardKey: Uint8Array, label: string, extra: Uint8Array | null, length: number): Uint8Array {
  checkInputs(sha256, cardKey);
  const l = asciiBytes(label);
  const info = new Uint8Array(l.length + (extra ? extra.length : 0));
  info.set(l, 0);
  if (extra) info.set(extra, l.length);
  const k0 = new Uint8Array(LINK_IKM_BYTES);
  k0.set(cardKey, 0);
  try {
    return hkdf(sha256, k0, asciiBytes(LINK_SALT), info, length);
  } finally {
    wipe(k0);
  }
}

/** The card id frames carry (never 0: 0 means "any card" in HELLO). */
export function deriveCardId(sha256: Hash, cardKey: Uint8Array): number {
  const id = readU32BE(derive(sha256, cardKey, "card-id", null, 4), 0);
  return id === 0 ? 1 : id;
}

/** K_seal: the issuer's end-to-end key for this card. */
export function deriveSealKey(sha256: Hash, cardKey: Uint8Array): Uint8Array {
  return derive(sha256, cardKey, "seal", null, 32);
}

/** K_answer: the key of the card's transaction-bound answer (OCRA, docs/dynamic-data.md). */
export function deriveAnswerKey(sha256: Hash, cardKey: Uint8Array): Uint8Array {
  return derive(sha256, cardKey, "answer", null, 32);
}

/** K_pair for the phone with this device identifier, at this pairing epoch. */
export function derivePairKey(sha256: Hash, cardKey: Uint8Array, deviceId: Uint8Array, epoch: number): Uint8Array {
  return derive(sha256, cardKey, "pair", encodeGrant(deviceId, epoch), 32);
}

/** The grant body (the issuer seals it as T_GRANT). Throws on a bad device id or epoch. */
export function encodeGrant(deviceId: Uint8Array, epoch: number): Uint8Array {
  if (!(deviceId instanceof Uint8Array) || deviceId.length !== DEVICE_ID_BYTES) throw new Error("device id must be " + DEVICE_ID_BYTES + " bytes");
  if (!isIntIn(epoch, 1, 0xffffffff)) throw new Error("pairing epoch must be an integer 1..2^32-1");
  const out = new Uint8Array(GRANT_BYTES);
  out.set(deviceId, 0);
  writeU32BE(out, DEVICE_ID_BYTES, epoch);
  return out;
}

export interface Grant {
  deviceId: Uint8Array;
  epoch: number;
}

/**
 * A grant body the card opened: OK (out filled; deviceId a view of body),
 * E_TRUNCATED, E_OVERSIZED, E_MALFORMED (epoch 0), or E_OLD_SEQ when the
 * epoch is not above the card's current one (an old grant, replayed).
 */
export function readGrant(body: Uint8Array, currentEpoch: number, out: Grant): number {
  if (!(body instanceof Uint8Array) || body.length < GRANT_BYTES) return E_TRUNCATED;
  if (body.length > GRANT_BYTES) return E_OVERSIZED;
  const epoch = readU32BE(body, DEVICE_ID_BYTES);
  if (epoch === 0) return E_MALFORMED;
  if (!(epoch > currentEpoch)) return E_OLD_SEQ;
  out.deviceId = body.subarray(0, DEVICE_ID_BYTES);
  out.epoch = epoch;
  return OK;
}
