/**
 * The firmware's Bluetooth link, end to end on the emulated board: the
 * flashed bundle (dist/firmware.js) with a provisioned profile, the phone's
 * relay (host-tools/phone/relay.ts) through the board's Bluetooth model, and
 * an issuer written here on node:crypto alone (HKDF, the AEAD's reference
 * test/core/etm-reference.ts, the OCRA answer from RFC 6287's definition),
 * independent of the card's code. The holder bonds with the passkey read
 * off the card's screen, pairs the phone, receives a payment, reads it on
 * the screen and confirms or declines it with the button.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import type { Payment } from "../../firmware/core/payment.ts";
import { encodeProfile, stagingName } from "../../firmware/core/profile.ts";
import { DIST_FILE } from "../../host-tools/build/paths.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { PhoneRelay, RelayError, linkKey, type RelayClock } from "../../host-tools/phone/relay.ts";
import type { Board } from "../../sim/board/board.ts";
import { GattError } from "../../sim/board/ble.ts";
import type { ClockTask } from "../../sim/board/clock.ts";
import { LinkIssuer as Issuer } from "../support/link-issuer.ts";
import { flashedBoard, out } from "../sim/helpers.ts";
import { testProfile } from "../support/card-rig.ts";
import { CentralTransport, MemoryStore, drive } from "./central.ts";
import * as F from "../../firmware/core/frames.ts";
import * as S from "../../firmware/core/personal.ts";
import { referenceAead } from "../core/etm-reference.ts";
import { xorshift } from "../card/prng.ts";

const T0 = 1_800_000_000;
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const SHA = nodeHash("SHA256");

interface Card {
  board: Board;
  issuer: Issuer;
  clock: RelayClock;
  store: MemoryStore;
  deviceId: Uint8Array;
}

async function card(): Promise<Card> {
  if (!existsSync(DIST_FILE)) throw new Error("dist/firmware.js is missing: run `npm run build` first");
  const board = await flashedBoard(readFileSync(DIST_FILE, "latin1"));
  board.advance(5000);
  board.setTime(T0);
  const key = randomBytes(20);
  const record = encodeProfile(testProfile({ key, mode: "counter" }), nodeHash("SHA256"));
  board.console.write(`\x10require("Storage").write(${JSON.stringify(stagingName(board.config.storage.profile))}, atob("${Buffer.from(record).toString("base64")}"))\n`);
  board.console.write(`\x10E.emit("ink-install")\n`);
  board.advance(5000);
  expect(out(board)).to.match(/"installed":true/);
  const clock: RelayClock = {
    now: () => board.getTime() * 1000,
    setTimeout: (fn, ms) => board.clock.schedule(board.now() + ms, fn),
    clearTimeout: (h) => board.clock.cancel(h as ClockTask),
  };
  const deviceId = randomBytes(16);
  return { board, issuer: new Issuer(key, T0), clock, store: new MemoryStore({ deviceId: hex(deviceId), cards: {} }), deviceId };
}

const texts = (b: Board) => b.textRuns().map((r) => r.text);

/** Connect and bond as a phone does: the card shows a passkey on its screen, the holder types it. */
function bond(c: Card, mtu: number): CentralTransport {
  const central = c.board.ble.connect({ mtu });
  c.board.advance(0);
  expect(central.pair()).to.equal("passkey");
  c.board.advance(3000); // the passkey screen's refresh
  expect(texts(c.board)).to.include("PAIRING");
  const passkey = texts(c.board).filter((t) => /^\d+$/.test(t)).join("");
  expect(passkey).to.match(/^\d{6}$/);
  expect(central.enterPasskey(passkey)).to.equal(true);
  return new CentralTransport(central);
}

function payment(over: Partial<Payment> = {}): Payment {
  return { code: "428913", amount: 12345, currency: "EUR", exponent: 2, payee: "Café du Parc", details: "Table 4, 2 covers", expiry: T0 + 120, txId: randomBytes(16), ...over };
}

