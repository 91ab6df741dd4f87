/**
 * Personalisation (document A): profiles written onto the card from the
 * phone, each guarded by a rolling security code. docs/personalisation.md is
 * the normative description (message sequence, layouts, rules, vectors);
 * keep the two in step. The transport is document C's (frames.ts, inbox.ts):
 * these are the bodies it carries and the card's storage of what they write.
 *
 * Slots. Slot 0 is the profile issued over the serial line (docs/provisioning.md):
 * its key anchors the Bluetooth link (pairing.ts), so it is never written over
 * the air. Slots 1..SLOTS-1 are written by personalisation, each with its own
 * profile (key, mode, counter) and its own security code.
 *
 * Security code. 32 random bytes per slot and generation, made by the
 * issuer (docs: "Security codes"), sent to the card inside the sealed
 * profile envelope (T_PROFILE_DATA, under K_seal) and to the phone over
 * HTTPS, never shown. The card never sends it: it proves it holds it with
 *
 *   proof = first 16 bytes of HMAC-SHA256(S, "inkcard/sc/v1" ‖ purpose ‖ slot ‖ generation (u32)
 *                                            ‖ serial length ‖ chip serial ‖ nonce (16))
 *
 * purpose PURPOSE_WRITE (asked under K_pair before a rewrite) or
 * PURPOSE_VERIFY (a verification device's clear challenge): one proof is
 * never the other's.
 *
 * Bodies, integers big-endian:
 *
 *   T_READ_SERIAL         (empty)
 *   T_SERIAL              n (1), chip serial (n ASCII, 1..MAX_SERIAL)
 *   T_SECURITY_CHALLENGE, T_VERIFY_CHALLENGE
 *                         slot (1), nonce (16)
 *   T_SECURITY_PROOF, T_VERIFY_PROOF
 *                         slot (1), generation (4; 0: the slot holds no code), proof (16; zeros when generation is 0)
 *   T_PROFILE_DATA        slot (1), previous generation (4), generation (4), security code (32),
 *                         serial tag (8: the first 8 bytes of SHA-256 of the chip serial's ASCII),
 *                         profile record (profile.ts, the rest)
 *
 * On the card a slot is two files, written only through a staged copy
 * (installSlot): the profile record (slotProfile) and the security record
 * (securityFile: generation, code, check), so that a cut at any byte leaves
 * the old pair or the new one. Everything here that reads received or stored
 * bytes returns a code or null and never throws.
 */
import type { FlashStore, Hash } from "./types";
import { asciiBytes, equalBytes, isIntIn, readU32BE, wipe, writeU32BE } from "./bytes";
import { E_MALFORMED, E_OLD_SEQ, E_OVERSIZED, E_TRUNCATED, E_WRONG_CARD, OK } from "./frames";
import { hmac } from "./hmac";
import { hkdf } from "./hkdf";
import { decodeProfile } from "./profile";

/** Slots on a card, slot 0 included (docs: "How many profiles"). */
export const SLOTS = 4;
export const SECURITY_BYTES = 32;
export const PROOF_BYTES = 16;
export const NONCE_BYTES = 16;
/** getSerial() is 17 characters on an nRF52, 26 on Espruino's Linux build. */
export const MAX_SERIAL = 32;
/** The envelope binds the chip serial by a tag of its SHA-256: a SHA-256 profile with a 12-character id then fits in MAX_FRAME whatever the serial's length. */
export const SERIAL_TAG_BYTES = 8;
export const PURPOSE_WRITE = 1;
export const PURPOSE_VERIFY = 2;
export const PROOF_LABEL = "inkcard/sc/v1";
/** Fixed part of T_PROFILE_DATA, before the profile record. */
const DATA_FIXED = 49;
/** The security record: generation (4), code (32), first 8 bytes of SHA-256 of the 36 before. */
export const SECURITY_RECORD = 44;

// ---- File names (Storage names are at most 28 characters) ------------------------------------

/** Slot i's profile file: slot 0 is the issued profile's own. */
export function slotProfile(profileFile: string, slot: number): string {
  return slot ? profileFile + "." + slot : profileFile;
}

/** Slot i's counter prefix. */
export function slotCounter(counterPrefix: string, slot: number): string {
  return slot ? counterPrefix + "." + slot + "." : counterPrefix;
}

/** Slot i's security record. */
export function securityFile(profileFile: string, slot: number): string {
  return profileFile + ".sc" + slot;
}

/** Slot i's staged write (installSlot). */
export function stagedSlot(profileFile: string, slot: number): string {
  return profileFile + ".w" + slot;
}

/** The active slot's number, one byte. */
export function activeFile(profileFile: string): string {
  return profileFile + ".act";
}

// ---- The proof -------------------------------------------------------------------------------

