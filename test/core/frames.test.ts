/**
 * The Bluetooth transport (firmware/core/frames.ts, pairing.ts, inbox.ts):
 * the documented vectors, the key schedule against @noble/hashes' HKDF,
 * every refusal and its code, fragments at 20 and 50 bytes with lost,
 * duplicated and reordered writes, replay and expiry across a phone's
 * session, and a seeded fuzzer of mutated frames through the reassembler and
 * the card's opener that checks nothing changes on a refusal. The AEAD is
 * its reference on node:crypto (test/core/etm-reference.ts).
 * INKCARD_SEED=<seed> replays a fuzzer run.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { hkdf as nobleHkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import * as F from "../../firmware/core/frames.ts";
import { type Link, newReceived, receive } from "../../firmware/core/inbox.ts";
import * as P from "../../firmware/core/pairing.ts";
import { decodePayment, encodePayment, newPaymentView } from "../../firmware/core/payment.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { EXPIRY, PAYMENT, VECTORS as V, referenceAead as aead } from "./link-vectors.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const bytes = (h: string) => new Uint8Array(Buffer.from(h, "hex"));
const SHA = nodeHash("SHA256");
const NOW = EXPIRY - 60;

const cardKey = bytes(V.cardKey);
const deviceId = bytes(V.deviceId);
const CARD = parseInt(V.cardId, 16);
const SEAL = P.deriveSealKey(SHA, cardKey);
const PAIR = P.derivePairKey(SHA, cardKey, deviceId, 1);

function link(over: Partial<Link> = {}): Link {
  return { cardId: CARD, seal: SEAL, pair: PAIR, lastSeq: 0, lastIssuerSeq: 0, ...over };
}

/** The issuer's envelope and the phone's frame around it. */
function paymentFrame(seq: number, issuerSeq: number, o: { expiry?: number; innerExpiry?: number; pair?: Uint8Array; seal?: Uint8Array; card?: number; body?: Uint8Array } = {}) {
  const body = o.body ?? encodePayment({ ...PAYMENT, txId: bytes(PAYMENT.txId) });
  const env = F.sealFrame(aead, o.seal ?? SEAL, { type: F.T_PAYMENT_DATA, cardId: o.card ?? CARD, seq: issuerSeq, expiry: o.innerExpiry ?? EXPIRY }, body);
  return F.sealFrame(aead, o.pair ?? PAIR, { type: F.T_PAYMENT, cardId: o.card ?? CARD, seq, expiry: o.expiry ?? EXPIRY }, env);
}

function open(frame: Uint8Array, l: Link = link(), now = NOW) {
  const out = newReceived();
  const before = JSON.stringify(l);
  const code = receive(aead, l, frame, now, out);
  expect(JSON.stringify(l), "receive() changed the link").to.equal(before);
  return { code, out };
}

/** Reassembly state, compared whole. */
function snap(r: F.Reassembly): string {
  return `${r.len}/${r.next}/${r.fid}/${hex(r.buf)}`;
}

/** Push writes in order; the results. */
function pushAll(r: F.Reassembly, writes: Uint8Array[]): number[] {
  return writes.map((w) => F.pushFragment(r, w));
}

