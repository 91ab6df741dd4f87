/**
 * The phone's side of the card link (docs/dynamic-data.md): HELLO, PAIR and
 * PAYMENT over a CardTransport, with the doc's acknowledgement and resend
 * rules, and personalisation's frames (docs/personalisation.md): READ_SERIAL,
 * SECURITY_CHALLENGE, PROFILE_WRITE and a verification device's
 * VERIFY_CHALLENGE, on the same resends and reconnects. Browser-safe: no
 * Node imports (esbuild bundles it into the phone page); the clock, the
 * timers and the store are injected, so tests drive it on the simulator's
 * virtual clock.
 *
 * Rules kept here (docs/dynamic-data.md, "Acknowledgements and lost notifications"):
 * - one frame in flight; with no ACK or ERROR 3 s after the last write, the
 *   same bytes again (same seq, same frame id), up to 3 times, then a new
 *   link (when a reconnect is given) starting with HELLO;
 * - E_ORDER: resend from the index in the detail; E_FLOOD: wait 2 s, resend;
 *   every other code is final (RelayError naming it);
 * - the payment's seq is taken and persisted before its first write, so no
 *   (type, seq) is ever sealed twice with different bytes, even across a crash;
 * - the sealed ANSWER is opened under K_pair and must answer our seq; a lost
 *   one is asked for again by resending the payment frame (a DUPLICATE for
 *   the card) 10 s after its ACK, then every 10 s until the payment expires.
 * - SERIAL, VERIFY_PROOF (clear) and SECURITY_PROOF (sealed under K_pair,
 *   the challenge's seq) answer their request as an ACK does: a lost one is
 *   asked for again by the same resends (the card proves again for a
 *   DUPLICATE challenge); a SECURITY_CHALLENGE takes a seq as a payment does.
 * ACK and ERROR are clear: a forged one can make the relay give up, never
 * accept an answer. Secrets (K_pair, the answer, security codes) never go
 * into an error.
 */
import { etmAead } from "../../firmware/core/aead.ts";
import { bytesToHex, hexToBytes, readU32BE } from "../../firmware/core/bytes.ts";
import { MAX_SERIAL, NONCE_BYTES, PROOF_BYTES, SLOTS, encodeChallenge, readProof, readSerial } from "../../firmware/core/personal.ts";
import {
  type Aead,
  DEFAULT_WRITE,
  E_EXPIRED,
  E_FLOOD,
  E_ORDER,
  type Frame,
  MAX_FRAGMENTS,
  MAX_WRITE,
  MORE,
  OK,
  T_ACK,
  T_ANSWER,
  T_ERROR,
  T_GRANT,
  T_HELLO,
  T_INFO,
  T_PAIR,
  T_PAYMENT,
  T_PAYMENT_DATA,
  T_PROFILE_DATA,
  T_PROFILE_WRITE,
  T_READ_SERIAL,
  T_SECURITY_CHALLENGE,
  T_SECURITY_PROOF,
  T_SERIAL,
  T_VERIFY_CHALLENGE,
  T_VERIFY_PROOF,
  COMPLETE,
  isSealed,
  encodeFrame,
  fragmentFrame,
  newFrame,
  newReassembly,
  openFrame,
  pushFragment,
  readFrame,
  resetReassembly,
  sealFrame,
} from "../../firmware/core/frames.ts";
import type { CardTransport } from "./transport.ts";
import { nodeHash } from "../lib/hash.ts";

/** No ACK or ERROR this long after the last write: resend. */
export const ACK_TIMEOUT_MS = 3000;
/** Resends of one frame for lack of an answer, before the link is given up (or renewed). */
export const MAX_RESENDS = 3;
/** After E_FLOOD. */
export const FLOOD_WAIT_MS = 2000;
/** After the payment's ACK with no ANSWER, and then between resends, until expiry. */
export const ANSWER_RESEND_MS = 10000;
/** HELLO is clear and authenticates nothing; its expiry only has to pass the card's clock check. */
const HELLO_TTL_S = 300;
/** A SECURITY_CHALLENGE is worth no more than the issuer's session it carries (120 s). */
const CHALLENGE_TTL_S = 120;
/** Bounds on resends a (possibly forged) E_ORDER or E_FLOOD can cause, and on new links per frame. */
const MAX_ORDER_RESENDS = 2 * MAX_FRAGMENTS;
const MAX_FLOOD_WAITS = 5;
const MAX_RELINKS = 2;

