/**
 * The card's link application (document C): what the card does with each
 * BLE write on LINK_WRITE, and with a press while a payment is shown.
 * docs/dynamic-data.md is the protocol, "The card's service" its card side.
 * Pure: flash, clock, AEAD, hash, notifications, display and the wipe timer
 * are injected; everything received goes through the codecs (frames.ts,
 * inbox.ts, pairing.ts, payment.ts, ocra.ts), which never throw on bytes.
 *
 * Per write: flood guard, reassembly into one 320-byte buffer (made with the
 * link), then for a whole frame inbox.receive(), and an answer to every
 * whole frame and every refused write: ACK, ERROR with its code, INFO to
 * HELLO. A refused frame costs REFUSED_COST more of the flood guard and
 * changes nothing else: not the screen, not flash, not what is kept.
 *
 * Persistence (LinkRecord below): the pairing (device id, epoch), lastSeq and
 * lastIssuerSeq, written BEFORE a frame is acted on, as one record in one of
 * two Storage files used in turn (file + "0", file + "1"), each with a
 * generation number and a check. A power cut during a write leaves the other
 * file, the previous record, intact; the newest valid record wins at load. A
 * write that fails (or reads back different) answers E_BUSY and nothing is
 * done.
 *
 * A payment is kept in RAM while it is shown, in `state` (the shell keeps
 * that; this object may be made anew for each event, main.ts), and
 * forgotten when the holder decides, at its expiry or after paymentMs,
 * whichever comes first. Screens are asked for by number (`screen`, the
 * LINK_* of screen-kinds.ts): the engine that holds the panel draws them. A confirm computes
 * the OCRA answer over exactly what was drawn (transactionChallenge of the
 * payment's own bytes), shows it, and notifies a sealed ANSWER (T_ANSWER,
 * seq = the payment frame's, expiry 0 = none) whose bytes are kept in
 * `state` so that a DUPLICATE of that payment frame gets them again, never
 * a new seal under the same nonce.
 *
 * Personalisation (document A, docs/personalisation.md, core/personal.ts):
 * READ_SERIAL and VERIFY_CHALLENGE are clear and answered by any card;
 * SECURITY_CHALLENGE (its seq committed, as a payment's) and PROFILE_WRITE
 * need the bound phone. Nothing of a slot's security code leaves flash but
 * proofs over it.
 */
import type { Aead, FloodGuard, Reassembly } from "./frames";
import {
  COMPLETE, DEFAULT_WRITE, DUPLICATE, E_BUSY, E_EXPIRED, E_FLOOD, E_MALFORMED, E_ORDER, E_TYPE, MAX_WRITE, MORE, OK, REFUSED_COST, T_ANSWER, T_HELLO, T_INFO,
  T_PAIR, T_PAYMENT, T_PROFILE_WRITE, T_READ_SERIAL, T_SECURITY_CHALLENGE, T_SECURITY_PROOF, T_SERIAL, T_VERIFY_CHALLENGE, T_VERIFY_PROOF, encodeAck, encodeError, encodeFrame, floodSpend, fragmentFrame, newFloodGuard, newReassembly, pushFragment, resetReassembly, sealFrame,
} from "./frames";
import type { Link, Received } from "./inbox";
import { newReceived, receive } from "./inbox";
import type { Grant } from "./pairing";
import { DEVICE_ID_BYTES, LINK_IKM_BYTES, deriveAnswerKey, deriveCardId, derivePairKey, deriveSealKey, readGrant } from "./pairing";
import type { PaymentView } from "./payment";
import { decodePayment, formatAmount, newPaymentView, panelText } from "./payment";
import { PAYMENT_OCRA_SUITE, transactionQuestion } from "./ocra";
import { hmac } from "./hmac";
import { truncate } from "./otp";
import type { PaymentScreen } from "./screens";
import { SCREEN_ANSWER, SCREEN_BLANK, SCREEN_DECLINED, SCREEN_PASSKEY, SCREEN_PAYMENT, SCREEN_PROFILE } from "./screen-kinds";
import { PURPOSE_VERIFY, PURPOSE_WRITE, checkChallenge, checkProfileData, encodeProof, encodeSerial, readSecurity, securityProof, slotProfile, writeSlot } from "./personal";
import { readProfile } from "./profile";
import type { Clock, FlashStore, Hash } from "./types";
import { asciiBytes, equalBytes, readU32BE, wipe, writeU32BE } from "./bytes";

