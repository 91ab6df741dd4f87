/**
 * The card profile: what the issuer loads into a card (document B, step 1),
 * as one binary record with an integrity check. Host tools import
 * encodeProfile from here, so there is one copy of the format.
 *
 * Byte layout, integers big-endian (format version 2):
 *
 *   off        len  field
 *   0          4    magic "INKP"
 *   4          1    format version = 2
 *   5          1    mode: 0 = counter (HOTP), 1 = time (TOTP)
 *   6          1    algorithm: 1 = SHA-1, 2 = SHA-256, 3 = SHA-512
 *   7          1    digits, 3..10
 *   8          4    step seconds, >= 1 (used in time mode)
 *   12         4    starting counter, high 32 bits (< 2^21: the counter is a safe integer)
 *   16         4    starting counter, low 32 bits
 *   20         1    n = card id length, 1..12
 *   21         3    zero
 *   24         B    K0 ^ ipad: the key zero-padded to B bytes, each byte XOR 0x36
 *   24+B       B    K0 ^ opad: the same, XOR 0x5C
 *   24+2B      n    card id, printable ASCII (0x20..0x7E): not secret, shown beside the code
 *   24+2B+n    p    0..3 zero bytes, so that R = 24+2B+n+p is a multiple of 4
 *   R          32   SHA-256 of bytes 0..R-1
 *   R+32       4    activation word, written as FF FF FF FF
 *
 * B is the hash's block length: 64 for SHA-1 and SHA-256, 128 for SHA-512.
 * The card stores the HMAC key pads (RFC 2104) instead of the key (16..64
 * bytes, never longer than B): they are what a press hashes, so a press
 * costs two native hash calls that read them where they lie in flash
 * (core/otp.ts padOtp), and nothing is derived from the key in JavaScript
 * at each press. The pads are key-equivalent: as secret as the key.
 *
 * Version 1 (until issue 9) stored the key itself at offset 22; a card with
 * a version 1 profile reads it as no profile ("not issued") and is issued
 * again (docs/provisioning.md).
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
 *
 * Two readers: decodeProfile checks every field (install, boot, the digest a
 * card reports), readProfile only what a press needs (below).
 */
import type { Hash, HashName } from "./types";
import { isIntIn, readU32BE, writeU32BE } from "./bytes";

export type ProfileMode = "counter" | "time";

/** What a profile says, apart from its secret. */
export interface ProfileFields {
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
}

/** What the issuer issues: encodeProfile's input. */
export interface Profile extends ProfileFields {
  /** The card's key, 16..64 bytes. */
  key: Uint8Array;
}

/** A profile read from a card's file, with what the card needs besides. */
export interface StoredProfile extends ProfileFields {
  /**
   * K0 ^ ipad then K0 ^ opad (2 x the hash's block length): key-equivalent.
   * A view of the record, not a copy: on the card a view of flash, which
   * core/otp.ts padOtp hashes in place. Never modify it.
   */
  pads: Uint8Array;
  /** The first 4 bytes of the stored digest: ties the counter to this profile. */
  fingerprint: number;
  /** Offset of the activation word in the file. */
  activationOffset: number;
  /** True once the card has cleared the activation word. */
  activated: boolean;
}

export const PROFILE_VERSION = 2;
const MAGIC = [0x49, 0x4e, 0x4b, 0x50]; // "INKP" (readProfile compares it byte by byte)
const FIXED = 24;
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
/** Block length of each algorithm (ALGS order): the length of each pad. */
const BLOCK = [64, 64, 128];

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

  const B = BLOCK[alg]; // >= MAX_KEY: K0 is the key zero-padded, never a hash of it
  const at = FIXED + 2 * B;
  const r = padded(at + id.length);
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
  for (let i = 0; i < B; i++) {
    const k = i < key.length ? key[i] : 0;
    out[FIXED + i] = k ^ 0x36;
    out[FIXED + B + i] = k ^ 0x5c;
  }
  for (let i = 0; i < id.length; i++) out[at + i] = id.charCodeAt(i);
  out.set(sha256.digest(out.subarray(0, r)), r);
  for (let i = r + DIGEST; i < out.length; i++) out[i] = 0xff;
  return out;
}

/**
 * The profile in a card's file, every field checked, or null when the bytes
 * are absent, damaged (digest), of another version (1 included), or not a
 * profile at all. Never throws on bad bytes. For install, boot and the
 * digest a card reports; a press uses readProfile.
 */