/** The proof of holding S (above). Throws on bad inputs: callers pass their own checked values. */
export function securityProof(sha256: Hash, code: Uint8Array, purpose: number, slot: number, generation: number, serial: string, nonce: Uint8Array): Uint8Array {
  if (!(code instanceof Uint8Array) || code.length !== SECURITY_BYTES) throw new Error("security code must be " + SECURITY_BYTES + " bytes");
  if (purpose !== PURPOSE_WRITE && purpose !== PURPOSE_VERIFY) throw new Error("proof purpose must be write or verify");
  if (!isIntIn(slot, 0, 255) || !isIntIn(generation, 1, 0xffffffff)) throw new Error("proof slot or generation out of range");
  if (typeof serial !== "string" || serial.length < 1 || serial.length > MAX_SERIAL) throw new Error("chip serial must be 1.." + MAX_SERIAL + " characters");
  if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_BYTES) throw new Error("nonce must be " + NONCE_BYTES + " bytes");
  const l = PROOF_LABEL.length;
  const m = new Uint8Array(l + 7 + serial.length + NONCE_BYTES);
  m.set(asciiBytes(PROOF_LABEL), 0);
  m[l] = purpose;
  m[l + 1] = slot;
  writeU32BE(m, l + 2, generation);
  m[l + 6] = serial.length;
  m.set(asciiBytes(serial), l + 7);
  m.set(nonce, l + 7 + serial.length);
  const mac = hmac(sha256, code, m);
  const out = new Uint8Array(PROOF_BYTES);
  out.set(mac.subarray(0, PROOF_BYTES));
  wipe(mac);
  return out;
}

/** A challenge body: slot and nonce. */
export function encodeChallenge(slot: number, nonce: Uint8Array): Uint8Array {
  if (!isIntIn(slot, 1, SLOTS - 1)) throw new Error("slot must be 1.." + (SLOTS - 1));
  if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_BYTES) throw new Error("nonce must be " + NONCE_BYTES + " bytes");
  const b = new Uint8Array(1 + NONCE_BYTES);
  b[0] = slot;
  b.set(nonce, 1);
  return b;
}

/** A challenge the card received: OK, E_TRUNCATED, E_OVERSIZED, or E_MALFORMED (slot out of range). */
export function checkChallenge(body: Uint8Array): number {
  if (!(body instanceof Uint8Array) || body.length < 1 + NONCE_BYTES) return E_TRUNCATED;
  if (body.length > 1 + NONCE_BYTES) return E_OVERSIZED;
  return body[0] >= 1 && body[0] < SLOTS ? OK : E_MALFORMED;
}

/** A proof body (the card's answer). */
export function encodeProof(slot: number, generation: number, proof: Uint8Array | null): Uint8Array {
  const b = new Uint8Array(5 + PROOF_BYTES);
  b[0] = slot;
  writeU32BE(b, 1, generation);
  if (proof) b.set(proof, 5);
  return b;
}

export interface ProofView {
  slot: number;
  generation: number;
  proof: Uint8Array;
}

/** A proof body a host received; null when it is not one (wrong length, slot out of range, a proof without a generation). */
export function readProof(body: Uint8Array): ProofView | null {
  if (!(body instanceof Uint8Array) || body.length !== 5 + PROOF_BYTES || body[0] < 1 || body[0] >= SLOTS) return null;
  const generation = readU32BE(body, 1);
  const proof = body.slice(5);
  if (generation === 0 && proof.some((x) => x !== 0)) return null;
  return { slot: body[0], generation: generation, proof: proof };
}

/** T_SERIAL's body. */
export function encodeSerial(serial: string): Uint8Array {
  if (typeof serial !== "string" || serial.length < 1 || serial.length > MAX_SERIAL) throw new Error("chip serial must be 1.." + MAX_SERIAL + " characters");
  const b = new Uint8Array(1 + serial.length);
  b[0] = serial.length;
  b.set(asciiBytes(serial), 1);
  return b;
}

/** T_SERIAL's body as a host reads it; null unless it is 1..MAX_SERIAL printable ASCII characters, exactly. */
export function readSerial(body: Uint8Array): string | null {
  if (!(body instanceof Uint8Array) || body.length < 2 || body[0] !== body.length - 1 || body[0] > MAX_SERIAL) return null;
  let s = "";
  for (let i = 1; i < body.length; i++) {
    if (body[i] < 0x21 || body[i] > 0x7e) return null;
    s += String.fromCharCode(body[i]);
  }
  return s;
}

// ---- The profile envelope ---------------------------------------------------------------------

/** What the issuer seals for the card (T_PROFILE_DATA). */
export interface ProfileData {
  slot: number;
  /** The generation the card must hold now (0: the slot is empty, a first write). */
  previous: number;
  /** The new code's generation, previous + 1. */
  generation: number;
  /** The new security code, SECURITY_BYTES. */
  code: Uint8Array;
  /** The chip serial the issuer bound the profile to. */
  serial: string;
  /** The profile record (profile.ts encodeProfile). */
  record: Uint8Array;
}