describe("transport keys (pairing.ts)", () => {
  it("reproduces the documented key schedule, and @noble/hashes' HKDF gives the same keys", () => {
    expect(V.cardId).to.equal(P.deriveCardId(SHA, cardKey).toString(16).padStart(8, "0"));
    expect(hex(SEAL)).to.equal(V.sealKey);
    expect(hex(PAIR)).to.equal(V.pairKey);
    const salt = new TextEncoder().encode(P.LINK_SALT);
    // The input is K0, the key zero-padded to 64 bytes as HMAC pads it (docs/dynamic-data.md "Keys").
    const k0 = (k: Uint8Array) => new Uint8Array([...k, ...new Uint8Array(64 - k.length)]);
    const info = (s: string, extra: Uint8Array = new Uint8Array(0)) => new Uint8Array([...new TextEncoder().encode(s), ...extra]);
    expect(hex(nobleHkdf(sha256, k0(cardKey), salt, info("card-id"), 4))).to.equal(V.cardId);
    expect(hex(nobleHkdf(sha256, k0(cardKey), salt, info("seal"), 32))).to.equal(V.sealKey);
    expect(hex(nobleHkdf(sha256, k0(cardKey), salt, info("pair", bytes(V.grant)), 32))).to.equal(V.pairKey);
    expect(hex(P.deriveAnswerKey(SHA, cardKey))).to.equal(hex(nobleHkdf(sha256, k0(cardKey), salt, info("answer"), 32)));
    for (let i = 0; i < 50; i++) {
      const k = randomBytes(16 + (i % 49));
      const d = randomBytes(16);
      const e = 1 + i * 7919;
      expect(hex(P.derivePairKey(SHA, k, d, e)), `case ${i}`).to.equal(hex(nobleHkdf(sha256, k0(k), salt, info("pair", P.encodeGrant(d, e)), 32)));
    }
  });

  it("gives another phone, or another pairing of the same phone, another key", () => {
    const other = P.derivePairKey(SHA, cardKey, bytes("b0".repeat(16)), 1);
    const again = P.derivePairKey(SHA, cardKey, deviceId, 2);
    expect(new Set([hex(PAIR), hex(other), hex(again), hex(SEAL), hex(P.deriveAnswerKey(SHA, cardKey))]).size).to.equal(5);
  });

  it("refuses bad inputs to the schedule by throwing, naming no key", () => {
    expect(() => P.deriveSealKey(SHA, new Uint8Array(15))).to.throw("card key must be 16..64 bytes");
    expect(() => P.deriveSealKey(nodeHash("SHA1"), cardKey)).to.throw("SHA-256");
    expect(() => P.derivePairKey(SHA, cardKey, new Uint8Array(15), 1)).to.throw("device id");
    expect(() => P.encodeGrant(deviceId, 0)).to.throw("epoch");
  });

  it("reads a grant: OK, truncated, oversized, epoch 0, an epoch not above the card's", () => {
    const g = { deviceId: new Uint8Array(0), epoch: 0 };
    expect(P.readGrant(bytes(V.grant), 0, g)).to.equal(F.OK);
    expect([hex(g.deviceId), g.epoch]).to.deep.equal([V.deviceId, 1]);
    const fresh = { deviceId: new Uint8Array(0), epoch: 0 };
    expect(P.readGrant(bytes(V.grant).subarray(0, 19), 0, fresh)).to.equal(F.E_TRUNCATED);
    expect(P.readGrant(new Uint8Array(21), 0, fresh)).to.equal(F.E_OVERSIZED);
    expect(P.readGrant(new Uint8Array(20), 0, fresh)).to.equal(F.E_MALFORMED);
    expect(P.readGrant(bytes(V.grant), 1, fresh)).to.equal(F.E_OLD_SEQ);
    expect(fresh.epoch, "out untouched on refusal").to.equal(0);
  });
});

