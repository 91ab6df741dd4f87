/**
 * The payment payload (firmware/core/payment.ts): the documented vector, round
 * trips, every bound, strict UTF-8 against Node's fatal TextDecoder, what the
 * panel shows, and canonicity: a seeded fuzzer checks that whatever decodes
 * encodes back to the very same bytes (one encoding per value) and that the
 * decoder never throws and leaves its output alone on a refusal.
 * INKCARD_SEED=<seed> replays the fuzzer.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import * as F from "../../firmware/core/frames.ts";
import {
  MAX_DETAILS, MAX_PAYEE, MAX_PAYMENT, type Payment, type PaymentView,
  decodePayment, encodePayment, formatAmount, newPaymentView, panelText, validText,
} from "../../firmware/core/payment.ts";
import { PAYMENT, VECTORS as V } from "./link-vectors.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const bytes = (h: string) => new Uint8Array(Buffer.from(h, "hex"));
const utf8 = new TextDecoder("utf-8", { fatal: true });
const base: Payment = { ...PAYMENT, txId: bytes(PAYMENT.txId) };

/** A decoded view back to the encoder's input: text through Node's fatal decoder. */
function toPayment(v: PaymentView): Payment {
  return { code: v.code, amount: v.amount, currency: v.currency, exponent: v.exponent, payee: utf8.decode(v.payee), details: utf8.decode(v.details), expiry: v.expiry, txId: v.txId.slice() };
}

function decode(b: Uint8Array): { code: number; view: PaymentView } {
  const view = newPaymentView();
  return { code: decodePayment(b, view), view };
}

