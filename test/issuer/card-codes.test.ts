/** The issuer's card codes (host-tools/issuer/card-codes.ts) against RFC 4226 and core hotp over @noble/hashes. */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { hotp } from "../../firmware/core/otp.ts";
import type { HashName } from "../../firmware/core/types.ts";
import { cardCodes } from "../../host-tools/issuer/card-codes.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { RFC4226, RFC4226_KEY } from "../vectors.ts";

const COUNTERS = [0, 1, 9, 255, 256, 65535, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40 + 7, 2 ** 53 - 1];

describe("issuer card codes", () => {
  it("gives the RFC 4226 appendix D codes", () => {
    const code = cardCodes("SHA1", RFC4226_KEY, 6);
    expect(RFC4226.map((_, c) => code(c))).to.deep.equal(RFC4226.map((v) => v[2]));
  });

  for (const algorithm of ["SHA1", "SHA256"] as HashName[]) {
    it(`${algorithm}: matches core hotp over noble for keys up to and past a block, every length, counters past 2^32`, () => {
      for (const keyLen of [16, 20, 32, 63, 64, 65, 100]) {
        const key = new Uint8Array(randomBytes(keyLen));
        for (let digits = 3; digits <= 10; digits++) {
          const code = cardCodes(algorithm, key, digits);
          const random = Array.from({ length: 50 }, () => Math.floor(Math.random() * 2 ** 53));
          for (const c of [...COUNTERS, ...random]) {
            expect(code(c), `key ${keyLen} digits ${digits} counter ${c}`).to.equal(hotp(nodeHash(algorithm), key, c, digits));
          }
        }
      }
    });
  }

  it("keeps keys apart: generators made in turn for two keys each give their own key's codes", () => {
    const [k1, k2] = [new Uint8Array(randomBytes(20)), new Uint8Array(randomBytes(32))];
    const [a, b] = [cardCodes("SHA1", k1, 6), cardCodes("SHA1", k2, 8)];
    for (let c = 0; c < 20; c++) {
      expect(a(c)).to.equal(hotp(nodeHash("SHA1"), k1, c, 6));
      expect(b(c)).to.equal(hotp(nodeHash("SHA1"), k2, c, 8));
    }
  });

  it("refuses a short key, a length out of 3..10 and a counter that is not a safe non-negative integer", () => {
    expect(() => cardCodes("SHA1", new Uint8Array(15), 6)).to.throw(/at least 16 bytes/);
    expect(() => cardCodes("SHA1", new Uint8Array(20), 2)).to.throw(/3\.\.10/);
    expect(() => cardCodes("SHA1", new Uint8Array(20), 11)).to.throw(/3\.\.10/);
    const code = cardCodes("SHA1", new Uint8Array(20), 6);
    for (const c of [-1, 1.5, 2 ** 53, NaN]) expect(() => code(c), String(c)).to.throw(/counter/);
  });
});
