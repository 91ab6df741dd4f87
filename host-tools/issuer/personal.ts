/**
 * The issuer's part of personalisation (document A, docs/personalisation.md;
 * the API in docs/issuer-api.md, "Personalisation"): a profile written onto
 * a slot of the card from the holder's phone after a two-way verification,
 * guarded by the slot's rolling security code, and the verification
 * device's check of that code.
 *
 * Every key comes from the base card's key K (the card issued to the chip,
 * whose key anchors the link): K_pair of the bound phone, K_seal of the
 * envelope, the security codes (deriveSecurityCode). Every byte the card
 * reads is made by the core codecs it runs itself (personal.ts, profile.ts,
 * frames.ts): the issuer has no encoding of its own to disagree with.
 *
 * Nothing secret is stored. A slot keeps the salts of its codes, from which
 * K derives them again; a session keeps its nonce, and its one-time
 * password and authentication code are derived again from K and that
 * nonce (sessionCode): pseudorandom to anyone without K, as a random draw.
 *
 * The decisions below are pure (the caller gives the time and the
 * randomness) and run inside Store.changePersonal, under the base card's
 * lock, so the slot, the session, the issuer seq and the profile card they
 * write are durable and audited atomically. A wrong answer is written (it
 * counts) and then refused: the result says so (Outcome), and service.ts
 * turns it into the HTTP error after the write. A refusal that changes
 * nothing throws LinkRefusal.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { etmAead } from "../../firmware/core/aead.ts";
import { asciiBytes, bytesToHex, hexToBytes, wipe } from "../../firmware/core/bytes.ts";
import { sealFrame, T_PROFILE_DATA } from "../../firmware/core/frames.ts";
import { hkdf } from "../../firmware/core/hkdf.ts";
import { deriveCardId, derivePairKey, deriveSealKey } from "../../firmware/core/pairing.ts";
import {
  applyResponse,
  deriveSecurityCode,
  encodeProfileData,
  NONCE_BYTES,
  PROOF_BYTES,
  PURPOSE_VERIFY,
  PURPOSE_WRITE,
  securityProof,
  SECURITY_SALT_BYTES,
  STEP_AUTH,
  STEP_OTP,
} from "../../firmware/core/personal.ts";
import { encodeProfile } from "../../firmware/core/profile.ts";
import type { CardRecord, Mode } from "./card.ts";
import { fastHash } from "./fast-hash.ts";
import { LinkRefusal, nextIssuerSeq } from "./payments.ts";
import type { AuditEntry, PersonalChange, PersonalContext, PersonalEvent, PersonalSession, SlotState } from "./store/types.ts";

/** How long a session's values live (docs/personalisation.md, "Rules"). */
export const SESSION_TTL_SECONDS = 120;
/** How long a released envelope is taken by the card. */
export const ENVELOPE_TTL_SECONDS = 120;
/** Wrong answers after which a session is void. */
export const MAX_SESSION_FAILURES = 3;
/** HKDF salt of the session codes (sessionCode), ASCII. */
export const SESSION_CODE_LABEL = "inkcard/apply-codes/v1";
const U32 = 0xffffffff;

const sha256 = fastHash("SHA256");
const aead = etmAead(sha256);

/** What the phone asks to have written. */
export interface Application {
  /** Shown on the card beside the codes: 1..12 printable ASCII. */
  label: string;
  mode: Mode;
  digits: number;
  holder?: string | undefined;
}

export interface Applied {
  id: string;
  nonce: string;
  otp: string;
  expiresAt: string;
}

export interface OtpAccepted {
  authCode: string;
}

export interface AuthInput {
  response: string;
  generation: number;
  proof: string;
}

export interface Released {
  /** The T_PROFILE_DATA envelope, sealed under the base card's K_seal: opaque to the phone. */
  frame: string;
  generation: number;
  /** The new security code, 64 hex: for the phone to keep, never to show. */
  securityCode: string;
  /** The issuer card of the profile: /v1/cards/{id}/verify checks its codes. */
  profileCardId: string;
  /** The challenge of the card's proof that confirms the write. */
  confirmNonce: string;
}

