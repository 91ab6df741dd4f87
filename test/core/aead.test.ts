/**
 * The card's AEAD (core/aead.ts, `inkcard/etm/v1`: an encrypt-then-MAC of
 * HMAC-SHA256, docs/dynamic-data.md "The card's AEAD") against its documented
 * vectors and two independent implementations: test/core/etm-reference.ts
 * (node:crypto's HMAC) for whole frames, and @noble/hashes' HKDF-Expand and
 * HMAC for the keys. Random cases are seeded (INKCARD_SEED replays a run).
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { expand } from "@noble/hashes/hkdf.js";
import { hmac as nobleHmac } from "@noble/hashes/hmac.js";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { expect } from "chai";
import { etmAead } from "../../firmware/core/aead.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { fastHash } from "../../host-tools/issuer/fast-hash.ts";
import { AEAD_VECTORS, ETM_KEYS } from "./aead-vectors.ts";
import { etmKeys, refOpen, refSeal } from "./etm-reference.ts";

const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const SEED = process.env.INKCARD_SEED ? Number(process.env.INKCARD_SEED) >>> 0 : randomBytes(4).readUInt32BE(0);

function prng(seed: number) {
  let a = seed >>> 0;
  const u32 = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  return { u32, int: (n: number) => u32() % n, bytes: (n: number) => Uint8Array.from({ length: n }, () => u32() & 255) };
}

// Both host hashes the product uses: noble (the phone relay) and node:crypto's one-shot (the issuer).
const AEADS = { "@noble/hashes": etmAead(nodeHash("SHA256")), "node:crypto": etmAead(fastHash("SHA256")) };

describe(`the card's AEAD, inkcard/etm/v1 (seed ${SEED})`, () => {
  it("derives kE and kM as HKDF-Expand of the key (@noble/hashes), and the reference does too", () => {
    const okm = expand(nobleSha256, hex(ETM_KEYS.key), new TextEncoder().encode("inkcard/etm/v1"), 64);
    expect(toHex(okm)).to.equal(ETM_KEYS.kE + ETM_KEYS.kM);
    const k = etmKeys(hex(ETM_KEYS.key));
    expect(toHex(k.kE) + toHex(k.kM)).to.equal(ETM_KEYS.kE + ETM_KEYS.kM);
  });

  it("the documented vectors' tag is HMAC(kM, nonce ‖ be32(|aad|) ‖ aad ‖ ct) on @noble/hashes", () => {
    const v = AEAD_VECTORS[AEAD_VECTORS.length - 1];
    const sealed = hex(v.sealed), aad = hex(v.aad), nonce = hex(v.nonce);
    const ct = sealed.subarray(0, sealed.length - 16);
    const len = new Uint8Array([0, 0, 0, aad.length]);
    const msg = new Uint8Array([...nonce, ...len, ...aad, ...ct]);
    expect(toHex(nobleHmac(nobleSha256, hex(ETM_KEYS.kM), msg).subarray(0, 16))).to.equal(toHex(sealed.subarray(sealed.length - 16)));
  });

  for (const [name, aead] of Object.entries(AEADS)) {
    it(`seals and opens every documented vector (over ${name})`, () => {
      for (const v of AEAD_VECTORS) {
        expect(toHex(aead.seal(hex(v.key), hex(v.nonce), hex(v.aad), hex(v.plaintext))), v.name).to.equal(v.sealed);
        expect(toHex(aead.open(hex(v.key), hex(v.nonce), hex(v.aad), hex(v.sealed))!), v.name).to.equal(v.plaintext);
        expect(toHex(refSeal(hex(v.key), hex(v.nonce), hex(v.aad), hex(v.plaintext))), `${v.name}, the reference`).to.equal(v.sealed);
      }
    });
  }

  it("agrees with the reference on 2,000 random frames, both ways", () => {
    const r = prng(SEED);
    const aead = AEADS["node:crypto"];
    for (let i = 0; i < 2000; i++) {
      const key = r.bytes(32), nonce = r.bytes(12), aad = r.bytes(r.int(40)), pt = r.bytes(r.int(300));
      const sealed = aead.seal(key, nonce, aad, pt);
      expect(toHex(sealed), `case ${i}`).to.equal(toHex(refSeal(key, nonce, aad, pt)));
      expect(toHex(refOpen(key, nonce, aad, sealed)!), `case ${i}`).to.equal(toHex(pt));
      expect(toHex(AEADS["@noble/hashes"].open(key, nonce, aad, sealed)!), `case ${i}`).to.equal(toHex(pt));
    }
  });

  it("opens nothing that was altered: any bit of ciphertext, tag or aad, the nonce, the key, a cut", () => {
    const r = prng(SEED);
    const { seal, open } = AEADS["node:crypto"];
    const key = r.bytes(32), nonce = r.bytes(12), aad = r.bytes(14), pt = r.bytes(130);
    const sealed = seal(key, nonce, aad, pt);
    for (let bit = 0; bit < sealed.length * 8; bit++) {
      const bad = sealed.slice();
      bad[bit >> 3] ^= 1 << (bit & 7);
      expect(open(key, nonce, aad, bad), `bit ${bit}`).to.equal(null);
    }
    for (let bit = 0; bit < aad.length * 8; bit++) {
      const bad = aad.slice();
      bad[bit >> 3] ^= 1 << (bit & 7);
      expect(open(key, nonce, bad, sealed), `aad bit ${bit}`).to.equal(null);
    }
    for (let bit = 0; bit < 96; bit++) {
      const n2 = nonce.slice();
      n2[bit >> 3] ^= 1 << (bit & 7);
      expect(open(key, n2, aad, sealed), `nonce bit ${bit}`).to.equal(null);
    }
    const k2 = key.slice();
    k2[0] ^= 0x80;
    expect(open(k2, nonce, aad, sealed)).to.equal(null);
    for (const cut of [0, 1, 15, 16, sealed.length - 1]) expect(open(key, nonce, aad, sealed.subarray(0, cut)), `cut ${cut}`).to.equal(null);
    // The split between aad and ciphertext is bound: a byte moved from one to the other is refused.
    const moved = new Uint8Array([...aad, sealed[0]]);
    expect(open(key, nonce, moved, sealed.subarray(1))).to.equal(null);
    // And what was given is left as it was.
    expect(toHex(open(key, nonce, aad, sealed)!)).to.equal(toHex(pt));
    expect(toHex(seal(key, nonce, aad, pt))).to.equal(toHex(sealed));
  });

  it("checks its inputs, naming the argument, and needs SHA-256", () => {
    const { seal, open } = AEADS["node:crypto"];
    const k = new Uint8Array(32), n = new Uint8Array(12), e = new Uint8Array(0);
    expect(() => seal(new Uint8Array(31), n, e, e)).to.throw(/key must be 32 bytes/);
    expect(() => seal(k, new Uint8Array(8), e, e)).to.throw(/nonce must be 12 bytes/);
    expect(() => seal(k, n, [] as unknown as Uint8Array, e)).to.throw(/aad must be a Uint8Array/);
    expect(() => seal(k, n, e, "hi" as unknown as Uint8Array)).to.throw(/plaintext must be a Uint8Array/);
    expect(() => open(k, n, e, null as unknown as Uint8Array)).to.throw(/sealed data must be a Uint8Array/);
    expect(() => etmAead(fastHash("SHA1"))).to.throw(/needs SHA256/);
  });

  it("seals an empty plaintext as a bare tag, which opens to empty", () => {
    const { seal, open } = AEADS["node:crypto"];
    const k = randomBytes(32), n = randomBytes(12), a = randomBytes(5);
    const s = seal(k, n, a, new Uint8Array(0));
    expect(s.length).to.equal(16);
    expect(toHex(s)).to.equal(toHex(refSeal(k, n, a, new Uint8Array(0))));
    expect(open(k, n, a, s)!.length).to.equal(0);
  });
});

describe("docs/dynamic-data.md, the card's AEAD", () => {
  it("shows every vector the tests check", () => {
    const doc = readFileSync(new URL("../../docs/dynamic-data.md", import.meta.url), "utf8").replace(/\s+/g, "");
    const all = [ETM_KEYS.kE, ETM_KEYS.kM, ...AEAD_VECTORS.flatMap((v) => [v.key, v.nonce, v.aad, v.plaintext, v.sealed])];
    expect(all.filter((x) => !doc.includes(x))).to.deep.equal([]);
  });
});