describe("frames (frames.ts, inbox.ts)", () => {
  it("reproduces the documented payment, envelope, frame, nonce and clear frames", () => {
    const pay = encodePayment({ ...PAYMENT, txId: bytes(PAYMENT.txId) });
    expect(hex(pay)).to.equal(V.payment);
    const env = F.sealFrame(aead, SEAL, { type: F.T_PAYMENT_DATA, cardId: CARD, seq: 7, expiry: EXPIRY }, pay);
    expect(hex(env)).to.equal(V.envelope);
    expect(hex(F.sealFrame(aead, PAIR, { type: F.T_PAYMENT, cardId: CARD, seq: 1, expiry: EXPIRY }, env))).to.equal(V.frame);
    expect(hex(F.nonceFor(F.T_PAYMENT, 1))).to.equal(V.nonce);
    const genv = F.sealFrame(aead, SEAL, { type: F.T_GRANT, cardId: CARD, seq: 6, expiry: EXPIRY }, bytes(V.grant));
    expect(hex(genv)).to.equal(V.grantEnvelope);
    expect(hex(F.encodeFrame({ type: F.T_PAIR, cardId: CARD, seq: 0, expiry: EXPIRY }, genv))).to.equal(V.pairFrame);
    expect(hex(F.encodeFrame({ type: F.T_HELLO, cardId: 0, seq: 0, expiry: EXPIRY }, new Uint8Array(0)))).to.equal(V.hello);
    expect(hex(F.encodeAck({ type: F.T_PAYMENT, cardId: CARD, seq: 1, expiry: EXPIRY }, CARD))).to.equal(V.ack);
    expect(hex(F.encodeError(CARD, 0, 0, F.E_ORDER, 3))).to.equal(V.error);
  });

  it("the card opens the vector frame to the documented payment", () => {
    const { code, out } = open(bytes(V.frame));
    expect(code).to.equal(F.OK);
    expect([out.type, out.seq, out.expiry, out.issuerSeq, out.issuerExpiry]).to.deep.equal([F.T_PAYMENT, 1, EXPIRY, 7, EXPIRY]);
    expect(hex(out.body)).to.equal(V.payment);
    const p = newPaymentView();
    expect(decodePayment(out.body, p)).to.equal(F.OK);
    expect(p.code).to.equal(PAYMENT.code);
  });

  it("a PAIR frame opens to its grant without a pairing key; HELLO is taken for card id 0", () => {
    const { code, out } = open(bytes(V.pairFrame), link({ pair: null }));
    expect([code, out.type, out.issuerSeq, hex(out.body)]).to.deep.equal([F.OK, F.T_PAIR, 6, V.grant]);
    const hello = open(bytes(V.hello), link({ pair: null, seal: null, cardId: 0 }));
    expect([hello.code, hello.out.type, hello.out.body.length]).to.deep.equal([F.OK, F.T_HELLO, 0]);
    expect(open(bytes(V.hello)).code, "and by a keyed card").to.equal(F.OK);
  });

  // Each refusal, the frame that earns it, and the link it meets.
  const refusals: Array<[string, number, () => Uint8Array, Partial<Link>?, number?]> = [
    ["shorter than a header", F.E_TRUNCATED, () => bytes(V.frame).subarray(0, 13)],
    ["a sealed frame shorter than header and tag", F.E_TRUNCATED, () => bytes(V.frame).subarray(0, 29)],
    ["a sealed frame cut short (tag fails)", F.E_BAD_TAG, () => bytes(V.frame).subarray(0, 100)],
    ["over MAX_FRAME", F.E_OVERSIZED, () => new Uint8Array(F.MAX_FRAME + 1).fill(1)],
    ["version 2", F.E_VERSION, () => patch(bytes(V.frame), 0, 2)],
    ["a card-to-phone type", F.E_TYPE, () => patch(bytes(V.frame), 1, F.T_ANSWER)],
    ["an issuer type sent as a phone frame", F.E_TYPE, () => bytes(V.envelope)],
    ["type 0", F.E_TYPE, () => patch(bytes(V.frame), 1, 0)],
    ["another card's id", F.E_WRONG_CARD, () => patch(bytes(V.frame), 2, 0x40)],
    ["card id 0 on a sealed type", F.E_WRONG_CARD, () => paymentFrame(1, 7, { card: 0 })],
    ["expired", F.E_EXPIRED, () => bytes(V.frame), {}, EXPIRY + 1],
    ["a clock that is not a number", F.E_EXPIRED, () => bytes(V.frame), {}, NaN],
    ["the envelope expired", F.E_EXPIRED, () => paymentFrame(1, 7, { innerExpiry: NOW - 1 })],
    ["seq 0", F.E_OLD_SEQ, () => paymentFrame(0, 7)],
    ["seq below the last", F.E_OLD_SEQ, () => bytes(V.frame), { lastSeq: 2 }],
    ["issuer seq below the last", F.E_OLD_SEQ, () => bytes(V.frame), { lastIssuerSeq: 8 }],
    ["a flipped body bit", F.E_BAD_TAG, () => patch(bytes(V.frame), 40, bytes(V.frame)[40] ^ 1)],
    ["a changed expiry (header is authenticated)", F.E_BAD_TAG, () => patch(bytes(V.frame), 13, bytes(V.frame)[13] + 1)],
    ["a frame from another phone", F.E_BAD_TAG, () => paymentFrame(1, 7, { pair: P.derivePairKey(SHA, cardKey, bytes("b0".repeat(16)), 1) })],
    ["a frame of an earlier pairing", F.E_BAD_TAG, () => bytes(V.frame), { pair: P.derivePairKey(SHA, cardKey, deviceId, 2) }],
    ["an envelope the phone forged", F.E_BAD_TAG, () => paymentFrame(1, 7, { seal: PAIR })],
    ["not paired", F.E_NOT_PAIRED, () => bytes(V.frame), { pair: null }],
    ["no seal key (a blank card) for a PAIR", F.E_NOT_PAIRED, () => bytes(V.pairFrame), { seal: null }],
    ["a clear request with seq 1", F.E_MALFORMED, () => F.encodeFrame({ type: F.T_HELLO, cardId: 0, seq: 1, expiry: EXPIRY }, new Uint8Array(0))],
    ["not bytes", F.E_TRUNCATED, () => "frame" as unknown as Uint8Array],
  ];
  for (const [what, want, frame, over, now] of refusals) {
    it(`refuses ${what}: ${want}`, () => {
      expect(open(frame(), link(over), now ?? NOW).code).to.equal(want);
    });
  }

  it("answers a repeated frame DUPLICATE, with the same ACK bytes, and a re-wrapped envelope too", () => {
    expect(open(bytes(V.frame), link({ lastSeq: 1, lastIssuerSeq: 7 })).code).to.equal(F.DUPLICATE);
    // The phone wrapped the same issuer envelope again, under a new seq.
    expect(open(paymentFrame(2, 7), link({ lastSeq: 1, lastIssuerSeq: 7 })).code).to.equal(F.DUPLICATE);
    const h = newReceived();
    F.readFrame(bytes(V.frame), h);
    expect(hex(F.encodeAck(h, CARD))).to.equal(V.ack);
    expect(hex(F.encodeAck(h, CARD))).to.equal(V.ack);
  });

  it("the phone opens the card's sealed answer and reads its clear ones", () => {
    const ans = F.sealFrame(aead, PAIR, { type: F.T_ANSWER, cardId: CARD, seq: 1, expiry: 0 }, bytes("0102"));
    const out = F.newFrame();
    expect(F.openFrame(aead, PAIR, ans, F.ANY + F.DIR_TO_PHONE, CARD, -1, NOW, out)).to.equal(F.OK);
    expect([out.type, out.seq, hex(out.body)]).to.deep.equal([F.T_ANSWER, 1, "0102"]);
    expect(F.openFrame(aead, PAIR, ans, F.ANY + F.DIR_TO_CARD, CARD, -1, NOW, out), "direction").to.equal(F.E_TYPE);
    expect(F.openFrame(aead, PAIR, bytes(V.error), F.ANY + F.DIR_TO_PHONE, CARD, -1, NOW, out)).to.equal(F.OK);
    expect([out.type, hex(out.body)]).to.deep.equal([F.T_ERROR, "0303"]);
  });

  it("an AEAD that throws on hostile bytes counts as a bad tag", () => {
    const throwing: F.Aead = { seal: aead.seal, open: () => { throw new Error("boom"); } };
    expect(receive(throwing, link(), bytes(V.frame), NOW, newReceived())).to.equal(F.E_BAD_TAG);
  });

  it("builders throw on a programming error, naming the field", () => {
    const h = { type: F.T_PAYMENT, cardId: CARD, seq: 1, expiry: EXPIRY };
    expect(() => F.sealFrame(aead, PAIR, { ...h, seq: -1 }, new Uint8Array(1))).to.throw("seq");
    expect(() => F.sealFrame(aead, PAIR.subarray(1), h, new Uint8Array(1))).to.throw("key");
    expect(() => F.sealFrame(aead, PAIR, h, new Uint8Array(F.MAX_FRAME))).to.throw("at most");
    expect(() => F.encodeFrame(h, new Uint8Array(1))).to.throw("sealed");
    expect(() => F.sealFrame(aead, PAIR, { ...h, type: F.T_HELLO }, new Uint8Array(1))).to.throw("clear");
    expect(() => F.encodeError(CARD, 0, 0, 0, 0)).to.throw("code");
    expect(() => F.fragmentFrame(bytes(V.frame), 51, 0)).to.throw("write size");
    expect(() => F.fragmentFrame(bytes(V.frame), 20, 4)).to.throw("frame id");
  });

  it("codes are distinct bytes, the statuses never collide with them", () => {
    const codes = [F.E_TRUNCATED, F.E_OVERSIZED, F.E_ORDER, F.E_FLOOD, F.E_VERSION, F.E_TYPE, F.E_WRONG_CARD, F.E_EXPIRED, F.E_OLD_SEQ, F.E_BAD_TAG, F.E_NOT_PAIRED, F.E_MALFORMED, F.E_BUSY];
    expect(codes).to.deep.equal(codes.map((_, i) => i + 1));
    expect([F.OK, F.MORE, F.COMPLETE, F.DUPLICATE].filter((s) => codes.includes(s))).to.deep.equal([]);
  });
});