export interface ProofInput {
  generation: number;
  proof: string;
}

export interface ConfirmedWrite {
  generation: number;
}

export interface VerificationCreated {
  id: string;
  nonce: string;
  expiresAt: string;
}

export interface VerificationResult {
  genuine: boolean;
  generation: number;
}

/** A decision's answer: its value, or the refusal service.ts raises once what it wrote (a failure counted) is durable. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; status: number; error: string };

const iso = (ms: number) => new Date(ms).toISOString();

/** The application as stored (fixed key order): a retry must ask for the very same. */
export function applicationJson(a: Application): string {
  return JSON.stringify({ label: a.label, mode: a.mode, digits: a.digits, ...(a.holder === undefined ? {} : { holder: a.holder }) });
}

/**
 * A session's one-time password (STEP_OTP) or authentication code
 * (STEP_AUTH): HKDF-SHA256(IKM = K0, salt = SESSION_CODE_LABEL, info =
 * "otp" or "auth" ‖ nonce, 16). Derived, not drawn, so that the database
 * holds neither (a random 16-byte nonce makes each session's codes fresh).
 */
export function sessionCode(cardKey: Uint8Array, nonce: Uint8Array, step: number): Uint8Array {
  if (nonce.length !== NONCE_BYTES) throw new Error(`nonce must be ${NONCE_BYTES} bytes`);
  const label = asciiBytes(step === STEP_OTP ? "otp" : "auth");
  const info = new Uint8Array(label.length + NONCE_BYTES);
  info.set(label, 0);
  info.set(nonce, label.length);
  const k0 = new Uint8Array(64);
  k0.set(cardKey, 0);
  try {
    return hkdf(sha256, k0, asciiBytes(SESSION_CODE_LABEL), info, NONCE_BYTES);
  } finally {
    wipe(k0);
  }
}

/** Constant-time equality of two byte strings of the expected length. */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function audit(card: CardRecord, at: number, event: PersonalEvent, outcome: string, caller: string, detail: string): AuditEntry {
  return { at, cardId: card.id, event, outcome, caller, detail };
}

function refuseBlocked(card: CardRecord): void {
  if (card.blocked) throw new LinkRefusal(409, "the card is blocked");
}

function refuseUnpaired(ctx: PersonalContext): void {
  if (ctx.link.pairEpoch < 1) throw new LinkRefusal(409, "the card is not paired with a phone: pair it first");
}

/** The session if it is alive: 404 when there is none of this kind, 410 once void or expired. */
function live(s: PersonalSession | undefined, kind: PersonalSession["kind"], now: number): PersonalSession {
  if (!s || s.kind !== kind) throw new LinkRefusal(404, kind === "write" ? "no such personalisation" : "no such verification");
  if (s.state === "void") throw new LinkRefusal(410, `the session is void: ${MAX_SESSION_FAILURES} wrong answers`);
  if (now > s.expiresAt) throw new LinkRefusal(410, `the session expired at ${iso(s.expiresAt)}`);
  return s;
}

/** A wrong answer: counted (the MAX_SESSION_FAILURES-th voids the session), audited, then refused with 403. */
function failed<T>(card: CardRecord, s: PersonalSession, now: number, caller: string, step: string, outcome: string, message: string): PersonalChange<Outcome<T>> {
  const failures = s.failures + 1;
  const dead = failures >= MAX_SESSION_FAILURES;
  return {
    session: { ...s, failures, state: dead ? "void" : s.state, updatedAt: now },
    audit: audit(card, now, "personalise", outcome, caller, `session=${s.id} step=${step} slot=${s.slot} failures=${failures}${dead ? " void" : ""}`),
    result: { ok: false, status: 403, error: message + (dead ? `; the session is void after ${MAX_SESSION_FAILURES} wrong answers` : "") },
  };
}

