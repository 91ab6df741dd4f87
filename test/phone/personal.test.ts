/**
 * Personalisation from the phone (docs/personalisation.md) without the
 * firmware and without the issuer server: the relay's new exchanges
 * (READ_SERIAL, SECURITY_CHALLENGE, PROFILE_WRITE, VERIFY_CHALLENGE) and the
 * errands personaliseCard / verifyCard (flow.ts), against
 *
 * - a card written here from the core functions the firmware runs (inbox.ts
 *   receive, personal.ts checkProfileData / writeSlot / readSecurity /
 *   securityProof) over an in-memory CardTransport, with hooks to play a
 *   hostile card, to lose a notification or to drop the link at a chosen
 *   moment, and whose flash can be copied (a clone);
 * - an issuer written here from the contract (the routes in the doc: two
 *   responses under K_pair, the current and at most one pending code, the
 *   pending one rolling once proven), its envelopes sealed with the
 *   reference AEAD (node:crypto), independent of the relay's.
 *
 * The end-to-end run against the firmware and the real issuer is
 * test/sim-server/personal-cli.test.ts.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { bytesToHex, equalBytes, hexToBytes } from "../../firmware/core/bytes.ts";
import * as F from "../../firmware/core/frames.ts";
import { newReceived, receive, type Link } from "../../firmware/core/inbox.ts";
import * as P from "../../firmware/core/pairing.ts";
import * as S from "../../firmware/core/personal.ts";
import { encodeProfile } from "../../firmware/core/profile.ts";
import type { FlashStore } from "../../firmware/core/types.ts";
import { etmAead } from "../../firmware/core/aead.ts";
import { IssuerHttpError } from "../../host-tools/issuer/client.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { FlowError, NOT_MY_CODE, personaliseCard, verifyCard } from "../../host-tools/phone/flow.ts";
import type { Application, PersonalApi } from "../../host-tools/phone/personal-client.ts";
import { PhoneRelay, RelayError, checkPhoneState, linkKey, type RelayClock } from "../../host-tools/phone/relay.ts";
import type { CardTransport } from "../../host-tools/phone/transport.ts";
import { referenceAead as issuerAead } from "../core/link-vectors.ts";
import { MemoryStore } from "./central.ts";

const SHA = nodeHash("SHA256");
const cardAead = etmAead(SHA);
const T0 = 1_800_000_000;
const hex = (b: Uint8Array) => bytesToHex(b);

/** Virtual time 100x faster than the wall clock, so the relay's 3 s resends cost 30 ms. */
function fastClock(): RelayClock {
  const start = Date.now();
  return {
    now: () => T0 * 1000 + (Date.now() - start) * 100,
    setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms / 100),
    clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
  };
}

class MapFlash implements FlashStore {
  files = new Map<string, Uint8Array>();
  read(name: string): Uint8Array | undefined {
    return this.files.get(name);
  }
  write(name: string, data: Uint8Array, offset: number, size?: number): boolean {
    let f = this.files.get(name);
    if (size !== undefined && offset === 0) {
      f = new Uint8Array(size).fill(0xff);
      this.files.set(name, f);
    }
    if (!f) return false;
    f.set(data, offset);
    return true;
  }
  erase(name: string): void {
    this.files.delete(name);
  }
  copy(): MapFlash {
    const c = new MapFlash();
    for (const [k, v] of this.files) c.files.set(k, v.slice());
    return c;
  }
}

const PROFILE_FILE = "profile";

/** What the card answers to one whole frame, or a hostile override: the frames to notify, in order. */
type Override = (req: F.Frame, card: FakeCard) => Uint8Array[] | undefined;

/**
 * A card of the core functions, bound to the phone (epoch 1). Its link state
 * (lastSeq) and its slots live in `flash`; `copy(serial)` makes a clone from
 * that flash as a dump would.
 */
class FakeCard {
  link: Link;
  log: string[] = [];
  override: Override | undefined;
  /** Called after the card handled a frame and before its answer goes out; true drops the link there. */
  dropAfter: ((type: number) => boolean) | undefined;
  constructor(
    readonly cardKey: Uint8Array,
    readonly serial: string,
    pairKey: Uint8Array,
    readonly flash = new MapFlash(),
    lastSeq = 0,
    lastIssuerSeq = 0,
  ) {
    this.link = { cardId: P.deriveCardId(SHA, cardKey), seal: P.deriveSealKey(SHA, cardKey), pair: pairKey, lastSeq, lastIssuerSeq };
  }