function patch(b: Uint8Array, off: number, v: number): Uint8Array {
  b[off] = v & 255;
  return b;
}

describe("fragments", () => {
  it("reproduces the documented writes at 20 and 50 bytes and reassembles them", () => {
    const frame = bytes(V.frame);
    for (const [size, want] of [[20, V.fragments20], [50, V.fragments50]] as const) {
      const writes = F.fragmentFrame(frame, size, 0);
      expect(writes.map(hex)).to.deep.equal(want);
      const r = F.newReassembly();
      const res = pushAll(r, writes);
      expect(res).to.deep.equal([...writes.slice(1).map(() => F.MORE), F.COMPLETE]);
      expect(hex(r.buf.subarray(0, r.len))).to.equal(V.frame);
    }
  });

  it("round-trips every frame length at 20 and 50 bytes a write, every frame id", () => {
    const r = F.newReassembly();
    for (const size of [F.DEFAULT_WRITE, F.MAX_WRITE]) {
      for (let len = 1; len <= F.MAX_FRAME; len++) {
        const frame = randomBytes(len);
        const writes = F.fragmentFrame(frame, size, len & 3);
        expect(writes.every((w) => w.length <= size)).to.equal(true);
        const res = pushAll(r, writes);
        expect(res[res.length - 1], `len ${len}`).to.equal(F.COMPLETE);
        expect(hex(r.buf.subarray(0, r.len))).to.equal(hex(frame));
      }
    }
  });

  it("a lost write: E_ORDER naming the index to resend, nothing changed; resending from there completes", () => {
    const writes = F.fragmentFrame(bytes(V.frame), 20, 1);
    const r = F.newReassembly();
    pushAll(r, writes.slice(0, 3));
    const before = snap(r);
    expect(F.pushFragment(r, writes[4])).to.equal(F.E_ORDER);
    expect(snap(r)).to.equal(before);
    expect(r.next).to.equal(3);
    expect(pushAll(r, writes.slice(r.next)).pop()).to.equal(F.COMPLETE);
    expect(hex(r.buf.subarray(0, r.len))).to.equal(V.frame);
  });

  it("a duplicated or reordered write: E_ORDER, nothing changed; the frame still completes", () => {
    const writes = F.fragmentFrame(bytes(V.frame), 20, 2);
    const r = F.newReassembly();
    pushAll(r, writes.slice(0, 3));
    const before = snap(r);
    expect(F.pushFragment(r, writes[2]), "duplicate").to.equal(F.E_ORDER);
    expect(F.pushFragment(r, writes[1]), "older").to.equal(F.E_ORDER);
    expect(F.pushFragment(r, writes[5]), "ahead").to.equal(F.E_ORDER);
    expect(snap(r)).to.equal(before);
    expect(pushAll(r, writes.slice(3)).pop()).to.equal(F.COMPLETE);
    expect(hex(r.buf.subarray(0, r.len))).to.equal(V.frame);
  });

  it("a write of another frame id is out of order; a first write starts over, dropping the partial frame", () => {
    const a = F.fragmentFrame(bytes(V.frame), 20, 0);
    const b = F.fragmentFrame(bytes(V.pairFrame), 20, 1);
    const r = F.newReassembly();
    pushAll(r, a.slice(0, 2));
    const before = snap(r);
    expect(F.pushFragment(r, b[2])).to.equal(F.E_ORDER);
    expect(snap(r)).to.equal(before);
    expect(pushAll(r, b).pop()).to.equal(F.COMPLETE);
    expect(hex(r.buf.subarray(0, r.len))).to.equal(V.pairFrame);
    expect(F.pushFragment(r, b[1]), "after COMPLETE only a first write is taken").to.equal(F.E_ORDER);
    expect(hex(r.buf.subarray(0, r.len)), "the frame stays until then").to.equal(V.pairFrame);
    F.resetReassembly(r);
    expect([r.len, r.next, r.fid]).to.deep.equal([0, 0, -1]);
  });

  it("refuses a write under 2 bytes, a write over 50, and a frame past MAX_FRAME, changing nothing", () => {
    const r = F.newReassembly();
    const before = snap(r);
    expect(F.pushFragment(r, new Uint8Array(0))).to.equal(F.E_TRUNCATED);
    expect(F.pushFragment(r, new Uint8Array([0x80]))).to.equal(F.E_TRUNCATED);
    expect(F.pushFragment(r, new Uint8Array(F.MAX_WRITE + 1))).to.equal(F.E_OVERSIZED);
    expect(F.pushFragment(r, null as unknown as Uint8Array)).to.equal(F.E_TRUNCATED);
    expect(snap(r)).to.equal(before);
    // A frame that never ends: 7 writes of 49 bytes fill 343 > 320.
    const w = (i: number) => new Uint8Array(F.MAX_WRITE).fill(i).map((v, k) => (k === 0 ? i : v));
    const res = [0, 1, 2, 3, 4, 5].map((i) => F.pushFragment(r, w(i)));
    expect(res).to.deep.equal([F.MORE, F.MORE, F.MORE, F.MORE, F.MORE, F.MORE]);
    const full = snap(r);
    expect(F.pushFragment(r, w(6))).to.equal(F.E_OVERSIZED);
    expect(snap(r)).to.equal(full);
    expect(r.len).to.equal(294);
  });

  it("the 1 KB input queue: the largest frame in 20-byte writes is at most a third of it; the card never holds more than MAX_FRAME", () => {
    const writes = F.fragmentFrame(new Uint8Array(F.MAX_FRAME), F.DEFAULT_WRITE, 0);
    const queued = writes.reduce((n, w) => n + w.length, 0);
    expect(writes.length).to.equal(17);
    expect(queued).to.equal(337);
    expect(3 * queued).to.be.at.most(1024);
    expect(() => F.fragmentFrame(new Uint8Array(F.MAX_FRAME + 1), 50, 0)).to.throw("frame must be");
    // The most a write stream can make the card hold is its one buffer.
    const r = F.newReassembly();
    let taken = 0;
    for (let i = 0; i < 1024; i++) if (F.pushFragment(r, new Uint8Array([i & 31, ...randomBytes(F.DEFAULT_WRITE - 1)])) === F.MORE) taken++;
    expect(r.buf.length).to.equal(F.MAX_FRAME);
    expect(r.len).to.be.at.most(F.MAX_FRAME);
    expect(taken).to.be.greaterThan(0);
  });
});

