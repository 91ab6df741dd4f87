/**
 * The card's link application (core/link.ts) with injected fakes: flash and
 * Storage models, a recording display, a settable clock, notifications
 * collected and read back by a host side built on the codecs with
 * the AEAD's reference on node:crypto. The payment answer is checked against an OCRA computed here
 * from docs/dynamic-data.md with node:crypto alone. Every refusal is checked
 * to leave flash, the screen and the link's state byte-identical.
 */
import { expect } from "chai";
import { createHash, createHmac, hkdfSync, randomBytes } from "node:crypto";
import * as F from "../../firmware/core/frames.ts";
import { CardLink, type LinkState, cardKeyFromPads, loadRecord, newLinkState, paymentAnswer } from "../../firmware/core/link.ts";
import { PAYMENT_OCRA_SUITE, ocra, transactionChallenge } from "../../firmware/core/ocra.ts";
import * as P from "../../firmware/core/pairing.ts";
import { MAX_DETAILS, MAX_PAYEE, encodePayment, type Payment } from "../../firmware/core/payment.ts";
import { encodeProfile, readProfile } from "../../firmware/core/profile.ts";
import type { FlashStore } from "../../firmware/core/types.ts";
import { SCREEN_ANSWER, SCREEN_BLANK, SCREEN_DECLINED, SCREEN_PASSKEY, SCREEN_PAYMENT } from "../../firmware/core/screen-kinds.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { readAnswerBody } from "../../host-tools/phone/relay.ts";
import { Flash } from "../../sim/board/flash.ts";
import { Storage } from "../../sim/board/storage.ts";
import { storeOver } from "../support/card-rig.ts";
import { xorshift } from "../card/prng.ts";
import { EXPIRY, PAYMENT, VECTORS as V, referenceAead as aead } from "./link-vectors.ts";

const SHA = nodeHash("SHA256");
const bytes = (h: string) => new Uint8Array(Buffer.from(h, "hex"));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const KEY = bytes(V.cardKey);
const DEV = bytes(V.deviceId);
const CARD = P.deriveCardId(SHA, KEY);
const SEAL = P.deriveSealKey(SHA, KEY);
const PAIR = P.derivePairKey(SHA, KEY, DEV, 1);
const NOW = EXPIRY - 60;
const FILE = "ink.link";
/** Mutated inputs in the fuzz test (issue 11 asks for at least 100,000). */
const FUZZ_CASES = 100_000;

/** The answer as docs/dynamic-data.md defines it, with node:crypto only (no firmware code). */
function independentAnswer(p: { txId: Uint8Array; amount: number; currency: string; exponent: number; payee: string; details: string }): string {
  // IKM = K0, the card key zero-padded to 64 bytes (docs/dynamic-data.md "Keys").
  const k0 = Buffer.concat([KEY, Buffer.alloc(64 - KEY.length)]);
  const kA = Buffer.from(hkdfSync("sha256", k0, Buffer.from("inkcard/link/v1"), Buffer.from("answer"), 32));
  const amount = Buffer.alloc(6);
  amount.writeUIntBE(p.amount, 0, 6);
  const payee = Buffer.from(p.payee, "utf8");
  const details = Buffer.from(p.details, "utf8");
  const q = createHash("sha256")
    .update(Buffer.concat([Buffer.from("inkcard/answer/v1\0"), p.txId, amount, Buffer.from(p.currency), Buffer.from([p.exponent, payee.length]), payee, Buffer.from([details.length]), details]))
    .digest();
  const qField = Buffer.alloc(128);
  q.copy(qField);
  const mac = createHmac("sha256", kA).update(Buffer.concat([Buffer.from("OCRA-1:HOTP-SHA256-8:QH64"), Buffer.from([0]), qField])).digest();
  const o = mac[mac.length - 1] & 15;
  return String((mac.readUInt32BE(o) & 0x7fffffff) % 100000000).padStart(8, "0");
}

type Shown = { what: string; arg: unknown };
const SCREENS: Record<number, string> = { [SCREEN_BLANK]: "wipe", [SCREEN_PAYMENT]: "payment", [SCREEN_ANSWER]: "answer", [SCREEN_DECLINED]: "declined", [SCREEN_PASSKEY]: "passkey" };

