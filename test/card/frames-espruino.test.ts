/**
 * The transport on the Espruino interpreter (the i386 build: a card's 2,630
 * variables, near a card's speed): frames-entry.ts, bundled to ES5 like the
 * firmware, runs cases made here in Node (valid frames and each class of
 * refusal, in writes of 20 and 50 bytes) with the card's own AEAD
 * (core/aead.ts) and native SHA-256, and must print exactly the lines that
 * the same driver prints in Node over the AEAD's reference (node:crypto) and @noble/hashes. The
 * last case is a largest frame, measured: Espruino variables in use while
 * it is reassembled, opened and decoded.
 */
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as F from "../../firmware/core/frames.ts";
import { newReceived } from "../../firmware/core/inbox.ts";
import * as P from "../../firmware/core/pairing.ts";
import { MAX_DETAILS, MAX_PAYEE, encodePayment, newPaymentView } from "../../firmware/core/payment.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { type Interpreter, bootFromStorage, textBytes, writeStorage } from "../../host-tools/lib/interpreter.ts";
import { requireEspruino } from "../build/espruino.ts";
import { EXPIRY, PAYMENT, VECTORS as V, referenceAead as aead } from "../core/link-vectors.ts";
import { bundleForCard } from "./bundle.ts";
import { type Rig, packCase, runCase } from "./frames-driver.ts";

const bytes = (h: string) => new Uint8Array(Buffer.from(h, "hex"));
const SHA = nodeHash("SHA256");
const NOW = EXPIRY - 60;
const cardKey = bytes(V.cardKey);
const deviceId = bytes(V.deviceId);
const CARD = P.deriveCardId(SHA, cardKey);
const SEAL = P.deriveSealKey(SHA, cardKey);
const PAIR = P.derivePairKey(SHA, cardKey, deviceId, 1);
/** Variables the card has in all; what one largest frame may take at its peak (a fifth of them). */
const CARD_VARIABLES = 2630;
const FRAME_BUDGET = 526;

function payFrame(seq: number, issuerSeq: number, o: { payment?: Uint8Array; pair?: Uint8Array; expiry?: number; innerExpiry?: number } = {}) {
  const env = F.sealFrame(aead, SEAL, { type: F.T_PAYMENT_DATA, cardId: CARD, seq: issuerSeq, expiry: o.innerExpiry ?? EXPIRY }, o.payment ?? bytes(V.payment));
  return F.sealFrame(aead, o.pair ?? PAIR, { type: F.T_PAYMENT, cardId: CARD, seq, expiry: o.expiry ?? EXPIRY }, env);
}
/** s cut to whole code points within max UTF-8 bytes, then filled with "." to exactly max. */
function fill(s: string, max: number): string {
  let out = "";
  for (const ch of s) if (Buffer.byteLength(out + ch) <= max) out += ch;
  return out + ".".repeat(max - Buffer.byteLength(out));
}
/** The largest payment: every field at its bound, text with 2-, 3- and 4-byte characters. */
const largest = encodePayment({
  ...PAYMENT, txId: bytes(PAYMENT.txId), code: "0123456789", amount: 999999999999,
  payee: fill("Zürich Café ".repeat(3), MAX_PAYEE), details: fill("é€😀 Grüße ".repeat(10), MAX_DETAILS),
});
const w20 = (f: Uint8Array, fid = 0) => F.fragmentFrame(f, 20, fid);
const w50 = (f: Uint8Array, fid = 0) => F.fragmentFrame(f, 50, fid);
const flip = (f: Uint8Array, at: number) => ((f = f.slice()), (f[at] ^= 1), f);

/** [what, paired, now, lastSeq, lastIssuerSeq, writes] */
type Case = [string, boolean, number, number, number, Uint8Array[]];
function cases(): Case[] {
  const frame = bytes(V.frame);
  const big = payFrame(2, 8, { payment: largest });
  const drop = (ws: Uint8Array[], i: number) => ws.filter((_, k) => k !== i);
  const list: Case[] = [
    ["payment, 20-byte writes", true, NOW, 0, 0, w20(frame)],
    ["payment, 50-byte writes", true, NOW, 0, 0, w50(frame, 3)],
    ["largest payment, 20", true, NOW, 1, 7, w20(big)],
    ["pair", false, NOW, 0, 0, w20(bytes(V.pairFrame))],
    ["hello", false, NOW, 0, 0, w20(bytes(V.hello))],
    ["duplicate", true, NOW, 1, 7, w50(frame)],
    ["re-wrapped envelope", true, NOW, 1, 7, w50(payFrame(2, 7))],
    ["truncated write", true, NOW, 0, 0, [new Uint8Array([0x80])]],
    ["truncated frame", true, NOW, 0, 0, [new Uint8Array([0x80, ...frame.subarray(0, 20)])]],
    ["oversized write", true, NOW, 0, 0, [new Uint8Array(51)]],
    ["oversized frame", true, NOW, 0, 0, [0, 1, 2, 3, 4, 5, 6].map((i) => new Uint8Array(50).fill(i + 1).fill(i, 0, 1))],
    ["lost write", true, NOW, 0, 0, drop(w20(frame), 2)],
    ["duplicated write", true, NOW, 0, 0, [...w20(frame).slice(0, 3), w20(frame)[2], ...w20(frame).slice(3)]],
    ["reordered writes", true, NOW, 0, 0, [...w20(frame).slice(0, 2), w20(frame)[3], w20(frame)[2], ...w20(frame).slice(4)]],
    ["another frame id", true, NOW, 0, 0, [...w20(frame, 1).slice(0, 2), ...w20(frame, 2).slice(2)]],
    ["flood", true, NOW, 0, 0, Array.from({ length: 70 }, () => new Uint8Array([0x01, 0]))],
    ["version", true, NOW, 0, 0, w50(flip(frame, 0).map((b, i) => (i === 0 ? 2 : b)))],
    ["type", true, NOW, 0, 0, w50(bytes(V.envelope))],
    ["wrong card", true, NOW, 0, 0, w50(flip(frame, 5))],
    ["expired", true, EXPIRY + 1, 0, 0, w50(frame)],
    ["envelope expired", true, NOW, 0, 0, w50(payFrame(1, 7, { innerExpiry: NOW - 1 }))],
    ["old seq", true, NOW, 2, 0, w50(frame)],
    ["old issuer seq", true, NOW, 0, 9, w50(frame)],
    ["bad tag", true, NOW, 0, 0, w50(flip(frame, 60))],
    ["another phone", true, NOW, 0, 0, w50(payFrame(1, 7, { pair: P.derivePairKey(SHA, cardKey, bytes("b0".repeat(16)), 1) }))],
    ["not paired", false, NOW, 0, 0, w50(frame)],
    ["clear seq", false, NOW, 0, 0, w20(F.encodeFrame({ type: F.T_HELLO, cardId: 0, seq: 5, expiry: EXPIRY }, new Uint8Array(0)))],
    ["malformed payment", true, NOW, 0, 0, w50(payFrame(1, 7, { payment: new Uint8Array([...bytes(V.payment), 0x20]) }))],
    // Measured: the largest frame the card takes (the last case).
    ["largest payment, measured", true, NOW, 1, 7, w20(big)],
  ];
  return list;
}

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