describe("flood guard", () => {
  it("takes a burst, then E_FLOOD until the clock refills it; a refused spend takes nothing", () => {
    const g = F.newFloodGuard(1000);
    let n = 0;
    while (F.floodSpend(g, 1000, 1)) n++;
    expect(n).to.equal(F.FLOOD_BURST);
    const before = JSON.stringify(g);
    expect(F.floodSpend(g, 1000, 1)).to.equal(false);
    expect(JSON.stringify(g)).to.equal(before);
    expect(F.floodSpend(g, 1000.5, F.FLOOD_RATE / 2)).to.equal(true); // refilled in half a second
    expect(F.floodSpend(g, 1000.5, 1)).to.equal(false);
    expect(F.floodSpend(g, 1010, F.FLOOD_BURST)).to.equal(true); // refilled to the burst, no more
    expect(F.floodSpend(g, 1010, 1)).to.equal(false);
  });

  it("a clock set backwards refills nothing; NaN changes nothing", () => {
    const g = F.newFloodGuard(1000);
    while (F.floodSpend(g, 1000, 1));
    expect(F.floodSpend(g, 10, 1)).to.equal(false);
    expect(F.floodSpend(g, 10.5, F.FLOOD_RATE / 2)).to.equal(true);
    const before = JSON.stringify(g);
    expect(F.floodSpend(g, NaN, 0)).to.equal(false);
    expect(JSON.stringify(g)).to.equal(before);
  });

  it("a phone sending frames of 17 writes each second never floods; forged frames soon do", () => {
    const g = F.newFloodGuard(0);
    for (let t = 0; t < 100; t++) for (let i = 0; i < 17; i++) expect(F.floodSpend(g, t, 1)).to.equal(true);
    const h = F.newFloodGuard(0);
    let forged = 0;
    while (F.floodSpend(h, forged * 0.1, 3) && F.floodSpend(h, forged * 0.1, F.REFUSED_COST)) forged++;
    expect(forged).to.be.below(10);
  });
});

