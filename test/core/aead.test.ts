/**
 * The card's AEAD (core/aead.ts: ChaCha20-Poly1305, RFC 8439) and its parts
 * (core/chacha20.ts, core/poly1305.ts): every RFC 8439 vector, then random
 * cases against @noble/ciphers and node:crypto, tampering, and input checks.
 * The PRNG is seeded: the seed is printed, INKCARD_SEED=<seed> replays it.
 * test/card/aead-espruino.test.ts runs the same code on the interpreter.
 */
import { expect } from "chai";
import { createCipheriv, randomBytes } from "node:crypto";
import { chacha20 as nobleChacha, chacha20poly1305 as noble } from "@noble/ciphers/chacha.js";
import { poly1305 as noblePoly } from "@noble/ciphers/_poly1305.js";
import { chacha20poly1305, open, seal } from "../../firmware/core/aead.ts";
import { chacha20 } from "../../firmware/core/chacha20.ts";
import { poly1305, poly1305Finish, poly1305Init, poly1305Update } from "../../firmware/core/poly1305.ts";
import { AEAD_VECTORS, CHACHA_VECTORS, POLY1305_VECTORS } from "./aead-vectors.ts";

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

/** node:crypto's ChaCha20-Poly1305: ciphertext || tag. */
function nodeSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array): Uint8Array {
  const c = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
  c.setAAD(aad, { plaintextLength: pt.length });
  return new Uint8Array(Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]));
}

