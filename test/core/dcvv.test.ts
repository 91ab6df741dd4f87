/** The dynamic CVV key derivation (docs/codes.md): pinned worked example, noble cross-check, validation. */
import { expect } from "chai";
import { hkdf as nobleHkdf } from "@noble/hashes/hkdf.js";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import {
  DCVV_SALT, DEFAULT_DIGITS, DEFAULT_TIME_STEP, cardInfo, checkCard, deriveCardKey, keyLength, type CardData,
} from "../../firmware/core/dcvv.ts";
import { hotp, totp } from "../../firmware/core/otp.ts";
import type { HashName } from "../../firmware/core/types.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";

const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const SHA256 = nodeHash("SHA256");
const ALGS = ["SHA1", "SHA256", "SHA512"] as const;

// The worked example of docs/codes.md: a test master key 00 01 .. 1f (never a real one).
const MASTER = Uint8Array.from({ length: 32 }, (_, i) => i);
const CARD: CardData = { pan: "4111111111111111", expiry: "2812", psn: "01" };
const EXAMPLE: Record<HashName, { key: string; hotp: string[]; totp: string }> = {
  SHA1: { key: "b4e1dbf2c3abce05cf6440b7e4b2d8492bb058af", hotp: ["902", "224", "016"], totp: "839" },
  SHA256: { key: "3a36bb87ab0c2542fb1ad6cdf7ef76fbed764ba7a62caca7415aa82e13b5f2bf", hotp: ["924", "686", "434"], totp: "692" },
  SHA512: {
    key: "442e6c6fd03b34edbecb50ea897cefac83b282e52bcede25f9a76521501a1abe" +
         "d07f7d26a8d572943835d1a82c92bb75ba3e43b6f60263c4e1d19e746ee78a1c",
    hotp: ["054", "593", "263"], totp: "743",
  },
};
const EXAMPLE_TIME = 1767225600; // 2026-01-01T00:00:00Z

/** The info encoding written out independently of cardInfo: length byte + ASCII per field. */
function infoByHand(card: CardData, alg: string): Uint8Array {
  const parts = [card.pan, card.expiry, card.psn, alg].map((s) => Buffer.concat([Buffer.from([s.length]), Buffer.from(s, "ascii")]));
  return new Uint8Array(Buffer.concat(parts));
}