describe("a session: pairing, payments, replay and expiry", () => {
  /** The card: its persisted link state, committed as docs/dynamic-data.md says. */
  function card() {
    const state = { epoch: 0, deviceId: null as Uint8Array | null, lastSeq: 0, lastIssuerSeq: 0 };
    const l = (): Link => ({
      cardId: CARD,
      seal: SEAL,
      pair: state.deviceId ? P.derivePairKey(SHA, cardKey, state.deviceId, state.epoch) : null,
      lastSeq: state.lastSeq,
      lastIssuerSeq: state.lastIssuerSeq,
    });
    const take = (frame: Uint8Array, now = NOW): number => {
      const out = newReceived();
      const code = receive(aead, l(), frame, now, out);
      if (code !== F.OK) return code;
      if (out.type === F.T_PAIR) {
        const g = { deviceId: new Uint8Array(0), epoch: 0 };
        const c = P.readGrant(out.body, state.epoch, g);
        if (c !== F.OK) return c;
        state.lastIssuerSeq = out.issuerSeq;
        state.deviceId = g.deviceId.slice();
        state.epoch = g.epoch;
        state.lastSeq = 0;
        return F.OK;
      }
      const p = newPaymentView();
      const c = decodePayment(out.body, p);
      if (c !== F.OK) return c;
      state.lastSeq = out.seq;
      state.lastIssuerSeq = out.issuerSeq;
      return F.OK;
    };
    return { state, take };
  }
  const grantFrame = (dev: Uint8Array, epoch: number, issuerSeq: number) =>
    F.encodeFrame(
      { type: F.T_PAIR, cardId: CARD, seq: 0, expiry: EXPIRY },
      F.sealFrame(aead, SEAL, { type: F.T_GRANT, cardId: CARD, seq: issuerSeq, expiry: EXPIRY }, P.encodeGrant(dev, epoch)),
    );

  it("pairs, takes payments once each, refuses replays and late frames, re-pairs and shuts the old phone out", () => {
    const c = card();
    expect(c.take(bytes(V.frame)), "before pairing").to.equal(F.E_NOT_PAIRED);
    expect(c.take(bytes(V.pairFrame))).to.equal(F.OK);
    expect(c.take(bytes(V.pairFrame)), "the grant again").to.equal(F.DUPLICATE);
    expect(c.take(bytes(V.frame))).to.equal(F.OK);
    expect(c.take(bytes(V.frame)), "the same frame again: acknowledged, not shown").to.equal(F.DUPLICATE);
    expect(c.take(paymentFrame(3, 9))).to.equal(F.OK);
    expect(c.take(paymentFrame(2, 8)), "an older frame the phone sent later").to.equal(F.E_OLD_SEQ);
    expect(c.take(paymentFrame(4, 8)), "a fresh frame round an older envelope").to.equal(F.E_OLD_SEQ);
    expect(c.take(paymentFrame(5, 10, { expiry: NOW - 1 }))).to.equal(F.E_EXPIRED);
    expect(c.take(paymentFrame(5, 10), EXPIRY + 1), "the card's clock past expiry").to.equal(F.E_EXPIRED);
    expect(c.state).to.include({ lastSeq: 3, lastIssuerSeq: 9 });

    // A new phone is paired (epoch 2): the old phone's frames are refused, an old grant too.
    const newDev = bytes("c0".repeat(16));
    expect(c.take(grantFrame(newDev, 2, 11))).to.equal(F.OK);
    expect(c.take(paymentFrame(6, 12)), "the old phone").to.equal(F.E_BAD_TAG);
    expect(c.take(grantFrame(deviceId, 1, 13)), "the old grant's epoch, freshly sealed").to.equal(F.E_OLD_SEQ);
    expect(c.take(bytes(V.pairFrame)), "the old grant replayed").to.equal(F.E_OLD_SEQ);
    expect(c.take(paymentFrame(1, 12, { pair: P.derivePairKey(SHA, cardKey, newDev, 2) }))).to.equal(F.OK);
    expect(c.state).to.include({ epoch: 2, lastSeq: 1, lastIssuerSeq: 12 });
  });
});