  copy(serial = this.serial): FakeCard {
    return new FakeCard(this.cardKey, serial, this.link.pair!, this.flash.copy(), this.link.lastSeq, this.link.lastIssuerSeq);
  }

  generation(slot: number): number {
    return S.readSecurity(this.flash, SHA, PROFILE_FILE, slot)?.generation ?? 0;
  }

  /** One whole frame from the phone; the frames to notify. */
  handle(bytes: Uint8Array, nowS: number): Uint8Array[] {
    const rec = newReceived();
    const l = this.link;
    const code = receive(cardAead, l, bytes, nowS, rec);
    if (code === F.OK || code === F.DUPLICATE) {
      const o = this.override?.(rec, this);
      if (o) return o;
    }
    this.log.push(`${rec.type.toString(16)} ${code}`);
    if (code === F.DUPLICATE) return rec.type === F.T_SECURITY_CHALLENGE ? this.prove(rec, S.PURPOSE_WRITE) : [F.encodeAck(rec, l.cardId)];
    if (code !== F.OK) return [F.encodeError(l.cardId, rec.seq, rec.expiry, code, 0)];
    let c: number = F.OK;
    if (rec.type === F.T_HELLO) {
      const body = new Uint8Array(5);
      body[0] = F.MAX_WRITE;
      body[4] = 1;
      return [F.encodeFrame({ type: F.T_INFO, cardId: l.cardId, seq: rec.seq, expiry: rec.expiry }, body)];
    }
    if (rec.type === F.T_READ_SERIAL) return [F.encodeFrame({ type: F.T_SERIAL, cardId: l.cardId, seq: 0, expiry: rec.expiry }, S.encodeSerial(this.serial))];
    if (rec.type === F.T_VERIFY_CHALLENGE) return this.prove(rec, S.PURPOSE_VERIFY);
    if (rec.type === F.T_SECURITY_CHALLENGE) {
      l.lastSeq = rec.seq;
      return this.prove(rec, S.PURPOSE_WRITE);
    }
    if (rec.type === F.T_PROFILE_WRITE) {
      c = S.checkProfileData(rec.body, SHA, this.serial, this.flash, PROFILE_FILE);
      if (c === F.OK) {
        if (!S.writeSlot(this.flash, SHA, PROFILE_FILE, rec.body)) c = F.E_BUSY;
        else {
          l.lastSeq = rec.seq;
          l.lastIssuerSeq = rec.issuerSeq;
          return [F.encodeAck(rec, l.cardId)];
        }
      }
    } else c = F.E_TYPE;
    return [F.encodeError(l.cardId, rec.seq, rec.expiry, c, 0)];
  }

  prove(rec: F.Frame, purpose: number): Uint8Array[] {
    const l = this.link;
    const c = S.checkChallenge(rec.body);
    if (c !== F.OK) return [F.encodeError(l.cardId, rec.seq, rec.expiry, c, 0)];
    const slot = rec.body[0];
    const sec = S.readSecurity(this.flash, SHA, PROFILE_FILE, slot);
    const gen = sec ? sec.generation : 0;
    const body = S.encodeProof(slot, gen, sec ? S.securityProof(SHA, sec.code, purpose, slot, gen, this.serial, rec.body.subarray(1)) : null);
    if (purpose === S.PURPOSE_VERIFY) return [F.encodeFrame({ type: F.T_VERIFY_PROOF, cardId: l.cardId, seq: 0, expiry: rec.expiry }, body)];
    return [F.sealFrame(cardAead, l.pair!, { type: F.T_SECURITY_PROOF, cardId: l.cardId, seq: rec.seq, expiry: 0 }, body)];
  }
}

