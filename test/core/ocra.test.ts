/**
 * OCRA (core/ocra.ts) against every test vector of RFC 6287 appendix C (the
 * SHA-512 ones with @noble/hashes: the card lacks SHA-512, core does not),
 * against a reference written here on node:crypto for random suites, and the
 * product's transaction challenge against an encoding written here with Buffer.
 * test/card/ocra-espruino.test.ts runs the SHA-1/SHA-256 vectors on the interpreter.
 */
import { expect } from "chai";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { ocra, parseOcraSuite, PAYMENT_OCRA_SUITE, transactionChallenge } from "../../firmware/core/ocra.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { OCRA_VECTORS, ocraKey, PIN_1234_SHA1 } from "./ocra-vectors.ts";

const SEED = process.env.INKCARD_SEED ? Number(process.env.INKCARD_SEED) >>> 0 : randomBytes(4).readUInt32BE(0);

/** A small seeded PRNG (mulberry32): the seed is printed, INKCARD_SEED replays it. */
function prng(seed: number) {
  let a = seed >>> 0;
  const u32 = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const int = (n: number) => u32() % n;
  return { u32, int, bytes: (n: number) => Uint8Array.from({ length: n }, () => u32() & 255) };
}

/**
 * RFC 6287's construction written independently: Buffer, BigInt for the
 * numeric challenge, padStart/padEnd, node:crypto's HMAC.
 */
function referenceOcra(suite: string, key: Uint8Array, q: string, c?: number, p?: Uint8Array, s?: Uint8Array, t?: bigint): string {
  const [, cf, di] = suite.split(":");
  const [, alg, digits] = cf.split("-");
  const parts = di.split("-");
  const fmt = parts.find((x) => x.startsWith("Q"))![1];
  let qHex = fmt === "N" ? BigInt(q).toString(16) : fmt === "H" ? q : Buffer.from(q, "latin1").toString("hex");
  qHex = qHex.padEnd(256, "0");
  const chunks = [Buffer.from(suite, "latin1"), Buffer.alloc(1)];
  if (parts[0] === "C") chunks.push(Buffer.from(BigInt(c!).toString(16).padStart(16, "0"), "hex"));
  chunks.push(Buffer.from(qHex, "hex"));
  if (parts.some((x) => x.startsWith("P"))) chunks.push(Buffer.from(p!));
  const sPart = parts.find((x) => x.startsWith("S"));
  if (sPart) chunks.push(Buffer.concat([Buffer.alloc(Number(sPart.slice(1)) - s!.length), Buffer.from(s!)]));
  if (parts.some((x) => x.startsWith("T"))) chunks.push(Buffer.from(t!.toString(16).padStart(16, "0"), "hex"));
  const mac = createHmac(alg.toLowerCase(), key).update(Buffer.concat(chunks)).digest();
  if (digits === "0") return mac.toString("hex");
  const off = mac[mac.length - 1] & 15;
  const bin = mac.readUInt32BE(off) & 0x7fffffff;
  return String(bin % 10 ** Number(digits)).padStart(Number(digits), "0");
}