// ---- The fuzzer --------------------------------------------------------------------------

const SEED = process.env.INKCARD_SEED ? Number(process.env.INKCARD_SEED) >>> 0 : randomBytes(4).readUInt32BE(0);

/** xorshift32 with a splitmix start: enough to pick mutations, and replayable. */
function prng(seed: number) {
  let s = (seed ^ 0x9e3779b9) >>> 0 || 1;
  const u32 = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0);
  };
  return { u32, int: (n: number) => u32() % n, bytes: (n: number) => Uint8Array.from({ length: n }, () => u32() & 255) };
}

type Rng = ReturnType<typeof prng>;

function mutate(rng: Rng, f: Uint8Array, others: Uint8Array[]): Uint8Array {
  let b = Uint8Array.from(f);
  const n = 1 + rng.int(3);
  for (let k = 0; k < n; k++) {
    const at = b.length ? rng.int(b.length) : 0;
    switch (rng.int(9)) {
      case 0: b[at] ^= 1 << rng.int(8); break;
      case 1: b[at] = rng.u32() & 255; break;
      case 2: b = b.subarray(0, rng.int(b.length + 1)).slice(); break; // truncate
      case 3: b = Uint8Array.from([...b, ...rng.bytes(1 + rng.int(40))]); break; // extend
      case 4: b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + 1)]); break; // delete a byte
      case 5: b = Uint8Array.from([...b.subarray(0, at), rng.u32() & 255, ...b.subarray(at)]); break; // insert
      case 6: { // another frame's header on this body
        const o = others[rng.int(others.length)];
        b.set(o.subarray(0, Math.min(F.HEADER_BYTES, b.length, o.length)));
        break;
      }
      case 7: { // header fields: seq, expiry, card id, type
        const field = [1, 2, 6, 10][rng.int(4)];
        if (field < b.length) b[Math.min(b.length - 1, field + rng.int(field === 1 ? 1 : 4))] = rng.u32() & 255;
        break;
      }
      default: b = rng.bytes(rng.int(F.MAX_FRAME + 20)); // noise
    }
  }
  return b;
}

function mutateWrites(rng: Rng, w: Uint8Array[]): Uint8Array[] {
  const out = w.map((x) => x.slice());
  switch (rng.int(8)) {
    case 0: if (out.length > 1) out.splice(rng.int(out.length), 1); break; // lost
    case 1: { const i = rng.int(out.length); out.splice(i, 0, out[i].slice()); break; } // duplicated
    case 2: if (out.length > 1) { const i = rng.int(out.length - 1); [out[i], out[i + 1]] = [out[i + 1], out[i]]; } break; // reordered
    case 3: { const i = rng.int(out.length); out[i][0] = rng.u32() & 255; break; } // control byte
    case 4: out.splice(rng.int(out.length + 1), 0, rng.bytes(rng.int(F.MAX_WRITE + 3))); break; // a stray write
    case 5: { const i = rng.int(out.length); out[i] = out[i].subarray(0, rng.int(out[i].length + 1)); break; } // cut write
    default: break; // writes as sent
  }
  return out;
}