export function decodeProfile(bytes: Uint8Array | undefined, sha256: Hash): StoredProfile | null {
  const p = readProfile(bytes, sha256);
  if (!p) return null;
  const b = bytes as Uint8Array;
  const end = p.activationOffset - DIGEST;
  if ((b[21] | b[22] | b[23]) !== 0 || readU32BE(b, 12) >= HI_LIMIT || p.stepSeconds < 1 || !printable(p.cardId)) return null;
  for (let i = FIXED + p.pads.length + p.cardId.length; i < end; i++) if (b[i] !== 0) return null;
  return p;
}

/**
 * The profile as a press reads it: checked as far as a press needs, and no
 * further, because the interpreter pays for every operation (a loop over the
 * 32 digest bytes alone costs milliseconds; bench/press.ts). It checks the
 * record's shape (magic, version, lengths), its SHA-256 (one native call)
 * against the stored digest, and the fields that steer the press (mode,
 * algorithm, digits). decodeProfile adds what a press does not use: the
 * reserved and padding bytes, the id's characters, the step's and the
 * starting counter's ranges.
 *
 * Why that stays safe: a record whose digest matches is byte for byte one
 * that encodeProfile wrote (one chance in 2^256 for damage to keep it), and
 * encodeProfile checks every field; the card also runs decodeProfile at boot
 * and install, before a record is first used. The digest is a check against
 * damage, not a MAC: whoever can write the card's flash can write a
 * matching digest, but can also replace the firmware. Never throws on bad
 * bytes; the pads are a view of bytes.
 */
export function readProfile(bytes: Uint8Array | undefined, sha256: Hash): StoredProfile | null {
  checkSha256(sha256);
  const b = bytes as Uint8Array;
  if (!(b instanceof Uint8Array) || b.length < FIXED + 2 * 64 + 1 + DIGEST + ACTIVATION) return null;
  const n = b[20];
  const alg = b[6];
  if (b[0] !== 0x49 || b[1] !== 0x4e || b[2] !== 0x4b || b[3] !== 0x50 || b[4] !== PROFILE_VERSION || n < 1 || n > MAX_ID || alg < 1 || alg > 3) {
    return null;
  }
  const at = FIXED + 2 * BLOCK[alg - 1];
  const r = padded(at + n);
  if (b.length !== r + DIGEST + ACTIVATION) return null;
  // The digest first: nothing below reads fields the digest has not vouched for.
  // Compared as two strings, each made by one native call: a loop over the 32 bytes costs milliseconds.
  if (chars(sha256.digest(b.subarray(0, r))) !== chars(b.subarray(r, r + DIGEST))) return null;
  const mode = b[5];
  const digits = b[7];
  if (mode > 1 || digits < 3 || digits > 10) return null;
  const a = r + DIGEST;
  // Words as arithmetic and the id in one native call: no helper calls, no loops.
  return {
    mode: MODES[mode],
    algorithm: ALGS[alg - 1],
    digits: digits,
    stepSeconds: b[8] * 16777216 + ((b[9] << 16) | (b[10] << 8) | b[11]),
    startCounter: (b[12] * 16777216 + ((b[13] << 16) | (b[14] << 8) | b[15])) * 4294967296 + b[16] * 16777216 + ((b[17] << 16) | (b[18] << 8) | b[19]),
    cardId: chars(b.subarray(at, at + n)),
    pads: b.subarray(FIXED, at),
    fingerprint: b[r] * 16777216 + ((b[r + 1] << 16) | (b[r + 2] << 8) | b[r + 3]),
    activationOffset: a,
    activated: (b[a] & b[a + 1] & b[a + 2] & b[a + 3]) !== 0xff,
  };
}

/**
 * The pads of p in bytes, the same record read again after flash was
 * written (a write can make Storage move files, and a view of flash
 * follows its file only when read anew), or null when the file is no
 * longer that record. Its length and fingerprint are compared, not its
 * digest: p was checked just before, and a move copies a file whole.
 */
export function padsAgain(bytes: Uint8Array | undefined, p: StoredProfile): Uint8Array | null {
  if (!(bytes instanceof Uint8Array) || bytes.length !== p.activationOffset + ACTIVATION) return null;
  if (readU32BE(bytes, p.activationOffset - DIGEST) !== p.fingerprint) return null;
  return bytes.subarray(FIXED, FIXED + p.pads.length);
}

/**
 * The non-secret digest (32 bytes, a copy) of a valid profile record, or
 * null: what a card reports so a host can check what it holds without the
 * key ever leaving the card.
 */
export function profileDigest(bytes: Uint8Array | undefined, sha256: Hash): Uint8Array | null {
  const p = decodeProfile(bytes, sha256);
  if (!p) return null;
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

/** The bytes as a string of char codes 0..255, in one native call. */
function chars(bytes: Uint8Array): string {
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
}

function printable(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}