/** The names of the card's codes (docs/dynamic-data.md, "Error codes"). */
export const CODE_NAMES: Record<number, string> = {
  1: "E_TRUNCATED",
  2: "E_OVERSIZED",
  3: "E_ORDER",
  4: "E_FLOOD",
  5: "E_VERSION",
  6: "E_TYPE",
  7: "E_WRONG_CARD",
  8: "E_EXPIRED",
  9: "E_OLD_SEQ",
  10: "E_BAD_TAG",
  11: "E_NOT_PAIRED",
  12: "E_MALFORMED",
  13: "E_BUSY",
};

/**
 * Why the relay stopped. `code` is the card's code name for a refusal
 * (E_BAD_TAG, ...), else one of: NO_ANSWER (no ACK or ERROR after the
 * resends), LINK_LOST, NOT_PAIRED (this phone holds no key for the card),
 * BAD_INPUT (what the issuer gave is not the expected envelope),
 * WRONG_CARD (the card on the link is not the envelope's), BAD_ANSWER (an
 * answer the relay does not understand: the wrong type for the request, a
 * SERIAL or a proof that is not one).
 */
export class RelayError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** The card's code byte when the card refused. */
    readonly cardCode?: number,
  ) {
    super(message);
    this.name = "RelayError";
  }
}

/** A security code this phone received for a slot (docs/personalisation.md). */
export interface SlotCode {
  generation: number;
  /** The code S, hex. Secret, as K_pair is: never shown, never logged. */
  code: string;
}

/** What the phone keeps about one card: its link id, the pairing, and the last seq it sealed. */
export interface CardLink {
  linkId: number;
  epoch: number;
  /** K_pair, hex. Secret. */
  pairKey: string;
  /** The last seq sealed under this pairing (0: none yet). */
  seq: number;
  /** The issuer's id of the card, when this phone paired through it (flow.ts pairCard). */
  card?: string;
  /**
   * Per slot ("1".."3"): the codes this phone wrote, at most two, oldest
   * first: the one the issuer holds as current and the one it released and
   * has not yet seen proven (pending). Kept across pairings: they belong to
   * the card's slots, not to the pairing.
   */
  codes?: Record<string, SlotCode[]>;
}

export interface PhoneState {
  /** 16 random bytes, hex, made once (docs/dynamic-data.md, "Device id"). */
  deviceId: string;
  /** By link id as 8 hex digits (linkKey). */
  cards: Record<string, CardLink>;
}

/** Where the phone keeps its state: a JSON file (state.ts) for the CLI, localStorage on the page. save must be durable when it resolves. */
export interface PhoneStore {
  load(): PhoneState | Promise<PhoneState>;
  save(state: PhoneState): void | Promise<void>;
}

const HEX32 = /^[0-9a-f]{32}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const isU32 = (n: unknown, min: number): n is number => Number.isInteger(n) && (n as number) >= min && (n as number) <= 0xffffffff;

/** A stored state read back (a file or localStorage another can edit), checked field by field; throws naming the field, never its value. */
export function checkPhoneState(v: unknown): PhoneState {
  const o = v as PhoneState;
  if (!o || typeof o !== "object") throw new Error("phone state: not an object");
  if (typeof o.deviceId !== "string" || !HEX32.test(o.deviceId)) throw new Error("phone state: deviceId must be 32 hex digits");
  if (!o.cards || typeof o.cards !== "object" || Array.isArray(o.cards)) throw new Error("phone state: cards must be an object");
  const cards: Record<string, CardLink> = {};
  for (const [k, c] of Object.entries(o.cards)) {
    const name = /^[0-9a-f]{8}$/.test(k) ? k : "(a bad key)";
    if (!c || typeof c !== "object") throw new Error(`phone state: card ${name} is not an object`);
    if (!isU32(c.linkId, 1) || k !== c.linkId.toString(16).padStart(8, "0")) throw new Error(`phone state: card ${name} has a bad linkId`);
    if (!isU32(c.epoch, 1)) throw new Error(`phone state: card ${name} has a bad epoch`);
    if (typeof c.pairKey !== "string" || !HEX64.test(c.pairKey)) throw new Error(`phone state: card ${name} has a bad pairKey`);
    if (!isU32(c.seq, 0)) throw new Error(`phone state: card ${name} has a bad seq`);
    const link: CardLink = { linkId: c.linkId, epoch: c.epoch, pairKey: c.pairKey, seq: c.seq };
    if (c.card !== undefined) {
      if (typeof c.card !== "string" || !/^[0-9A-Za-z-]{1,64}$/.test(c.card)) throw new Error(`phone state: card ${name} has a bad card id`);
      link.card = c.card;
    }
    if (c.codes !== undefined) link.codes = checkCodes(c.codes, name);
    cards[k] = link;
  }
  return { deviceId: o.deviceId, cards };
}