class Rig {
  readonly flash = new Flash();
  readonly storage = new Storage(this.flash);
  store: FlashStore = storeOver(this.storage);
  now = NOW;
  readonly shown: Shown[] = [];
  readonly notes: Uint8Array[] = [];
  readonly timers: number[] = [];
  readonly state: LinkState = newLinkState();
  failWrites = false;
  readonly link: CardLink;
  constructor(key: Uint8Array | null = KEY) {
    const store = this.store;
    this.link = new CardLink({
      aead, sha256: SHA, file: FILE, clock: () => this.now, state: this.state, paymentMs: 120000, shownMs: 60000,
      store: { read: store.read, erase: store.erase, write: (n, d, o, s) => !this.failWrites && store.write(n, d, o, s) },
      cardKey: () => (key ? key.slice() : null),
      serial: () => "f1e2d3c4-a5b6c7d8",
      profileFile: "ink.prof",
      notify: (b) => this.notes.push(b.slice()),
      timer: (ms) => this.timers.push(ms),
      screen: (kind, arg) => this.shown.push({ what: SCREENS[kind] ?? `screen ${kind}`, arg }),
    });
  }
  /** Everything a refusal must leave as it was. */
  snapshot(): string {
    const s = this.state;
    return JSON.stringify([hex(this.flash.snapshot()), this.shown.length, this.link.pending(), s.payment && s.payment.code, s.paymentSeq, s.linkShown, s.answer && hex(s.answer), s.answerSeq]);
  }
  writes(ws: Uint8Array[]): void {
    for (const w of ws) this.link.write(w);
  }
  send(frame: Uint8Array, size = 20, fid = 0): void {
    this.writes(F.fragmentFrame(frame, size, fid));
  }
  /** The card's notifications since `from`, reassembled into frames. */
  answers(from = 0): Uint8Array[] {
    const r = F.newReassembly();
    const out: Uint8Array[] = [];
    for (const n of this.notes.slice(from)) {
      const c = F.pushFragment(r, n);
      expect(c === F.MORE || c === F.COMPLETE, `notification ${hex(n)}`).to.equal(true);
      if (c === F.COMPLETE) out.push(r.buf.slice(0, r.len));
    }
    return out;
  }
  pair(epoch = 1, issuerSeq = 6): void {
    const grant = F.sealFrame(aead, SEAL, { type: F.T_GRANT, cardId: CARD, seq: issuerSeq, expiry: EXPIRY }, P.encodeGrant(DEV, epoch));
    this.send(F.encodeFrame({ type: F.T_PAIR, cardId: CARD, seq: 0, expiry: EXPIRY }, grant));
  }
}

function payFrame(seq: number, issuerSeq: number, o: { payment?: Uint8Array; pair?: Uint8Array; expiry?: number; innerExpiry?: number; card?: number } = {}): Uint8Array {
  const env = F.sealFrame(aead, SEAL, { type: F.T_PAYMENT_DATA, cardId: o.card ?? CARD, seq: issuerSeq, expiry: o.innerExpiry ?? EXPIRY }, o.payment ?? bytes(V.payment));
  return F.sealFrame(aead, o.pair ?? PAIR, { type: F.T_PAYMENT, cardId: o.card ?? CARD, seq, expiry: o.expiry ?? EXPIRY }, env);
}

function errorOf(frame: Uint8Array): [number, number] {
  const f = F.newFrame();
  expect(F.readFrame(frame, f)).to.equal(F.OK);
  expect(f.type, "an ERROR").to.equal(F.T_ERROR);
  return [f.body[0], f.body[1]];
}

const payment: Payment = { ...PAYMENT, txId: bytes(PAYMENT.txId) };