/** One link to a FakeCard. */
class FakeLink implements CardTransport {
  readonly maxWrite = 20;
  private notify: (f: Uint8Array) => void = () => {};
  private gone: () => void = () => {};
  private readonly reasm = F.newReassembly();
  up = true;
  private fid = 0;
  constructor(
    readonly card: FakeCard,
    private readonly clock: RelayClock,
  ) {}
  async write(fragment: Uint8Array): Promise<void> {
    if (!this.up) throw new Error("link down");
    const r = F.pushFragment(this.reasm, fragment);
    if (r !== F.COMPLETE) return;
    const frame = this.reasm.buf.slice(0, this.reasm.len);
    const type = frame[1];
    const out = this.card.handle(frame, Math.floor(this.clock.now() / 1000));
    if (this.card.dropAfter?.(type)) {
      setImmediate(() => this.drop());
      return;
    }
    setImmediate(() => {
      for (const f of out) for (const part of F.fragmentFrame(f, F.DEFAULT_WRITE, this.fid++ & 3)) if (this.up) this.notify(part);
    });
  }
  onNotify(l: (f: Uint8Array) => void): void {
    this.notify = l;
  }
  onDisconnect(l: () => void): void {
    this.gone = l;
  }
  drop(): void {
    if (!this.up) return;
    this.up = false;
    this.gone();
  }
  async close(): Promise<void> {
    this.up = false;
  }
}

interface IssuedSlot {
  current?: { generation: number; salt: Uint8Array };
  pending?: { generation: number; salt: Uint8Array };
}

/** The issuer's side of the contract, in memory: one card on one chip. */
class FakeIssuer implements PersonalApi {
  slots = new Map<number, IssuedSlot>();
  sessions = new Map<string, { kind: "p" | "v"; slot: number; nonce: Uint8Array; otp?: Uint8Array; authCode?: Uint8Array; state: string; released?: number; confirmNonce?: Uint8Array; deviceId?: string }>();
  calls: string[] = [];
  private issuerSeq = 0;
  constructor(
    readonly cardKey: Uint8Array,
    readonly serial: string,
    readonly clock: RelayClock,
  ) {}

  private code(slot: number, g: { generation: number; salt: Uint8Array }): Uint8Array {
    return S.deriveSecurityCode(SHA, this.cardKey, g.salt, slot, g.generation);
  }
  private session(id: string, kind: "p" | "v") {
    const s = this.sessions.get(id);
    if (!s || s.kind !== kind) throw new IssuerHttpError(404, "issuer answered 404: unknown");
    return s;
  }
  /** The slot's code that checks the proof (current or pending; a proven pending one rolls), or undefined. */
  private proven(slot: number, purpose: number, generation: number, proof: Uint8Array, nonce: Uint8Array): boolean {
    const sl = this.slots.get(slot) ?? {};
    for (const which of ["current", "pending"] as const) {
      const g = sl[which];
      if (!g || g.generation !== generation) continue;
      if (!equalBytes(S.securityProof(SHA, this.code(slot, g), purpose, slot, generation, this.serial, nonce), proof)) continue;
      if (which === "pending") this.slots.set(slot, { current: g });
      return true;
    }
    return false;
  }