/** The phone's response to a session code, as the issuer computes it (K_pair of the device at the card's current epoch). */
function expectedResponse(cardKey: Uint8Array, ctx: PersonalContext, s: PersonalSession, step: number): Uint8Array {
  const pair = derivePairKey(sha256, cardKey, hexToBytes(s.deviceId), ctx.link.pairEpoch);
  const nonce = hexToBytes(s.nonce);
  const code = sessionCode(cardKey, nonce, step);
  try {
    return applyResponse(sha256, pair, step, nonce, s.chipSerial, code);
  } finally {
    wipe(pair);
    wipe(code);
  }
}

/** The proof the card makes with the slot's code of this salt and generation. */
function proofFor(cardKey: Uint8Array, salt: string, slot: number, generation: number, purpose: number, serial: string, nonce: string): Uint8Array {
  const code = deriveSecurityCode(sha256, cardKey, hexToBytes(salt), slot, generation);
  try {
    return securityProof(sha256, code, purpose, slot, generation, serial, hexToBytes(nonce));
  } finally {
    wipe(code);
  }
}

/** Which of the slot's codes a proof is made with: "current", "pending" (the slot then rolls), "none" (a first write), or null. */
export function matchProof(
  cardKey: Uint8Array,
  st: SlotState | undefined,
  slot: number,
  serial: string,
  nonce: string,
  purpose: number,
  generation: number,
  proof: Uint8Array,
): "current" | "pending" | "none" | null {
  const current = st?.generation ?? 0;
  if (current === 0 && generation === 0 && purpose === PURPOSE_WRITE) return proof.length === PROOF_BYTES && proof.every((b) => b === 0) ? "none" : null;
  if (!st || generation === 0) return null;
  if (generation === current && same(proofFor(cardKey, st.salt, slot, current, purpose, serial, nonce), proof)) return "current";
  if (st.pendingGeneration > 0 && generation === st.pendingGeneration && same(proofFor(cardKey, st.pendingSalt, slot, generation, purpose, serial, nonce), proof)) {
    return "pending";
  }
  return null;
}

/**
 * The issuer card of the profile a roll replaces (undefined for a first
 * write): service.ts blocks it once the roll is durable, since a copy of the
 * card taken before the rewrite still holds that profile's key.
 */
function retired(st: SlotState): string | undefined {
  return st.profileCardId && st.profileCardId !== st.pendingCardId ? st.profileCardId : undefined;
}

/** The slot once the card proved its pending code: it is the current one, and the previous code is gone. */
export function rolled(st: SlotState, now: number): SlotState {
  return {
    ...st,
    generation: st.pendingGeneration,
    salt: st.pendingSalt,
    profileCardId: st.pendingCardId,
    pendingGeneration: 0,
    pendingSalt: "",
    pendingCardId: "",
    pendingApplication: "",
    updatedAt: now,
  };
}

function emptySlot(cardId: string, slot: number, now: number): SlotState {
  return { cardId, slot, generation: 0, salt: "", profileCardId: "", pendingGeneration: 0, pendingSalt: "", pendingCardId: "", pendingApplication: "", updatedAt: now };
}

function refuseOtherApplication(st: SlotState | undefined, application: string): void {
  if (st && st.pendingGeneration > 0 && st.pendingApplication !== application) {
    throw new LinkRefusal(
      409,
      `slot ${st.slot} has a profile released for another application and not yet proven on the card: ` +
        "finish that write (the same application), or let a verification of the card settle it",
    );
  }
}

/**
 * A new write session on the base card: its nonce, and the one-time
 * password derived from it. The card must be paired (K_pair is the phone's
 * key in the exchange), and a slot with a pending profile takes only the
 * same application again (see decideAuth).
 */
