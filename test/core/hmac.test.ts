/** HMAC against RFC 2202 (SHA-1) and RFC 4231 (SHA-256, SHA-512), every test case. */
import { expect } from "chai";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { hmac, partsDigest } from "../../firmware/core/hmac.ts";
import type { Hash } from "../../firmware/core/types.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";

const txt = (s: string) => new Uint8Array(Buffer.from(s, "ascii"));
const rep = (b: number, n: number) => new Uint8Array(n).fill(b);
const seq = (from: number, to: number) => Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i);
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
/** node:crypto's HMAC, an implementation independent of core/hmac.ts. */
const ref = (name: string, key: Uint8Array, msg: Uint8Array) => createHmac(name, key).update(msg).digest("hex");
const NODE_NAME = { SHA1: "sha1", SHA256: "sha256", SHA512: "sha512" } as const;

const JEFE = txt("Jefe");
const WHAT = txt("what do ya want for nothing?");
const BIG_KEY_FIRST = txt("Test Using Larger Than Block-Size Key - Hash Key First");

// RFC 2202 section 3.
const RFC2202: [string, Uint8Array, Uint8Array, string][] = [
  ["1", rep(0x0b, 20), txt("Hi There"), "b617318655057264e28bc0b6fb378c8ef146be00"],
  ["2", JEFE, WHAT, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"],
  ["3", rep(0xaa, 20), rep(0xdd, 50), "125d7342b9ac11cd91a39af48aa17b4f63f175d3"],
  ["4", seq(1, 25), rep(0xcd, 50), "4c9007f4026250c6bc8414f9bf50c86c2d7235da"],
  ["5", rep(0x0c, 20), txt("Test With Truncation"), "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"],
  ["6", rep(0xaa, 80), BIG_KEY_FIRST, "aa4ae5e15272d00e95705637ce8a3b55ed402112"],
  ["7", rep(0xaa, 80), txt("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"),
    "e8e99d0f45237d786d6bbaa7965c7808bbff1a91"],
];

// RFC 4231 section 4: [case, key, data, SHA-256, SHA-512]; case 5 is truncated to 128 bits.
const RFC4231: [string, Uint8Array, Uint8Array, string, string][] = [
  ["1", rep(0x0b, 20), txt("Hi There"),
    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde" +
    "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"],
  ["2", JEFE, WHAT,
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554" +
    "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"],
  ["3", rep(0xaa, 20), rep(0xdd, 50),
    "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39" +
    "bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb"],
  ["4", seq(1, 25), rep(0xcd, 50),
    "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db" +
    "a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd"],
  ["5", rep(0x0c, 20), txt("Test With Truncation"),
    "a3b6167473100ee06e0c796c2955552b",
    "415fad6271580a531d4179bc891d87a6"],
  ["6", rep(0xaa, 131), BIG_KEY_FIRST,
    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352" +
    "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"],
  ["7", rep(0xaa, 131), txt("This is a test using a larger than block-size key and a larger than block-size data. " +
    "The key needs to be hashed before being used by the HMAC algorithm."),
    "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944" +
    "b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58"],
];

/** Compare the whole MAC, or its leading bytes for a truncated vector (RFC 4231 case 5). */
function check(hash: Hash, key: Uint8Array, data: Uint8Array, expected: string): void {
  const mac = hmac(hash, key, data);
  expect(mac.length).to.equal(hash.outputLen);
  expect(toHex(mac.subarray(0, expected.length / 2))).to.equal(expected);
}

describe("core/hmac", () => {
  describe("RFC 2202 HMAC-SHA1", () => {
    for (const [n, key, data, mac] of RFC2202) it(`case ${n}`, () => check(nodeHash("SHA1"), key, data, mac));
  });

  for (const [col, name] of [[3, "SHA256"], [4, "SHA512"]] as const) {
    describe(`RFC 4231 HMAC-${name}`, () => {
      for (const v of RFC4231) it(`case ${v[0]}`, () => check(nodeHash(name), v[1], v[2], v[col]));
    });
  }

  it("leaves key and message untouched", () => {
    const key = rep(0xaa, 131);
    const msg = seq(0, 99);
    hmac(nodeHash("SHA256"), key, msg);
    expect(key).to.deep.equal(rep(0xaa, 131));
    expect(msg).to.deep.equal(seq(0, 99));
  });

  it("takes subarray views at an offset", () => {
    const buf = seq(0, 199);
    const viaView = hmac(nodeHash("SHA1"), buf.subarray(10, 30), buf.subarray(50, 150));
    const viaCopy = hmac(nodeHash("SHA1"), buf.slice(10, 30), buf.slice(50, 150));
    expect(toHex(viaView)).to.equal(toHex(viaCopy));
  });

  // hmac() keeps its two hash inputs between calls and puts the bare pads back
  // after each: a call must never see what an earlier one left behind.
  it("gives the same MACs whatever came before: key, message and hash sizes up and down", () => {
    const names = ["SHA1", "SHA512", "SHA256", "SHA1"] as const;
    for (let round = 0; round < 300; round++) {
      const name = names[round % names.length];
      // Long keys (hashed first), short ones, empty ones; messages shorter and longer than a block.
      const key = randomBytes([0, 1, 20, 64, 65, 129, 200][round % 7]);
      const msg = randomBytes((round * 37) % 300);
      const mac = hmac(nodeHash(name), key, msg);
      expect(toHex(mac), `round ${round}`).to.equal(ref(NODE_NAME[name], key, msg));
    }
  });

  it("chains: the previous MAC as the next message and the next key", () => {
    const h = nodeHash("SHA1");
    let key: Uint8Array = new Uint8Array(randomBytes(20));
    let msg: Uint8Array = new Uint8Array(8);
    for (let i = 0; i < 50; i++) {
      const want = ref("sha1", key, msg);
      const mac = hmac(h, key, msg);
      expect(toHex(mac), `step ${i}`).to.equal(want);
      if (i % 2) key = mac;
      else msg = mac;
    }
  });

  it("works with a Hash that hands back one shared array", () => {
    for (const name of ["SHA1", "SHA256"] as const) {
      const h = nodeHash(name);
      const shared = new Uint8Array(h.outputLen);
      const sharing: Hash = { ...h, digest: (d: Uint8Array) => (shared.set(h.digest(d)), shared) };
      for (const keyLen of [20, h.blockLen, h.blockLen + 1, 131]) {
        const key = randomBytes(keyLen);
        const msg = randomBytes(50);
        expect(toHex(hmac(sharing, key, msg)), `${name} key ${keyLen}`).to.equal(ref(NODE_NAME[name], key, msg));
      }
    }
  });

  it("leaves no key bytes in its buffers, also when the hash throws", () => {
    const h = nodeHash("SHA1");
    const seen: Uint8Array[] = [];
    let calls = 0;
    let failAt = 0; // 0: never
    const spy: Hash = {
      ...h,
      digest(d: Uint8Array) {
        seen.push(d); // hmac's own buffers: what stays in them after it returns is visible here
        if (++calls === failAt) throw new Error("hash failed");
        return h.digest(d);
      },
    };
    const clean = (what: string) => {
      for (const d of seen) {
        const pad = d[0];
        expect(pad === 0x36 || pad === 0x5c, what).to.equal(true);
        for (let i = 0; i < 64; i++) expect(d[i], `${what}: pad byte ${i}`).to.equal(pad);
        for (let i = 64; i < d.length; i++) expect(d[i], `${what}: byte ${i}`).to.equal(0);
      }
      seen.length = 0;
      calls = 0;
    };
    const key = rep(0xa5, 20);
    hmac(spy, key, rep(0x11, 30));
    expect(seen.length).to.equal(2);
    clean("after a MAC");
    for (failAt = 1; failAt <= 2; failAt++) {
      expect(() => hmac(spy, key, rep(0x11, 30))).to.throw(/hash failed/);
      clean(`after a failure at digest ${failAt}`);
    }
  });

  it("partsDigest: a hash's own parts digest as it is, else the digest of the parts joined", () => {
    const own = (parts: Array<Uint8Array | ArrayBuffer>) => parts[0];
    expect(partsDigest({ ...nodeHash("SHA1"), digestParts: own } as never)).to.equal(own);
    for (const name of ["SHA1", "SHA256", "SHA512"] as const) {
      const parts = [randomBytes(64), new Uint8Array(0), randomBytes(8), Uint8Array.from([1, 2, 3]).buffer];
      const want = createHash(name.toLowerCase()).update(Buffer.concat([...parts.slice(0, 3) as Uint8Array[], Buffer.from([1, 2, 3])])).digest();
      expect(Buffer.from(partsDigest(nodeHash(name))(parts) as Uint8Array).equals(want), name).to.equal(true);
    }
  });

  it("rejects bad inputs", () => {
    const h = nodeHash("SHA256");
    expect(() => hmac(h, [1, 2] as unknown as Uint8Array, rep(0, 1))).to.throw(/key/);
    expect(() => hmac(h, rep(0, 16), "abc" as unknown as Uint8Array)).to.throw(/message/);
    expect(() => hmac({} as Hash, rep(0, 16), rep(0, 1))).to.throw(/digest/);
    expect(() => hmac({ ...h, blockLen: 0 }, rep(0, 16), rep(0, 1))).to.throw(/blockLen/);
    // A hash that lies about its output must not produce a short MAC.
    const liar: Hash = { ...h, digest: (d: Uint8Array) => h.digest(d).subarray(0, 16) };
    expect(() => hmac(liar, rep(0, 16), rep(0, 1))).to.throw(/32 bytes/);
  });
});
