/** The issuer's node:crypto Hash and its per-key HMAC Hash give what the noble one gives. */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { hmac } from "../../firmware/core/hmac.ts";
import { hotp } from "../../firmware/core/otp.ts";
import type { HashName } from "../../firmware/core/types.ts";
import { fastHash } from "../../host-tools/issuer/fast-hash.ts";
import { hmacHash } from "../../host-tools/issuer/hmac-hash.ts";
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

  it("gives the RFC 4226 appendix D codes through the core hotp, with either hash", () => {
    const expected = RFC4226.map((v) => v[2]);
    for (const hash of [fastHash("SHA1"), hmacHash("SHA1", RFC4226_KEY)]) {
      expect(Array.from({ length: 10 }, (_, c) => hotp(hash, RFC4226_KEY, c, 6))).to.deep.equal(expected);
    }
  });

  it("per-key SHA-1: HMACs and plain digests match noble, for keys up to and past a block", () => {
    for (const keyLen of [16, 20, 32, 63, 64, 65, 100]) {
      const key = randomBytes(keyLen);
      const h = hmacHash("SHA1", key);
      expect(hmacHash("SHA1", key)).to.equal(h);
      // Messages whose padded tail fits in one block resume from the saved pads; longer ones do not.
      for (let len = 0; len <= 130; len++) {
        const msg = randomBytes(len);
        expect(hex(hmac(h, key, msg)), `key ${keyLen} message ${len}`).to.equal(hex(hmac(nodeHash("SHA1"), key, msg)));
        expect(hex(h.digest(msg)), `digest ${len}`).to.equal(hex(nodeHash("SHA1").digest(msg)));
      }
    }
    const key = new Uint8Array(Buffer.from("12345678901234567890", "ascii"));
    expect(hotp(hmacHash("SHA1", key), key, 9, 6)).to.equal("520489");
    expect(hmacHash("SHA256", key)).to.equal(fastHash("SHA256"));
  });

  it("per-key SHA-1: data one byte off either pad is hashed as what it is", () => {
    const key = randomBytes(20);
    const h = hmacHash("SHA1", key);
    for (const pad of [0x36, 0x5c]) {
      const data = new Uint8Array(64 + 20);
      for (let i = 0; i < 64; i++) data[i] = (i < key.length ? key[i] : 0) ^ pad;
      data.set(randomBytes(20), 64);
      expect(hex(h.digest(data)), `pad ${pad}`).to.equal(hex(nodeHash("SHA1").digest(data)));
      for (let i = 0; i < 64; i++) {
        data[i] ^= 1 << (i & 7);
        expect(hex(h.digest(data)), `pad ${pad} byte ${i}`).to.equal(hex(nodeHash("SHA1").digest(data)));
        data[i] ^= 1 << (i & 7);
      }
    }
  });

  it("per-key SHA-1: each digest is a new array, and keys do not mix", () => {
    const k1 = randomBytes(20);
    const k2 = randomBytes(32);
    const h1 = hmacHash("SHA1", k1);
    const h2 = hmacHash("SHA1", k2);
    const msg = new Uint8Array(8);
    const a = hmac(h1, k1, msg);
    const b = hmac(h1, k1, msg);
    expect(a).to.not.equal(b); // callers may keep or wipe what they get (HKDF wipes each block)
    expect(hex(a)).to.equal(hex(b));
    for (let c = 0; c < 20; c++) {
      msg[7] = c;
      const [h, k] = c % 2 ? [h1, k1] : [h2, k2];
      expect(hex(hmac(h, k, msg)), `counter ${c}`).to.equal(hex(hmac(nodeHash("SHA1"), k, msg)));
    }
    expect(hex(a), "an earlier result is left alone").to.equal(hex(hmac(nodeHash("SHA1"), k1, new Uint8Array(8))));
  });

  it("refuses an unknown hash name", () => {
    expect(() => fastHash("MD5" as HashName)).to.throw(/unknown hash/);
  });
});