describe("ChaCha20-Poly1305 (RFC 8439)", () => {
  describe("RFC 8439 vectors", () => {
    for (const v of CHACHA_VECTORS) {
      it(`ChaCha20 ${v.name}`, () => {
        const out = chacha20(hex(v.key), hex(v.nonce), v.counter, hex(v.input));
        expect(toHex(out)).to.equal(v.output);
        expect(toHex(nobleChacha(hex(v.key), hex(v.nonce), hex(v.input), undefined, v.counter)), "vector vs @noble/ciphers").to.equal(v.output);
      });
    }
    for (const v of POLY1305_VECTORS) {
      it(`Poly1305 ${v.name}`, () => {
        expect(toHex(poly1305(hex(v.key), hex(v.msg)))).to.equal(v.tag);
        expect(toHex(noblePoly(hex(v.msg), hex(v.key))), "vector vs @noble/ciphers").to.equal(v.tag);
      });
    }
    for (const v of AEAD_VECTORS) {
      it(`AEAD ${v.name}: seal and open`, () => {
        const [key, nonce, aad, pt] = [hex(v.key), hex(v.nonce), hex(v.aad), hex(v.plaintext)];
        expect(toHex(seal(key, nonce, aad, pt))).to.equal(v.sealed);
        expect(toHex(noble(key, nonce, aad).encrypt(pt)), "vector vs @noble/ciphers").to.equal(v.sealed);
        expect(toHex(open(key, nonce, aad, hex(v.sealed))!)).to.equal(v.plaintext);
      });
    }
  });

  it(`agrees with @noble/ciphers and node:crypto on random cases (seed ${SEED})`, () => {
    const r = prng(SEED);
    for (let n = 0; n < 1500; n++) {
      const key = r.bytes(32), nonce = r.bytes(12), aad = r.bytes(r.int(4) ? r.int(40) : r.int(300));
      // Every length across the first blocks, then longer ones; a frame is at most 320 bytes.
      const pt = r.bytes(n < 200 ? n : r.int(700));
      const sealed = seal(key, nonce, aad, pt);
      expect(toHex(sealed), `case ${n}: vs @noble/ciphers`).to.equal(toHex(noble(key, nonce, aad).encrypt(pt)));
      expect(toHex(sealed), `case ${n}: vs node:crypto`).to.equal(toHex(nodeSeal(key, nonce, aad, pt)));
      expect(toHex(open(key, nonce, aad, sealed)!), `case ${n}: open`).to.equal(toHex(pt));
    }
  });

  it(`agrees on ChaCha20 at any counter and on Poly1305 for any key (seed ${SEED})`, () => {
    const r = prng(SEED ^ 0x5a5a5a5a);
    for (let n = 0; n < 500; n++) {
      const key = r.bytes(32), nonce = r.bytes(12), data = r.bytes(r.int(300));
      // Counters around 2^31 (sign of an int32) and up to the last block before 2^32.
      const counter = [r.u32() >>> 1, 0x7fffffff - r.int(3), 0x80000000 + r.int(3), 0xfffffffe - Math.ceil(data.length / 64)][r.int(4)]; // (@noble/ciphers refuses to reach block 2^32-1)
      expect(toHex(chacha20(key, nonce, counter, data)), `case ${n}`).to.equal(toHex(nobleChacha(key, nonce, data, undefined, counter)));
      // Poly1305 keys with every clamped bit set and s all ones: the widest limbs and the final carry.
      const pk = n % 3 ? r.bytes(32) : new Uint8Array(32).fill(0xff);
      expect(toHex(poly1305(pk, data)), `case ${n}`).to.equal(toHex(noblePoly(data, pk)));
    }
  });

  it("streams Poly1305 as one message: padded parts, then a last unpadded one", () => {
    const r = prng(SEED);
    const key = r.bytes(32), a = r.bytes(21), b = r.bytes(37);
    poly1305Init(key);
    poly1305Update(a, true);
    poly1305Update(b, false);
    const joined = new Uint8Array(32 + 37);
    joined.set(a, 0);
    joined.set(b, 32);
    expect(toHex(poly1305Finish())).to.equal(toHex(noblePoly(joined, key)));
    expect(() => poly1305Update(a, true), "after Finish").to.throw(/not initialised/);
    poly1305Init(key);
    poly1305Update(a, false);
    expect(() => poly1305Update(b, false), "after a last partial block").to.throw(/ended/);
    poly1305Finish();
  });

  it("opens nothing that was altered: any bit of ciphertext, tag or aad, the nonce, the key, a cut", () => {
    const r = prng(SEED);
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
    const n2 = nonce.slice(); n2[11] ^= 1;
    const k2 = key.slice(); k2[0] ^= 0x80;
    expect(open(key, n2, aad, sealed)).to.equal(null);
    expect(open(k2, nonce, aad, sealed)).to.equal(null);
    for (const cut of [0, 1, 15, 16, sealed.length - 1]) expect(open(key, nonce, aad, sealed.subarray(0, cut)), `cut ${cut}`).to.equal(null);
    expect(open(key, nonce, aad.subarray(1), sealed)).to.equal(null);
    // And what was given is left as it was.
    expect(toHex(open(key, nonce, aad, sealed)!)).to.equal(toHex(pt));
    expect(toHex(seal(key, nonce, aad, pt))).to.equal(toHex(sealed));
  });

  it("checks its inputs, naming the argument", () => {
    const k = new Uint8Array(32), n = new Uint8Array(12), e = new Uint8Array(0);
    expect(() => seal(new Uint8Array(31), n, e, e)).to.throw(/key must be 32 bytes/);
    expect(() => seal(k, new Uint8Array(8), e, e)).to.throw(/nonce must be 12 bytes/);
    expect(() => seal(k, n, [] as unknown as Uint8Array, e)).to.throw(/aad must be a Uint8Array/);
    expect(() => seal(k, n, e, "hi" as unknown as Uint8Array)).to.throw(/plaintext must be a Uint8Array/);
    expect(() => open(k, n, e, null as unknown as Uint8Array)).to.throw(/sealed data must be a Uint8Array/);
    expect(() => chacha20(k, n, -1, e)).to.throw(/counter/);
    expect(() => chacha20(k, n, 2 ** 32, e)).to.throw(/counter/);
    expect(() => chacha20(k, n, 0xffffffff, new Uint8Array(65))).to.throw(/too long/);
    expect(chacha20(k, n, 0xffffffff, new Uint8Array(64)).length, "the last block before the counter wraps").to.equal(64);
    expect(() => chacha20(k, n, 0, new Uint8Array(3), new Uint8Array(4))).to.throw(/as long as/);
    expect(() => poly1305(new Uint8Array(16), e)).to.throw(/key must be 32 bytes/);
    expect(chacha20poly1305.seal).to.equal(seal);
    expect(chacha20poly1305.open).to.equal(open);
  });

  it("seals in place of nothing: an empty plaintext is a bare tag, and opens to empty", () => {
    const k = randomBytes(32), n = randomBytes(12), a = randomBytes(5);
    const s = seal(k, n, a, new Uint8Array(0));
    expect(s.length).to.equal(16);
    expect(toHex(s)).to.equal(toHex(noble(k, n, a).encrypt(new Uint8Array(0))));
    expect(open(k, n, a, s)!.length).to.equal(0);
  });
});