/** The first SERIAL_TAG_BYTES of SHA-256 of the serial's ASCII. */
export function serialTag(sha256: Hash, serial: string): Uint8Array {
  return sha256.digest(encodeSerial(serial).subarray(1)).subarray(0, SERIAL_TAG_BYTES);
}

export function encodeProfileData(sha256: Hash, d: ProfileData): Uint8Array {
  if (!d || typeof d !== "object") throw new Error("profile data missing");
  if (!isIntIn(d.slot, 1, SLOTS - 1)) throw new Error("slot must be 1.." + (SLOTS - 1));
  if (!isIntIn(d.previous, 0, 0xfffffffe) || d.generation !== d.previous + 1) throw new Error("generation must be previous + 1");
  if (!(d.code instanceof Uint8Array) || d.code.length !== SECURITY_BYTES) throw new Error("security code must be " + SECURITY_BYTES + " bytes");
  const tag = serialTag(sha256, d.serial);
  if (!(d.record instanceof Uint8Array) || d.record.length < 1) throw new Error("profile record missing");
  const b = new Uint8Array(DATA_FIXED + d.record.length);
  b[0] = d.slot;
  writeU32BE(b, 1, d.previous);
  writeU32BE(b, 5, d.generation);
  b.set(d.code, 9);
  b.set(tag, 41);
  b.set(d.record, DATA_FIXED);
  return b;
}

/**
 * The card's checks of a T_PROFILE_DATA body it opened, cheapest first:
 * layout and slot; generations (the envelope's previous generation must be
 * the one the slot holds now, else E_OLD_SEQ: it was made for another state
 * of the slot, an old envelope replayed among them); the chip serial (its
 * own, else E_WRONG_CARD); the profile record in full (decodeProfile). OK or
 * an E_ code; nothing is written.
 */
export function checkProfileData(body: Uint8Array, sha256: Hash, serial: string, store: FlashStore, profileFile: string): number {
  if (!(body instanceof Uint8Array) || body.length < DATA_FIXED) return E_TRUNCATED;
  const slot = body[0];
  if (slot < 1 || slot >= SLOTS) return E_MALFORMED;
  const prev = readU32BE(body, 1);
  if (readU32BE(body, 5) !== prev + 1) return E_MALFORMED;
  const held = readSecurity(store, sha256, profileFile, slot);
  if (prev !== (held ? held.generation : 0)) return E_OLD_SEQ;
  if (!equalBytes(sha256.digest(asciiBytes(serial)).subarray(0, SERIAL_TAG_BYTES), body.subarray(41, DATA_FIXED))) return E_WRONG_CARD;
  const p = decodeProfile(body.subarray(DATA_FIXED), sha256);
  // A record that already ran (activated) was not written by an issuer.
  return p && !p.activated ? OK : E_MALFORMED;
}

// ---- The slot on the card ---------------------------------------------------------------------

/** Slot i's generation and security code, or null when it holds none (no file, or a damaged one). */
export function readSecurity(store: FlashStore, sha256: Hash, profileFile: string, slot: number): { generation: number; code: Uint8Array } | null {
  const b = store.read(securityFile(profileFile, slot));
  if (!b || b.length !== SECURITY_RECORD) return null;
  if (!equalBytes(sha256.digest(b.subarray(0, 36)).subarray(0, 8), b.subarray(36, 44))) return null;
  const g = readU32BE(b, 0);
  return g > 0 ? { generation: g, code: b.subarray(4, 36) } : null;
}

/**
 * Stage a checked T_PROFILE_DATA body (checkProfileData said OK) and
 * install it. The staged file is the body whole with its SHA-256 behind it;
 * once it reads back whole, the write is decided: installSlot copies it to
 * the slot's two files and erases it, and a cut during that is finished by
 * installSlot at the next boot. False when flash failed (nothing decided).
 */
export function writeSlot(store: FlashStore, sha256: Hash, profileFile: string, body: Uint8Array): boolean {
  const name = stagedSlot(profileFile, body[0]);
  const staged = new Uint8Array(body.length + 32);
  staged.set(body, 0);
  staged.set(sha256.digest(body), body.length);
  const ok = store.write(name, staged, 0, staged.length);
  const back = ok ? store.read(name) : undefined;
  if (!back || !equalBytes(back, staged)) {
    store.erase(name);
    return false;
  }
  return installSlot(store, sha256, profileFile, body[0]);
}

/**
 * Finish slot i's staged write, if one is there: the security record, then
 * the profile record, then the staged copy goes. (The slot's counter files
 * are bound to the old profile's fingerprint, counter.ts: the new profile
 * starts its own at its first press.) A staged copy that fails its digest was cut off
 * while being written: erased, and the slot stays as it was. True when the
 * slot now holds the staged write. Idempotent: safe to run again after a cut.
 */