export function decideApply(
  card: CardRecord,
  ctx: PersonalContext,
  cardKey: Uint8Array,
  r: { id: string; chipSerial: string; slot: number; deviceId: string; application: Application; nonce: Uint8Array },
  now: number,
  caller: string,
): PersonalChange<Outcome<Applied>> {
  refuseBlocked(card);
  refuseUnpaired(ctx);
  const application = applicationJson(r.application);
  refuseOtherApplication(ctx.slot, application);
  const expiresAt = now + SESSION_TTL_SECONDS * 1000;
  const session: PersonalSession = {
    id: r.id, kind: "write", cardId: card.id, chipSerial: r.chipSerial, slot: r.slot, deviceId: r.deviceId, application,
    nonce: bytesToHex(r.nonce), confirmNonce: "", state: "applied", failures: 0, generation: 0, expiresAt, createdAt: now, updatedAt: now,
  };
  const otp = sessionCode(cardKey, r.nonce, STEP_OTP);
  const value: Applied = { id: r.id, nonce: session.nonce, otp: bytesToHex(otp), expiresAt: iso(expiresAt) };
  wipe(otp);
  return {
    session,
    audit: audit(card, now, "personalise", "ok", caller, `session=${r.id} step=apply slot=${r.slot} device=${r.deviceId} epoch=${ctx.link.pairEpoch}`),
    result: { ok: true, value },
  };
}

/** The phone's response to the one-time password, once: the authentication code on success. */
export function decideOtp(card: CardRecord, ctx: PersonalContext, cardKey: Uint8Array, response: string, now: number, caller: string): PersonalChange<Outcome<OtpAccepted>> {
  const s = live(ctx.session, "write", now);
  if (s.state !== "applied") throw new LinkRefusal(409, "the one-time password of this session was answered already");
  refuseBlocked(card);
  refuseUnpaired(ctx);
  if (!same(expectedResponse(cardKey, ctx, s, STEP_OTP), hexToBytes(response))) {
    return failed(card, s, now, caller, "otp", "mismatch", "the response to the one-time password does not match");
  }
  const code = sessionCode(cardKey, hexToBytes(s.nonce), STEP_AUTH);
  const value: OtpAccepted = { authCode: bytesToHex(code) };
  wipe(code);
  return {
    session: { ...s, state: "otp_ok", updatedAt: now },
    audit: audit(card, now, "personalise", "ok", caller, `session=${s.id} step=otp slot=${s.slot}`),
    result: { ok: true, value },
  };
}

/** What decideAuth needs besides the store's reads: a new profile card (inserted only when the slot has no pending one) and card keys. */
export interface AuthTools {
  newProfileCard: CardRecord;
  cardKeyOf: (card: CardRecord) => Uint8Array;
}

/**
 * The phone's response to the authentication code, then the card's proof
 * for the slot; then the profile is released. The pending generation (its
 * salt, its profile card, its application) is made once and kept until the
 * card proves it: a retry gets the same generation and code in a new
 * envelope, so a card whose write failed midway, or landed unconfirmed, is
 * never left with a code the issuer does not accept.
 */