describe("payment payload", () => {
  it("encodes the documented vector and decodes it back", () => {
    const b = encodePayment(base);
    expect(hex(b)).to.equal(V.payment);
    const { code, view } = decode(b);
    expect(code).to.equal(F.OK);
    expect(toPayment(view)).to.deep.equal(base);
    expect(panelText(view.payee)).to.equal("Caf? du Parc");
    expect(formatAmount(view.amount, view.exponent) + " " + view.currency).to.equal("123.45 EUR");
  });

  it("round-trips the bounds: shortest and longest of every field", () => {
    const cases: Partial<Payment>[] = [
      { code: "0000", amount: 0, exponent: 0, payee: "A", details: "", expiry: 1 },
      { code: "9999999999", amount: 999999999999, exponent: 4, payee: "P".repeat(MAX_PAYEE), details: "d".repeat(MAX_DETAILS), expiry: 0xffffffff },
      { payee: "€".repeat(10), details: "😀".repeat(22) }, // 30 and 88 bytes
      { currency: "JPY", exponent: 0, amount: 2 ** 32 + 5 },
    ];
    for (const c of cases) {
      const p = { ...base, ...c };
      const b = encodePayment(p);
      expect(b.length).to.be.at.most(MAX_PAYMENT);
      const { code, view } = decode(b);
      expect(code).to.equal(F.OK);
      expect(toPayment(view)).to.deep.equal(p);
    }
    expect(encodePayment({ ...base, ...cases[1] }).length).to.equal(MAX_PAYMENT);
    expect(MAX_PAYMENT).to.equal(163);
  });

  it("refuses to encode anything out of bounds, naming the field and never its value", () => {
    const bad: Array<[Partial<Payment>, string]> = [
      [{ code: "123" }, "code"], [{ code: "12345678901" }, "code"], [{ code: "12a4" }, "code"],
      [{ amount: -1 }, "amount"], [{ amount: 1e12 }, "amount"], [{ amount: 1.5 }, "amount"],
      [{ currency: "eur" }, "currency"], [{ currency: "EURO" }, "currency"],
      [{ exponent: 5 }, "exponent"], [{ expiry: 0 }, "expiry"], [{ expiry: 2 ** 32 }, "expiry"],
      [{ txId: new Uint8Array(15) }, "transaction id"],
      [{ payee: "" }, "payee"], [{ payee: "x".repeat(31) }, "payee"], [{ payee: "é".repeat(16) }, "payee"],
      [{ payee: "a\nb" }, "payee"], [{ payee: "\u0085" }, "payee"], [{ payee: "\ud800" }, "payee"],
      [{ details: "x".repeat(91) }, "details"], [{ details: "\u007f" }, "details"],
    ];
    for (const [over, field] of bad) {
      const p = { ...base, ...over };
      expect(() => encodePayment(p), JSON.stringify(over)).to.throw(field);
      try {
        encodePayment(p);
      } catch (e) {
        expect((e as Error).message).not.to.include(base.code);
      }
    }
    expect(() => encodePayment(null as unknown as Payment)).to.throw("missing");
  });

  // Hostile bytes: each edit of the vector and the code the decoder must give.
  const vec = () => bytes(V.payment);
  const at = (b: Uint8Array, i: number, v: number) => ((b[i] = v), b);
  const codeLen = 6;
  const payeeLenAt = 31 + codeLen;
  const refusals: Array<[string, number, () => Uint8Array]> = [
    ["empty", F.E_TRUNCATED, () => new Uint8Array(0)],
    ["shorter than the fixed part", F.E_TRUNCATED, () => vec().subarray(0, 30)],
    ["cut in the code", F.E_TRUNCATED, () => vec().subarray(0, 33)],
    ["cut in the payee", F.E_TRUNCATED, () => vec().subarray(0, payeeLenAt + 3)],
    ["cut in the details", F.E_TRUNCATED, () => vec().subarray(0, V.payment.length / 2 - 1)],
    ["longer than any payment", F.E_OVERSIZED, () => new Uint8Array(MAX_PAYMENT + 1)],
    ["code length 11", F.E_OVERSIZED, () => at(vec(), 30, 11)],
    ["payee length 31", F.E_OVERSIZED, () => at(vec(), payeeLenAt, 31)],
    ["details length 91", F.E_OVERSIZED, () => at(vec(), payeeLenAt + 1 + 13, 91)],
    ["a trailing byte", F.E_MALFORMED, () => new Uint8Array([...vec(), 0x20])],
    ["expiry 0", F.E_MALFORMED, () => vec().fill(0, 16, 20)],
    ["amount over the bound", F.E_MALFORMED, () => vec().fill(0xff, 20, 26)],
    ["currency in lower case", F.E_MALFORMED, () => at(vec(), 26, 0x65)],
    ["exponent 5", F.E_MALFORMED, () => at(vec(), 29, 5)],
    ["code length 3", F.E_MALFORMED, () => at(vec(), 30, 3)],
    ["a letter in the code", F.E_MALFORMED, () => at(vec(), 31, 0x41)],
    ["payee length 0", F.E_MALFORMED, () => at(vec(), payeeLenAt, 0)],
    ["a control character in the payee", F.E_MALFORMED, () => at(vec(), payeeLenAt + 1, 0x0a)],
    ["a broken UTF-8 sequence in the payee", F.E_MALFORMED, () => at(vec(), payeeLenAt + 5, 0x41)],
  ];
  for (const [what, want, b] of refusals) {
    it(`refuses ${what}: ${want}, output untouched`, () => {
      const view = newPaymentView();
      const before = JSON.stringify(view);
      expect(decodePayment(b(), view)).to.equal(want);
      expect(JSON.stringify(view)).to.equal(before);
    });
  }

  it("takes strict UTF-8 without controls, as Node's fatal decoder and the C0/C1 rule say", () => {
    const cases: Array<[string, boolean]> = [
      ["41", true], ["c3a9", true], ["e282ac", true], ["f09f9880", true], ["f48fbfbf", true], ["c2a0", true], ["efbfbd", true],
      ["00", false], ["1f", false], ["7f", false], ["c280", false], ["c29f", false], // controls
      ["c0af", false], ["c1bf", false], ["e080af", false], ["f08080af", false], // overlong
      ["eda080", false], ["edbfbf", false], // surrogates
      ["f4908080", false], ["f5808080", false], ["ff", false], // above U+10FFFF
      ["80", false], ["c3", false], ["e282", false], ["f09f98", false], ["c341", false], // broken
    ];
    for (const [h, ok] of cases) expect(validText(bytes(h), 0, h.length / 2), h).to.equal(ok);
    // Every two- and three-byte sequence, against TextDecoder plus the control rule.
    const isControl = (s: string) => [...s].some((ch) => { const c = ch.codePointAt(0)!; return c < 0x20 || (c >= 0x7f && c < 0xa0); });
    const ref = (b: Uint8Array) => { try { return !isControl(utf8.decode(b)); } catch { return false; } };
    for (let a = 0; a < 256; a++) for (let b = 0; b < 256; b++) {
      const two = new Uint8Array([a, b]);
      if (validText(two, 0, 2) !== ref(two)) throw new Error(`disagree on ${hex(two)}`);
    }
    for (let a = 0xe0; a < 0x100; a++) for (let b = 0x70; b < 0xd0; b++) for (const c of [0x41, 0x80, 0xbf, 0xc0]) {
      const three = new Uint8Array([a, b, c]);
      if (validText(three, 0, 3) !== ref(three)) throw new Error(`disagree on ${hex(three)}`);
    }
  });

  it("draws printable ASCII as it is and every other code point as one '?'", () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    expect(panelText(enc("Zürich € 😀 ok"))).to.equal("Z?rich ? ? ok");
    expect(panelText(enc(""))).to.equal("");
    for (let i = 0; i < 200; i++) {
      const s = String.fromCodePoint(...Array.from({ length: 10 }, () => 0x20 + Math.floor(Math.random() * 0x2000)));
      expect(panelText(enc(s)).length).to.equal([...s].length);
    }
  });

  it("formats amounts with their exponent", () => {
    expect(formatAmount(12345, 2)).to.equal("123.45");
    expect(formatAmount(5, 2)).to.equal("0.05");
    expect(formatAmount(0, 3)).to.equal("0.000");
    expect(formatAmount(7, 0)).to.equal("7");
    expect(formatAmount(999999999999, 4)).to.equal("99999999.9999");
    expect(formatAmount(-1, 2)).to.equal("?");
    expect(formatAmount(1, 5)).to.equal("?");
  });
});