function checkCodes(v: unknown, name: string): Record<string, SlotCode[]> {
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error(`phone state: card ${name} has bad codes`);
  const out: Record<string, SlotCode[]> = {};
  for (const [slot, list] of Object.entries(v as Record<string, unknown>)) {
    const n = Number(slot);
    if (!/^[0-9]$/.test(slot) || n < 1 || n >= SLOTS) throw new Error(`phone state: card ${name} has codes for a bad slot`);
    if (!Array.isArray(list) || list.length < 1 || list.length > 2) throw new Error(`phone state: card ${name} slot ${slot} must hold one or two codes`);
    out[slot] = list.map((e: SlotCode) => {
      if (!e || typeof e !== "object" || !isU32(e.generation, 1)) throw new Error(`phone state: card ${name} slot ${slot} has a bad generation`);
      if (typeof e.code !== "string" || !HEX64.test(e.code)) throw new Error(`phone state: card ${name} slot ${slot} has a bad code`);
      return { generation: e.generation, code: e.code };
    });
  }
  return out;
}

export function linkKey(linkId: number): string {
  return (linkId >>> 0).toString(16).padStart(8, "0");
}

/** ms clock (Unix epoch: it sets frame expiries and is compared with the card's) and timers. */
export interface RelayClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: RelayClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface RelayOptions {
  store: PhoneStore;
  clock?: RelayClock;
  aead?: Aead;
  /** A new link to the same card, used after a dropped link or unanswered resends; without it those end in LINK_LOST / NO_ANSWER. */
  reconnect?: () => Promise<CardTransport>;
  /** Progress lines (no secrets). */
  log?: (line: string) => void;
}

export interface Hello {
  /** The card's link id (the card id frames carry). */
  linkId: number;
  /** The write size the relay uses from now on: the link's, within what the card takes. */
  maxWrite: number;
  /** The card's pairing epoch, 0 when no phone is bound. */
  epoch: number;
}

/** A card's SECURITY_PROOF or VERIFY_PROOF: the generation its slot holds (0: none) and the proof (zeros with generation 0). */
export interface CardProof {
  slot: number;
  generation: number;
  proof: Uint8Array;
}

/** An ANSWER body: the 8 ASCII digits of the OCRA response, or empty when the holder declined. */
export function readAnswerBody(body: Uint8Array): string | "declined" | undefined {
  if (body.length === 0) return "declined";
  if (body.length !== 8) return undefined;
  let s = "";
  for (const b of body) {
    if (b < 0x30 || b > 0x39) return undefined;
    s += String.fromCharCode(b);
  }
  return s;
}

type Event = { kind: "frame"; frame: Frame } | { kind: "disconnect" } | { kind: "timeout" } | { kind: "answer" };

/** A frame in flight: its bytes, frame id, and what an answer to it must echo. */
interface Request {
  bytes: Uint8Array;
  fid: number;
  type: number;
  cardId: number;
  seq: number;
  expiry: number;
  /** The card's answer in place of an ACK (SERIAL, a proof), when the request has one. */
  reply?: number;
  /** K_pair, for a reply sealed under it. */
  key?: Uint8Array;
}

/** Names for messages (errors only). */
const TYPE_NAMES: Record<number, string> = {
  [T_HELLO]: "HELLO",
  [T_READ_SERIAL]: "READ_SERIAL",
  [T_VERIFY_CHALLENGE]: "VERIFY_CHALLENGE",
  [T_PAIR]: "PAIR",
  [T_SECURITY_CHALLENGE]: "SECURITY_CHALLENGE",
  [T_PAYMENT]: "PAYMENT",
  [T_PROFILE_WRITE]: "PROFILE_WRITE",
  [T_ACK]: "ACK",
  [T_ERROR]: "ERROR",
  [T_INFO]: "INFO",
  [T_SERIAL]: "SERIAL",
  [T_VERIFY_PROOF]: "VERIFY_PROOF",
  [T_ANSWER]: "ANSWER",
  [T_SECURITY_PROOF]: "SECURITY_PROOF",
};
const typeName = (t: number): string => TYPE_NAMES[t] ?? `type 0x${t.toString(16).padStart(2, "0")}`;