export function installSlot(store: FlashStore, sha256: Hash, profileFile: string, slot: number): boolean {
  const name = stagedSlot(profileFile, slot);
  const s = store.read(name);
  if (s === undefined) return false;
  const n = s.length - 32;
  if (n <= DATA_FIXED || !equalBytes(sha256.digest(s.subarray(0, n)), s.subarray(n)) || s[0] !== slot) {
    store.erase(name);
    return false;
  }
  const sec = new Uint8Array(SECURITY_RECORD);
  sec.set(s.subarray(5, 41), 0); // generation and code
  sec.set(sha256.digest(sec.subarray(0, 36)).subarray(0, 8), 36);
  const rec = new Uint8Array(n - DATA_FIXED);
  rec.set(s.subarray(DATA_FIXED, n));
  const ok = store.write(securityFile(profileFile, slot), sec, 0, SECURITY_RECORD) && store.write(slotProfile(profileFile, slot), rec, 0, rec.length);
  wipe(sec);
  if (!ok) throw new Error("install: slot write failed"); // the staged copy stays: the next boot tries again
  store.erase(name);
  return true;
}

/** The active slot (0 when none was chosen, or it holds no profile now). */
export function activeSlot(store: FlashStore, profileFile: string): number {
  const b = store.read(activeFile(profileFile));
  return b && b.length === 1 && b[0] < SLOTS ? b[0] : 0;
}

// ---- Host side: the issuer's and the phone's ----------------------------------------------------

/** Salt of the security-code derivation. */
export const SECURITY_SALT_BYTES = 16;

/**
 * The issuer's security code for a slot and generation: HKDF-SHA256(IKM = K0
 * (the card key zero-padded to 64 bytes, pairing.ts), salt = 16 random bytes
 * the issuer drew for this generation, info = "security-code" ‖ slot ‖
 * generation (u32), 32). Random (the salt) and known to nobody (K0), yet the
 * issuer stores only the salt. The card never derives it: it receives it.
 */
export function deriveSecurityCode(sha256: Hash, cardKey: Uint8Array, salt: Uint8Array, slot: number, generation: number): Uint8Array {
  if (!(cardKey instanceof Uint8Array) || cardKey.length < 16 || cardKey.length > 64) throw new Error("card key must be 16..64 bytes");
  if (!(salt instanceof Uint8Array) || salt.length !== SECURITY_SALT_BYTES) throw new Error("salt must be " + SECURITY_SALT_BYTES + " bytes");
  if (!isIntIn(slot, 1, SLOTS - 1) || !isIntIn(generation, 1, 0xffffffff)) throw new Error("slot or generation out of range");
  const info = new Uint8Array(18);
  info.set(asciiBytes("security-code"), 0);
  info[13] = slot;
  writeU32BE(info, 14, generation);
  const k0 = new Uint8Array(64);
  k0.set(cardKey, 0);
  try {
    return hkdf(sha256, k0, salt, info, SECURITY_BYTES);
  } finally {
    wipe(k0);
  }
}

/** The two codes of the two-way verification, as the phone returns them. */
export const STEP_OTP = 1;
export const STEP_AUTH = 2;
export const APPLY_LABEL = "inkcard/apply/v1";

/**
 * What the phone returns for the issuer's one-time password (STEP_OTP) or
 * authentication code (STEP_AUTH): HMAC-SHA256(K_pair, "inkcard/apply/v1" ‖
 * step ‖ session nonce (16) ‖ serial length ‖ chip serial ‖ code (16)), in
 * full. Bound to the phone's key, the session, the chip and the step: the
 * codes themselves never leave the phone.
 */
export function applyResponse(sha256: Hash, pairKey: Uint8Array, step: number, nonce: Uint8Array, serial: string, code: Uint8Array): Uint8Array {
  if (!(pairKey instanceof Uint8Array) || pairKey.length !== 32) throw new Error("phone key must be 32 bytes");
  if (step !== STEP_OTP && step !== STEP_AUTH) throw new Error("step must be otp or auth");
  if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_BYTES || !(code instanceof Uint8Array) || code.length !== NONCE_BYTES) {
    throw new Error("nonce and code must be " + NONCE_BYTES + " bytes");
  }
  const ser = encodeSerial(serial);
  const l = APPLY_LABEL.length;
  const m = new Uint8Array(l + 1 + NONCE_BYTES + ser.length + NONCE_BYTES);
  m.set(asciiBytes(APPLY_LABEL), 0);
  m[l] = step;
  m.set(nonce, l + 1);
  m.set(ser, l + 1 + NONCE_BYTES);
  m.set(code, l + 1 + NONCE_BYTES + ser.length);
  return hmac(sha256, pairKey, m);
}