/** What must outlive the object (main.ts builds the engine per event): kept by the shell. */
export interface LinkState {
  /** The flood guard, made at the first write. */
  flood: FloodGuard | null;
  /** Clock of the last E_FLOOD answer: at most one a second. */
  floodAnswered: number;
  /** The last ANSWER sent, sealed, and the payment seq it answers. */
  answer: Uint8Array | null;
  answerSeq: number;
  /** The sender's frame count of the card's answers (the fragment frame id). */
  sent: number;
  /** The payment shown and waiting for the holder's decision, and its frame's seq. */
  payment: PaymentView | null;
  paymentSeq: number;
  /** A link screen (payment, answer, declined, passkey) is on the panel: the wipe is the link's. */
  linkShown: boolean;
  /** The largest notification the link takes: a write of n bytes proves MTU >= n + 3 (reset() for a new link). */
  notifySize: number;
}

export function newLinkState(): LinkState {
  return { flood: null, floodAnswered: -1, answer: null, answerSeq: 0, sent: 0, payment: null, paymentSeq: 0, linkShown: false, notifySize: DEFAULT_WRITE };
}

export interface LinkOptions {
  aead: Aead;
  /** Native SHA-256 on the card. */
  sha256: Hash;
  store: FlashStore;
  /** Prefix of the two Storage files of the link record. */
  file: string;
  /** Unix seconds. */
  clock: Clock;
  /** The card's key K (docs "Keys"), or null when the card has no valid profile. */
  cardKey(): Uint8Array | null;
  /** The chip serial (getSerial()): personalisation binds a profile to it. */
  serial(): string;
  /** The live profile's Storage file: the slots' files are named after it (personal.ts). */
  profileFile: string;
  /** One notification on LINK_NOTIFY (at most the size the link allows, 20 until a write shows more). */
  notify(bytes: Uint8Array): void;
  /** Show a link screen (screen-kinds.ts LINK_*; SCREEN_BLANK wipes): drawn by whoever holds the panel. */
  screen(kind: number, value: unknown): void;
  /** Arm the shell's wipe timer for what the link shows (ms > 0); it calls wipe(). */
  timer(ms: number): void;
  /** The longest a payment stays on the screen, ms (its expiry may end it sooner). */
  paymentMs: number;
  /** How long an answer, a decline or a passkey stays on the screen, ms. */
  shownMs: number;
  state: LinkState;
}

/**
 * The persisted link record, 40 bytes, integers big-endian:
 *   0 u32 generation, 4 device id (16), 20 u32 epoch (0: no phone bound),
 *   24 u32 lastSeq, 28 u32 lastIssuerSeq, 32 the first 8 bytes of SHA-256(bytes 0..31).
 */
export const RECORD_BYTES = 40;

export interface LinkRecord {
  generation: number;
  deviceId: Uint8Array;
  epoch: number;
  lastSeq: number;
  lastIssuerSeq: number;
}

/** The newest valid record of the two files, or a fresh one (generation 0, nothing bound). */
export function loadRecord(store: FlashStore, sha256: Hash, file: string): LinkRecord {
  let best: LinkRecord = { generation: 0, deviceId: new Uint8Array(DEVICE_ID_BYTES), epoch: 0, lastSeq: 0, lastIssuerSeq: 0 };
  for (let i = 0; i < 2; i++) {
    const b = store.read(file + i);
    if (!b || b.length !== RECORD_BYTES) continue;
    const check = sha256.digest(b.subarray(0, 32));
    if (!equalBytes(check.subarray(0, 8), b.subarray(32, 40))) continue;
    const g = readU32BE(b, 0);
    if (g <= best.generation) continue;
    const dev = new Uint8Array(DEVICE_ID_BYTES);
    dev.set(b.subarray(4, 20));
    best = { generation: g, deviceId: dev, epoch: readU32BE(b, 20), lastSeq: readU32BE(b, 24), lastIssuerSeq: readU32BE(b, 28) };
  }
  return best;
}