export class PhoneRelay {
  private transport: CardTransport;
  private readonly store: PhoneStore;
  private readonly clock: RelayClock;
  private readonly aead: Aead;
  private readonly reconnect: (() => Promise<CardTransport>) | undefined;
  private readonly log: (line: string) => void;
  private readonly reasm = newReassembly();
  private queue: Event[] = [];
  private wake: (() => void) | null = null;
  private frames = 0;
  private cardWrite = MAX_WRITE;
  private linkUp = true;
  /** While a payment waits: what a valid ANSWER must be, and the answer once seen. */
  private awaiting: { key: Uint8Array; linkId: number; seq: number } | undefined;
  private answer: string | undefined;
  /** The card the first HELLO found: a new link must reach the same card. */
  private seen: number | undefined;
  /** The request in flight (its key opens a sealed reply). */
  private inflight: Request | undefined;
  /** The last expiry put on a clear request: each gets its own, so a late answer to one never passes for another's. */
  private clearExpiry = 0;

  constructor(transport: CardTransport, options: RelayOptions) {
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
    this.aead = options.aead ?? etmAead(nodeHash("SHA256"));
    this.reconnect = options.reconnect;
    this.log = options.log ?? (() => {});
    this.transport = transport;
    this.attach(transport);
  }

  /** The write size in use: the link's, never over what the card said it takes. */
  get maxWrite(): number {
    const link = this.transport.maxWrite;
    const w = Math.min(Number.isInteger(link) && link >= 2 ? link : DEFAULT_WRITE, this.cardWrite, MAX_WRITE);
    return w;
  }

  /** HELLO: who the card is, what it takes, and its pairing epoch. */
  async hello(): Promise<Hello> {
    const frame = encodeFrame({ type: T_HELLO, cardId: 0, seq: 0, expiry: this.clearExpiryNow() }, new Uint8Array(0));
    const info = await this.exchange(this.request(frame), false);
    const w = info.body[0];
    if (w >= 2 && w <= MAX_WRITE) this.cardWrite = w;
    this.seen ??= info.cardId;
    return { linkId: info.cardId, maxWrite: this.maxWrite, epoch: readU32BE(info.body, 1) };
  }

  /** READ_SERIAL (clear, any card): the chip serial, checked to be 1..MAX_SERIAL printable ASCII characters. */
  async readSerial(): Promise<string> {
    const frame = encodeFrame({ type: T_READ_SERIAL, cardId: 0, seq: 0, expiry: this.clearExpiryNow() }, new Uint8Array(0));
    const f = await this.exchange(this.request(frame, T_SERIAL), true);
    const serial = readSerial(f.body);
    if (serial === null) throw new RelayError("BAD_ANSWER", `the card's SERIAL is not 1..${MAX_SERIAL} printable ASCII characters`);
    return serial;
  }

  /**
   * VERIFY_CHALLENGE (clear, any card, no pairing): the card's proof of its
   * slot's code for a verification device's nonce.
   */
  async verifyProof(slot: number, nonce: Uint8Array): Promise<CardProof> {
    const body = challengeBody(slot, nonce);
    const frame = encodeFrame({ type: T_VERIFY_CHALLENGE, cardId: 0, seq: 0, expiry: this.clearExpiryNow() }, body);
    const f = await this.exchange(this.request(frame, T_VERIFY_PROOF), true);
    return proofOf(f.body, slot, "VERIFY_PROOF");
  }

  /**
   * SECURITY_CHALLENGE under K_pair with the next seq (saved first, as a
   * payment's): the card's proof of its slot's code for a write. Needs a
   * HELLO first (the card's link id) and this phone's pairing with it.
   */
  async securityProof(slot: number, nonce: Uint8Array): Promise<CardProof> {
    const body = challengeBody(slot, nonce);
    const linkId = this.seen;
    if (linkId === undefined) throw new RelayError("BAD_INPUT", "say HELLO first: the relay does not know the card yet");
    const { key, seq } = await this.nextSeq(linkId);
    const frame = sealFrame(this.aead, key, { type: T_SECURITY_CHALLENGE, cardId: linkId, seq, expiry: this.nowS() + CHALLENGE_TTL_S }, body);
    const f = await this.exchange(this.request(frame, T_SECURITY_PROOF, key), true);
    return proofOf(f.body, slot, "SECURITY_PROOF");
  }