/** Press (or hold) once the payment is on the screen. */
function decideWhenShown(c: Card, hold: number): () => void {
  let done = false;
  return () => {
    if (done || !texts(c.board).includes("Press: confirm  Hold: decline")) return;
    done = true;
    c.board.hold(hold);
  };
}

/** Every file of the card's Storage, name and bytes: what a refused frame must leave as it was. */
function storageImage(c: Card): string {
  return c.board.storage
    .list()
    .sort()
    .map((name) => `${name}=${hex(c.board.storage.readBytes(name) ?? new Uint8Array(0))}`)
    .join(";");
}

async function paired(c: Card, mtu: number): Promise<{ relay: PhoneRelay; t: CentralTransport }> {
  const t = bond(c, mtu);
  const relay = new PhoneRelay(t, { store: c.store, clock: c.clock });
  const hello = await drive(c, relay.hello());
  expect(hello.linkId).to.equal(c.issuer.cardId);
  expect(hello.epoch).to.equal(0);
  await drive(c, relay.pair(c.issuer.grant(c.deviceId, 1), c.issuer.pairKey(c.deviceId, 1), 1, c.deviceId));
  return { relay, t };
}

describe("the firmware's Bluetooth link on the emulated board (dist/firmware.js, the phone's relay, an issuer on node:crypto)", function () {
  this.timeout(120_000);
  let c: Card | undefined;
  afterEach(() => {
    if (c) expect(out(c.board)).to.not.match(/Uncaught|failed:/);
    c = undefined;
  });

  for (const mtu of [23, 53]) {
    it(`bonds with the passkey on the screen, pairs, shows a payment and confirms it with a press (MTU ${mtu})`, async () => {
      c = await card();
      const { relay } = await paired(c, mtu);
      const p = payment();
      const answer = await drive(c, relay.pay(c.issuer.payment(p)), decideWhenShown(c, 100));
      expect(answer).to.equal(c.issuer.answer(p));
      // The answer is on the screen too, after the payment was.
      c.board.advance(3000);
      expect(texts(c.board)).to.include("CONFIRMED");
      expect(texts(c.board).filter((t) => /^\d+$/.test(t)).join("")).to.equal(answer);
      expect(c.store.state.cards[linkKey(c.issuer.cardId)]?.seq).to.equal(1);
    });
  }

  it("shows what the issuer sealed: amount with its decimal point, payee (non-ASCII as ?), details, code", async () => {
    c = await card();
    const { relay } = await paired(c, 53);
    let seen: string[] = [];
    const p = payment({ amount: 500, currency: "JPY", exponent: 0, payee: "Müller", details: "2 x coffee", code: "9876543210" });
    const d = await drive(c, relay.pay(c.issuer.payment(p)), () => {
      if (seen.length === 0 && texts(c!.board).includes("Press: confirm  Hold: decline")) {
        seen = texts(c!.board);
        c!.board.hold(2500);
      }
    });
    expect(d).to.equal("declined");
    expect(seen).to.include.members(["500 JPY", "M?ller", "2 x coffee"]);
    expect(seen.filter((t) => /^\d+$/.test(t)).join("")).to.equal("9876543210");
    c.board.advance(3000);
    expect(texts(c.board)).to.include("DECLINED");
  });

  it("a press with no payment shown still makes a dynamic code, with a phone connected", async () => {
    c = await card();
    await paired(c, 23);
    c.board.press();
    c.board.advance(3000);
    expect(texts(c.board)).to.include("Do not share this code");
    expect(texts(c.board).some((t) => / #\d+$/.test(t))).to.equal(true);
  });

  it("refuses an envelope older than the last accepted with E_OLD_SEQ, changing nothing on the screen or in flash", async () => {
    c = await card();
    const { relay } = await paired(c, 23);
    // Both still valid when the older is replayed: the sequence number alone refuses it.
    const older = c.issuer.payment(payment({ expiry: T0 + 3600 }));
    const p = payment({ expiry: T0 + 3600 });
    const newer = c.issuer.payment(p);
    expect(await drive(c, relay.pay(newer), decideWhenShown(c, 100))).to.equal(c.issuer.answer(p));
    c.board.advance(61_000); // the answer is wiped
    const before = texts(c.board).join("|");
    const flash = storageImage(c);
    const e = await drive(c, relay.pay(older)).catch((x: unknown) => x);
    expect(e).to.be.instanceOf(RelayError);
    expect((e as RelayError).message).to.match(/E_OLD_SEQ/);
    expect(texts(c.board).join("|")).to.equal(before);
    expect(storageImage(c)).to.equal(flash);
  });
});

/**
 * Hostile frames (issue 11): at least 100,000 of them (INKCARD_FUZZ_FRAMES to
 * change it), each made from a valid frame by one mutation, sent as writes
 * from the bonded phone. The card's answer to each is ERROR frames only,
 * nothing on the glass or in Storage changes, no error reaches the console,
 * and afterwards a real payment still goes through.
 *
 * Frame mutations are made from a request sealed under the pairing key at the
 * next sequence number (a PAYMENT, a PROFILE_WRITE, a SECURITY_CHALLENGE), so
 * that any change of its bytes must be refused
 * (the header is the AEAD's associated data); mutated bytes equal to the
 * original are skipped; or from a clear request (VERIFY_CHALLENGE,
 * READ_SERIAL), whose changed bytes may still be a request: answered
 * (INFO, SERIAL, VERIFY_PROOF), changing nothing. Write mutations (a fragment dropped, repeated, moved,
 * its control byte changed, a write too long or too short) are made from a
 * frame the card has already taken, so that even one that reassembled whole
 * would be a duplicate, which the card acknowledges and does not act on.
 * The virtual clock moves on between frames by what the flood guard refills,
 * so the frames reach the parser; a burst with no pause is one kind too.
 */
describe("hostile frames against the firmware's link on the emulated board (the fuzzer)", function () {
  const FRAMES = Number(process.env.INKCARD_FUZZ_FRAMES ?? 100_000);
  this.timeout(Math.max(120_000, FRAMES * 10));

  it(`answers ${FRAMES.toLocaleString("en")} mutated frames with ERROR (a clear request still well formed: its answer), changing nothing on the glass or in Storage`, async () => {
    const c = await card();
    const { relay, t } = await paired(c, 53);
    const first = payment({ expiry: T0 + 30 * 24 * 3600 });
    const sentBefore = t.writes.length;
    expect(await drive(c, relay.pay(c.issuer.payment(first)), decideWhenShown(c, 100))).to.equal(c.issuer.answer(first));
    c.board.advance(61_000); // the answer is wiped
    // The frame the card took, as the relay wrote it; and one it would take (the next seq), never sent whole.
    const taken = reassembled(t.writes.slice(sentBefore));
    const seq = c.store.state.cards[linkKey(c.issuer.cardId)]!.seq;
    const envelope = c.issuer.payment(payment({ expiry: T0 + 30 * 24 * 3600 }));
    const exp = T0 + 30 * 24 * 3600;
    const pairKey = c.issuer.pairKey(c.deviceId, 1);
    const fresh = F.sealFrame(referenceAead, pairKey, { type: F.T_PAYMENT, cardId: c.issuer.cardId, seq: seq + 1, expiry: exp }, envelope);
    // Document A's requests too: a profile for slot 1 bound to this chip, a challenge (sealed: any change is refused);
    // a verification device's challenge and READ_SERIAL (clear: a change may still be a request, answered, changing nothing).
    const profileData = S.encodeProfileData(SHA, { slot: 1, previous: 0, generation: 1, code: new Uint8Array(randomBytes(32)), serial: c.board.serial, record: encodeProfile(testProfile({ key: randomBytes(20), mode: "counter" }), SHA) });
    const profileEnvelope = F.sealFrame(referenceAead, c.issuer.derive("seal", 32), { type: F.T_PROFILE_DATA, cardId: c.issuer.cardId, seq: c.issuer.seq + 1, expiry: exp }, profileData);
    const sealed = [
      fresh,
      F.sealFrame(referenceAead, pairKey, { type: F.T_PROFILE_WRITE, cardId: c.issuer.cardId, seq: seq + 1, expiry: exp }, profileEnvelope),
      F.sealFrame(referenceAead, pairKey, { type: F.T_SECURITY_CHALLENGE, cardId: c.issuer.cardId, seq: seq + 1, expiry: exp }, S.encodeChallenge(1, new Uint8Array(randomBytes(16)))),
    ];
    const clear = [
      F.encodeFrame({ type: F.T_VERIFY_CHALLENGE, cardId: 0, seq: 0, expiry: exp }, S.encodeChallenge(1, new Uint8Array(randomBytes(16)))),
      F.encodeFrame({ type: F.T_READ_SERIAL, cardId: 0, seq: 0, expiry: exp }, new Uint8Array(0)),
    ];

    const answers: number[] = [];
    const reasm = F.newReassembly();
    t.onNotify((n) => {
      if (F.pushFragment(reasm, n) !== F.COMPLETE) return;
      const h = F.newFrame();
      answers.push(F.readFrame(reasm.buf.slice(0, reasm.len), h) === F.OK ? h.type : -1);
    });
    const glass = texts(c.board).join("|");
    const flash = storageImage(c);
    const refreshes = () => c.board.panel.refreshes.full + c.board.panel.refreshes.partial;
    const drawn = refreshes();
    const flashOps = () => c.board.flash.stats().writes + c.board.flash.stats().erases;
    const ops = flashOps();

    const rnd = xorshift(0x1c4d + FRAMES);
    const kinds = new Map<string, number>();
    let errors = 0;
    for (let n = 0; n < FRAMES; n++) {
      const pick = rnd.int(sealed.length + clear.length);
      const isClear = pick >= sealed.length;
      const m = mutate(rnd, isClear ? clear[pick - sealed.length] : sealed[pick], taken);
      kinds.set(m.kind, (kinds.get(m.kind) ?? 0) + 1);
      answers.length = 0;
      for (const w of m.writes) {
        try {
          t.central.write(F.LINK_WRITE, w, { withoutResponse: true });
        } catch (e) {
          if (!(e instanceof GattError)) throw e; // a write the link refuses (too long for the MTU) never reaches the card
        }
      }
      // What the flood guard refills for these writes and a refusal, unless this is a burst.
      c.board.advance(m.burst ? 5 : Math.ceil(((m.writes.length + F.REFUSED_COST) * 1000) / F.FLOOD_RATE));
      // Writes of a taken frame can complete a clear request left under way by the mutation before: its answer changes nothing.
      const clearAnswers = [F.T_INFO, F.T_SERIAL, F.T_VERIFY_PROOF];
      const allowed = m.fromTaken ? [F.T_ERROR, F.T_ACK, F.T_ANSWER, ...clearAnswers] : isClear ? [F.T_ERROR, ...clearAnswers] : [F.T_ERROR];
      const wrong = answers.filter((a) => !allowed.includes(a));
      if (wrong.length || refreshes() !== drawn || flashOps() !== ops) {
        expect.fail(`frame ${n} (${m.kind}): answers ${answers.join(",")}, refreshes ${refreshes() - drawn}, flash operations ${flashOps() - ops}`);
      }
      errors += answers.filter((a) => a === F.T_ERROR).length;
      if (n % 10_000 === 0) expect(out(c.board)).to.not.match(/Uncaught|failed:|MEMORY/);
    }
    expect(texts(c.board).join("|")).to.equal(glass);
    expect(storageImage(c)).to.equal(flash);
    expect(out(c.board)).to.not.match(/Uncaught|failed:|MEMORY/);
    expect(errors, "ERROR answers").to.be.greaterThan(FRAMES / 2);
    console.log(`      ${FRAMES} frames, ${errors} ERROR answers; kinds: ${[...kinds].map(([k, v]) => `${k} ${v}`).join(", ")}`);

    // The link still works: the next real payment is shown and confirmed (a relay of its own: this test took the notifications).
    c.board.advance(10_000);
    const p = payment({ expiry: T0 + 30 * 24 * 3600 });
    const again = new PhoneRelay(t, { store: c.store, clock: c.clock });
    expect(await drive(c, again.pay(c.issuer.payment(p)), decideWhenShown(c, 100))).to.equal(c.issuer.answer(p));
  });
});

/** The last whole frame in a phone's writes. */
function reassembled(writes: Uint8Array[]): Uint8Array {
  const r = F.newReassembly();
  let last: Uint8Array | undefined;
  for (const w of writes) if (F.pushFragment(r, w) === F.COMPLETE) last = r.buf.slice(0, r.len);
  if (!last) throw new Error("no whole frame in the writes");
  return last;
}

/** Writes of at most 50 bytes carrying frame (any length: past MAX_FRAME too), frame id fid. */
function writesOf(frame: Uint8Array, fid: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const step = F.MAX_WRITE - 1;
  const count = Math.max(1, Math.ceil(frame.length / step));
  for (let i = 0; i < count; i++) {
    const part = frame.subarray(i * step, (i + 1) * step);
    const w = new Uint8Array(part.length + 1);
    w[0] = (i === count - 1 ? F.CTL_LAST : 0) | (fid << 5) | (i & 31);
    w.set(part, 1);
    out.push(w);
  }
  return out;
}

interface Mutation {
  kind: string;
  writes: Uint8Array[];
  /** Made from the frame the card took: a duplicate's ACK and ANSWER are allowed answers. */
  fromTaken: boolean;
  /** Sent with no pause after the one before. */
  burst: boolean;
}

/** One hostile frame: bytes of `fresh` changed, or the writes of `taken` disordered. */
function mutate(rnd: ReturnType<typeof xorshift>, fresh: Uint8Array, taken: Uint8Array): Mutation {
  const fid = rnd.int(4);
  const burst = rnd.int(50) === 0;
  const k = rnd.int(10);
  if (k < 6) {
    let f: Uint8Array;
    let kind: string;
    do {
      f = fresh.slice();
      if (k === 0) {
        kind = "bits";
        for (let i = 1 + rnd.int(3); i > 0; i--) f[rnd.int(f.length)] ^= 1 << rnd.int(8);
      } else if (k === 1) {
        kind = "header";
        f[rnd.int(F.HEADER_BYTES)] = rnd.int(256);
      } else if (k === 2) {
        kind = "truncated";
        f = f.slice(0, rnd.int(f.length));
      } else if (k === 3) {
        kind = "extended";
        const g = new Uint8Array(f.length + 1 + rnd.int(F.MAX_FRAME));
        g.set(f);
        g.set(rnd.bytes(g.length - f.length), f.length);
        f = g;
      } else if (k === 4) {
        kind = "random";
        f = rnd.bytes(rnd.int(F.MAX_FRAME + 40));
        if (f.length > 0 && rnd.int(2)) f[0] = fresh[0]; // the version byte, to get past it
      } else {
        kind = "spliced";
        const at = rnd.int(f.length);
        f.set(rnd.bytes(Math.min(f.length - at, 1 + rnd.int(24))), at);
      }
    } while (f.length === fresh.length && Buffer.from(f).equals(Buffer.from(fresh)));
    return { kind, writes: f.length ? writesOf(f, fid) : [new Uint8Array([F.CTL_LAST])], fromTaken: false, burst };
  }
  const w = F.fragmentFrame(taken, 20, fid).map((x) => x.slice());
  const i = rnd.int(w.length);
  if (k === 6) {
    w.splice(i, 1);
    return { kind: "dropped", writes: w, fromTaken: true, burst };
  }
  if (k === 7) {
    w.splice(i, 0, w[i].slice());
    return { kind: "repeated", writes: w, fromTaken: true, burst };
  }
  if (k === 8) {
    const j = rnd.int(w.length);
    [w[i], w[j]] = [w[j], w[i]];
    w[i][0] = rnd.int(2) ? w[i][0] : rnd.int(256);
    return { kind: "moved", writes: w, fromTaken: true, burst };
  }
  const bad = rnd.int(2) ? new Uint8Array(F.MAX_WRITE + 1 + rnd.int(20)) : new Uint8Array(rnd.int(2));
  bad.set(rnd.bytes(bad.length));
  w.splice(i, 0, bad);
  return { kind: "bad write", writes: w, fromTaken: true, burst };
}