/** Write r as the next generation into the file not holding the current one; true once it reads back whole. */
export function saveRecord(store: FlashStore, sha256: Hash, file: string, r: LinkRecord): boolean {
  const g = r.generation + 1;
  const b = new Uint8Array(RECORD_BYTES);
  writeU32BE(b, 0, g);
  b.set(r.deviceId, 4);
  writeU32BE(b, 20, r.epoch);
  writeU32BE(b, 24, r.lastSeq);
  writeU32BE(b, 28, r.lastIssuerSeq);
  b.set(sha256.digest(b.subarray(0, 32)).subarray(0, 8), 32);
  const name = file + (g & 1);
  // Offset 0 with the size: Storage writes the file anew (an existing one is replaced whole).
  if (!store.write(name, b, 0, RECORD_BYTES)) return false;
  const back = store.read(name);
  return back !== undefined && equalBytes(back, b);
}

/**
 * The card key as the link keys take it (core/pairing.ts), from the profile's
 * HMAC inner pad: K0 = its first 64 bytes ^ 0x36, K zero-padded to 64 bytes
 * (a profile key has at most 64; a SHA-512 profile's pad is 128 bytes, the
 * rest zeros ^ 0x36). Exact, whatever K ends with.
 */
export function cardKeyFromPads(pads: Uint8Array): Uint8Array {
  const k = new Uint8Array(LINK_IKM_BYTES);
  for (let i = 0; i < LINK_IKM_BYTES; i++) k[i] = pads[i] ^ 0x36;
  return k;
}

/**
 * RFC 6287 for PAYMENT_OCRA_SUITE alone ("OCRA-1:HOTP-SHA256-8:QH64": no
 * counter, PIN, session or time): HMAC-SHA256(kA, suite ‖ 00 ‖ Q) with Q the
 * challenge's bytes left-aligned in 128 zero bytes, truncated to 8 digits.
 * The same as ocra.ts's generic ocra() (the tests compare them); the card
 * carries this rather than the suite parser, 5 KB it has no room for.
 */
export function paymentAnswer(sha256: Hash, kA: Uint8Array, question: Uint8Array): string {
  const s = PAYMENT_OCRA_SUITE;
  const m = new Uint8Array(s.length + 1 + 128);
  for (let i = 0; i < s.length; i++) m[i] = s.charCodeAt(i);
  m.set(question, s.length + 1);
  const mac = hmac(sha256, kA, m);
  const r = truncate(mac, 8);
  wipe(mac);
  return r;
}

/** The payment screen's argument from a decoded payment (what drawPaymentScreen draws). */
export function paymentScreen(p: PaymentView): PaymentScreen {
  return { amount: formatAmount(p.amount, p.exponent) + " " + p.currency, payee: panelText(p.payee), details: panelText(p.details), code: p.code };
}

export class CardLink {
  private readonly o: LinkOptions;
  private readonly st: LinkState;
  private readonly r: Reassembly;
  private readonly out: Received;
  private readonly grant: Grant;
  private rec: LinkRecord | null = null;
  private link: Link | null = null;

  constructor(o: LinkOptions) {
    this.o = o;
    this.st = o.state;
    this.r = newReassembly();
    this.out = newReceived();
    this.grant = { deviceId: new Uint8Array(0), epoch: 0 };
  }

  /** A central connected or disconnected: no frame is under way, notifications back to 20 bytes. */
  reset(): void {
    resetReassembly(this.r);
    this.st.notifySize = DEFAULT_WRITE;
  }

  /** A payment waits for the holder. */
  pending(): boolean {
    return this.st.payment !== null;
  }