  /**
   * PROFILE_WRITE: wrap the issuer's T_PROFILE_DATA envelope under K_pair
   * with the next seq (saved first) and deliver it until the card's ACK (a
   * DUPLICATE's ACK included: the card took it before). The card's refusal
   * is a RelayError naming its code (E_OLD_SEQ: the slot is not at the
   * envelope's previous generation, which a write that landed unacknowledged
   * also gives; the caller's next proof tells which).
   */
  async writeProfile(envelope: Uint8Array): Promise<void> {
    const env = envelopeHeader(envelope, T_PROFILE_DATA);
    if (this.seen !== undefined && env.cardId !== this.seen) throw new RelayError("WRONG_CARD", "the profile is for another card than the one on the link");
    if (this.nowS() > env.expiry) throw new RelayError("E_EXPIRED", "the issuer's profile expired before it was sent", E_EXPIRED);
    const { key, seq } = await this.nextSeq(env.cardId);
    const frame = sealFrame(this.aead, key, { type: T_PROFILE_WRITE, cardId: env.cardId, seq, expiry: env.expiry }, envelope);
    await this.exchange(this.request(frame), true);
  }

  /**
   * PAIR: relay the issuer's T_GRANT envelope; on the card's ACK, keep the
   * pairing (K_pair from the issuer, epoch) with seq 0.
   */
  async pair(grantEnvelope: Uint8Array, pairKey: Uint8Array, epoch: number, deviceId: Uint8Array): Promise<void> {
    const env = envelopeHeader(grantEnvelope, T_GRANT);
    if (!(pairKey instanceof Uint8Array) || pairKey.length !== 32) throw new RelayError("BAD_INPUT", "the pair key must be 32 bytes");
    if (!Number.isInteger(epoch) || epoch < 1 || epoch > 0xffffffff) throw new RelayError("BAD_INPUT", "the pairing epoch must be 1..2^32-1");
    const state = await this.store.load();
    if (!(deviceId instanceof Uint8Array) || bytesToHex(deviceId) !== state.deviceId) throw new RelayError("BAD_INPUT", "the device id is not this phone's");
    const frame = encodeFrame({ type: T_PAIR, cardId: env.cardId, seq: 0, expiry: env.expiry }, grantEnvelope);
    await this.exchange(this.request(frame), true);
    // The card took the grant: from now on only this key opens its frames.
    const after = await this.store.load();
    const before = after.cards[linkKey(env.cardId)];
    // The slots' codes belong to the card, not to a pairing: a new pairing keeps them.
    after.cards[linkKey(env.cardId)] = { linkId: env.cardId, epoch, pairKey: bytesToHex(pairKey), seq: 0, ...(before?.codes ? { codes: before.codes } : {}) };
    await this.store.save(after);
    this.log(`paired with card ${linkKey(env.cardId)}, epoch ${epoch}`);
  }

