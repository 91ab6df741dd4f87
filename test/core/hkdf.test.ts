/** HKDF against RFC 5869 appendix A, all seven cases (PRK checked through hmac). */
import { expect } from "chai";
import { hkdf } from "../../firmware/core/hkdf.ts";
import { hmac } from "../../firmware/core/hmac.ts";
import type { HashName } from "../../firmware/core/types.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";

const rep = (b: number, n: number) => new Uint8Array(n).fill(b);
const seq = (from: number, to: number) => Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i);
const none = new Uint8Array(0);
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

interface Case { n: number; hash: HashName; ikm: Uint8Array; salt: Uint8Array; info: Uint8Array; L: number; prk: string; okm: string }

const RFC5869: Case[] = [
  { n: 1, hash: "SHA256", ikm: rep(0x0b, 22), salt: seq(0x00, 0x0c), info: seq(0xf0, 0xf9), L: 42,
    prk: "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
    okm: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865" },
  { n: 2, hash: "SHA256", ikm: seq(0x00, 0x4f), salt: seq(0x60, 0xaf), info: seq(0xb0, 0xff), L: 82,
    prk: "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
    okm: "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09" +
         "da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87" },
  { n: 3, hash: "SHA256", ikm: rep(0x0b, 22), salt: none, info: none, L: 42,
    prk: "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
    okm: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8" },
  { n: 4, hash: "SHA1", ikm: rep(0x0b, 11), salt: seq(0x00, 0x0c), info: seq(0xf0, 0xf9), L: 42,
    prk: "9b6c18c432a7bf8f0e71c8eb88f4b30baa2ba243",
    okm: "085a01ea1b10f36933068b56efa5ad81a4f14b822f5b091568a9cdd4f155fda2c22e422478d305f3f896" },
  { n: 5, hash: "SHA1", ikm: seq(0x00, 0x4f), salt: seq(0x60, 0xaf), info: seq(0xb0, 0xff), L: 82,
    prk: "8adae09a2a307059478d309b26c4115a224cfaf6",
    okm: "0bd770a74d1160f7c9f12cd5912a06ebff6adcae899d92191fe4305673ba2ffe8fa3f1a4e5ad79f3f334b3b202b2173c" +
         "486ea37ce3d397ed034c7f9dfeb15c5e927336d0441f4c4300e2cff0d0900b52d3b4" },
  { n: 6, hash: "SHA1", ikm: rep(0x0b, 22), salt: none, info: none, L: 42,
    prk: "da8c8a73c7fa77288ec6f5e7c297786aa0d32d01",
    okm: "0ac1af7002b3d761d1e55298da9d0506b9ae52057220a306e07b6b87e8df21d0ea00033de03984d34918" },
  // Case 7: salt "not provided", which RFC 5869 defines as HashLen zero bytes; our empty salt means the same.
  { n: 7, hash: "SHA1", ikm: rep(0x0c, 22), salt: none, info: none, L: 42,
    prk: "2adccada18779e7c2077ad2eb19d3f3e731385dd",
    okm: "2c91117204d745f3500d636a62f64f0ab3bae548aa53d423b0d1f27ebba6f5e5673a081d70cce7acfc48" },
];

describe("core/hkdf", () => {
  describe("RFC 5869 appendix A", () => {
    for (const c of RFC5869) {
      it(`case ${c.n} (${c.hash}, L=${c.L})`, () => {
        const h = nodeHash(c.hash);
        const salt = c.salt.length ? c.salt : new Uint8Array(h.outputLen);
        expect(toHex(hmac(h, salt, c.ikm)), "PRK").to.equal(c.prk);
        expect(toHex(hkdf(h, c.ikm, c.salt, c.info, c.L)), "OKM").to.equal(c.okm);
      });
    }
  });

  it("case 7 also holds with the zero salt given explicitly", () => {
    const c = RFC5869[6];
    expect(toHex(hkdf(nodeHash("SHA1"), c.ikm, rep(0, 20), none, c.L))).to.equal(c.okm);
  });

  it("a shorter output is a prefix of a longer one, at every block boundary", () => {
    const h = nodeHash("SHA256");
    const full = hkdf(h, rep(1, 32), rep(2, 5), rep(3, 7), 255 * 32);
    for (const len of [1, 31, 32, 33, 64, 65, 255 * 32 - 1]) {
      expect(toHex(hkdf(h, rep(1, 32), rep(2, 5), rep(3, 7), len)), String(len)).to.equal(toHex(full.subarray(0, len)));
    }
  });

  it("rejects a length outside 1..255*HashLen and non-byte inputs", () => {
    const h = nodeHash("SHA1");
    for (const len of [0, -1, 255 * 20 + 1, 1.5, NaN]) {
      expect(() => hkdf(h, rep(1, 20), none, none, len), String(len)).to.throw(/length/);
    }
    expect(hkdf(h, rep(1, 20), none, none, 255 * 20).length).to.equal(255 * 20);
    expect(() => hkdf(h, "ikm" as unknown as Uint8Array, none, none, 20)).to.throw(/ikm/);
    expect(() => hkdf(h, none, null as unknown as Uint8Array, none, 20)).to.throw(/salt/);
    expect(() => hkdf(h, none, none, [1] as unknown as Uint8Array, 20)).to.throw(/info/);
  });
});
