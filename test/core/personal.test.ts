/**
 * Personalisation on the card (core/personal.ts through core/link.ts), with
 * the flash and Storage models: the proof and the security code against
 * node:crypto computations written from docs/personalisation.md alone, the
 * vectors the document shows, the card's handling of each message (refusals
 * leave flash, screen and state as they were), and a power cut at every flash
 * operation of a write, which must leave the slot whole: old or new.
 */
import { expect } from "chai";
import { createHash, createHmac, hkdfSync, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import * as F from "../../firmware/core/frames.ts";
import { CardLink, type LinkState, loadRecord, newLinkState } from "../../firmware/core/link.ts";
import * as P from "../../firmware/core/pairing.ts";
import * as S from "../../firmware/core/personal.ts";
import { encodeProfile, readProfile, type Profile } from "../../firmware/core/profile.ts";
import { SCREEN_PROFILE } from "../../firmware/core/screen-kinds.ts";
import type { FlashStore } from "../../firmware/core/types.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { Flash, PowerCut } from "../../sim/board/flash.ts";
import { Storage } from "../../sim/board/storage.ts";
import { storeOver } from "../support/card-rig.ts";
import { EXPIRY, VECTORS as V, referenceAead as aead } from "./link-vectors.ts";

const SHA = nodeHash("SHA256");
const bytes = (h: string) => new Uint8Array(Buffer.from(h, "hex"));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const KEY = bytes(V.cardKey);
const DEV = bytes(V.deviceId);
const CARD = P.deriveCardId(SHA, KEY);
const SEAL = P.deriveSealKey(SHA, KEY);
const PAIR = P.derivePairKey(SHA, KEY, DEV, 1);
const NOW = EXPIRY - 60;
const SERIAL = "f1e2d3c4-a5b6c7d8";
const BASE = "ink.prof";

/** Inputs of the document's vectors. */
const VEC = {
  code: "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf",
  nonce: "e0e1e2e3e4e5e6e7e8e9eaebecedeeef",
  salt: "505152535455565758595a5b5c5d5e5f",
};

/** The proof as docs/personalisation.md defines it, with node:crypto only. */
function independentProof(code: Uint8Array, purpose: number, slot: number, gen: number, serial: string, nonce: Uint8Array): string {
  const g = Buffer.alloc(4);
  g.writeUInt32BE(gen);
  const m = Buffer.concat([Buffer.from("inkcard/sc/v1"), Buffer.from([purpose, slot]), g, Buffer.from([serial.length]), Buffer.from(serial), nonce]);
  return createHmac("sha256", code).update(m).digest().subarray(0, 16).toString("hex");
}

function independentCode(salt: Uint8Array, slot: number, gen: number): string {
  const k0 = Buffer.concat([KEY, Buffer.alloc(64 - KEY.length)]);
  const g = Buffer.alloc(4);
  g.writeUInt32BE(gen);
  return Buffer.from(hkdfSync("sha256", k0, salt, Buffer.concat([Buffer.from("security-code"), Buffer.from([slot]), g]), 32)).toString("hex");
}

function profile(label: string, seed: number): Profile {
  return { mode: "counter", algorithm: "SHA256", digits: 6, stepSeconds: 30, startCounter: 0, cardId: label, key: new Uint8Array(32).fill(seed) };
}

class Rig {
  readonly flash: Flash;
  readonly storage: Storage;
  readonly store: FlashStore;
  readonly shown: Array<{ kind: number; arg: unknown }> = [];
  readonly notes: Uint8Array[] = [];
  readonly state: LinkState = newLinkState();
  readonly link: CardLink;
  seq = 0;
  issuerSeq = 10;
  constructor(flash = new Flash(), serial = SERIAL) {
    this.flash = flash;
    this.storage = new Storage(flash);
    this.store = storeOver(this.storage);
    this.storage.write(BASE, encodeProfile(profile("BASE", 1), SHA)); // slot 0: only its pads matter here
    this.link = this.make(serial);
  }
  make(serial: string): CardLink {
    // The card key is slot 0's K; the tests seal with KEY's keys, so hand KEY over as the link engine would derive it.
    return new CardLink({
      aead, sha256: SHA, file: "ink.link", clock: () => NOW, state: this.state, paymentMs: 120000, shownMs: 60000,
      store: this.store, serial: () => serial, profileFile: BASE,
      cardKey: () => KEY.slice(),
      notify: (b) => this.notes.push(b.slice()),
      timer: () => {},
      screen: (kind, arg) => this.shown.push({ kind, arg }),
    });
  }
  send(frame: Uint8Array, size = 20): Uint8Array[] {
    const from = this.notes.length;
    for (const w of F.fragmentFrame(frame, size, 0)) this.link.write(w);
    const r = F.newReassembly();
    const out: Uint8Array[] = [];
    for (const n of this.notes.slice(from)) if (F.pushFragment(r, n) === F.COMPLETE) out.push(r.buf.slice(0, r.len));
    return out;
  }
  pair(): void {
    const grant = F.sealFrame(aead, SEAL, { type: F.T_GRANT, cardId: CARD, seq: 1, expiry: EXPIRY }, P.encodeGrant(DEV, 1));
    this.send(F.encodeFrame({ type: F.T_PAIR, cardId: CARD, seq: 0, expiry: EXPIRY }, grant));
  }
  challenge(slot: number, nonce: Uint8Array, seq = ++this.seq): Uint8Array[] {
    return this.send(F.sealFrame(aead, PAIR, { type: F.T_SECURITY_CHALLENGE, cardId: CARD, seq, expiry: EXPIRY }, S.encodeChallenge(slot, nonce)));
  }
  write(data: S.ProfileData | Uint8Array, seq = ++this.seq, issuerSeq = ++this.issuerSeq): Uint8Array[] {
    const body = data instanceof Uint8Array ? data : S.encodeProfileData(SHA, data);
    const env = F.sealFrame(aead, SEAL, { type: F.T_PROFILE_DATA, cardId: CARD, seq: issuerSeq, expiry: EXPIRY }, body);
    return this.send(F.sealFrame(aead, PAIR, { type: F.T_PROFILE_WRITE, cardId: CARD, seq, expiry: EXPIRY }, env), 50);
  }
  snapshot(): string {
    return JSON.stringify([createHash("sha256").update(this.flash.snapshot()).digest("hex"), this.shown.length, this.state.linkShown]);
  }
}

function open(frame: Uint8Array, type: number, key: Uint8Array | null): F.Frame {
  const out = F.newFrame();
  expect(F.openFrame(aead, key, frame, type, CARD, -1, NOW, out), `a ${type.toString(16)} frame`).to.equal(F.OK);
  return out;
}

function errorCode(frame: Uint8Array): number {
  const f = F.newFrame();
  expect(F.readFrame(frame, f)).to.equal(F.OK);
  expect(f.type, "an ERROR").to.equal(F.T_ERROR);
  return f.body[0];
}

const code1 = () => bytes(VEC.code);
const data = (slot: number, previous: number, code: Uint8Array, label: string, serial = SERIAL): S.ProfileData => ({
  slot, previous, generation: previous + 1, code, serial, record: encodeProfile(profile(label, 40 + previous), SHA),
});

describe("core/personal: personalisation on the card", () => {
  it("computes the proof, the security code and the phone's response as the document defines them, and shows its vectors", () => {
    const doc = readFileSync(new URL("../../docs/personalisation.md", import.meta.url), "utf8");
    const nonce = bytes(VEC.nonce);
    const proof = hex(S.securityProof(SHA, code1(), S.PURPOSE_WRITE, 1, 1, SERIAL, nonce));
    expect(proof).to.equal(independentProof(code1(), 1, 1, 1, SERIAL, nonce));
    const verify = hex(S.securityProof(SHA, code1(), S.PURPOSE_VERIFY, 1, 1, SERIAL, nonce));
    expect(verify).to.equal(independentProof(code1(), 2, 1, 1, SERIAL, nonce));
    expect(verify).to.not.equal(proof);
    const sc = hex(S.deriveSecurityCode(SHA, KEY, bytes(VEC.salt), 1, 1));
    expect(sc).to.equal(independentCode(bytes(VEC.salt), 1, 1));
    const m = Buffer.concat([Buffer.from("inkcard/apply/v1"), Buffer.from([1]), nonce, Buffer.from([SERIAL.length]), Buffer.from(SERIAL), Buffer.from(VEC.code.slice(0, 32), "hex")]);
    const resp = hex(S.applyResponse(SHA, PAIR, S.STEP_OTP, nonce, SERIAL, bytes(VEC.code.slice(0, 32))));
    expect(resp).to.equal(createHmac("sha256", PAIR).update(m).digest("hex"));
    for (const v of [proof, verify, sc, resp, VEC.code, VEC.nonce, VEC.salt, SERIAL]) expect(doc, `docs/personalisation.md shows ${v}`).to.contain(v);
    // Random inputs agree too.
    for (let i = 0; i < 50; i++) {
      const c = new Uint8Array(randomBytes(32));
      const n = new Uint8Array(randomBytes(16));
      const serial = randomBytes(1 + (i % 10)).toString("hex").slice(0, 1 + (i % 20));
      expect(hex(S.securityProof(SHA, c, 1 + (i & 1), 1 + (i % 3), i + 1, serial, n))).to.equal(independentProof(c, 1 + (i & 1), 1 + (i % 3), i + 1, serial, n));
    }
  });

  it("carries the largest profile it writes (SHA-256, a 12-character id, a 32-character serial) in one frame", () => {
    const rig = new Rig(new Flash(), "x".repeat(S.MAX_SERIAL));
    rig.pair();
    const d = { ...data(1, 0, code1(), "ABCDEFGHIJKL", "x".repeat(S.MAX_SERIAL)) };
    const [ack] = rig.write(d);
    expect(open(ack, F.T_ACK, null).type).to.equal(F.T_ACK);
    expect(S.encodeProfileData(SHA, d).length + 2 * (F.HEADER_BYTES + F.TAG_BYTES)).to.be.at.most(F.MAX_FRAME);
  });

  it("answers READ_SERIAL and VERIFY_CHALLENGE in clear (any card id), and a first challenge with generation 0", () => {
    const rig = new Rig();
    const [ser] = rig.send(F.encodeFrame({ type: F.T_READ_SERIAL, cardId: 0, seq: 0, expiry: EXPIRY }, new Uint8Array(0)));
    expect(S.readSerial(open(ser, F.T_SERIAL, null).body)).to.equal(SERIAL);
    const [vp] = rig.send(F.encodeFrame({ type: F.T_VERIFY_CHALLENGE, cardId: 0, seq: 0, expiry: EXPIRY }, S.encodeChallenge(1, bytes(VEC.nonce))));
    expect(S.readProof(open(vp, F.T_VERIFY_PROOF, null).body)).to.deep.equal({ slot: 1, generation: 0, proof: new Uint8Array(16) });
    // A challenge under K_pair needs the bound phone.
    const [e] = rig.challenge(1, bytes(VEC.nonce));
    expect(errorCode(e)).to.equal(F.E_NOT_PAIRED);
    rig.pair();
    const [p] = rig.challenge(1, bytes(VEC.nonce));
    expect(S.readProof(open(p, F.T_SECURITY_PROOF, PAIR).body)?.generation).to.equal(0);
  });

  it("writes a first profile, proves its code for writes and for verification (never the code), rewrites it, and the old code is gone", () => {
    const rig = new Rig();
    rig.pair();
    const [ack] = rig.write(data(1, 0, code1(), "MEMBER01"));
    expect(open(ack, F.T_ACK, null).type).to.equal(F.T_ACK);
    expect(readProfile(rig.store.read("ink.prof.1"), SHA)?.cardId).to.equal("MEMBER01");
    expect(rig.store.read(S.stagedSlot(BASE, 1))).to.equal(undefined);
    expect(rig.shown.at(-1)).to.deep.equal({ kind: SCREEN_PROFILE, arg: ["WRITTEN", "1 MEMBER01"] });
    const n1 = bytes(VEC.nonce);
    const [p] = rig.challenge(1, n1);
    const proof = S.readProof(open(p, F.T_SECURITY_PROOF, PAIR).body);
    expect(proof && [proof.generation, hex(proof.proof)]).to.deep.equal([1, independentProof(code1(), 1, 1, 1, SERIAL, n1)]);
    const [v] = rig.send(F.encodeFrame({ type: F.T_VERIFY_CHALLENGE, cardId: 0, seq: 0, expiry: EXPIRY }, S.encodeChallenge(1, n1)));
    expect(hex(S.readProof(open(v, F.T_VERIFY_PROOF, null).body)!.proof)).to.equal(independentProof(code1(), 2, 1, 1, SERIAL, n1));
    // No notification carries the code.
    for (const note of rig.notes) expect(hex(note)).to.not.contain(VEC.code.slice(0, 16));

    const code2 = new Uint8Array(randomBytes(32));
    rig.write(data(1, 1, code2, "MEMBER02"));
    const [p2] = rig.challenge(1, n1);
    expect(hex(S.readProof(open(p2, F.T_SECURITY_PROOF, PAIR).body)!.proof)).to.equal(independentProof(code2, 1, 1, 2, SERIAL, n1));
    expect(readProfile(rig.store.read("ink.prof.1"), SHA)?.cardId).to.equal("MEMBER02");
    // A DUPLICATE challenge gets the same proof again, no flash write.
    const before = rig.flash.stats().writes;
    const [again] = rig.challenge(1, n1, rig.seq);
    expect(hex(again)).to.equal(hex(p2));
    expect(rig.flash.stats().writes).to.equal(before);
  });

  describe("refuses, changing nothing", () => {
    function written(): Rig {
      const rig = new Rig();
      rig.pair();
      rig.write(data(1, 0, code1(), "MEMBER01"));
      return rig;
    }
    const activated = () => {
      const r = encodeProfile(profile("X", 3), SHA);
      r.fill(0, r.length - 4);
      return r;
    };
    const cases: Array<[string, number, (r: Rig) => void]> = [
      ["a profile bound to another chip serial", F.E_WRONG_CARD, (r) => r.write(data(1, 1, code1(), "EVIL", "f1e2d3c4-a5b6c7d9"))],
      ["an envelope made for the slot's previous state (replayed)", F.E_OLD_SEQ, (r) => r.write(data(1, 0, code1(), "OLD"))],
      ["an envelope for a generation the slot never had", F.E_OLD_SEQ, (r) => r.write(data(1, 5, code1(), "AHEAD"))],
      ["slot 0 (the issued profile)", F.E_MALFORMED, (r) => r.write(Object.assign(S.encodeProfileData(SHA, data(1, 1, code1(), "Z")), { 0: 0 }))],
      ["slot 4", F.E_MALFORMED, (r) => r.write(Object.assign(S.encodeProfileData(SHA, data(1, 1, code1(), "Z")), { 0: 4 }))],
      ["a generation that is not previous + 1", F.E_MALFORMED, (r) => r.write(Object.assign(S.encodeProfileData(SHA, data(1, 1, code1(), "Z")), { 8: 9 }))],
      ["a truncated body", F.E_TRUNCATED, (r) => r.write(S.encodeProfileData(SHA, data(1, 1, code1(), "Z")).subarray(0, 48))],
      ["a damaged profile record", F.E_MALFORMED, (r) => r.write(Object.assign(S.encodeProfileData(SHA, data(1, 1, code1(), "Z")), { 100: 1 }))],
      ["trailing bytes after the record", F.E_MALFORMED, (r) => r.write(Uint8Array.from([...S.encodeProfileData(SHA, data(1, 1, code1(), "Z")), 0]))],
      ["an activated record", F.E_MALFORMED, (r) => r.write({ ...data(1, 1, code1(), "Z"), record: activated() })],
      ["a challenge for slot 0", F.E_MALFORMED, (r) => r.send(F.sealFrame(aead, PAIR, { type: F.T_SECURITY_CHALLENGE, cardId: CARD, seq: ++r.seq, expiry: EXPIRY }, Uint8Array.from([0, ...new Uint8Array(16)])))],
      ["a short challenge", F.E_TRUNCATED, (r) => r.send(F.encodeFrame({ type: F.T_VERIFY_CHALLENGE, cardId: 0, seq: 0, expiry: EXPIRY }, new Uint8Array(16)))],
      ["a long challenge", F.E_OVERSIZED, (r) => r.send(F.encodeFrame({ type: F.T_VERIFY_CHALLENGE, cardId: 0, seq: 0, expiry: EXPIRY }, new Uint8Array(18).fill(1)))],
      ["a profile written by another phone's key", F.E_BAD_TAG, (r) => r.send(F.sealFrame(aead, new Uint8Array(32), { type: F.T_PROFILE_WRITE, cardId: CARD, seq: 99, expiry: EXPIRY }, new Uint8Array(40)))],
      ["a READ_SERIAL with a body", F.E_MALFORMED, (r) => r.send(F.encodeFrame({ type: F.T_READ_SERIAL, cardId: 0, seq: 0, expiry: EXPIRY }, new Uint8Array(3)))],
      ["a clear READ_SERIAL with a seq", F.E_MALFORMED, (r) => r.send(F.encodeFrame({ type: F.T_READ_SERIAL, cardId: 0, seq: 1, expiry: EXPIRY }, new Uint8Array(0)))],
    ];
    for (const [name, code, act] of cases) {
      it(name, () => {
        const rig = written();
        const before = rig.snapshot();
        const from = rig.notes.length;
        act(rig);
        const r = F.newReassembly();
        let last: Uint8Array | undefined;
        for (const n of rig.notes.slice(from)) if (F.pushFragment(r, n) === F.COMPLETE) last = r.buf.slice(0, r.len);
        expect(errorCode(last!)).to.equal(code);
        // The link record's seq may not move either: the flash image is compared whole.
        expect(rig.snapshot()).to.equal(before);
      });
    }
  });

  it("a power cut at any flash operation of a write leaves the slot's old profile and code, or the new ones, after the next boot", () => {
    const rig = new Rig();
    rig.pair();
    rig.write(data(1, 0, code1(), "MEMBER01"));
    const image = rig.flash.snapshot();
    const code2 = new Uint8Array(randomBytes(32));
    const next = data(1, 1, code2, "MEMBER02");
    // Count the operations of a whole write.
    const probe = new Rig(new Flash({ image }));
    probe.seq = rig.seq;
    probe.issuerSeq = rig.issuerSeq;
    probe.flash.trace = [];
    probe.write(next);
    const ops = probe.flash.trace.length;
    expect(ops).to.be.above(3);
    const outcomes = new Set<string>();
    for (let j = 1; j <= ops; j++) {
      for (const partial of [0, undefined]) {
        const f = new Flash({ image });
        const victim = new Rig(f);
        victim.seq = rig.seq;
        victim.issuerSeq = rig.issuerSeq;
        f.cutAfterWrites(j, partial);
        expect(() => victim.write(next), `cut at op ${j}`).to.throw(PowerCut);
        f.powerUp();
        const store = storeOver(new Storage(f));
        S.installSlot(store, SHA, BASE, 1); // what boot does
        const sec = S.readSecurity(store, SHA, BASE, 1);
        const label = readProfile(store.read("ink.prof.1"), SHA)?.cardId;
        const got = [sec?.generation, sec && hex(sec.code), label].join(" ");
        expect([`1 ${VEC.code} MEMBER01`, `2 ${hex(code2)} MEMBER02`], `cut at op ${j} (${partial ?? "whole"})`).to.include(got);
        outcomes.add(got.split(" ")[0]);
        expect(store.read(S.stagedSlot(BASE, 1))).to.equal(undefined);
        // The link record survives too: the newest of its two files is whole.
        expect(loadRecord(store, SHA, "ink.link").epoch).to.equal(1);
      }
    }
    expect([...outcomes].sort()).to.deep.equal(["1", "2"]);
  });
});
