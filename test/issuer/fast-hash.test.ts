/** The issuer's node:crypto Hash gives what the noble one gives. */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { hotp } from "../../firmware/core/otp.ts";
import type { HashName } from "../../firmware/core/types.ts";
import { fastHash } from "../../host-tools/issuer/fast-hash.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { RFC4226, RFC4226_KEY } from "../vectors.ts";

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
    expect(Array.from({ length: 10 }, (_, c) => hotp(fastHash("SHA1"), RFC4226_KEY, c, 6))).to.deep.equal(RFC4226.map((v) => v[2]));
  });

  it("refuses an unknown hash name", () => {
    expect(() => fastHash("MD5" as HashName)).to.throw(/unknown hash/);
  });
});