  async createPersonalisation(req: { chipSerial: string; slot: number; deviceId: string; application: Application }) {
    this.calls.push("create");
    if (req.chipSerial !== this.serial) throw new IssuerHttpError(404, "issuer answered 404: no card on this chip");
    const id = `p-${this.sessions.size + 1}`;
    const s = { kind: "p" as const, slot: req.slot, nonce: randomBytes(16), otp: randomBytes(16), state: "otp", deviceId: req.deviceId };
    this.sessions.set(id, s);
    return { id, nonce: hex(s.nonce), otp: hex(s.otp), expiresAt: new Date(this.clock.now() + 120_000).toISOString() };
  }
  private pairKey(deviceId: string): Uint8Array {
    return P.derivePairKey(SHA, this.cardKey, hexToBytes(deviceId), 1);
  }
  async personalisationOtp(id: string, response: string) {
    this.calls.push("otp");
    const s = this.session(id, "p");
    if (s.state !== "otp") throw new IssuerHttpError(409, "issuer answered 409: wrong state");
    if (response !== hex(S.applyResponse(SHA, this.pairKey(s.deviceId!), S.STEP_OTP, s.nonce, this.serial, s.otp!))) throw new IssuerHttpError(403, "issuer answered 403: wrong response");
    s.authCode = randomBytes(16);
    s.state = "auth";
    return { authCode: hex(s.authCode) };
  }
  async personalisationAuth(id: string, req: { response: string; generation: number; proof: string }) {
    this.calls.push("auth");
    const s = this.session(id, "p");
    if (s.state !== "auth") throw new IssuerHttpError(409, "issuer answered 409: wrong state");
    if (req.response !== hex(S.applyResponse(SHA, this.pairKey(s.deviceId!), S.STEP_AUTH, s.nonce, this.serial, s.authCode!))) throw new IssuerHttpError(403, "issuer answered 403: wrong response");
    const sl = this.slots.get(s.slot) ?? {};
    const held = sl.current || sl.pending;
    if (held && !this.proven(s.slot, S.PURPOSE_WRITE, req.generation, hexToBytes(req.proof), s.nonce)) throw new IssuerHttpError(403, "issuer answered 403: wrong proof");
    if (!held && req.generation !== 0) throw new IssuerHttpError(403, "issuer answered 403: wrong proof");
    const now = this.slots.get(s.slot) ?? {};
    const previous = now.current?.generation ?? 0;
    // The same pending generation (same salt, same code) for every retry until it is proven.
    const pending = now.pending && now.pending.generation === previous + 1 ? now.pending : { generation: previous + 1, salt: randomBytes(16) };
    this.slots.set(s.slot, { ...now, pending });
    const code = this.code(s.slot, pending);
    const record = encodeProfile({ mode: "counter", algorithm: "SHA1", digits: 6, stepSeconds: 30, startCounter: 0, cardId: `P${s.slot}G${pending.generation}`, key: randomBytes(20) }, SHA);
    const body = S.encodeProfileData(SHA, { slot: s.slot, previous, generation: pending.generation, code, serial: this.serial, record });
    const cardId = P.deriveCardId(SHA, this.cardKey);
    const frame = F.sealFrame(issuerAead, P.deriveSealKey(SHA, this.cardKey), { type: F.T_PROFILE_DATA, cardId, seq: ++this.issuerSeq, expiry: Math.floor(this.clock.now() / 1000) + 120 }, body);
    s.state = "confirm";
    s.released = pending.generation;
    s.confirmNonce = randomBytes(16);
    return { frame: hex(frame), generation: pending.generation, securityCode: hex(code), profileCardId: `profile-${s.slot}-${pending.generation}`, confirmNonce: hex(s.confirmNonce) };
  }
  async confirmPersonalisation(id: string, req: { generation: number; proof: string }) {
    this.calls.push("confirm");
    const s = this.session(id, "p");
    if (s.state !== "confirm") throw new IssuerHttpError(409, "issuer answered 409: wrong state");
    if (req.generation !== s.released || !this.proven(s.slot, S.PURPOSE_WRITE, req.generation, hexToBytes(req.proof), s.confirmNonce!)) throw new IssuerHttpError(403, "issuer answered 403: wrong proof");
    s.state = "done";
    return { generation: req.generation };
  }
  async createVerification(req: { chipSerial: string; slot: number }) {
    this.calls.push("verification");
    if (req.chipSerial !== this.serial || !this.slots.get(req.slot)) throw new IssuerHttpError(404, "issuer answered 404: no profile on this chip and slot");
    const id = `v-${this.sessions.size + 1}`;
    const s = { kind: "v" as const, slot: req.slot, nonce: randomBytes(16), state: "open" };
    this.sessions.set(id, s);
    return { id, nonce: hex(s.nonce), expiresAt: new Date(this.clock.now() + 120_000).toISOString() };
  }
  async answerVerification(id: string, req: { generation: number; proof: string }) {
    this.calls.push("verdict");
    const s = this.session(id, "v");
    if (s.state !== "open") throw new IssuerHttpError(409, "issuer answered 409: wrong state");
    s.state = "done";
    const genuine = req.generation > 0 && this.proven(s.slot, S.PURPOSE_VERIFY, req.generation, hexToBytes(req.proof), s.nonce);
    return { genuine, generation: this.slots.get(s.slot)?.current?.generation ?? 0 };
  }
}