  /** One write on LINK_WRITE. */
  write(data: Uint8Array): void {
    const st = this.st;
    const now = this.o.clock();
    if (!st.flood) st.flood = newFloodGuard(now);
    if (data.length > st.notifySize) st.notifySize = Math.min(data.length, MAX_WRITE);
    if (!floodSpend(st.flood, now, 1)) {
      if (!(now - st.floodAnswered < 1)) {
        st.floodAnswered = now;
        this.refuse(E_FLOOD, 0, false);
      }
      return;
    }
    const c = pushFragment(this.r, data);
    if (c === MORE) return;
    if (c !== COMPLETE) {
      this.refuse(c, c === E_ORDER ? this.r.next : 0, false);
      return;
    }
    this.frame(this.r.buf.subarray(0, this.r.len), now);
  }

  /** The keys and sequence numbers from the card's key and the record; null without a key. */
  private keys(): Link | null {
    if (this.link) return this.link;
    const key = this.o.cardKey();
    if (!key) return null;
    const sha = this.o.sha256;
    const rec = this.record();
    this.link = {
      cardId: deriveCardId(sha, key),
      seal: deriveSealKey(sha, key),
      pair: rec.epoch > 0 ? derivePairKey(sha, key, rec.deviceId, rec.epoch) : null,
      lastSeq: rec.lastSeq,
      lastIssuerSeq: rec.lastIssuerSeq,
    };
    wipe(key);
    return this.link;
  }

  private record(): LinkRecord {
    if (!this.rec) this.rec = loadRecord(this.o.store, this.o.sha256, this.o.file);
    return this.rec;
  }

  private cardId(): number {
    return this.link ? this.link.cardId : 0;
  }

  private frame(bytes: Uint8Array, now: number): void {
    const out = this.out;
    out.seq = 0;
    out.expiry = 0;
    out.type = 0;
    const link = this.keys();
    // A card without a key still answers HELLO and refuses the rest: an empty link (card id 0) does that.
    const l: Link = link || { cardId: 0, seal: null, pair: null, lastSeq: 0, lastIssuerSeq: 0 };
    let c = receive(this.o.aead, l, bytes, now, out);
    if (c === DUPLICATE) {
      // The proof again (the slot cannot have changed: a write would have raised lastSeq), else the ACK again.
      if (out.type === T_SECURITY_CHALLENGE) c = this.prove(l, out, PURPOSE_WRITE, false);
      else this.send(encodeAck(out, l.cardId));
      const a = this.st.answer;
      if (a && out.type === T_PAYMENT && this.st.answerSeq === out.seq) this.send(a);
      if (c === DUPLICATE) return;
    } else if (c === OK) {
      const t = out.type;
      if (t === T_HELLO) c = this.hello(out);
      else if (t === T_READ_SERIAL) c = this.sendSerial(out);
      else if (t === T_VERIFY_CHALLENGE) c = this.prove(l, out, PURPOSE_VERIFY, false);
      else if (!link) c = E_TYPE;
      else if (t === T_PAIR) c = this.pair(link, out);
      else if (t === T_PAYMENT) c = this.pay(link, out, now);
      else if (t === T_SECURITY_CHALLENGE) c = this.prove(link, out, PURPOSE_WRITE, true);
      else if (t === T_PROFILE_WRITE) c = this.writeProfile(link, out);
      else c = E_TYPE; // a well-formed request this card does not handle
    }
    if (c !== OK) {
      floodSpend(this.st.flood as FloodGuard, now, REFUSED_COST);
      this.refuse(c, 0, true);
    }
  }

  private hello(out: Received): number {
    const body = new Uint8Array(5);
    body[0] = MAX_WRITE;
    writeU32BE(body, 1, this.link ? this.record().epoch : 0);
    this.send(encodeFrame({ type: T_INFO, cardId: this.cardId(), seq: out.seq, expiry: out.expiry }, body));
    return OK;
  }