describe("core/dcvv", () => {
  it("key lengths follow the hash", () => {
    expect(ALGS.map(keyLength)).to.deep.equal([20, 32, 64]);
    expect(() => keyLength("MD5" as HashName)).to.throw(/algorithm/);
  });

  it("documented constants", () => {
    expect(DCVV_SALT).to.equal("inkcard/dcvv/v1");
    expect(DEFAULT_TIME_STEP).to.equal(300);
    expect(DEFAULT_DIGITS).to.equal(3);
  });

  it("encodes info byte by byte as documented", () => {
    expect(toHex(cardInfo(CARD, "SHA1"))).to.equal("10" + "34313131313131313131313131313131" + "04" + "32383132" + "02" + "3031" + "04" + "53484131");
    for (const alg of ALGS) expect(cardInfo(CARD, alg)).to.deep.equal(infoByHand(CARD, alg));
  });

  for (const alg of ALGS) {
    it(`worked example (${alg}): key, first three counter codes, a time code`, () => {
      const key = deriveCardKey(SHA256, MASTER, CARD, alg);
      expect(toHex(key)).to.equal(EXAMPLE[alg].key);
      const h = nodeHash(alg);
      expect([0, 1, 2].map((c) => hotp(h, key, c, DEFAULT_DIGITS))).to.deep.equal(EXAMPLE[alg].hotp);
      expect(totp(h, key, EXAMPLE_TIME, DEFAULT_TIME_STEP, DEFAULT_DIGITS)).to.equal(EXAMPLE[alg].totp);
    });
  }

  it("matches @noble/hashes hkdf directly over many cards", () => {
    const salt = new Uint8Array(Buffer.from(DCVV_SALT, "ascii"));
    for (let i = 0; i < 60; i++) {
      const master = Uint8Array.from({ length: 32 }, (_, j) => (i * 31 + j * 7) & 255);
      const card: CardData = { pan: luhnComplete("4000" + String(1e10 + i * 7919).slice(1), 16 + (i % 4)), expiry: `${20 + (i % 10)}${String(1 + (i % 12)).padStart(2, "0")}`, psn: String(i % 100).padStart(2, "0") };
      const alg = ALGS[i % 3];
      const expected = nobleHkdf(nobleSha256, master, salt, infoByHand(card, alg), keyLength(alg));
      expect(toHex(deriveCardKey(SHA256, master, card, alg))).to.equal(toHex(expected));
    }
  });

  it("each of PAN, expiry, PSN, algorithm and master key changes the key", () => {
    const base = toHex(deriveCardKey(SHA256, MASTER, CARD, "SHA256"));
    const variants: [string, Uint8Array, CardData, HashName][] = [
      ["PAN", MASTER, { ...CARD, pan: "4012888888881881" }, "SHA256"],
      ["expiry", MASTER, { ...CARD, expiry: "2901" }, "SHA256"],
      ["PSN", MASTER, { ...CARD, psn: "02" }, "SHA256"],
      ["master", Uint8Array.from(MASTER, (b) => b ^ (b === 31 ? 1 : 0)), CARD, "SHA256"],
    ];
    for (const [what, m, c, a] of variants) expect(toHex(deriveCardKey(SHA256, m, c, a)), what).to.not.equal(base);
    // Different hashes: not even a shared prefix.
    const k1 = toHex(deriveCardKey(SHA256, MASTER, CARD, "SHA1"));
    expect(base.startsWith(k1)).to.equal(false);
    expect(toHex(deriveCardKey(SHA256, MASTER, CARD, "SHA512")).startsWith(base)).to.equal(false);
  });

  it("rejects malformed card data, naming the field but not its value", () => {
    const cases: [Partial<CardData>, RegExp][] = [
      [{ pan: "41111111111" }, /PAN must be/], // 11 digits
      [{ pan: "41111111111111111111" }, /PAN must be/], // 20 digits
      [{ pan: "4111 1111 1111 1111" }, /PAN must be/],
      [{ pan: "4111111111111112" }, /Luhn/],
      [{ pan: 4111111111111111 as unknown as string }, /PAN must be/],
      [{ expiry: "281" }, /expiry must be/],
      [{ expiry: "28-1" }, /expiry must be/],
      [{ expiry: "2800" }, /month/],
      [{ expiry: "2813" }, /month/],
      [{ psn: "1" }, /PSN/],
      [{ psn: "001" }, /PSN/],
      [{ psn: "0a" }, /PSN/],
    ];
    for (const [patch, re] of cases) {
      const card = { ...CARD, ...patch };
      expect(() => checkCard(card), JSON.stringify(patch)).to.throw(Error, re).that.satisfies((e: Error) => !e.message.includes("4111"));
      expect(() => deriveCardKey(SHA256, MASTER, card, "SHA1")).to.throw(Error, re);
    }
    expect(() => checkCard(undefined as unknown as CardData)).to.throw(/card data/);
    // 12- and 19-digit PANs are accepted.
    expect(() => checkCard({ ...CARD, pan: luhnComplete("41111111111", 12) })).to.not.throw();
    expect(() => checkCard({ ...CARD, pan: luhnComplete("411111111111111111", 19) })).to.not.throw();
  });

  it("rejects a wrong master key, a hash that is not SHA-256 and an unknown algorithm", () => {
    for (const n of [0, 16, 31, 33, 64]) expect(() => deriveCardKey(SHA256, new Uint8Array(n), CARD, "SHA1")).to.throw(/master key must be 32 bytes/);
    expect(() => deriveCardKey(SHA256, Array.from(MASTER) as unknown as Uint8Array, CARD, "SHA1")).to.throw(/master key/);
    expect(() => deriveCardKey(nodeHash("SHA1"), MASTER, CARD, "SHA1")).to.throw(/SHA-256/);
    expect(() => deriveCardKey(SHA256, MASTER, CARD, "SHA384" as HashName)).to.throw(/algorithm/);
  });
});

/** prefix (length n-1) plus its Luhn check digit, computed here independently of dcvv.ts. */
function luhnComplete(prefix: string, n: number): string {
  const body = prefix.slice(0, n - 1).padEnd(n - 1, "0");
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = Number(body[body.length - 1 - i]);
    if (i % 2 === 0) d = d * 2 > 9 ? d * 2 - 9 : d * 2; // rightmost body digit is doubled
    sum += d;
  }
  return body + String((10 - (sum % 10)) % 10);
}
