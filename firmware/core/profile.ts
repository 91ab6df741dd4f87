/**
 * The card profile: what the issuer loads into a card (document B, step 1),
 * as one binary record with an integrity check. Host tools import
 * encodeProfile from here, so there is one copy of the format.
 *
 * Byte layout, integers big-endian (format version 1):
 *
 *   off      len  field
 *   0        4    magic "INKP"
 *   4        1    format version = 1
 *   5        1    mode: 0 = counter (HOTP), 1 = time (TOTP)
 *   6        1    algorithm: 1 = SHA-1, 2 = SHA-256, 3 = SHA-512
 *   7        1    digits, 3..10
 *   8        4    step seconds, >= 1 (used in time mode)
 *   12       4    starting counter, high 32 bits (< 2^21: the counter is a safe integer)
 *   16       4    starting counter, low 32 bits
 *   20       1    n = card id length, 1..12
 *   21       1    k = key length, 16..64
 *   22       n    card id, printable ASCII (0x20..0x7E): not secret, shown beside the code
 *   22+n     k    key
 *   22+n+k   p    0..3 zero bytes, so that R = 22+n+k+p is a multiple of 4
 *   R        32   SHA-256 of bytes 0..R-1
 *   R+32     4    activation word, written as FF FF FF FF
 *
 * The padding puts the activation word on a flash word of its own (Storage
 * files start word-aligned), so clearing it writes one word once.
 * The activation word is state, not content, so the digest leaves it out:
 * the card clears it (to 00 00 00 00) once it has set up its counter for
 * this profile. A counter-mode card whose profile is activated but whose
 * counter is gone (a Storage compaction cut by a power loss can lose files)
 * must not start again from the starting counter, which would show old
 * codes again: it refuses to make codes instead (core/card.ts).
 *
 * The file is exactly this long; the integrity check is the digest, which
 * also makes a half-written file (provisioning cut off) read as no profile.
 */
import type { Hash, HashName } from "./types";
import { equalBytes, isIntIn, readU32BE, wipe, writeU32BE } from "./bytes";

export type ProfileMode = "counter" | "time";

export interface Profile {
  mode: ProfileMode;
  algorithm: HashName;
  /** Code length, 3..10. */
  digits: number;
  /** TOTP time step in seconds (time mode). */
  stepSeconds: number;
  /** The counter of the first press (counter mode): an integer 0..2^53-1. */
  startCounter: number;
  /** Card identifier shown beside the code: 1..12 printable ASCII characters. */
  cardId: string;
  /** The card's key, 16..64 bytes. */
  key: Uint8Array;
}

/** A profile read from a card's file, with what the card needs besides. */
export interface StoredProfile extends Profile {
  /** The first 4 bytes of the stored digest: ties the counter to this profile. */
  fingerprint: number;
  /** Offset of the activation word in the file. */
  activationOffset: number;
  /** True once the card has cleared the activation word. */
  activated: boolean;
}

export const PROFILE_VERSION = 1;
const MAGIC = [0x49, 0x4e, 0x4b, 0x50]; // "INKP"
const FIXED = 22;
const DIGEST = 32;
const ACTIVATION = 4;
/** 12: with " #" and a 16-digit counter the caption stays within 30 characters, a line of the small font. */
const MAX_ID = 12;
const MIN_KEY = 16;
const MAX_KEY = 64;
/** Starting counter's high word stays below this, so the counter is a safe integer. */
const HI_LIMIT = 0x200000;

const MODES: ProfileMode[] = ["counter", "time"];
const ALGS: HashName[] = ["SHA1", "SHA256", "SHA512"];