  private pair(link: Link, out: Received): number {
    const rec = this.record();
    const c = readGrant(out.body, rec.epoch, this.grant);
    if (c !== OK) return c;
    const next: LinkRecord = { generation: rec.generation, deviceId: this.grant.deviceId, epoch: this.grant.epoch, lastSeq: 0, lastIssuerSeq: out.issuerSeq };
    if (!saveRecord(this.o.store, this.o.sha256, this.o.file, next)) return E_BUSY;
    this.rec = null;
    this.link = null; // K_pair and the sequence numbers again from the new record
    this.st.answer = null;
    this.st.answerSeq = 0;
    if (this.st.payment) this.forget(); // it came through the previous phone
    this.send(encodeAck(out, link.cardId));
    return OK;
  }

  private pay(link: Link, out: Received, now: number): number {
    const view = newPaymentView();
    const c = decodePayment(out.body, view);
    if (c !== OK) return c;
    if (!(now <= view.expiry)) return E_EXPIRED;
    if (!this.commit(link, out)) return E_BUSY;
    const st = this.st;
    st.payment = view;
    st.paymentSeq = out.seq;
    st.answer = null;
    st.answerSeq = 0;
    st.linkShown = true;
    this.send(encodeAck(out, link.cardId)); // before the drawing: the phone stops resending sooner
    this.o.screen(SCREEN_PAYMENT, paymentScreen(view));
    this.o.timer(Math.max(1, Math.min(this.o.paymentMs, (view.expiry - now) * 1000)));
    return OK;
  }

  /** Persist the frame's seq (and its envelope's issuer seq, when it has one) before acting on it; false when flash failed. */
  private commit(link: Link, out: Received): boolean {
    const rec = this.record();
    const issuerSeq = out.issuerSeq || rec.lastIssuerSeq;
    const next: LinkRecord = { generation: rec.generation, deviceId: rec.deviceId, epoch: rec.epoch, lastSeq: out.seq, lastIssuerSeq: issuerSeq };
    if (!saveRecord(this.o.store, this.o.sha256, this.o.file, next)) return false;
    next.generation++;
    this.rec = next;
    link.lastSeq = out.seq;
    link.lastIssuerSeq = issuerSeq;
    return true;
  }

  // ---- Personalisation (document A, core/personal.ts) ----

  private sendSerial(out: Received): number {
    if (out.body.length !== 0) return E_MALFORMED; // READ_SERIAL has no body
    this.send(encodeFrame({ type: T_SERIAL, cardId: this.cardId(), seq: 0, expiry: out.expiry }, encodeSerial(this.o.serial())));
    return OK;
  }

  /**
   * The proof of the slot's security code for the challenge in out.body: sealed
   * under K_pair for a write, clear for a
   * verification device. The code itself never leaves flash. commit: persist
   * the frame's seq first (a new sealed challenge; not for a DUPLICATE).
   */
  private prove(link: Link, out: Received, purpose: number, commit: boolean): number {
    const c = checkChallenge(out.body);
    if (c !== OK) return c;
    if (commit && !this.commit(link, out)) return E_BUSY;
    const slot = out.body[0];
    const sha = this.o.sha256;
    const sec = readSecurity(this.o.store, sha, this.o.profileFile, slot);
    const gen = sec ? sec.generation : 0;
    const body = encodeProof(slot, gen, sec ? securityProof(sha, sec.code, purpose, slot, gen, this.o.serial(), out.body.subarray(1)) : null);
    if (purpose === PURPOSE_VERIFY) this.send(encodeFrame({ type: T_VERIFY_PROOF, cardId: link.cardId, seq: 0, expiry: out.expiry }, body));
    else this.send(sealFrame(this.o.aead, link.pair as Uint8Array, { type: T_SECURITY_PROOF, cardId: link.cardId, seq: out.seq, expiry: 0 }, body));
    return OK;
  }

