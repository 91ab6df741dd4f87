/**
 * Random cross-checks of the code engine against independent implementations:
 * HMAC and HKDF against @noble/hashes, HOTP and TOTP against otpauth, and
 * full 64-bit HOTP counters against node:crypto HMAC with a truncation written
 * here with BigInt. The PRNG is seeded: the seed is printed, and
 * INKCARD_SEED=<seed> replays a run. Failure messages name the case number,
 * never a key.
 */
import { expect } from "chai";
import { createHmac, randomBytes } from "node:crypto";
import { hkdf as nobleHkdf } from "@noble/hashes/hkdf.js";
import { hmac as nobleHmac } from "@noble/hashes/hmac.js";
import { sha1 } from "@noble/hashes/legacy.js";
import { sha256, sha512 } from "@noble/hashes/sha2.js";
import * as OTPAuth from "otpauth";
import { hkdf } from "../../firmware/core/hkdf.ts";
import { hmac } from "../../firmware/core/hmac.ts";
import { hotp, hotpWords, totp } from "../../firmware/core/otp.ts";
import type { HashName } from "../../firmware/core/types.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";

const ALGS = ["SHA1", "SHA256", "SHA512"] as const;
const NOBLE = { SHA1: sha1, SHA256: sha256, SHA512: sha512 };
const NODE_NAME = { SHA1: "sha1", SHA256: "sha256", SHA512: "sha512" };
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

const SEED = process.env.INKCARD_SEED ? Number(process.env.INKCARD_SEED) >>> 0 : randomBytes(4).readUInt32BE(0);

/** sfc32, seeded through splitmix32: small, fast and good enough to pick test inputs. */
function prng(seed: number) {
  let s = seed >>> 0;
  const split = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split(), b = split(), c = split(), d = split();
  const u32 = () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  /** Integer in [0, n), n <= 2^53. */
  const int = (n: number) => Math.floor(((u32() >>> 11) * 2 ** 32 + u32()) / 2 ** 53 * n);
  const bytes = (n: number) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = u32() & 255;
    return out;
  };
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  return { u32, int, bytes, pick };
}

/** Counters that stress the word split: small, around 2^31/2^32, anywhere below 2^53, the very top. */
function randomCounter(r: ReturnType<typeof prng>): number {
  switch (r.int(5)) {
    case 0: return r.int(1000);
    case 1: return 2 ** 31 - 2 + r.int(4);
    case 2: return 2 ** 32 - 2 + r.int(4);
    case 3: return 2 ** 53 - 1 - r.int(3);
    default: return r.int(2 ** 53);
  }
}

/** Reference HOTP for a 64-bit counter, independent of otp.ts: Buffer, BigInt, padStart. */
function referenceHotp(alg: HashName, key: Uint8Array, hi: number, lo: number, digits: number): string {
  const block = Buffer.alloc(8);
  block.writeBigUInt64BE((BigInt(hi) << 32n) | BigInt(lo));
  const mac = createHmac(NODE_NAME[alg], key).update(block).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const value = BigInt(mac.readUInt32BE(offset) & 0x7fffffff);
  return (value % 10n ** BigInt(digits)).toString().padStart(digits, "0");
}

const secret = (key: Uint8Array) => new OTPAuth.Secret({ buffer: key.slice().buffer });

describe("core crosscheck (random, seeded)", function () {
  this.timeout(30000); // a loaded machine must not fail a correct run; the whole file takes ~4 s
  let total = 0;
  before(() => console.log(`      crosscheck seed: 0x${SEED.toString(16)} (replay: INKCARD_SEED=0x${SEED.toString(16)})`));
  after(() => console.log(`      crosscheck cases run: ${total}`));

  it("HMAC vs @noble/hashes: 3,000 cases, keys 0..300 bytes, messages 0..400", () => {
    const r = prng(SEED ^ 0x1);
    for (let i = 0; i < 3000; i++, total++) {
      const alg = r.pick(ALGS);
      const key = r.bytes(r.int(301));
      const msg = r.bytes(r.int(401));
      expect(toHex(hmac(nodeHash(alg), key, msg)), `case ${i} ${alg}`).to.equal(toHex(nobleHmac(NOBLE[alg], key, msg)));
    }
  });

  it("HKDF vs @noble/hashes: 1,500 cases, empty and random salt/info, lengths up to 300", () => {
    const r = prng(SEED ^ 0x2);
    for (let i = 0; i < 1500; i++, total++) {
      const alg = r.pick(ALGS);
      const ikm = r.bytes(r.int(100));
      const salt = r.int(4) === 0 ? new Uint8Array(0) : r.bytes(r.int(150));
      const info = r.int(4) === 0 ? new Uint8Array(0) : r.bytes(r.int(100));
      const len = 1 + r.int(Math.min(300, 255 * NOBLE[alg].outputLen));
      expect(toHex(hkdf(nodeHash(alg), ikm, salt, info, len)), `case ${i} ${alg} L=${len}`)
        .to.equal(toHex(nobleHkdf(NOBLE[alg], ikm, salt, info, len)));
    }
  });

  it("HOTP vs otpauth: 2,500 cases, counters up to 2^53-1, digits 3..10", () => {
    const r = prng(SEED ^ 0x3);
    for (let i = 0; i < 2500; i++, total++) {
      const alg = r.pick(ALGS);
      const key = r.bytes(16 + r.int(100));
      const counter = randomCounter(r);
      const digits = 3 + r.int(8);
      const expected = OTPAuth.HOTP.generate({ secret: secret(key), algorithm: alg, digits, counter });
      expect(hotp(nodeHash(alg), key, counter, digits), `case ${i} ${alg} c=${counter} d=${digits}`).to.equal(expected);
    }
  });

  it("TOTP vs otpauth: 1,500 cases, times to the year 37000, fractional seconds, steps 1 s..1 day", () => {
    const r = prng(SEED ^ 0x4);
    for (let i = 0; i < 1500; i++, total++) {
      const alg = r.pick(ALGS);
      const key = r.bytes(16 + r.int(100));
      const ms = r.int(2 ** 50); // otpauth takes milliseconds
      const step = r.int(3) === 0 ? 1 + r.int(86400) : r.pick([1, 30, 60, 300, 3600]);
      const digits = 3 + r.int(8);
      const expected = OTPAuth.TOTP.generate({ secret: secret(key), algorithm: alg, digits, period: step, timestamp: ms });
      expect(totp(nodeHash(alg), key, ms / 1000, step, digits), `case ${i} ${alg} t=${ms / 1000} step=${step} d=${digits}`)
        .to.equal(expected);
    }
  });

  it("hotpWords vs node:crypto + BigInt reference: 2,000 cases over the full 64-bit counter space", () => {
    const r = prng(SEED ^ 0x5);
    const word = () => (r.int(4) === 0 ? r.pick([0, 1, 0x7fffffff, 0x80000000, 0xffffffff]) : r.u32());
    for (let i = 0; i < 2000; i++, total++) {
      const alg = r.pick(ALGS);
      const key = r.bytes(16 + r.int(100));
      const hi = word();
      const lo = word();
      const digits = 3 + r.int(8);
      expect(hotpWords(nodeHash(alg), key, hi, lo, digits), `case ${i} ${alg} hi=${hi} lo=${lo} d=${digits}`)
        .to.equal(referenceHotp(alg, key, hi, lo, digits));
    }
  });
});