/** The profile record (activation word included, erased), for a host tool to write to a card. Throws on a bad profile, naming the field. */
export function encodeProfile(p: Profile, sha256: Hash): Uint8Array {
  checkSha256(sha256);
  if (!p || typeof p !== "object") throw new Error("profile missing");
  const mode = MODES.indexOf(p.mode);
  if (mode < 0) throw new Error("profile mode must be counter or time");
  const alg = ALGS.indexOf(p.algorithm);
  if (alg < 0) throw new Error("profile algorithm must be SHA1, SHA256 or SHA512");
  if (!isIntIn(p.digits, 3, 10)) throw new Error("profile digits must be an integer 3..10");
  if (!isIntIn(p.stepSeconds, 1, 0xffffffff)) throw new Error("profile step must be an integer number of seconds >= 1");
  if (!isIntIn(p.startCounter, 0, 9007199254740991)) throw new Error("profile starting counter must be an integer 0..2^53-1");
  const id = p.cardId;
  if (typeof id !== "string" || id.length < 1 || id.length > MAX_ID || !printable(id)) {
    throw new Error("profile card id must be 1.." + MAX_ID + " printable ASCII characters");
  }
  const key = p.key;
  if (!(key instanceof Uint8Array) || key.length < MIN_KEY || key.length > MAX_KEY) {
    throw new Error("profile key must be " + MIN_KEY + ".." + MAX_KEY + " bytes");
  }

  const r = padded(FIXED + id.length + key.length);
  const out = new Uint8Array(r + DIGEST + ACTIVATION);
  for (let i = 0; i < 4; i++) out[i] = MAGIC[i];
  out[4] = PROFILE_VERSION;
  out[5] = mode;
  out[6] = alg + 1;
  out[7] = p.digits;
  writeU32BE(out, 8, p.stepSeconds);
  const hi = Math.floor(p.startCounter / 4294967296);
  writeU32BE(out, 12, hi);
  writeU32BE(out, 16, p.startCounter - hi * 4294967296);
  out[20] = id.length;
  out[21] = key.length;
  for (let i = 0; i < id.length; i++) out[FIXED + i] = id.charCodeAt(i);
  out.set(key, FIXED + id.length);
  out.set(sha256.digest(out.subarray(0, r)), r);
  for (let i = r + DIGEST; i < out.length; i++) out[i] = 0xff;
  return out;
}

/**
 * The profile in a card's file, or null when the bytes are absent, damaged
 * (digest), of an unknown version, or not a profile at all. Never throws on
 * bad bytes. The key is a copy: wipe it after use.
 */
export function decodeProfile(bytes: Uint8Array | undefined, sha256: Hash): StoredProfile | null {
  checkSha256(sha256);
  if (!(bytes instanceof Uint8Array) || bytes.length < FIXED + MIN_KEY + 1 + DIGEST + ACTIVATION) return null;
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) return null;
  const n = bytes[20];
  const k = bytes[21];
  const r = padded(FIXED + n + k);
  if (bytes[4] !== PROFILE_VERSION || n < 1 || n > MAX_ID || k < MIN_KEY || k > MAX_KEY) return null;
  if (bytes.length !== r + DIGEST + ACTIVATION) return null;
  // The digest first: nothing below reads fields the digest has not vouched for.
  if (!equalBytes(sha256.digest(bytes.subarray(0, r)), bytes.subarray(r, r + DIGEST))) return null;

  const mode = bytes[5];
  const alg = bytes[6];
  const digits = bytes[7];
  const step = readU32BE(bytes, 8);
  const hi = readU32BE(bytes, 12);
  if (mode > 1 || alg < 1 || alg > 3 || digits < 3 || digits > 10 || step < 1 || hi >= HI_LIMIT) return null;
  let id = "";
  for (let i = 0; i < n; i++) id += String.fromCharCode(bytes[FIXED + i]);
  if (!printable(id)) return null;
  for (let i = FIXED + n + k; i < r; i++) if (bytes[i] !== 0) return null;
  const key = new Uint8Array(k);
  key.set(bytes.subarray(FIXED + n, FIXED + n + k));
  const a = r + DIGEST;
  return {
    mode: MODES[mode],
    algorithm: ALGS[alg - 1],
    digits: digits,
    stepSeconds: step,
    startCounter: hi * 4294967296 + readU32BE(bytes, 16),
    cardId: id,
    key: key,
    fingerprint: readU32BE(bytes, r),
    activationOffset: a,
    activated: (bytes[a] & bytes[a + 1] & bytes[a + 2] & bytes[a + 3]) !== 0xff,
  };
}

/**
 * The non-secret digest (32 bytes, a copy) of a valid profile record, or
 * null: what a card reports so a host can check what it holds without the
 * key ever leaving the card.
 */
export function profileDigest(bytes: Uint8Array | undefined, sha256: Hash): Uint8Array | null {
  const p = decodeProfile(bytes, sha256);
  if (!p) return null;
  wipe(p.key);
  const at = p.activationOffset - DIGEST;
  const d = new Uint8Array(DIGEST);
  d.set((bytes as Uint8Array).subarray(at, at + DIGEST));
  return d;
}

/**
 * Where the provisioning tool stages a new profile before the card installs
 * it (core/card.ts install()): the live file is replaced only from a staged
 * record that passed its check, so a write cut off at any byte leaves the
 * old profile as it was. At most 24 + 4 characters: Espruino's 28.
 */
export function stagingName(profileFile: string): string {
  return profileFile + ".new";
}

/** The file whose presence locks the card's console at boot (its content is the console password). */
export function lockName(profileFile: string): string {
  return profileFile + ".lck";
}

/** Length rounded up to a multiple of 4. */
function padded(len: number): number {
  return len + ((4 - (len % 4)) % 4);
}

function checkSha256(h: Hash): void {
  if (!h || h.name !== "SHA256") throw new Error("the profile check needs SHA-256");
}

function printable(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}