  /**
   * A profile for a slot, from the issuer: checked (its chip serial, the slot's
   * generation, the record), written through the slot's staged copy, then the
   * frame's seq committed and ACK. A cut between the write and the commit
   * leaves the new slot and the old seq: the phone's resend is refused
   * (E_OLD_SEQ, the generation moved) and its confirmation proves the new code.
   */
  private writeProfile(link: Link, out: Received): number {
    const o = this.o;
    const c = checkProfileData(out.body, o.sha256, o.serial(), o.store, o.profileFile);
    if (c !== OK) return c;
    const slot = out.body[0];
    if (!writeSlot(o.store, o.sha256, o.profileFile, out.body) || !this.commit(link, out)) return E_BUSY;
    this.send(encodeAck(out, link.cardId));
    const p = readProfile(o.store.read(slotProfile(o.profileFile, slot)), o.sha256);
    this.st.linkShown = true;
    o.screen(SCREEN_PROFILE, ["WRITTEN", slot + " " + (p ? p.cardId : "?")]);
    o.timer(o.shownMs);
    return OK;
  }

  /** Short press while a payment is shown: the answer, shown and notified. False when no payment waits. */
  confirm(): boolean {
    const p = this.st.payment;
    const link = p ? this.keys() : null;
    if (!p || !link || !link.pair) return false;
    if (!(this.o.clock() <= p.expiry)) {
      this.wipe();
      return true;
    }
    const key = this.o.cardKey();
    if (!key) return false;
    const sha = this.o.sha256;
    const kA = deriveAnswerKey(sha, key);
    wipe(key);
    const r = paymentAnswer(sha, kA, transactionQuestion(sha, p));
    wipe(kA);
    this.answer(link, asciiBytes(r));
    this.o.screen(SCREEN_ANSWER, r);
    this.o.timer(this.o.shownMs);
    return true;
  }

  /**
   * Long press while a payment is shown: no R is made; the phone is told at
   * once by an ANSWER with an empty body (sealed, kept for a DUPLICATE as a
   * confirmation's is), so it need not wait for the payment's expiry. False
   * when no payment waits.
   */
  decline(): boolean {
    const link = this.st.payment ? this.keys() : null;
    if (!link || !link.pair) return false;
    this.answer(link, new Uint8Array(0));
    this.o.screen(SCREEN_DECLINED, null);
    this.o.timer(this.o.shownMs);
    return true;
  }

  /** The sealed ANSWER to the payment shown: kept for a DUPLICATE of its frame, notified; the payment is forgotten. */
  private answer(link: Link, body: Uint8Array): void {
    const st = this.st;
    const sealed = sealFrame(this.o.aead, link.pair as Uint8Array, { type: T_ANSWER, cardId: link.cardId, seq: st.paymentSeq, expiry: 0 }, body);
    st.answer = sealed;
    st.answerSeq = st.paymentSeq;
    this.forget();
    st.linkShown = true;
    this.send(sealed);
  }

  /** Bluetooth pairing asks the holder to type this passkey on the phone. */
  passkey(key: string): void {
    if (this.st.payment) return; // never over a payment: the phone shows the passkey prompt too
    this.st.linkShown = true;
    this.o.screen(SCREEN_PASSKEY, key);
    this.o.timer(this.o.shownMs);
  }

  /** The wipe timer: the payment (at its expiry or timeout) or the link's screen goes. */
  wipe(): void {
    const shown = this.st.linkShown;
    this.forget();
    this.st.linkShown = false;
    if (shown) this.o.screen(SCREEN_BLANK, null);
  }

  private forget(): void {
    this.st.payment = null;
    this.st.paymentSeq = 0;
  }

  /** ERROR: with the frame's seq and expiry when a whole frame's header was read, else 0. */
  private refuse(code: number, detail: number, whole: boolean): void {
    this.send(encodeError(this.cardId(), whole ? this.out.seq : 0, whole ? this.out.expiry : 0, code, detail));
  }

  /** A frame as notifications of at most notifySize bytes. */
  private send(frame: Uint8Array): void {
    const st = this.st;
    const parts = fragmentFrame(frame, st.notifySize, st.sent & 3);
    st.sent = (st.sent + 1) & 3;
    for (let i = 0; i < parts.length; i++) this.o.notify(parts[i]);
  }
}