describe("fuzzer: mutated frames through the reassembler and the card's opener", function () {
  this.timeout(600_000);

  it(`100,000 mutated frames: no exception, only genuine frames accepted, nothing changed on a refusal (seed ${SEED})`, () => {
    const rng = prng(SEED);
    const l = link({ lastSeq: 1, lastIssuerSeq: 7 });
    // Genuine frames: the accepted set. Anything else the card takes is a failure.
    const genuine = [bytes(V.frame), paymentFrame(2, 8), paymentFrame(3, 9), bytes(V.pairFrame), bytes(V.hello), paymentFrame(4, 10, { body: new Uint8Array(31) })];
    const accepted = new Set([...genuine.map(hex), V.grantEnvelope]);
    const r = F.newReassembly();
    const out = newReceived();
    const counts: Record<string, number> = {};
    let mutated = 0;
    let iterations = 0;
    for (; mutated < 100_000; iterations++) {
      const base = genuine[rng.int(genuine.length)];
      const frame = rng.int(8) === 0 ? base : mutate(rng, base, genuine);
      if (hex(frame) !== hex(base)) mutated++;
      const writes = frame.length >= 1 && frame.length <= F.MAX_FRAME
        ? F.fragmentFrame(frame, rng.int(2) ? F.DEFAULT_WRITE : F.MAX_WRITE, rng.int(4))
        : [rng.bytes(rng.int(F.MAX_WRITE + 2))];
      for (const w of mutateWrites(rng, writes)) {
        const before = snap(r);
        const res = F.pushFragment(r, w);
        if (res !== F.MORE && res !== F.COMPLETE) {
          if (snap(r) !== before) throw new Error(`iteration ${iterations}: refused write changed the reassembly`);
          counts[`write ${res}`] = (counts[`write ${res}`] ?? 0) + 1;
          continue;
        }
        if (res !== F.COMPLETE) continue;
        const got = r.buf.subarray(0, r.len);
        const linkBefore = JSON.stringify(l);
        const code = receive(aead, l, got, NOW, out);
        if (JSON.stringify(l) !== linkBefore) throw new Error(`iteration ${iterations}: receive changed the link`);
        counts[`frame ${code}`] = (counts[`frame ${code}`] ?? 0) + 1;
        // A clear frame's header is not authenticated (docs: HELLO, PAIR): one taken must hold a genuine envelope, or none.
        const authentic = F.isSealed(out.type) ? hex(got) : F.envelopeType(out.type) ? hex(got.subarray(F.HEADER_BYTES)) : "";
        if ((code === F.OK || code === F.DUPLICATE) && authentic && !accepted.has(authentic)) {
          throw new Error(`iteration ${iterations}: a mutated frame was accepted (${code})`);
        }
        if (code === F.OK && out.type === F.T_PAYMENT) {
          const p = newPaymentView();
          counts[`payment ${decodePayment(out.body, p)}`] = (counts[`payment ${decodePayment(out.body, p)}`] ?? 0) + 1;
        }
      }
    }
    // Every kind of refusal was met (the codes the mutations can produce).
    for (const c of [F.E_TRUNCATED, F.E_OVERSIZED, F.E_ORDER]) expect(counts[`write ${c}`], `write code ${c}`).to.be.greaterThan(0);
    for (const c of [F.E_TRUNCATED, F.E_VERSION, F.E_TYPE, F.E_WRONG_CARD, F.E_EXPIRED, F.E_OLD_SEQ, F.E_BAD_TAG, F.E_MALFORMED]) {
      expect(counts[`frame ${c}`], `frame code ${c}`).to.be.greaterThan(0);
    }
    expect(counts[`frame ${F.OK}`]).to.be.greaterThan(0);
    expect(counts[`payment ${F.E_MALFORMED}`], "a genuine frame with a bad payment is refused by the decoder").to.be.greaterThan(0);
  });
});

describe("docs/dynamic-data.md", () => {
  it("shows every vector the tests check", () => {
    const doc = readFileSync(new URL("../../docs/dynamic-data.md", import.meta.url), "utf8").replace(/\s+/g, "");
    const all = Object.entries(V).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x, i) => [`${k}[${i}]`, x] as const) : typeof v === "string" ? [[k, v] as const] : []));
    const missing = all.filter(([, v]) => !doc.includes(v)).map(([k]) => k);
    expect(missing).to.deep.equal([]);
  });
});