describe("OCRA (RFC 6287)", () => {
  describe("appendix C vectors", () => {
    for (const v of OCRA_VECTORS) {
      it(`${v.suite}: ${v.cases.length} vectors`, () => {
        const suite = parseOcraSuite(v.suite);
        const hash = nodeHash(suite.hash);
        for (const c of v.cases) {
          const got = ocra(hash, suite, ocraKey(v.key), {
            question: c.q,
            counter: c.c,
            pinHash: suite.pin ? PIN_1234_SHA1 : undefined,
            time: c.t,
          });
          expect(got, `Q=${c.q} C=${c.c}`).to.equal(c.r);
          // The reference agrees with the RFC too, so it is fit to judge the random cases below.
          const t = c.t === undefined ? undefined : BigInt(Math.floor(c.t / suite.timeStep));
          expect(referenceOcra(v.suite, ocraKey(v.key), c.q, c.c, PIN_1234_SHA1, undefined, t)).to.equal(c.r);
        }
      });
    }
  });

  it("parses the suite grammar and refuses what is outside it", () => {
    expect(parseOcraSuite("OCRA-1:HOTP-SHA1-6:QN08")).to.deep.include({ hash: "SHA1", digits: 6, counter: false, qFormat: "N", qLength: 8, pin: "", session: 0, timeStep: 0 });
    expect(parseOcraSuite("OCRA-1:HOTP-SHA512-0:C-QH64-PSHA256-S512-T48H")).to.deep.include({
      hash: "SHA512", digits: 0, counter: true, qFormat: "H", qLength: 64, pin: "SHA256", session: 512, timeStep: 48 * 3600,
    });
    expect(parseOcraSuite("OCRA-1:HOTP-SHA256-10:QA04-T30S").timeStep).to.equal(30);
    for (const bad of [
      "", "OCRA-2:HOTP-SHA1-6:QN08", "OCRA-1:HOTP-SHA1-3:QN08", "OCRA-1:HOTP-SHA1-11:QN08", "OCRA-1:HOTP-MD5-6:QN08",
      "OCRA-1:TOTP-SHA1-6:QN08", "OCRA-1:HOTP-SHA1-6:QN03", "OCRA-1:HOTP-SHA1-6:QN65", "OCRA-1:HOTP-SHA1-6:QX08",
      "OCRA-1:HOTP-SHA1-6:QN8", "OCRA-1:HOTP-SHA1-6:C", "OCRA-1:HOTP-SHA1-6:QN08-PMD5", "OCRA-1:HOTP-SHA1-6:QN08-S000",
      "OCRA-1:HOTP-SHA1-6:QN08-S64", "OCRA-1:HOTP-SHA1-6:QN08-T60M", "OCRA-1:HOTP-SHA1-6:QN08-T49H", "OCRA-1:HOTP-SHA1-6:QN08-T1D",
      "OCRA-1:HOTP-SHA1-6:QN08-T1M-PSHA1", "OCRA-1:HOTP-SHA1-6:QN08-C", "OCRA-1:HOTP-SHA1-6:QN08:x", "OCRA-1:HOTP-SHA1-6:QN08-X",
    ]) {
      expect(() => parseOcraSuite(bad), bad).to.throw(/OCRA/);
    }
  });

  it("checks every input", () => {
    const key = ocraKey(32);
    const h = nodeHash("SHA256");
    expect(() => ocra(nodeHash("SHA1"), "OCRA-1:HOTP-SHA256-8:QN08", key, { question: "1" })).to.throw(/needs SHA256/);
    expect(() => ocra(h, "OCRA-1:HOTP-SHA256-8:QN08", key, { question: "12a" })).to.throw(/decimal digits/);
    expect(() => ocra(h, "OCRA-1:HOTP-SHA256-8:QH08", key, { question: "0g" })).to.throw(/hex digits/);
    expect(() => ocra(h, "OCRA-1:HOTP-SHA256-8:QA08", key, { question: "a\nb" })).to.throw(/printable/);
    expect(() => ocra(h, "OCRA-1:HOTP-SHA256-8:QA08", key, { question: "" })).to.throw(/non-empty/);
    expect(() => ocra(h, "OCRA-1:HOTP-SHA256-8:QH64", key, { question: "0".repeat(257) })).to.throw(/128 bytes/);
    expect(() => ocra(h, "OCRA-1:HOTP-SHA256-8:C-QN08", key, { question: "1" })).to.throw(/counter/);
    expect(() => ocra(h, "OCRA-1:HOTP-SHA256-8:C-QN08", key, { question: "1", counter: -1 })).to.throw(/counter/);
    expect(() => ocra(h, "OCRA-1:HOTP-SHA256-8:QN08-PSHA1", key, { question: "1", pinHash: new Uint8Array(32) })).to.throw(/20 bytes/);
    expect(() => ocra(h, "OCRA-1:HOTP-SHA256-8:QN08-S004", key, { question: "1", session: new Uint8Array(5) })).to.throw(/longer/);
    expect(() => ocra(h, "OCRA-1:HOTP-SHA256-8:QN08-T1M", key, { question: "1" })).to.throw(/time/);
    expect(() => ocra(h, "OCRA-1:HOTP-SHA256-8:QN08", "k" as unknown as Uint8Array, { question: "1" })).to.throw(/key/);
  });

  it(`agrees with the reference on random suites and inputs (seed ${SEED})`, () => {
    const r = prng(SEED);
    const ALGS = ["SHA1", "SHA256", "SHA512"] as const;
    for (let n = 0; n < 400; n++) {
      const alg = ALGS[r.int(3)];
      const digits = [0, 4, 5, 6, 7, 8, 9, 10][r.int(8)];
      const fmt = "ANH"[r.int(3)];
      const qLen = 4 + r.int(61);
      let suite = `OCRA-1:HOTP-${alg}-${digits}:${r.int(2) ? "C-" : ""}Q${fmt}${String(qLen).padStart(2, "0")}`;
      const pinAlg = r.int(2) ? ALGS[r.int(3)] : "";
      if (pinAlg) suite += `-P${pinAlg}`;
      const sLen = r.int(2) ? 1 + r.int(300) : 0;
      if (sLen) suite += `-S${String(sLen).padStart(3, "0")}`;
      const tStep = r.int(2) ? ["30S", "1M", "5M", "1H", "48H"][r.int(5)] : "";
      if (tStep) suite += `-T${tStep}`;
      // A numeric challenge of up to 64 digits (far past 2^53), a hex one of up to 256 digits, odd lengths included.
      const len = 1 + r.int(fmt === "H" ? 256 : 64);
      const q = Array.from({ length: len }, () => fmt === "N" ? "0123456789"[r.int(10)] : fmt === "H" ? "0123456789abcdefABCDEF"[r.int(22)] : String.fromCharCode(0x20 + r.int(95))).join("");
      const key = r.bytes(1 + r.int(100));
      const c = r.int(2) ? r.u32() * 2 ** 21 + (r.u32() >>> 11) : r.int(1000);
      const p = pinAlg ? r.bytes({ SHA1: 20, SHA256: 32, SHA512: 64 }[pinAlg]) : undefined;
      const s = sLen ? r.bytes(r.int(sLen + 1)) : undefined;
      const time = r.u32() * 8;
      const parsed = parseOcraSuite(suite);
      const want = referenceOcra(suite, key, q, c, p, s, tStep ? BigInt(Math.floor(time / parsed.timeStep)) : undefined);
      const got = ocra(nodeHash(alg), suite, key, { question: q, counter: c, pinHash: p, session: s, time });
      expect(got, `case ${n}: ${suite}`).to.equal(want);
    }
  });

  describe("the product's answer", () => {
    it("is suite OCRA-1:HOTP-SHA256-8:QH64 over the SHA-256 of the canonical transaction", () => {
      const tx = { txId: Uint8Array.from({ length: 16 }, (_, i) => i), amount: 12345, currency: "EUR", exponent: 2, payee: Buffer.from("Caf\u00e9 du Parc"), details: Buffer.from("Order 42") };
      const enc = Buffer.concat([
        Buffer.from("inkcard/answer/v1\0", "latin1"), Buffer.from(tx.txId),
        Buffer.from((12345).toString(16).padStart(12, "0"), "hex"), Buffer.from("EUR"), Buffer.from([2]),
        Buffer.from([tx.payee.length]), tx.payee, Buffer.from([tx.details.length]), tx.details,
      ]);
      const want = createHash("sha256").update(enc).digest("hex");
      const q = transactionChallenge(nodeHash("SHA256"), tx);
      expect(q).to.equal(want);
      expect(PAYMENT_OCRA_SUITE).to.equal("OCRA-1:HOTP-SHA256-8:QH64");
      const key = ocraKey(32);
      expect(ocra(nodeHash("SHA256"), PAYMENT_OCRA_SUITE, key, { question: q })).to.equal(referenceOcra(PAYMENT_OCRA_SUITE, key, q));
      // Every field moves the challenge.
      const moved = [
        { ...tx, txId: Uint8Array.from({ length: 16 }, (_, i) => (i === 15 ? 16 : i)) }, { ...tx, amount: 12346 }, { ...tx, currency: "USD" },
        { ...tx, exponent: 3 }, { ...tx, payee: Buffer.from("Caf\u00e9 du Parc!") }, { ...tx, details: Buffer.from("Order 43") },
        // Text moved from one field to the other: the lengths keep them apart.
        { ...tx, payee: Buffer.from("Caf\u00e9 du ParcO"), details: Buffer.from("rder 42") },
      ].map((t) => transactionChallenge(nodeHash("SHA256"), t));
      expect(new Set([q, ...moved]).size).to.equal(moved.length + 1);
    });

    it("refuses transactions outside its domain", () => {
      const h = nodeHash("SHA256");
      const tx = { txId: new Uint8Array(16), amount: 1, currency: "EUR", exponent: 2, payee: new Uint8Array(1), details: new Uint8Array(0) };
      expect(() => transactionChallenge(nodeHash("SHA1"), tx)).to.throw(/SHA256/);
      expect(() => transactionChallenge(h, { ...tx, txId: new Uint8Array(15) })).to.throw(/16 bytes/);
      expect(() => transactionChallenge(h, { ...tx, amount: 1.5 })).to.throw(/amount/);
      expect(() => transactionChallenge(h, { ...tx, amount: 2 ** 48 })).to.throw(/amount/);
      expect(() => transactionChallenge(h, { ...tx, currency: "eur" })).to.throw(/currency/);
      expect(() => transactionChallenge(h, { ...tx, currency: "EURO" })).to.throw(/currency/);
      expect(() => transactionChallenge(h, { ...tx, exponent: 5 })).to.throw(/exponent/);
      expect(() => transactionChallenge(h, { ...tx, payee: new Uint8Array(256) })).to.throw(/255/);
    });
  });
});