const SEED = process.env.INKCARD_SEED ? Number(process.env.INKCARD_SEED) >>> 0 : randomBytes(4).readUInt32BE(0);

describe("payment fuzzer", function () {
  this.timeout(120_000);
  it(`100,000 mutated payloads: never throws, refusals leave the output alone, what decodes re-encodes to the same bytes (seed ${SEED})`, () => {
    let s = (SEED ^ 0x85ebca6b) >>> 0 || 1;
    const u32 = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; return (s >>>= 0); };
    const int = (n: number) => u32() % n;
    const seeds = [bytes(V.payment), encodePayment({ ...base, payee: "Ä", details: "" }), encodePayment({ ...base, code: "0123456789", details: "😀 ok" })];
    let ok = 0;
    const counts: Record<number, number> = {};
    for (let i = 0; i < 100_000; i++) {
      let b = seeds[int(seeds.length)].slice();
      for (let k = 1 + int(3); k > 0; k--) {
        const j = int(b.length + 1);
        switch (int(5)) {
          case 0: if (j < b.length) b[j] ^= 1 << int(8); break;
          case 1: if (j < b.length) b[j] = u32() & 255; break;
          case 2: b = b.slice(0, j); break;
          case 3: b = Uint8Array.from([...b.subarray(0, j), u32() & 255, ...b.subarray(j)]); break;
          default: if (j < b.length) b[j] = [0x80, 0xc0, 0xed, 0xf4, 0x7f, 0, 4, 10, 30, 90][int(10)]; break;
        }
      }
      const view = newPaymentView();
      const before = JSON.stringify(view);
      const code = decodePayment(b, view);
      counts[code] = (counts[code] ?? 0) + 1;
      if (code !== F.OK) {
        if (JSON.stringify(view) !== before) throw new Error(`case ${i}: refusal wrote its output`);
        continue;
      }
      ok++;
      if (hex(encodePayment(toPayment(view))) !== hex(b)) throw new Error(`case ${i}: decoded bytes re-encode differently`);
    }
    expect(ok).to.be.greaterThan(1000);
    for (const c of [F.E_TRUNCATED, F.E_OVERSIZED, F.E_MALFORMED]) expect(counts[c], `code ${c}`).to.be.greaterThan(0);
  });
});