interface Rig {
  clock: RelayClock;
  card: FakeCard;
  issuer: FakeIssuer;
  store: MemoryStore;
  links: FakeLink[];
  /** The card the next link reaches. */
  inRange: FakeCard;
  connect: () => Promise<CardTransport>;
}

const SERIAL = "f3a9c1d2-7b6e5a41";

function rig(): Rig {
  const clock = fastClock();
  const cardKey = randomBytes(20);
  const deviceId = randomBytes(16);
  const pairKey = P.derivePairKey(SHA, cardKey, deviceId, 1);
  const card = new FakeCard(cardKey, SERIAL, pairKey);
  const store = new MemoryStore({ deviceId: hex(deviceId), cards: { [linkKey(card.link.cardId)]: { linkId: card.link.cardId, epoch: 1, pairKey: hex(pairKey), seq: 0, card: "card-1" } } });
  const r: Rig = {
    clock,
    card,
    issuer: new FakeIssuer(cardKey, SERIAL, clock),
    store,
    links: [],
    inRange: card,
    connect: async () => {
      const l = new FakeLink(r.inRange, clock);
      r.links.push(l);
      return l;
    },
  };
  return r;
}

const APP: Application = { label: "Gym", mode: "counter" };
const deps = (r: Rig, log?: string[]) => ({ issuer: r.issuer, store: r.store, connect: r.connect, clock: r.clock, log: log ? (l: string) => log.push(l) : undefined });

async function relayOn(r: Rig): Promise<PhoneRelay> {
  const relay = new PhoneRelay(await r.connect(), { store: r.store, clock: r.clock, reconnect: r.connect });
  await relay.hello();
  return relay;
}

async function refusal(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e, "expected a refusal").to.be.instanceOf(Error);
  return e as Error;
}