  /**
   * PAYMENT: wrap the issuer's T_PAYMENT_DATA envelope under K_pair with the
   * next seq (saved first), deliver it, then wait for the card's ANSWER.
   * Returns the 8-digit answer, "declined", or "expired".
   */
  async pay(envelope: Uint8Array): Promise<string> {
    const env = envelopeHeader(envelope, T_PAYMENT_DATA);
    if (!(await this.store.load()).cards[linkKey(env.cardId)]) throw new RelayError("NOT_PAIRED", `this phone is not paired with card ${linkKey(env.cardId)}`);
    if (this.nowS() > env.expiry) return "expired";
    const { key, seq } = await this.nextSeq(env.cardId);
    const frame = sealFrame(this.aead, key, { type: T_PAYMENT, cardId: env.cardId, seq, expiry: env.expiry }, envelope);
    const req = this.request(frame);
    this.awaiting = { key, linkId: env.cardId, seq };
    this.answer = undefined;
    try {
      for (;;) {
        try {
          await this.exchange(req, true);
        } catch (e) {
          if (e instanceof RelayError && e.cardCode === E_EXPIRED) return "expired";
          throw e;
        }
        const deadline = Math.min(this.clock.now() + ANSWER_RESEND_MS, env.expiry * 1000 + 1000);
        const answer = await this.waitAnswer(deadline, req);
        if (answer !== undefined) return answer;
        if (this.nowS() > env.expiry) return "expired";
        this.log("no answer yet: asking the card again");
      }
    } finally {
      this.awaiting = undefined;
      this.answer = undefined;
    }
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  // ------------------------------------------------------------ inside

  private nowS(): number {
    return Math.floor(this.clock.now() / 1000);
  }

  private clearExpiryNow(): number {
    this.clearExpiry = Math.max(this.nowS() + HELLO_TTL_S, this.clearExpiry + 1);
    return this.clearExpiry;
  }

  /** K_pair and the next seq for the card, the seq persisted before anything is sealed with it: a crash after this never seals another frame with it. */
  private async nextSeq(linkId: number): Promise<{ key: Uint8Array; seq: number }> {
    const state = await this.store.load();
    const card = state.cards[linkKey(linkId)];
    if (!card) throw new RelayError("NOT_PAIRED", `this phone is not paired with card ${linkKey(linkId)}`);
    const seq = card.seq + 1;
    if (seq > 0xffffffff) throw new RelayError("NOT_PAIRED", "this pairing has used every sequence number: pair again");
    card.seq = seq;
    await this.store.save(state);
    return { key: hexToBytes(card.pairKey), seq };
  }

  private request(bytes: Uint8Array, reply?: number, key?: Uint8Array): Request {
    const h = newFrame();
    if (readFrame(bytes, h) !== OK) throw new Error("relay: built a bad frame");
    // The sender's frame count mod 4; a resend keeps its frame's id.
    const fid = this.frames++ & 3;
    return { bytes, fid, type: h.type, cardId: h.cardId, seq: h.seq, expiry: h.expiry, ...(reply === undefined ? {} : { reply }), ...(key ? { key } : {}) };
  }

  private attach(t: CardTransport): void {
    this.linkUp = true;
    resetReassembly(this.reasm);
    t.onNotify((fragment) => {
      if (t === this.transport) this.onFragment(fragment);
    });
    t.onDisconnect(() => {
      if (t !== this.transport) return;
      this.linkUp = false;
      this.push({ kind: "disconnect" });
    });
  }

  /** A notification: one fragment of a card frame. Garbage, partial frames and answers that fail their tag are dropped here. */
  private onFragment(fragment: Uint8Array): void {
    if (!(fragment instanceof Uint8Array)) return;
    const r = pushFragment(this.reasm, fragment);
    if (r !== COMPLETE) {
      // A lost notification leaves a partial frame: the next index 0 starts over.
      if (r !== MORE) resetReassembly(this.reasm);
      return;
    }
    const bytes = this.reasm.buf.slice(0, this.reasm.len);
    const f = newFrame();
    if (readFrame(bytes, f) !== OK) return;
    if (f.type === T_ANSWER) {
      const a = this.awaiting;
      if (!a || this.answer !== undefined) return;
      const out = newFrame();
      const code = openFrame(this.aead, a.key, bytes, T_ANSWER, a.linkId, -1, this.nowS(), out);
      // Only an answer sealed under K_pair for our seq counts; anything else is someone else's bytes.
      if (code !== OK || out.seq !== a.seq) return;
      const answer = readAnswerBody(out.body);
      if (answer === undefined) return;
      this.answer = answer;
      this.push({ kind: "answer" });
      return;
    }
    if (f.type === T_SECURITY_PROOF) {
      const req = this.inflight;
      if (!req || req.reply !== T_SECURITY_PROOF || !req.key) return;
      const out = newFrame();
      // Only a proof sealed under K_pair counts; its seq is checked against the challenge's in answers().
      if (openFrame(this.aead, req.key, bytes, T_SECURITY_PROOF, req.cardId, -1, this.nowS(), out) !== OK) return;
      this.push({ kind: "frame", frame: out });
      return;
    }
    // The card's clear answers; a sealed type other than the two above is no one's here.
    if (f.type >> 6 === 2 && !isSealed(f.type)) {
      f.body = f.body.slice();
      this.push({ kind: "frame", frame: f });
    }
  }

  private push(e: Event): void {
    this.queue.push(e);
    const w = this.wake;
    this.wake = null;
    if (w) w();
  }

  /** The next event, or a timeout at `deadline` (clock ms). */
  private next(deadline: number): Promise<Event> {
    const e = this.queue.shift();
    if (e) return Promise.resolve(e);
    return new Promise((resolve) => {
      const t = this.clock.setTimeout(
        () => {
          this.wake = null;
          resolve({ kind: "timeout" });
        },
        Math.max(0, deadline - this.clock.now()),
      );
      this.wake = () => {
        this.clock.clearTimeout(t);
        resolve(this.queue.shift()!);
      };
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.setTimeout(resolve, ms));
  }

  /**
   * Does this frame answer req? ACK: req's header echoed. ERROR: req's seq
   * and expiry, or 0 and 0 (header unread). INFO: HELLO's answer. A reply
   * (SERIAL, a proof): req's seq, and its expiry or 0 (none). "wrong": a
   * clear answer of another type echoing req's seq and expiry (each clear
   * request has an expiry of its own, so it is not a late answer to another).
   */
  private answers(f: Frame, req: Request): "ack" | "error" | "info" | "reply" | "wrong" | undefined {
    if (req.type === T_HELLO) return f.type === T_INFO && f.body.length === 5 ? "info" : f.type === T_ERROR && f.body.length === 2 ? "error" : undefined;
    // A request to card id 0 is answered under the card's own id.
    if (req.cardId !== 0 && f.cardId !== req.cardId) return undefined;
    if (req.reply !== undefined) {
      if (f.type === req.reply) return f.seq === req.seq && (f.expiry === req.expiry || f.expiry === 0) ? "reply" : undefined;
      if (f.type === T_ERROR) return f.body.length === 2 && ((f.seq === req.seq && f.expiry === req.expiry) || (f.seq === 0 && f.expiry === 0)) ? "error" : undefined;
      return f.type !== T_INFO && f.type !== T_ACK && f.seq === req.seq && f.expiry === req.expiry ? "wrong" : undefined;
    }
    if (f.type === T_ACK) return f.seq === req.seq && f.expiry === req.expiry && f.body.length === 0 ? "ack" : undefined;
    if (f.type === T_ERROR && f.body.length === 2) {
      return (f.seq === req.seq && f.expiry === req.expiry) || (f.seq === 0 && f.expiry === 0) ? "error" : undefined;
    }
    return undefined;
  }

  /**
   * One frame to the card until it answers: its ACK (or INFO for HELLO) is
   * returned; a final ERROR throws. `hello`: whether a new link starts with
   * HELLO before the frame is resent on it.
   */
  private async exchange(req: Request, helloOnRelink: boolean): Promise<Frame> {
    let from = 0;
    let timeouts = 0;
    let orders = 0;
    let floods = 0;
    let relinks = 0;
    this.inflight = req;
    for (;;) {
      if (!this.linkUp) {
        await this.relink(relinks++, helloOnRelink, "the link dropped");
        from = 0;
      }
      this.queue = this.queue.filter((e) => e.kind === "answer");
      const sent = await this.writeFrom(req, from);
      const deadline = this.clock.now() + ACK_TIMEOUT_MS;
      let next: "resend" | "relink" | undefined;
      while (!next) {
        const e = sent ? await this.next(deadline) : { kind: "disconnect" as const };
        if (e.kind === "answer") continue;
        if (e.kind === "disconnect") {
          next = "relink";
          break;
        }
        if (e.kind === "timeout") {
          if (++timeouts > MAX_RESENDS) {
            if (!this.reconnect) throw new RelayError("NO_ANSWER", `the card did not answer after ${MAX_RESENDS} resends`);
            this.linkUp = false;
            next = "relink";
            timeouts = 0;
          } else {
            this.log(`no answer in ${ACK_TIMEOUT_MS / 1000} s: resending`);
            from = 0;
            next = "resend";
          }
          break;
        }
        const kind = this.answers(e.frame, req);
        if (kind === "ack" || kind === "info" || kind === "reply") return e.frame;
        if (kind === "wrong") throw new RelayError("BAD_ANSWER", `the card answered ${typeName(req.type)} with ${typeName(e.frame.type)}, not ${typeName(req.reply!)}`);
        if (kind !== "error") continue; // not about this frame (stale, or someone else's): keep waiting
        const code = e.frame.body[0];
        const detail = e.frame.body[1];
        if (code === E_ORDER && ++orders <= MAX_ORDER_RESENDS) {
          // The partial frame stays on the card: resend from the index it expects.
          from = detail < fragmentCountOf(req, this.maxWrite) ? detail : 0;
          next = "resend";
        } else if (code === E_FLOOD && ++floods <= MAX_FLOOD_WAITS) {
          this.log("the card is flooded: waiting");
          await this.sleep(FLOOD_WAIT_MS);
          from = 0;
          next = "resend";
        } else {
          const name = CODE_NAMES[code] ?? `code ${code}`;
          throw new RelayError(name, `the card refused the frame: ${name}`, code);
        }
      }
      if (next === "relink") {
        if (this.linkUp) await this.closeQuietly();
        this.linkUp = false;
      }
    }
  }

  /** Writes req's fragments from index `from`; stops early when the card has said something. False when the link is down. */
  private async writeFrom(req: Request, from: number): Promise<boolean> {
    const frags = fragmentFrame(req.bytes, this.maxWrite, req.fid);
    for (let i = from; i < frags.length; i++) {
      if (!this.linkUp) return false;
      if (this.queue.some((e) => e.kind === "frame" && e.frame.type === T_ERROR)) return true;
      try {
        await this.transport.write(frags[i]);
      } catch {
        this.linkUp = false;
        return false;
      }
    }
    return this.linkUp;
  }

  private async closeQuietly(): Promise<void> {
    try {
      await this.transport.close();
    } catch {
      // already down
    }
  }

  /** A new link (reconnect), then HELLO on it so the write size is known again. */
  private async relink(count: number, hello: boolean, why: string): Promise<void> {
    if (!this.reconnect) throw new RelayError("LINK_LOST", `${why} and no new link can be made`);
    if (count >= MAX_RELINKS) throw new RelayError("LINK_LOST", `${why}; gave up after ${MAX_RELINKS} new links`);
    this.log(`${why}: connecting again`);
    await this.closeQuietly();
    const t = await this.reconnect();
    this.transport = t;
    this.cardWrite = MAX_WRITE;
    this.attach(t);
    if (hello) {
      const req = this.inflight;
      const h = await this.hello();
      this.inflight = req;
      const want = this.awaiting?.linkId ?? this.seen;
      if (want !== undefined && h.linkId !== want) throw new RelayError("WRONG_CARD", "the new link is to another card");
    }
  }

  /** While a payment waits: its answer, or undefined at the deadline. A dropped link is renewed and the payment resent. */
  private async waitAnswer(deadline: number, req: Request): Promise<string | undefined> {
    for (;;) {
      if (this.answer !== undefined) return this.answer;
      const e = await this.next(deadline);
      if (e.kind === "answer") continue;
      if (e.kind === "timeout") return this.answer;
      if (e.kind === "disconnect") {
        this.linkUp = false;
        // Resending makes the card answer again (a DUPLICATE): ACK and its answer if it has one.
        await this.exchange(req, true);
      }
    }
  }
}

function fragmentCountOf(req: Request, maxWrite: number): number {
  return Math.ceil(req.bytes.length / (maxWrite - 1));
}

/** The clear header of an issuer envelope of the expected type, or BAD_INPUT. */
function envelopeHeader(envelope: Uint8Array, type: number): Frame {
  const h = newFrame();
  if (!(envelope instanceof Uint8Array) || readFrame(envelope, h) !== OK || h.type !== type || h.cardId === 0 || h.body.length < 16) {
    throw new RelayError("BAD_INPUT", `the issuer's data is not a ${type === T_GRANT ? "grant" : type === T_PROFILE_DATA ? "profile" : "payment"} envelope`);
  }
  return h;
}

/** A challenge body from the caller's slot and nonce, or BAD_INPUT naming the field. */
function challengeBody(slot: number, nonce: Uint8Array): Uint8Array {
  if (!Number.isInteger(slot) || slot < 1 || slot >= SLOTS) throw new RelayError("BAD_INPUT", `the slot must be 1..${SLOTS - 1}`);
  if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_BYTES) throw new RelayError("BAD_INPUT", `the nonce must be ${NONCE_BYTES} bytes`);
  return encodeChallenge(slot, nonce);
}

/** A proof body the card sent for `slot`, or BAD_ANSWER. */
function proofOf(body: Uint8Array, slot: number, what: string): CardProof {
  const p = readProof(body);
  if (!p) throw new RelayError("BAD_ANSWER", `the card's ${what} is not a proof (${5 + PROOF_BYTES} bytes: slot 1..${SLOTS - 1}, generation, ${PROOF_BYTES}-byte proof)`);
  if (p.slot !== slot) throw new RelayError("BAD_ANSWER", `the card's ${what} is for slot ${p.slot}, not ${slot}`);
  return { slot: p.slot, generation: p.generation, proof: p.proof };
}
