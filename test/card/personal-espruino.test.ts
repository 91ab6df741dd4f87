/**
 * Personalisation on the real interpreter (document A, issue 12): the bundle
 * as flashed, on the press rig (press-rig.ts: a panel and a button that move,
 * NRF stubbed), driven by the phone's frames (link-driver.ts) with the
 * issuer's envelopes sealed here over the AEAD's node:crypto reference and
 * proofs checked with node:crypto HMAC alone (independent of the card's code
 * but for the body layouts, core/personal.ts).
 *
 * What it shows at card speed: the chip serial read in clear; a first
 * profile written to slot 1 in 20-byte writes, the card's proof of its new
 * security code; a rewrite, after which the proof is the new code's; hostile
 * envelopes (another chip's, a replayed one) refused with flash unchanged; a
 * long press switching to slot 1 (its name on the glass) and a press making
 * slot 1's code; a staged write cut off by a power loss finished at the next
 * boot. Peak variables stay under PEAK_BOUND throughout.
 */
import { expect } from "chai";
import { createHmac, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as F from "../../firmware/core/frames.ts";
import * as S from "../../firmware/core/personal.ts";
import { encodeProfile, type Profile } from "../../firmware/core/profile.ts";
import { drawCodeScreen, drawProfileScreen } from "../../firmware/core/screens.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { sleep } from "../../host-tools/lib/interpreter.ts";
import { referenceAead } from "../core/etm-reference.ts";
import { requireEspruino } from "../build/espruino.ts";
import { LinkDriver, header } from "./link-driver.ts";
import { PEAK_BOUND, PressRig, crc32, expectedHotp } from "./press-rig.ts";

const SHA = nodeHash("SHA256");

function proofOf(code: Uint8Array, purpose: number, slot: number, gen: number, serial: string, nonce: Uint8Array): string {
  const g = Buffer.alloc(4);
  g.writeUInt32BE(gen);
  const m = Buffer.concat([Buffer.from("inkcard/sc/v1"), Buffer.from([purpose, slot]), g, Buffer.from([serial.length]), Buffer.from(serial), nonce]);
  return createHmac("sha256", code).update(m).digest().subarray(0, 16).toString("hex");
}

describe("personalisation on the interpreter (issue 12)", function () {
  this.timeout(600_000);
  let rig: PressRig;
  let phone: LinkDriver;
  let serial = "";
  const keys: Uint8Array[] = [];
  const codes: Uint8Array[] = [];

  before(async function (this: Mocha.Context) {
    requireEspruino(this);
    rig = await PressRig.start();
    phone = await LinkDriver.start(rig);
    await phone.pair();
  });
  after(async () => {
    await rig?.close();
  });

  const flash = () => readFileSync(join(rig.dir, "espruino.flash"));
  const expiry = () => phone.issuer.t0 + 3600;

  function slotProfile(label: string): Profile {
    const key = new Uint8Array(randomBytes(20));
    keys.push(key);
    return { mode: "counter", algorithm: "SHA1", digits: 6, stepSeconds: 30, startCounter: 0, cardId: label, key };
  }

  /** The issuer's T_PROFILE_DATA envelope inside the phone's PROFILE_WRITE, at the next seqs. */
  function writeFrame(d: S.ProfileData): Uint8Array {
    const env = F.sealFrame(referenceAead, phone.issuer.derive("seal", 32), { type: F.T_PROFILE_DATA, cardId: phone.issuer.cardId, seq: ++phone.issuer.seq, expiry: expiry() }, S.encodeProfileData(SHA, d));
    return F.sealFrame(referenceAead, phone.pairKey, { type: F.T_PROFILE_WRITE, cardId: phone.issuer.cardId, seq: ++phone.seq, expiry: expiry() }, env);
  }

  async function challenge(slot: number, nonce: Uint8Array): Promise<S.ProofView> {
    const frame = F.sealFrame(referenceAead, phone.pairKey, { type: F.T_SECURITY_CHALLENGE, cardId: phone.issuer.cardId, seq: ++phone.seq, expiry: expiry() }, S.encodeChallenge(slot, nonce));
    const [a] = await phone.send(phone.fragments(frame));
    const out = F.newFrame();
    expect(F.openFrame(referenceAead, phone.pairKey, a, F.T_SECURITY_PROOF, phone.issuer.cardId, -1, phone.issuer.t0, out)).to.equal(F.OK);
    return S.readProof(out.body)!;
  }

  function errorOf(frames: Uint8Array[]): number {
    expect(frames).to.have.length(1);
    const f = header(frames[0]);
    expect(f.type).to.equal(F.T_ERROR);
    return f.body[0];
  }

  it("reads the chip serial in clear and proves an empty slot holds no code", async () => {
    const [s] = await phone.send(phone.fragments(F.encodeFrame({ type: F.T_READ_SERIAL, cardId: 0, seq: 0, expiry: expiry() }, new Uint8Array(0))));
    expect(header(s).type).to.equal(F.T_SERIAL);
    serial = S.readSerial(header(s).body) ?? "";
    expect(serial.length).to.be.within(1, S.MAX_SERIAL);
    expect(crc32(Buffer.from(serial))).to.equal((await rig.ask(["E.CRC32(getSerial())>>>0"]))[0]);
    const p = await challenge(1, new Uint8Array(randomBytes(16)));
    expect([p.slot, p.generation]).to.deep.equal([1, 0]);
  });

  it("writes a first profile to slot 1 in 20-byte writes, names it on the glass, and proves its new code, within the card's memory", async () => {
    await rig.settle();
    await rig.resetPeak();
    codes.push(new Uint8Array(randomBytes(32)));
    const frame = writeFrame({ slot: 1, previous: 0, generation: 1, code: codes[0], serial, record: encodeProfile(slotProfile("MEMBER01"), SHA) });
    expect(frame.length).to.be.above(250);
    const t0 = Date.now();
    const acks = await phone.send(phone.fragments(frame));
    const ms = Date.now() - t0;
    expect(acks.map((f) => header(f).type)).to.deep.equal([F.T_ACK]);
    const shown = await rig.settle();
    expect(rig.shows(shown, (s, d) => drawProfileScreen(s, d, ["WRITTEN", "1 MEMBER01"]))).to.equal(true);
    const nonce = new Uint8Array(randomBytes(16));
    const p = await challenge(1, nonce);
    expect([p.generation, Buffer.from(p.proof).toString("hex")]).to.deep.equal([1, proofOf(codes[0], 1, 1, 1, serial, nonce)]);
    const peak = await rig.peak();
    console.log(`      a ${frame.length}-byte profile write in ${F.fragmentCount(frame.length, 20)} writes answered in ${ms} ms; peak ${peak} variables (bound ${PEAK_BOUND})`);
    expect(peak).to.be.at.most(PEAK_BOUND);
    expect(rig.failures()).to.deep.equal([]);
  });

  it("refuses another chip's profile and a replayed envelope, changing nothing in flash", async () => {
    await rig.settle();
    const image = flash();
    const d: S.ProfileData = { slot: 1, previous: 1, generation: 2, code: new Uint8Array(32), serial: serial.slice(0, -1) + (serial.endsWith("0") ? "1" : "0"), record: encodeProfile(slotProfile("EVIL"), SHA) };
    keys.pop();
    expect(errorOf(await phone.send(phone.fragments(writeFrame(d))))).to.equal(F.E_WRONG_CARD);
    const replay = { slot: 1, previous: 0, generation: 1, code: codes[0], serial, record: encodeProfile(slotProfile("OLD"), SHA) };
    keys.pop();
    expect(errorOf(await phone.send(phone.fragments(writeFrame(replay))))).to.equal(F.E_OLD_SEQ);
    await sleep(300);
    expect(flash().equals(image), "flash unchanged").to.equal(true);
    expect(rig.failures()).to.deep.equal([]);
  });

  it("rewrites slot 1: the verification proof is the new code's", async () => {
    codes.push(new Uint8Array(randomBytes(32)));
    const acks = await phone.send(phone.fragments(writeFrame({ slot: 1, previous: 1, generation: 2, code: codes[1], serial, record: encodeProfile(slotProfile("MEMBER02"), SHA) })));
    expect(acks.map((f) => header(f).type)).to.deep.equal([F.T_ACK]);
    await rig.settle();
    const nonce = new Uint8Array(randomBytes(16));
    const [v] = await phone.send(phone.fragments(F.encodeFrame({ type: F.T_VERIFY_CHALLENGE, cardId: 0, seq: 0, expiry: expiry() }, S.encodeChallenge(1, nonce))));
    const p = S.readProof(header(v).body)!;
    expect([p.generation, Buffer.from(p.proof).toString("hex")]).to.deep.equal([2, proofOf(codes[1], 2, 1, 2, serial, nonce)]);
    expect(Buffer.from(p.proof).toString("hex")).to.not.equal(proofOf(codes[0], 2, 1, 1, serial, nonce));
  });

  it("switches to slot 1 on a long press (named on the glass) and makes its code; a long press goes back to slot 0", async () => {
    await rig.settle();
    await rig.resetPeak();
    rig.press(1700);
    const named = await rig.settle();
    expect(rig.shows(named, (s, d) => drawProfileScreen(s, d, ["CARD 1", "MEMBER02"]))).to.equal(true);
    rig.press(80);
    const log = await rig.settle();
    const key = keys[keys.length - 1];
    expect(rig.shows(log, (s, d) => drawCodeScreen(s, d, expectedHotp(key, 0, 6), "MEMBER02 #0")), "slot 1's first code").to.equal(true);
    rig.press(1700);
    const back = await rig.settle();
    expect(rig.shows(back, (s, d) => drawProfileScreen(s, d, ["CARD 0", rig.cardId]))).to.equal(true);
    rig.press(80);
    await rig.settle();
    expect(await rig.peak()).to.be.at.most(PEAK_BOUND);
    expect(rig.failures()).to.deep.equal([]);
  });

  it("finishes a staged write that a power cut interrupted, at the next boot", async () => {
    // What the card has once the staged copy is whole and before it is installed: the body and its SHA-256.
    codes.push(new Uint8Array(randomBytes(32)));
    const body = S.encodeProfileData(SHA, { slot: 2, previous: 0, generation: 1, code: codes[2], serial, record: encodeProfile(slotProfile("GYM"), SHA) });
    const staged = Buffer.concat([body, SHA.digest(body)]);
    rig.interpreter.send(`\x10require("Storage").write(${JSON.stringify(S.stagedSlot(rig.board.storage.profile, 2))},atob(${JSON.stringify(staged.toString("base64"))}))`);
    await sleep(500);
    await rig.reboot();
    const nonce = new Uint8Array(randomBytes(16));
    const [v] = await phone.send(phone.fragments(F.encodeFrame({ type: F.T_VERIFY_CHALLENGE, cardId: 0, seq: 0, expiry: expiry() }, S.encodeChallenge(2, nonce))));
    const p = S.readProof(header(v).body)!;
    expect([p.generation, Buffer.from(p.proof).toString("hex")]).to.deep.equal([1, proofOf(codes[2], 2, 2, 1, serial, nonce)]);
    const free = await rig.ask(['require("Storage").getFree()']);
    console.log(`      three slots written; Storage free ${free[0]} bytes`);
    expect(rig.failures()).to.deep.equal([]);
  });
});
