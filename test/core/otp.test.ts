/** HOTP/TOTP against RFC 4226 appendix D and RFC 6238 appendix B, plus edges and bad inputs. */
import { expect } from "chai";
import * as OTPAuth from "otpauth";
import { hmac } from "../../firmware/core/hmac.ts";
import { hotp, hotpWords, padOtp, timeStep, totp } from "../../firmware/core/otp.ts";
import { encodeProfile, readProfile } from "../../firmware/core/profile.ts";
import type { PartsHash } from "../../firmware/core/hmac.ts";
import { createHash, createHmac, randomBytes, randomInt } from "node:crypto";
import type { HashName } from "../../firmware/core/types.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { indexedAsBytes } from "../../sim/board/libs.ts";
import { RFC4226, RFC4226_KEY, RFC6238, RFC6238_KEYS } from "../vectors.ts";

const ascii = (s: string) => new Uint8Array(Buffer.from(s, "ascii"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const SHA1 = nodeHash("SHA1");

/** The pads core/profile.ts stores for key: (K0 ^ ipad) || (K0 ^ opad). */
function padsOf(alg: HashName, key: Uint8Array): Uint8Array {
  const rec = encodeProfile({ mode: "counter", algorithm: alg, digits: 6, stepSeconds: 30, startCounter: 0, cardId: "T", key }, nodeHash("SHA256"));
  return readProfile(rec, nodeHash("SHA256"))!.pads;
}

/** A Hash with digestParts, as hal/crypto.ts's on the card (node:crypto here). */
function partsHash(alg: HashName): PartsHash {
  return {
    ...nodeHash(alg),
    digestParts: (parts) => {
      const c = createHash(alg.toLowerCase());
      for (const x of parts) c.update(x instanceof Uint8Array ? x : new Uint8Array(x));
      return indexedAsBytes(Uint8Array.from(c.digest()).buffer) as unknown as Uint8Array; // as Espruino's crypto gives
    },
  };
}

/** otpauth, an independent implementation, for values no RFC lists. */
function otpauthHotp(alg: HashName, key: Uint8Array, counter: number, digits: number): string {
  return OTPAuth.HOTP.generate({ secret: new OTPAuth.Secret({ buffer: key.slice().buffer }), algorithm: alg, digits, counter });
}

describe("core/otp", () => {
  describe("RFC 4226 appendix D", () => {
    RFC4226.forEach(([mac, truncated, code], c) => {
      it(`counter ${c}`, () => {
        const block = new Uint8Array(8);
        block[7] = c;
        expect(toHex(hmac(SHA1, RFC4226_KEY, block)), "HMAC").to.equal(mac);
        expect(hotp(SHA1, RFC4226_KEY, c, 6)).to.equal(code);
        expect(hotpWords(SHA1, RFC4226_KEY, 0, c, 6)).to.equal(code);
        // 10 digits: the whole 31-bit value, zero-padded (counters 2, 7, 8, 9 need the padding).
        expect(hotp(SHA1, RFC4226_KEY, c, 10)).to.equal(String(truncated).padStart(10, "0"));
        // Fewer digits are the low digits of that value.
        for (let d = 3; d <= 9; d++) expect(hotp(SHA1, RFC4226_KEY, c, d)).to.equal(String(truncated).padStart(10, "0").slice(10 - d));
      });
    });
  });

  describe("RFC 6238 appendix B", () => {
    for (const [time, T, codes] of RFC6238) {
      it(`time ${time} (T = 0x${T.toString(16)})`, () => {
        expect(timeStep(time, 30)).to.equal(T);
        for (const alg of ["SHA1", "SHA256", "SHA512"] as const) {
          expect(totp(nodeHash(alg), RFC6238_KEYS[alg], time, 30, 8), alg).to.equal(codes[alg]);
        }
      });
    }
  });

  describe("64-bit counters and far dates", () => {
    const key = ascii("12345678901234567890");

    it("splits a counter above 2^32 into words", () => {
      expect(hotp(SHA1, key, 2 ** 32, 6)).to.equal(hotpWords(SHA1, key, 1, 0, 6));
      expect(hotp(SHA1, key, 2 ** 32 + 7, 6)).to.equal(hotpWords(SHA1, key, 1, 7, 6));
      expect(hotp(SHA1, key, 2 ** 53 - 1, 8)).to.equal(hotpWords(SHA1, key, 0x1fffff, 0xffffffff, 8));
      expect(hotp(SHA1, key, 2 ** 53 - 1, 8)).to.equal(otpauthHotp("SHA1", key, 2 ** 53 - 1, 8));
      // The high word is really used: these differ from counter 0 / counter 7.
      expect(hotpWords(SHA1, key, 1, 0, 10)).to.not.equal(hotp(SHA1, key, 0, 10));
    });

    for (const step of [1, 30]) {
      for (const [label, t] of [["2038 (2^31 s)", 2 ** 31], ["2106 (2^32 s)", 2 ** 32], ["year ~2514 (2^34 s)", 2 ** 34]] as const) {
        it(`time past ${label}, step ${step}`, () => {
          for (const dt of [-1, 0, 1]) {
            const T = Math.floor((t + dt) / step);
            expect(timeStep(t + dt, step)).to.equal(T);
            for (const alg of ["SHA1", "SHA256", "SHA512"] as const) {
              const k = RFC6238_KEYS[alg];
              const expected = OTPAuth.TOTP.generate({
                secret: new OTPAuth.Secret({ buffer: k.slice().buffer }), algorithm: alg, digits: 8, period: step, timestamp: (t + dt) * 1000,
              });
              expect(totp(nodeHash(alg), k, t + dt, step, 8), `${alg} t=${t + dt}`).to.equal(expected);
            }
          }
        });
      }
    }

    it("a 1 s step crosses 2^32 into the high word exactly at 2106-02-07T06:28:16Z", () => {
      expect(new Date(2 ** 32 * 1000).toISOString()).to.equal("2106-02-07T06:28:16.000Z");
      expect(totp(SHA1, key, 2 ** 32 - 1, 1, 8)).to.equal(hotpWords(SHA1, key, 0, 0xffffffff, 8));
      expect(totp(SHA1, key, 2 ** 32, 1, 8)).to.equal(hotpWords(SHA1, key, 1, 0, 8));
    });

    it("fractional seconds (getTime()) floor to the step", () => {
      expect(timeStep(59.999, 30)).to.equal(1);
      expect(timeStep(60, 30)).to.equal(2);
      expect(timeStep(0, 300)).to.equal(0);
      expect(timeStep(2 ** 53 - 1, 1)).to.equal(2 ** 53 - 1);
      expect(totp(SHA1, key, 89.5, 30, 8)).to.equal(totp(SHA1, key, 60, 30, 8));
    });
  });

  describe("bad inputs throw", () => {
    const key = ascii("12345678901234567890");
    const bad = (fn: () => unknown, re: RegExp) => expect(fn).to.throw(Error, re);

    it("digits outside 3..10", () => {
      for (const d of [0, 2, 11, 6.5, NaN, -6]) bad(() => hotp(SHA1, key, 0, d), /digits/);
      bad(() => hotp(SHA1, key, 0, "6" as unknown as number), /digits/);
    });
    it("counters that are not safe non-negative integers", () => {
      for (const c of [-1, 1.5, 2 ** 53, NaN, Infinity]) bad(() => hotp(SHA1, key, c, 6), /counter/);
      bad(() => hotp(SHA1, key, "1" as unknown as number, 6), /counter/);
      for (const [hi, lo] of [[-1, 0], [0, -1], [2 ** 32, 0], [0, 2 ** 32], [0.5, 0], [0, NaN]]) {
        bad(() => hotpWords(SHA1, key, hi, lo, 6), /counter words/);
      }
    });
    it("times and steps", () => {
      for (const t of [-1, NaN, Infinity, 2 ** 53]) bad(() => totp(SHA1, key, t, 30, 6), /time/);
      bad(() => totp(SHA1, key, "59" as unknown as number, 30, 6), /time/);
      for (const s of [0, -30, 1.5, NaN]) bad(() => totp(SHA1, key, 59, s, 6), /step/);
    });
    it("keys shorter than 128 bits or not bytes, without echoing the key", () => {
      const short = ascii("0123456789abcde");
      expect(() => hotp(SHA1, short, 0, 6)).to.throw(Error, /16 bytes/).that.satisfies((e: Error) => !e.message.includes("0123"));
      bad(() => hotp(SHA1, "12345678901234567890" as unknown as Uint8Array, 0, 6), /key/);
    });
  });

  describe("padOtp: codes from the key pads (the card's press)", () => {
    it("RFC 4226 appendix D and RFC 6238 appendix B, with and without a parts hash", () => {
      for (const sha1 of [SHA1, partsHash("SHA1")]) {
        const code = padOtp(sha1, padsOf("SHA1", RFC4226_KEY), 6);
        RFC4226.forEach(([, , want], c) => expect(code(c)).to.equal(want));
        const ten = padOtp(sha1, padsOf("SHA1", RFC4226_KEY), 10);
        RFC4226.forEach(([, truncated], c) => expect(ten(c)).to.equal(String(truncated).padStart(10, "0")));
      }
      for (const alg of ["SHA1", "SHA256", "SHA512"] as const) {
        for (const h of [nodeHash(alg), partsHash(alg)]) {
          const code = padOtp(h, padsOf(alg, RFC6238_KEYS[alg]), 8);
          for (const [time, , codes] of RFC6238) expect(code(timeStep(time, 30)), `${alg} at ${time}`).to.equal(codes[alg]);
        }
      }
    });

    it("agrees with node:crypto's HMAC on random keys, counters and digits", () => {
      for (let i = 0; i < 300; i++) {
        const alg = (["SHA1", "SHA256", "SHA512"] as const)[i % 3];
        const key = new Uint8Array(randomBytes(randomInt(16, 65)));
        const digits = randomInt(3, 11);
        const counter = [randomInt(0, 2 ** 32), 2 ** 32 - 1 + randomInt(0, 3), randomInt(0, 2 ** 48 - 1) * 32 + randomInt(0, 32)][i % 3];
        const block = Buffer.alloc(8);
        block.writeUInt32BE(Math.floor(counter / 2 ** 32), 0);
        block.writeUInt32BE(counter % 2 ** 32, 4);
        const mac = createHmac(alg.toLowerCase(), key).update(block).digest();
        const o = mac[mac.length - 1] & 15;
        const want = String((mac.readUInt32BE(o) & 0x7fffffff) % 10 ** digits).padStart(digits, "0");
        const h = i % 2 ? partsHash(alg) : nodeHash(alg);
        expect(padOtp(h, padsOf(alg, key), digits)(counter), `${alg} counter ${counter}`).to.equal(want);
        expect(hotp(nodeHash(alg), key, counter, digits)).to.equal(want);
      }
    });

    it("one code maker gives each counter's code, in any order", () => {
      const code = padOtp(SHA1, padsOf("SHA1", RFC4226_KEY), 6);
      for (const c of [9, 0, 5, 5, 2 ** 40, 1]) expect(code(c)).to.equal(hotp(SHA1, RFC4226_KEY, c, 6));
    });

    it("leaves the pads as they are, and on a host wipes its joined copy", () => {
      const pads = padsOf("SHA256", RFC6238_KEYS.SHA256);
      const before = pads.slice();
      const seen: Uint8Array[] = [];
      const spy = { ...nodeHash("SHA256"), digest: (d: Uint8Array) => (seen.push(d), nodeHash("SHA256").digest(d)) };
      padOtp(spy, pads, 8)(1);
      expect(pads).to.deep.equal(before);
      expect(seen).to.have.length(2);
      for (const d of seen) expect(d.every((b) => b === 0), "the joined pad || message, wiped").to.equal(true);
    });

    it("rejects bad inputs, naming them", () => {
      const pads = padsOf("SHA1", RFC4226_KEY);
      expect(() => padOtp(undefined as never, pads, 6)).to.throw(/hash/);
      expect(() => padOtp(SHA1, pads.subarray(1), 6)).to.throw(/pads must be 2 x 64 bytes/);
      expect(() => padOtp(SHA1, Array.from(pads) as never, 6)).to.throw(/pads/);
      expect(() => padOtp(nodeHash("SHA512"), pads, 6)).to.throw(/pads must be 2 x 128 bytes/);
      for (const d of [2, 11, 6.5, NaN]) expect(() => padOtp(SHA1, pads, d)).to.throw(/digits/);
    });
  });
});
