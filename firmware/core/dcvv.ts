/**
 * The dynamic CVV of document B: the issuer derives each card's key from its
 * master key and the card data; the card stores only that key and shows
 * HOTP (counter mode) or TOTP (time mode) of it. docs/codes.md is the
 * normative description; keep the two in step.
 *
 *   key = HKDF-SHA256(IKM = master key (32 bytes), salt = "inkcard/dcvv/v1",
 *                     info = cardInfo(card, alg), L = keyLength(alg))
 *
 * Counter mode: press k (k = 0, 1, ...) shows hotp(alg, key, c0 + k, digits),
 * c0 being the provisioned starting counter. Time mode: totp(alg, key, now,
 * step, digits).
 */
import type { Hash, HashName } from "./types";
import { utf8Bytes } from "./bytes";
import { hkdf } from "./hkdf";

export interface CardData {
  /** Primary account number: 12..19 digits, Luhn-valid. */
  pan: string;
  /** Expiry as YYMM, month 01..12. */
  expiry: string;
  /** PAN sequence number: 2 digits. */
  psn: string;
}

/** HKDF salt, ASCII. The version lets a later scheme coexist with this one. */
export const DCVV_SALT = "inkcard/dcvv/v1";

/**
 * Default TOTP step: 5 minutes. The holder reads the code off the card and
 * types it into a checkout or reads it to an agent; at RFC 6238's 30 s the
 * code would often change mid-entry. Five minutes covers that with the
 * issuer's +-1 step drift window, and is far shorter than document B's
 * example (the hour), so a skimmed code goes stale quickly.
 */
export const DEFAULT_TIME_STEP = 300;

/** Default code length: the 3 digits of a printed CVV2/CVC2. */
export const DEFAULT_DIGITS = 3;

/** Card key length in bytes: the hash's output length (RFC 4226/6238 usage). */
export function keyLength(alg: HashName): number {
  if (alg === "SHA1") return 20;
  if (alg === "SHA256") return 32;
  if (alg === "SHA512") return 64;
  throw new Error("unknown hash algorithm (SHA1, SHA256 or SHA512)");
}

/** Master key length in bytes. */
export const MASTER_KEY_BYTES = 32;

/** True when s is n..m ASCII digits. */
function isDigits(s: unknown, n: number, m: number): boolean {
  if (typeof s !== "string" || s.length < n || s.length > m) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Luhn (ISO/IEC 7812-1) check over a digit string, check digit last. */
function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = digits.length - 1, dbl = false; i >= 0; i--, dbl = !dbl) {
    let d = digits.charCodeAt(i) - 48;
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** Throws a clear Error (naming the field, never its value) unless card is well formed. */
export function checkCard(card: CardData): void {
  if (!card || typeof card !== "object") throw new Error("card data missing");
  if (!isDigits(card.pan, 12, 19)) throw new Error("PAN must be 12 to 19 digits");
  if (!luhnValid(card.pan)) throw new Error("PAN fails the Luhn check");
  if (!isDigits(card.expiry, 4, 4)) throw new Error("expiry must be 4 digits YYMM");
  const month = (card.expiry.charCodeAt(2) - 48) * 10 + card.expiry.charCodeAt(3) - 48;
  if (month < 1 || month > 12) throw new Error("expiry month must be 01..12");
  if (!isDigits(card.psn, 2, 2)) throw new Error("PSN must be 2 digits");
}

/**
 * HKDF info: four length-prefixed ASCII fields,
 *   len(PAN) PAN | 4 expiry | 2 PSN | len(alg) alg
 * each length one byte. Length prefixes make the encoding unambiguous; the
 * algorithm name separates the keys of one card under different hashes
 * (HKDF outputs of different lengths would otherwise share a prefix).
 */
export function cardInfo(card: CardData, alg: HashName): Uint8Array {
  checkCard(card);
  keyLength(alg); // validates alg
  const fields = [card.pan, card.expiry, card.psn, alg];
  let len = 0;
  for (let i = 0; i < fields.length; i++) len += 1 + fields[i].length;
  const info = new Uint8Array(len);
  let off = 0;
  for (let i = 0; i < fields.length; i++) {
    info[off++] = fields[i].length;
    info.set(utf8Bytes(fields[i]), off); // ASCII: one byte per character
    off += fields[i].length;
  }
  return info;
}

/** The card's own key (issuer and provisioning side; the card never sees the master key). */
export function deriveCardKey(sha256: Hash, masterKey: Uint8Array, card: CardData, alg: HashName): Uint8Array {
  if (!sha256 || sha256.name !== "SHA256") throw new Error("deriveCardKey needs SHA-256");
  if (!(masterKey instanceof Uint8Array) || masterKey.length !== MASTER_KEY_BYTES) {
    throw new Error("master key must be " + MASTER_KEY_BYTES + " bytes");
  }
  return hkdf(sha256, masterKey, utf8Bytes(DCVV_SALT), cardInfo(card, alg), keyLength(alg));
}