describe("the transport on the Espruino interpreter", function () {
  this.timeout(600_000);
  before(function (this: Mocha.Context) {
    requireEspruino(this);
  });

  it("prints for each case what Node prints, and reassembles, opens and decodes a largest frame within a fifth of the card's variables", async () => {
    const list = cases();
    const rig: Rig = {
      aead, cardId: CARD, seal: SEAL, pair: PAIR, r: F.newReassembly(), out: newReceived(), view: newPaymentView(),
      grant: { deviceId: new Uint8Array(0), epoch: 0 }, sample: () => {},
    };
    const packed = list.map(([, paired, now, ls, lis, ws]) => packCase(paired, now, ls, lis, ws));
    const expected = packed.map((c) => runCase(rig, c));
    // The cases do meet every refusal (checked in Node first, so a wrong case cannot hide behind an agreeing card).
    for (const code of [F.E_TRUNCATED, F.E_OVERSIZED, F.E_ORDER, F.E_FLOOD, F.E_VERSION, F.E_TYPE, F.E_WRONG_CARD, F.E_EXPIRED, F.E_OLD_SEQ, F.E_BAD_TAG, F.E_NOT_PAIRED, F.E_MALFORMED]) {
      expect(expected.some((l) => new RegExp(`(w|f|p) (\\d+ )*${code}\\b`).test(l)), `a case ends in ${code}`).to.equal(true);
    }
    expect(expected[0]).to.match(/f 0 t50 s1 i7 .* p 0 428913 123\.45 EUR \[Caf\? du Parc\]/);

    const setup = new Uint8Array([cardKey.length, ...cardKey, ...deviceId, 0, 0, 0, 1]);
    const all = new Uint8Array(packed.reduce((n, c) => n + 2 + c.length, 0));
    let off = 0;
    for (const c of packed) {
      all[off] = c.length >> 8;
      all[off + 1] = c.length & 255;
      all.set(c, off + 2);
      off += 2 + c.length;
    }
    const code = await bundleForCard(join(ROOT, "test/card/frames-entry.ts"));
    const dir = mkdtempSync(join(tmpdir(), "inkcard-frames-"));
    let repl: Interpreter | undefined;
    try {
      await writeStorage(dir, [[".bootcde", textBytes(code)], ["fsetup", setup], ["fcases", all]]);
      repl = await bootFromStorage(dir);
      await repl.waitFor(/@end/, 540_000);
      repl.check("running the transport cases");
      const out = repl.output;
      const keys = /@keys (\S+) (\S+) (\S+)/.exec(out);
      expect(keys?.slice(1), "the key schedule on the card").to.deep.equal([CARD.toString(16), V.sealKey, V.pairKey]);
      const got = [...out.matchAll(/@case (\d+) (.*)/g)].map((m) => m[2]);
      expect(got.length, out.slice(-2000)).to.equal(list.length);
      for (let i = 0; i < list.length; i++) expect(`${list[i][0]}: ${got[i]}`).to.equal(`${list[i][0]}: ${expected[i]}`);
      const mem = /@mem buffer (\d+) before (\d+) peak (\d+) after (\d+) ms (\d+)/.exec(out);
      expect(mem, out.slice(-1000)).to.not.equal(null);
      const [buffer, before, peak, after, ms] = mem!.slice(1).map(Number);
      console.log(
        `      reassembly buffer ${buffer} variables; largest payment frame (${F.fragmentFrame(payFrame(2, 8, { payment: largest }), 20, 0).length} writes of 20): ` +
        `in use ${before} before, peak ${peak} (+${peak - before}), ${after} after; ${ms} ms on this interpreter`,
      );
      expect(buffer, "the reassembly buffer").to.be.within(1, 60);
      expect(peak - before, "variables a largest frame takes at its peak").to.be.within(1, FRAME_BUDGET);
      expect(peak, "variables in use at the peak").to.be.below(CARD_VARIABLES);
    } finally {
      await repl?.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