describe("core/link: the card's link application", () => {
  it("answers HELLO with INFO (max write 50, epoch 0, then 1 after PAIR), and PAIR with its ACK, persisting the pairing", () => {
    const rig = new Rig();
    rig.send(bytes(V.hello));
    let [info] = rig.answers();
    expect(hex(info)).to.equal("0182" + V.cardId + "00000000" + "6b49d32c" + "32" + "00000000");
    rig.pair();
    const pairFrame = bytes(V.pairFrame);
    expect(rig.answers(1).map(hex)).to.deep.equal([hex(F.encodeAck({ type: F.T_PAIR, cardId: CARD, seq: 0, expiry: EXPIRY }, CARD))]);
    expect(pairFrame.length).to.be.above(0);
    const rec = loadRecord(rig.store, SHA, FILE);
    expect([hex(rec.deviceId), rec.epoch, rec.lastSeq, rec.lastIssuerSeq, rec.generation]).to.deep.equal([V.deviceId, 1, 0, 6, 1]);
    const n = rig.notes.length;
    rig.send(bytes(V.hello));
    [info] = rig.answers(n);
    expect(hex(info.subarray(14))).to.equal("3200000001");
  });

  it("takes a payment in 20-byte writes, persists both sequence numbers before acting, shows it, and answers a confirm with the OCRA of docs/dynamic-data.md", () => {
    const rig = new Rig();
    rig.pair();
    let n = rig.notes.length;
    rig.writes(V.fragments20.map(bytes)); // the document's own frame: seq 1, issuer seq 7
    expect(rig.answers(n).map(hex)).to.deep.equal([V.ack]);
    const rec = loadRecord(rig.store, SHA, FILE);
    expect([rec.lastSeq, rec.lastIssuerSeq]).to.deep.equal([1, 7]);
    expect(rig.shown.at(-1)).to.deep.equal({ what: "payment", arg: { amount: "123.45 EUR", payee: "Caf? du Parc", details: "Table 4, 2 covers", code: "428913" } });
    expect(rig.timers.at(-1)).to.equal(60000); // the payment's expiry (60 s away) comes before the 120 s timeout
    expect(rig.state.payment !== null).to.equal(true);

    n = rig.notes.length;
    expect(rig.link.confirm()).to.equal(true);
    const [ans] = rig.answers(n);
    const out = F.newFrame();
    expect(F.openFrame(aead, PAIR, ans, F.T_ANSWER, CARD, 0, NOW, out)).to.equal(F.OK);
    const r = Buffer.from(out.body).toString("latin1");
    expect(out.seq).to.equal(1);
    expect(r).to.equal(independentAnswer({ ...payment, txId: payment.txId }));
    expect(r).to.equal(ocra(SHA, PAYMENT_OCRA_SUITE, P.deriveAnswerKey(SHA, KEY), { question: transactionChallenge(SHA, { ...payment, payee: Buffer.from(payment.payee), details: Buffer.from(payment.details) }) }));
    expect(rig.shown.at(-1)).to.deep.equal({ what: "answer", arg: r });
    expect([rig.state.payment !== null, rig.link.pending(), rig.link.confirm()]).to.deep.equal([false, false, false]);

    // A DUPLICATE of the payment frame: the same ACK, and the very same ANSWER bytes.
    n = rig.notes.length;
    rig.send(bytes(V.frame), 50, 2);
    expect(rig.answers(n).map(hex)).to.deep.equal([V.ack, hex(ans)]);
  });

  it("computes the answer of a largest payment like the generic OCRA and the independent one, and shows it at 50-byte notifications once the phone writes 50", () => {
    const fill = (s: string, max: number) => {
      let o = "";
      for (const ch of s) if (Buffer.byteLength(o + ch) <= max) o += ch;
      return o + ".".repeat(max - Buffer.byteLength(o));
    };
    const big: Payment = { ...payment, code: "0123456789", amount: 999999999999, payee: fill("Zürich Café ".repeat(3), MAX_PAYEE), details: fill("é€😀 Grüße ".repeat(10), MAX_DETAILS) };
    const rig = new Rig();
    rig.pair();
    rig.send(payFrame(5, 9, { payment: encodePayment(big) }), 50);
    const n = rig.notes.length;
    rig.link.confirm();
    expect(rig.notes.slice(n).every((x) => x.length <= 50)).to.equal(true);
    expect(rig.notes.slice(n).some((x) => x.length > 20)).to.equal(true);
    const out = F.newFrame();
    expect(F.openFrame(aead, PAIR, rig.answers(n)[0], F.T_ANSWER, CARD, 0, NOW, out)).to.equal(F.OK);
    expect(Buffer.from(out.body).toString()).to.equal(independentAnswer(big));
    const q = transactionChallenge(SHA, { ...big, payee: Buffer.from(big.payee), details: Buffer.from(big.details) });
    expect(paymentAnswer(SHA, P.deriveAnswerKey(SHA, KEY), Buffer.from(q, "hex"))).to.equal(ocra(SHA, PAYMENT_OCRA_SUITE, P.deriveAnswerKey(SHA, KEY), { question: q }));
  });

  it("declines on a long press (no R made, an empty sealed ANSWER sent and kept for a DUPLICATE), and wipes a payment at its expiry", () => {
    const rig = new Rig();
    rig.pair();
    rig.send(payFrame(1, 7));
    let n = rig.notes.length;
    expect(rig.link.decline()).to.equal(true);
    const [ans] = rig.answers(n);
    const out = F.newFrame();
    expect(F.openFrame(aead, PAIR, ans, F.T_ANSWER, CARD, 0, NOW, out)).to.equal(F.OK);
    expect([out.seq, out.body.length]).to.deep.equal([1, 0]);
    expect(readAnswerBody(out.body)).to.equal("declined"); // what the phone's relay reads
    expect(rig.shown.at(-1)?.what).to.equal("declined");
    expect([rig.link.confirm(), rig.link.decline()]).to.deep.equal([false, false]);
    n = rig.notes.length;
    rig.send(payFrame(1, 7));
    expect(rig.answers(n).slice(-1).map(hex)).to.deep.equal([hex(ans)]);
    rig.send(payFrame(2, 8));
    n = rig.notes.length;
    rig.link.wipe(); // the timer at the payment's expiry
    expect(rig.shown.at(-1)?.what).to.equal("wipe");
    expect([rig.link.confirm(), rig.notes.length - n]).to.deep.equal([false, 0]);
  });

  describe("refusals change nothing but answer an ERROR", () => {
    /** A paired card with a payment shown (seq 3, issuer seq 7). */
    function shown(): Rig {
      const rig = new Rig();
      rig.pair();
      rig.send(payFrame(3, 7));
      return rig;
    }
    const frame = () => payFrame(4, 8);
    const flip = (f: Uint8Array, at: number) => ((f = f.slice()), (f[at] ^= 1), f);
    const cases: Array<[string, number, (rig: Rig) => void]> = [
      ["bad tag", F.E_BAD_TAG, (r) => r.send(flip(frame(), 40))],
      ["old seq", F.E_OLD_SEQ, (r) => r.send(payFrame(2, 8))],
      ["old issuer seq", F.E_OLD_SEQ, (r) => r.send(payFrame(4, 6))],
      ["seq 0", F.E_OLD_SEQ, (r) => r.send(payFrame(0, 8))],
      ["expired", F.E_EXPIRED, (r) => ((r.now = EXPIRY + 1), r.send(frame()))],
      ["envelope expired", F.E_EXPIRED, (r) => r.send(payFrame(4, 8, { innerExpiry: NOW - 1 }))],
      ["payment expired inside", F.E_EXPIRED, (r) => r.send(payFrame(4, 8, { payment: encodePayment({ ...payment, expiry: NOW - 1 }) }))],
      ["wrong card", F.E_WRONG_CARD, (r) => r.send(payFrame(4, 8, { card: CARD ^ 1 }))],
      ["another phone", F.E_BAD_TAG, (r) => r.send(payFrame(4, 8, { pair: P.derivePairKey(SHA, KEY, bytes("b0".repeat(16)), 1) }))],
      ["truncated write", F.E_TRUNCATED, (r) => r.writes([new Uint8Array([0x80])])],
      ["truncated frame", F.E_TRUNCATED, (r) => r.writes([new Uint8Array([0x80, ...frame().subarray(0, 12)])])],
      ["oversized write", F.E_OVERSIZED, (r) => r.writes([new Uint8Array(51)])],
      ["oversized frame", F.E_OVERSIZED, (r) => r.writes([0, 1, 2, 3, 4, 5, 6].map((i) => new Uint8Array(50).fill(9).fill(i, 0, 1)))],
      ["out of order", F.E_ORDER, (r) => r.writes(F.fragmentFrame(frame(), 20, 1).filter((_, i) => i !== 2))],
      ["malformed payment", F.E_MALFORMED, (r) => r.send(payFrame(4, 8, { payment: new Uint8Array([...bytes(V.payment), 0x20]) }))],
      ["flash write fails", F.E_BUSY, (r) => ((r.failWrites = true), r.send(frame()))],
      ["flood", F.E_FLOOD, (r) => r.writes(Array.from({ length: 80 }, () => new Uint8Array([0x01, 0])))],
    ];
    for (const [what, code, act] of cases) {
      it(`${what}: ERROR ${code}, flash, screen and link state as they were`, () => {
        const rig = shown();
        const before = rig.snapshot();
        const n = rig.notes.length;
        act(rig);
        expect(rig.snapshot(), what).to.equal(before);
        const errors = rig.answers(n).map(errorOf);
        expect(errors.length, "answered").to.be.above(0);
        expect(errors.map((e) => e[0])).to.include(code);
        if (code === F.E_ORDER) expect(errors.find((e) => e[0] === code)![1]).to.equal(2);
        // The shown payment is still the one to confirm.
        expect(rig.link.confirm()).to.equal(true);
      });
    }

    it(`${FUZZ_CASES.toLocaleString("en")} mutated frames and fragment streams: no throw, no flash write, screen and link state as they were, every one answered`, function () {
      this.timeout(300_000);
      const seed = process.env.INKCARD_SEED ? Number(process.env.INKCARD_SEED) >>> 0 : randomBytes(4).readUInt32BE(0);
      console.log(`      fuzz seed: 0x${seed.toString(16)} (replay: INKCARD_SEED=0x${seed.toString(16)})`);
      const rnd = xorshift(seed);
      // Frames to mutate: one the card would take (a new payment: any change to its bytes must be
      // refused), and ones it already took or that change nothing (HELLO, the shown payment, the PAIR).
      const fresh = frame();
      const grant = F.sealFrame(aead, SEAL, { type: F.T_GRANT, cardId: CARD, seq: 6, expiry: EXPIRY }, P.encodeGrant(DEV, 1));
      const harmless = [payFrame(3, 7), bytes(V.hello), F.encodeFrame({ type: F.T_PAIR, cardId: CARD, seq: 0, expiry: EXPIRY }, grant)];
      const mutate = (f: Uint8Array): Uint8Array => {
        const m = f.slice();
        switch (rnd.int(6)) {
          case 0: // a few bit flips
            for (let k = 1 + rnd.int(3); k > 0; k--) m[rnd.int(m.length)] ^= 1 << rnd.int(8);
            return m;
          case 1: // a byte set to an edge value
            m[rnd.int(m.length)] = [0, 0x7f, 0x80, 0xff][rnd.int(4)];
            return m;
          case 2: // cut short
            return m.subarray(0, rnd.int(m.length));
          case 3: // grown by random bytes
            return new Uint8Array([...m, ...rnd.bytes(1 + rnd.int(40))]);
          case 4: { // a random run overwritten
            const run = rnd.bytes(Math.min(m.length, 1 + rnd.int(16)));
            m.set(run, rnd.int(m.length - run.length + 1));
            return m;
          }
          default: // garbage of a frame's size
            return rnd.bytes(1 + rnd.int(320));
        }
      };
      let rig = shown();
      let before = rig.snapshot();
      let stats = JSON.stringify(rig.flash.stats());
      for (let i = 0; i < FUZZ_CASES; i++) {
        // A new card now and then. The clock stands still here (the payment must not expire), so the
        // flood guard would soon answer almost nothing: each case starts with a full bucket (the
        // guard has a test of its own above).
        if (i % 2000 === 1999) {
          rig = shown();
          before = rig.snapshot();
          stats = JSON.stringify(rig.flash.stats());
        }
        rig.state.flood = null;
        const n = rig.notes.length;
        const size = 20 + rnd.int(31);
        const fid = rnd.int(4);
        const what = `case ${i} (seed 0x${seed.toString(16)})`;
        let writes: Uint8Array[];
        if (rnd.int(4) > 0) {
          // A mutated frame, fragmented as a phone would.
          const src = rnd.int(2) ? fresh : harmless[rnd.int(harmless.length)];
          const m = mutate(src);
          // Two flips of one bit, or a byte set to what it was, give the frame back: the card rightly takes it.
          if (src === fresh && Buffer.compare(m, fresh) === 0) m[rnd.int(m.length)] ^= 1 << rnd.int(8);
          writes = m.length ? F.fragmentFrame(m, size, fid) : [new Uint8Array(0)];
        } else {
          // A harmless frame's fragments, mangled: dropped, repeated, swapped, or a control byte changed.
          writes = F.fragmentFrame(harmless[rnd.int(harmless.length)], size, fid).map((x) => x.slice());
          const j = rnd.int(writes.length);
          switch (rnd.int(4)) {
            case 0: writes.splice(j, 1); break;
            case 1: writes.splice(j, 0, writes[j]); break;
            case 2: [writes[0], writes[j]] = [writes[j], writes[0]]; break;
            default: writes[j][0] = rnd.int(256);
          }
        }
        try {
          rig.writes(writes);
        } catch (e) {
          throw new Error(`${what} threw: ${(e as Error).message}`);
        }
        expect(JSON.stringify(rig.flash.stats()), `${what}: flash written`).to.equal(stats);
        expect(rig.snapshot(), `${what}: state changed`).to.equal(before);
        // Every complete frame or refused write gets an answer; an incomplete stream may wait for more.
        if (rig.notes.length === n) {
          rig.link.write(new Uint8Array([0xff])); // a write no phone sends ends whatever was pending
          expect(rig.notes.length, `${what}: unanswered`).to.be.above(n);
          expect(rig.snapshot(), `${what}: state changed`).to.equal(before);
        }
      }
      expect(rig.link.confirm(), "the shown payment survives").to.equal(true);
    });

    it("a replayed PAIR (same grant) is a DUPLICATE: ACK, nothing changed", () => {
      const rig = shown();
      const before = rig.snapshot();
      rig.pair();
      expect(rig.snapshot()).to.equal(before);
    });

    it("a card without a key answers HELLO and refuses a payment", () => {
      const rig = new Rig(null);
      rig.send(bytes(V.hello));
      rig.send(payFrame(1, 7));
      const [info, err] = rig.answers();
      expect(info[1]).to.equal(F.T_INFO);
      expect(errorOf(err)[0]).to.be.oneOf([F.E_WRONG_CARD, F.E_NOT_PAIRED]);
      expect(rig.shown).to.deep.equal([]);
    });
  });

  it("recovers the card key zero-padded to 64 bytes from the profile's pads, and the issuer's key gives the same link keys", () => {
    // The last two keys end in zero bytes: only K0 (K as HMAC pads it) comes back from the pads.
    for (const k of ["00112233445566778899aabbccddeeff01020304", "00112233445566778899aabbccddeeff01020300", "00112233445566778899aabbccddeeff" + "00".repeat(16)]) {
      for (const alg of ["SHA1", "SHA256", "SHA512"] as const) {
        const key = bytes(k);
        const rec = encodeProfile({ mode: "counter", algorithm: alg, digits: 6, stepSeconds: 30, startCounter: 0, cardId: "X", key }, SHA);
        const p = readProfile(rec, SHA)!;
        const k0 = cardKeyFromPads(p.pads);
        expect(hex(k0), `${alg} ${k}`).to.equal(k + "00".repeat(64 - key.length));
        // The card derives from K0, the issuer from K: the same keys.
        expect(hex(P.deriveSealKey(SHA, k0)), `${alg} ${k}`).to.equal(hex(P.deriveSealKey(SHA, key)));
        expect(P.deriveCardId(SHA, k0), `${alg} ${k}`).to.equal(P.deriveCardId(SHA, key));
      }
    }
  });
});
