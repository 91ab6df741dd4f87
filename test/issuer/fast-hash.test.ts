/** The issuer's node:crypto Hash gives what the noble one gives, on every length around the block sizes. */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { hotp } from "../../firmware/core/otp.ts";
import type { HashName } from "../../firmware/core/types.ts";
import { fastHash } from "../../host-tools/issuer/fast-hash.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("issuer fast hash", () => {
  for (const name of ["SHA1", "SHA256", "SHA512"] as HashName[]) {
    it(`${name} matches noble for lengths 0..300 and has its sizes`, () => {
      const fast = fastHash(name);
      const ref = nodeHash(name);
      expect([fast.name, fast.blockLen, fast.outputLen]).to.deep.equal([ref.name, ref.blockLen, ref.outputLen]);
      for (let len = 0; len <= 300; len++) {
        const data = randomBytes(len);
        expect(hex(fast.digest(data)), `length ${len}`).to.equal(hex(ref.digest(data)));
      }
    });
  }

  it("gives the RFC 4226 appendix D codes through the core hotp", () => {
    const key = new Uint8Array(Buffer.from("12345678901234567890", "ascii"));
    const codes = Array.from({ length: 10 }, (_, c) => hotp(fastHash("SHA1"), key, c, 6));
    expect(codes).to.deep.equal(["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]);
  });

  it("refuses an unknown hash name", () => {
    expect(() => fastHash("MD5" as HashName)).to.throw(/unknown hash/);
  });
});