export function decideAuth(
  card: CardRecord,
  ctx: PersonalContext,
  cardKey: Uint8Array,
  input: AuthInput,
  tools: AuthTools,
  now: number,
  caller: string,
): PersonalChange<Outcome<Released>> {
  const s = live(ctx.session, "write", now);
  if (s.state === "applied") throw new LinkRefusal(409, "answer the one-time password first");
  if (s.state !== "otp_ok") throw new LinkRefusal(409, "the profile was released to this session already: start a new session to write again");
  refuseBlocked(card);
  refuseUnpaired(ctx);
  if (!same(expectedResponse(cardKey, ctx, s, STEP_AUTH), hexToBytes(input.response))) {
    return failed(card, s, now, caller, "auth", "mismatch", "the response to the authentication code does not match");
  }
  const match = matchProof(cardKey, ctx.slot, s.slot, s.chipSerial, s.nonce, PURPOSE_WRITE, input.generation, hexToBytes(input.proof));
  if (!match) {
    // The card holds no code the issuer accepts for this slot: a copy of an older state of it, or of another card.
    return failed(card, s, now, caller, "auth", "possible clone", "security code does not match");
  }
  let st = ctx.slot ?? emptySlot(card.id, s.slot, now);
  let profile = ctx.pendingCard;
  const retire = match === "pending" ? retired(st) : undefined;
  if (match === "pending") {
    st = rolled(st, now);
    profile = undefined;
  }
  let created: CardRecord | undefined;
  if (st.pendingGeneration === 0) {
    if (st.generation >= U32) throw new LinkRefusal(409, `slot ${s.slot}'s generations are used up`);
    created = tools.newProfileCard;
    profile = created;
    st = {
      ...st,
      pendingGeneration: st.generation + 1,
      pendingSalt: bytesToHex(randomBytes(SECURITY_SALT_BYTES)),
      pendingCardId: created.id,
      pendingApplication: s.application,
      updatedAt: now,
    };
  } else {
    refuseOtherApplication(st, s.application);
  }
  if (!profile || profile.id !== st.pendingCardId) throw new Error(`slot ${s.slot}'s pending profile card is missing`);
  const application = JSON.parse(st.pendingApplication) as Application;
  const seq = nextIssuerSeq(ctx.link, now);
  const expiry = Math.floor(now / 1000) + ENVELOPE_TTL_SECONDS;
  const generation = st.pendingGeneration;
  const code = deriveSecurityCode(sha256, cardKey, hexToBytes(st.pendingSalt), s.slot, generation);
  const record = encodeProfile(
    {
      mode: profile.mode,
      algorithm: profile.algorithm,
      digits: profile.digits,
      stepSeconds: profile.step,
      startCounter: profile.startCounter,
      cardId: application.label,
      key: tools.cardKeyOf(profile),
    },
    sha256,
  );
  const body = encodeProfileData(sha256, { slot: s.slot, previous: st.generation, generation, code, serial: s.chipSerial, record });
  const seal = deriveSealKey(sha256, cardKey);
  const frame = sealFrame(aead, seal, { type: T_PROFILE_DATA, cardId: deriveCardId(sha256, cardKey), seq, expiry }, body);
  const value: Released = {
    frame: bytesToHex(frame),
    generation,
    securityCode: bytesToHex(code),
    profileCardId: profile.id,
    confirmNonce: bytesToHex(randomBytes(NONCE_BYTES)),
  };
  // They hold the code and the profile key's pads.
  wipe(body);
  wipe(record);
  wipe(code);
  wipe(seal);
  const detail =
    `session=${s.id} step=auth slot=${s.slot} generation=${generation} previous=${st.generation} seq=${seq} profile=${profile.id}` +
    (match === "pending" ? " rolled: the card proved the pending code" : "") +
    (created ? " new profile card" : " retry: the pending profile again");
  return {
    link: { issuerSeq: seq, pairEpoch: ctx.link.pairEpoch },
    slot: st,
    session: { ...s, state: "released", confirmNonce: value.confirmNonce, generation, updatedAt: now },
    ...(created ? { profileCard: created } : {}),
    ...(retire ? { retire } : {}),
    audit: audit(card, now, "personalise", "ok", caller, detail),
    result: { ok: true, value },
  };
}

/**
 * The card's proof, to the confirmation challenge, of the code released to
 * this session: the slot rolls (the previous code is gone). Asked again
 * after the roll, with the same proof, the answer is the same and nothing
 * changes.
 */