describe("personalisation: the relay's exchanges", function () {
  this.timeout(20_000);

  it("READ_SERIAL gives the chip serial; VERIFY_CHALLENGE and SECURITY_CHALLENGE give the slot's proof (generation 0, zeros, when empty)", async () => {
    const r = rig();
    const relay = await relayOn(r);
    expect(await relay.readSerial()).to.equal(SERIAL);
    const v = await relay.verifyProof(2, randomBytes(16));
    expect(v).to.deep.equal({ slot: 2, generation: 0, proof: new Uint8Array(16) });
    const s = await relay.securityProof(1, randomBytes(16));
    expect(s.generation).to.equal(0);
    // The challenge took seq 1, saved before it went out.
    expect(r.store.state.cards[linkKey(r.card.link.cardId)].seq).to.equal(1);
    expect(r.card.link.lastSeq).to.equal(1);
    await relay.close();
  });

  it("writes a profile and waits for its ACK; a resend after a lost ACK is a DUPLICATE whose ACK counts", async () => {
    const r = rig();
    const relay = await relayOn(r);
    const created = await r.issuer.createPersonalisation({ chipSerial: SERIAL, slot: 1, deviceId: r.store.state.deviceId, application: APP });
    const key = hexToBytes(r.store.state.cards[linkKey(r.card.link.cardId)].pairKey);
    const { authCode } = await r.issuer.personalisationOtp(created.id, hex(S.applyResponse(SHA, key, S.STEP_OTP, hexToBytes(created.nonce), SERIAL, hexToBytes(created.otp))));
    const released = await r.issuer.personalisationAuth(created.id, {
      response: hex(S.applyResponse(SHA, key, S.STEP_AUTH, hexToBytes(created.nonce), SERIAL, hexToBytes(authCode))),
      generation: 0,
      proof: hex(new Uint8Array(16)),
    });
    // The card takes the write and its first ACK is lost: the relay resends the same bytes after 3 s.
    const card = r.card;
    const handle = card.handle.bind(card);
    let writes = 0;
    card.handle = (bytes, now) => {
      const out = handle(bytes, now);
      return bytes[1] === F.T_PROFILE_WRITE && writes++ === 0 ? [] : out;
    };
    await relay.writeProfile(hexToBytes(released.frame));
    expect(r.card.generation(1)).to.equal(1);
    expect(card.log.filter((l) => l.startsWith("33 "))).to.deep.equal([`33 ${F.OK}`, `33 ${F.DUPLICATE}`]);
    await relay.close();
  });

  it("survives a link dropped after the card took the challenge: a new link, HELLO, the same challenge again (a DUPLICATE), proved again", async () => {
    const r = rig();
    const relay = await relayOn(r);
    let dropped = false;
    r.card.dropAfter = (type) => type === F.T_SECURITY_CHALLENGE && !dropped && (dropped = true);
    const p = await relay.securityProof(1, randomBytes(16));
    expect(p.generation).to.equal(0);
    expect(r.links.length).to.equal(2);
    expect(r.card.log.filter((l) => l.startsWith("21 "))).to.deep.equal([`21 ${F.OK}`, `21 ${F.DUPLICATE}`]);
    await relay.close();
  });

  it("hostile answers give clear errors: the wrong type, a proof of the wrong length or slot, a SERIAL with a non-printable byte", async () => {
    const r = rig();
    const relay = await relayOn(r);
    const cardId = r.card.link.cardId;

    r.card.override = (req) => (req.type === F.T_READ_SERIAL ? [F.encodeFrame({ type: F.T_VERIFY_PROOF, cardId, seq: 0, expiry: req.expiry }, S.encodeProof(1, 0, null))] : undefined);
    let e = await refusal(relay.readSerial());
    expect(e).to.be.instanceOf(RelayError);
    expect((e as RelayError).code).to.equal("BAD_ANSWER");
    expect(e.message).to.equal("the card answered READ_SERIAL with VERIFY_PROOF, not SERIAL");

    r.card.override = (req) => (req.type === F.T_READ_SERIAL ? [F.encodeFrame({ type: F.T_SERIAL, cardId, seq: 0, expiry: req.expiry }, Uint8Array.of(5, 0x41, 0x42, 0x0a, 0x43, 0x44))] : undefined);
    e = await refusal(relay.readSerial());
    expect((e as RelayError).code).to.equal("BAD_ANSWER");
    expect(e.message).to.equal(`the card's SERIAL is not 1..${S.MAX_SERIAL} printable ASCII characters`);

    r.card.override = (req) => (req.type === F.T_READ_SERIAL ? [F.encodeFrame({ type: F.T_SERIAL, cardId, seq: 0, expiry: req.expiry }, Uint8Array.of(9, 0x41, 0x42))] : undefined);
    e = await refusal(relay.readSerial());
    expect(e.message).to.match(/SERIAL is not/);

    r.card.override = (req) => (req.type === F.T_VERIFY_CHALLENGE ? [F.encodeFrame({ type: F.T_VERIFY_PROOF, cardId, seq: 0, expiry: req.expiry }, new Uint8Array(20))] : undefined);
    e = await refusal(relay.verifyProof(1, randomBytes(16)));
    expect((e as RelayError).code).to.equal("BAD_ANSWER");
    expect(e.message).to.match(/^the card's VERIFY_PROOF is not a proof \(21 bytes/);

    r.card.override = (req) => (req.type === F.T_VERIFY_CHALLENGE ? [F.encodeFrame({ type: F.T_VERIFY_PROOF, cardId, seq: 0, expiry: req.expiry }, S.encodeProof(2, 0, null))] : undefined);
    e = await refusal(relay.verifyProof(1, randomBytes(16)));
    expect(e.message).to.equal("the card's VERIFY_PROOF is for slot 2, not 1");

    // A generation of 0 with a non-zero proof is not a proof.
    r.card.override = (req, c) =>
      req.type === F.T_SECURITY_CHALLENGE ? [F.sealFrame(cardAead, c.link.pair!, { type: F.T_SECURITY_PROOF, cardId, seq: req.seq, expiry: 0 }, S.encodeProof(1, 0, new Uint8Array(16).fill(7)))] : undefined;
    e = await refusal(relay.securityProof(1, randomBytes(16)));
    expect(e.message).to.match(/^the card's SECURITY_PROOF is not a proof/);

    // A proof sealed under another key is someone else's bytes: ignored, then no answer after the resends.
    r.card.override = (req) => (req.type === F.T_SECURITY_CHALLENGE ? [F.sealFrame(cardAead, randomBytes(32), { type: F.T_SECURITY_PROOF, cardId, seq: req.seq, expiry: 0 }, S.encodeProof(1, 0, null))] : undefined);
    const lone = new PhoneRelay(await r.connect(), { store: r.store, clock: r.clock });
    await lone.hello();
    e = await refusal(lone.securityProof(1, randomBytes(16)));
    expect((e as RelayError).code).to.equal("NO_ANSWER");

    // The card's refusal names its code.
    r.card.override = (req) => (req.type === F.T_VERIFY_CHALLENGE ? [F.encodeError(cardId, 0, req.expiry, F.E_MALFORMED, 0)] : undefined);
    e = await refusal(relay.verifyProof(1, randomBytes(16)));
    expect((e as RelayError).code).to.equal("E_MALFORMED");

    // Bad input never reaches the card.
    e = await refusal(relay.verifyProof(0, randomBytes(16)));
    expect(e.message).to.equal("the slot must be 1..3");
    e = await refusal(relay.securityProof(1, randomBytes(15)));
    expect(e.message).to.equal("the nonce must be 16 bytes");
    e = await refusal(relay.writeProfile(randomBytes(40)));
    expect(e.message).to.equal("the issuer's data is not a profile envelope");
    await relay.close();
  });
});

describe("personalisation: personaliseCard and verifyCard", function () {
  this.timeout(30_000);

  it("writes slot 1, keeps its code (secret: in no log line), and a verification finds the card genuine", async () => {
    const r = rig();
    const log: string[] = [];
    const res = await personaliseCard(deps(r, log), "card-1", { slot: 1, application: APP });
    expect(res).to.deep.equal({ slot: 1, generation: 1, profileCardId: "profile-1-1", chipSerial: SERIAL });
    expect(r.card.generation(1)).to.equal(1);
    const kept = r.store.state.cards[linkKey(r.card.link.cardId)].codes;
    expect(Object.keys(kept!)).to.deep.equal(["1"]);
    expect(kept!["1"].map((c) => c.generation)).to.deep.equal([1]);
    expect(checkPhoneState(r.store.state)).to.deep.equal(r.store.state);
    const secret = kept!["1"][0].code;
    expect(log.join("\n")).to.not.include(secret);
    expect(r.issuer.calls).to.deep.equal(["create", "otp", "auth", "confirm"]);

    const v = await verifyCard({ issuer: r.issuer, connect: r.connect, clock: r.clock }, 1);
    expect(v).to.deep.equal({ genuine: true, generation: 1, chipSerial: SERIAL });
    const empty = await verifyCard({ issuer: r.issuer, connect: r.connect, clock: r.clock }, 2);
    expect(empty.genuine).to.equal(false);
    expect(empty.reason).to.match(/no profile/);
  });

  it("a clone copied before a rewrite: not genuine, and a rewrite through it stops on this phone's own check before the issuer sees its proof", async () => {
    const r = rig();
    await personaliseCard(deps(r), "card-1", { slot: 1, application: APP });
    const clone = r.card.copy();
    const other = r.card.copy("0badc0de-00000001");
    await personaliseCard(deps(r), "card-1", { slot: 1, application: { label: "Gym 2", mode: "time" } });
    expect(r.card.generation(1)).to.equal(2);

    expect((await verifyCard({ issuer: r.issuer, connect: r.connect, clock: r.clock }, 1)).genuine).to.equal(true);
    r.inRange = clone;
    const v = await verifyCard({ issuer: r.issuer, connect: r.connect, clock: r.clock }, 1);
    expect(v).to.deep.equal({ genuine: false, generation: 1, chipSerial: SERIAL });
    r.inRange = other;
    const w = await verifyCard({ issuer: r.issuer, connect: r.connect, clock: r.clock }, 1);
    expect(w.genuine).to.equal(false);

    r.inRange = clone;
    r.issuer.calls = [];
    const e = await refusal(personaliseCard(deps(r), "card-1", { slot: 1, application: APP }));
    expect(e).to.be.instanceOf(FlowError);
    expect(e.message).to.equal(NOT_MY_CODE);
    expect(r.issuer.calls).to.deep.equal(["create", "otp"]);
    expect(clone.generation(1)).to.equal(1);
    // And the genuine card still verifies.
    r.inRange = r.card;
    expect((await verifyCard({ issuer: r.issuer, connect: r.connect, clock: r.clock }, 1)).genuine).to.equal(true);
  });

  it("a phone without this card's code leaves the check to the issuer, which refuses the clone's stale proof (403)", async () => {
    const r = rig();
    await personaliseCard(deps(r), "card-1", { slot: 1, application: APP });
    const clone = r.card.copy();
    await personaliseCard(deps(r), "card-1", { slot: 1, application: APP });
    const s = structuredClone(r.store.state);
    delete s.cards[linkKey(r.card.link.cardId)].codes;
    r.store.state = s;
    r.inRange = clone;
    const e = await refusal(personaliseCard(deps(r), "card-1", { slot: 1, application: APP }));
    expect(e).to.be.instanceOf(IssuerHttpError);
    expect((e as IssuerHttpError).status).to.equal(403);
  });

  it("converges after a link lost once the card took the write: the next run proves the pending code, which rolls, and writes again", async () => {
    const r = rig();
    await personaliseCard(deps(r), "card-1", { slot: 1, application: APP });
    // The write lands; every link after it fails to come up: the run ends before its confirmation.
    r.card.dropAfter = (type) => type === F.T_PROFILE_WRITE;
    const connect = r.connect;
    let linksLeft = 1;
    const flaky = async () => {
      if (linksLeft-- > 0) return connect();
      throw new Error("the card is out of range");
    };
    const e = await refusal(personaliseCard({ ...deps(r), connect: flaky }, "card-1", { slot: 1, application: APP }));
    expect(e.message).to.match(/out of range/);
    r.card.dropAfter = undefined;
    expect(r.card.generation(1)).to.equal(2);
    const kept = r.store.state.cards[linkKey(r.card.link.cardId)].codes!["1"];
    expect(kept.map((c) => c.generation)).to.deep.equal([1, 2]);
    expect(r.issuer.slots.get(1)!.pending!.generation).to.equal(2);

    const res = await personaliseCard(deps(r), "card-1", { slot: 1, application: APP });
    expect(res.generation).to.equal(3);
    expect(r.card.generation(1)).to.equal(3);
    expect(r.store.state.cards[linkKey(r.card.link.cardId)].codes!["1"].map((c) => c.generation)).to.deep.equal([3]);
    expect((await verifyCard({ issuer: r.issuer, connect: r.connect, clock: r.clock }, 1)).genuine).to.equal(true);
  });

  it("converges after a run cut before the write: the same pending generation, a new envelope", async () => {
    const r = rig();
    await personaliseCard(deps(r), "card-1", { slot: 1, application: APP });
    r.card.override = (req) => (req.type === F.T_PROFILE_WRITE ? [F.encodeError(req.cardId, req.seq, req.expiry, F.E_BUSY, 0)] : undefined);
    const e = await refusal(personaliseCard(deps(r), "card-1", { slot: 1, application: APP }));
    expect((e as RelayError).code).to.equal("E_BUSY");
    const salt = r.issuer.slots.get(1)!.pending!.salt;
    r.card.override = undefined;
    const res = await personaliseCard(deps(r), "card-1", { slot: 1, application: APP });
    expect(res.generation).to.equal(2);
    expect(r.issuer.slots.get(1)!.current!.salt).to.equal(salt);
  });

  it("refuses bad input and the wrong card before anything is sent", async () => {
    const r = rig();
    let e = await refusal(personaliseCard(deps(r), "card-1", { slot: 0, application: APP }));
    expect(e.message).to.match(/^the slot must be 1..3/);
    e = await refusal(personaliseCard(deps(r), "card-1", { slot: 1, application: { label: "Thirteen chars", mode: "counter" } }));
    expect(e.message).to.match(/^the label must be 1..12 printable ASCII/);
    e = await refusal(personaliseCard(deps(r), "card-1", { slot: 1, application: { label: "Gym", mode: "hotp" as "counter" } }));
    expect(e.message).to.match(/^the mode must be/);
    expect(r.links.length).to.equal(0);
    e = await refusal(personaliseCard(deps(r), "card-2", { slot: 1, application: APP }));
    expect(e.message).to.equal("the card in range is not the card asked for");
    expect(r.issuer.calls).to.deep.equal([]);
  });
});