export function decideConfirmWrite(card: CardRecord, ctx: PersonalContext, cardKey: Uint8Array, input: ProofInput, now: number, caller: string): PersonalChange<Outcome<ConfirmedWrite>> {
  const s = live(ctx.session, "write", now);
  if (s.state === "applied" || s.state === "otp_ok") throw new LinkRefusal(409, "no profile was released to this session yet");
  if (input.generation !== s.generation) {
    throw new LinkRefusal(409, "the card reports another generation than the one released to this session: its write did not land, write it again");
  }
  const st = ctx.slot;
  const proof = hexToBytes(input.proof);
  const match = matchProof(cardKey, st, s.slot, s.chipSerial, s.confirmNonce, PURPOSE_WRITE, input.generation, proof);
  if (s.state === "confirmed") {
    if (match === "current") return { result: { ok: true, value: { generation: input.generation } } };
    return failed(card, s, now, caller, "confirm", "mismatch", "security code does not match");
  }
  if (!st || (st.pendingGeneration !== s.generation && st.generation !== s.generation)) {
    throw new LinkRefusal(409, `slot ${s.slot} has moved on since this session: start a new one`);
  }
  if (!match) return failed(card, s, now, caller, "confirm", "mismatch", "security code does not match");
  const next = match === "pending" ? rolled(st, now) : undefined;
  const retire = next ? retired(st) : undefined;
  return {
    ...(next ? { slot: next } : {}),
    ...(retire ? { retire } : {}),
    session: { ...s, state: "confirmed", updatedAt: now },
    audit: audit(card, now, "personalise", "ok", caller, `session=${s.id} step=confirm slot=${s.slot} generation=${s.generation}${next ? " rolled" : " already rolled"}`),
    result: { ok: true, value: { generation: s.generation } },
  };
}

/** A verification session on a known chip's base card: a nonce, single use. */
export function decideCreateVerification(
  card: CardRecord,
  r: { id: string; chipSerial: string; slot: number; nonce: Uint8Array },
  now: number,
  caller: string,
): PersonalChange<Outcome<VerificationCreated>> {
  const session = verificationSession(card.id, r, now);
  return {
    session,
    audit: audit(card, now, "verification", "challenge", caller, `session=${r.id} slot=${r.slot}`),
    result: { ok: true, value: { id: r.id, nonce: session.nonce, expiresAt: iso(session.expiresAt) } },
  };
}

/** A verification session's record ("" for the card of an unknown chip). */
export function verificationSession(cardId: string, r: { id: string; chipSerial: string; slot: number; nonce: Uint8Array }, now: number): PersonalSession {
  return {
    id: r.id, kind: "verify", cardId, chipSerial: r.chipSerial, slot: r.slot, deviceId: "", application: "", nonce: bytesToHex(r.nonce),
    confirmNonce: "", state: "open", failures: 0, generation: 0, expiresAt: now + SESSION_TTL_SECONDS * 1000, createdAt: now, updatedAt: now,
  };
}

/** The session once answered; refuses one that was (409) or is dead (404, 410). */
export function answerVerification(s: PersonalSession | undefined, now: number): PersonalSession {
  const v = live(s, "verify", now);
  if (v.state !== "open") throw new LinkRefusal(409, "this verification was answered already");
  return { ...v, state: "done", updatedAt: now };
}

/**
 * The card's proof to a verification device: genuine iff made with the
 * slot's current code, or its pending one (which then rolls: the card
 * holds it, so the write landed). A blocked card is never genuine. The
 * answer repeats the generation the card gave, and says nothing else.
 */
export function decideVerification(card: CardRecord, ctx: PersonalContext, cardKey: Uint8Array, input: ProofInput, now: number, caller: string): PersonalChange<Outcome<VerificationResult>> {
  const done = answerVerification(ctx.session, now);
  const match = card.blocked
    ? null
    : matchProof(cardKey, ctx.slot, done.slot, done.chipSerial, done.nonce, PURPOSE_VERIFY, input.generation, hexToBytes(input.proof));
  const genuine = match === "current" || match === "pending";
  const next = match === "pending" && ctx.slot ? rolled(ctx.slot, now) : undefined;
  const retire = next && ctx.slot ? retired(ctx.slot) : undefined;
  const why = genuine ? (next ? " rolled: the card proved the pending code" : "") : card.blocked ? " the card is blocked" : input.generation > 0 ? " possible clone" : "";
  return {
    session: done,
    ...(next ? { slot: next } : {}),
    ...(retire ? { retire } : {}),
    audit: audit(card, now, "verification", genuine ? "genuine" : "not genuine", caller, `session=${done.id} slot=${done.slot} generation=${input.generation}${why}`),
    result: { ok: true, value: { genuine, generation: input.generation } },
  };
}
