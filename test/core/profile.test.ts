import { expect } from "chai";
import { decodeProfile, encodeProfile, padsAgain, readProfile } from "../../firmware/core/profile.ts";
import type { Profile, ProfileFields, StoredProfile } from "../../firmware/core/profile.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { testKey, testProfile } from "../support/card-rig.ts";

const sha256 = nodeHash("SHA256");

/** The profile fields only (decode adds pads, fingerprint and activation). */
function fields(p: ProfileFields): ProfileFields {
  const { mode, algorithm, digits, stepSeconds, startCounter, cardId } = p;
  return { mode, algorithm, digits, stepSeconds, startCounter, cardId };
}

/** RFC 2104's pads, written out here: K0 = key zero-padded to the block, then K0 ^ 0x36.. and K0 ^ 0x5c.. */
function padsOf(key: Uint8Array, block: number): number[] {
  const k0 = [...key, ...new Array(block - key.length).fill(0)];
  return [...k0.map((b) => b ^ 0x36), ...k0.map((b) => b ^ 0x5c)];
}

/** A record with bytes changed and its digest made valid again: what only a deliberate writer makes. */
function forged(bytes: Uint8Array, change: (b: Uint8Array) => void): Uint8Array {
  const b = bytes.slice();
  change(b);
  const r = b.length - 36;
  b.set(sha256.digest(b.subarray(0, r)), r);
  return b;
}

/** Version 1's layout (until issue 9: the key itself at 22), for the refusal test. */
function versionOne(p: Profile): Uint8Array {
  const id = Buffer.from(p.cardId, "latin1");
  const r = Math.ceil((22 + id.length + p.key.length) / 4) * 4;
  const b = new Uint8Array(r + 36);
  b.set([0x49, 0x4e, 0x4b, 0x50, 1, 0, 1, p.digits]);
  new DataView(b.buffer).setUint32(8, p.stepSeconds);
  new DataView(b.buffer).setUint32(16, p.startCounter);
  b[20] = id.length;
  b[21] = p.key.length;
  b.set(id, 22);
  b.set(p.key, 22 + id.length);
  b.set(sha256.digest(b.subarray(0, r)), r);
  b.fill(0xff, r + 32);
  return b;
}

describe("profile", () => {
  const cases: Profile[] = [
    testProfile(),
    testProfile({ mode: "time", algorithm: "SHA1", digits: 3, stepSeconds: 1, key: testKey(20) }),
    testProfile({ algorithm: "SHA512", digits: 10, key: testKey(64), startCounter: 2 ** 53 - 1, cardId: "X" }),
    testProfile({ startCounter: 0, key: testKey(16), cardId: " ~0123456789ABCDE", stepSeconds: 0xffffffff }),
    testProfile({ startCounter: 2 ** 32 + 5 }),
  ].map((p, i) => (i === 3 ? { ...p, cardId: p.cardId.slice(0, 12) } : p));

  it("round-trips every mode, algorithm and limit", () => {
    for (const p of cases) {
      const bytes = encodeProfile(p, sha256);
      const d = decodeProfile(bytes, sha256);
      expect(d, JSON.stringify({ ...p, key: undefined })).to.not.equal(null);
      expect(fields(d!)).to.deep.equal(fields(p));
      expect([...d!.pads]).to.deep.equal(padsOf(p.key, p.algorithm === "SHA512" ? 128 : 64));
      expect(d!.pads.buffer, "the pads are a view of the record, not a copy").to.equal(bytes.buffer);
      expect(readProfile(bytes, sha256)).to.deep.equal(d);
      expect(d!.activated).to.equal(false);
      expect(d!.activationOffset).to.equal(bytes.length - 4);
      expect(d!.activationOffset % 4, "the activation word is a flash word of its own").to.equal(0);
    }
  });

  it("lays the record out as documented", () => {
    const key = testKey(16);
    const p = testProfile({ startCounter: 2 ** 32 + 7, stepSeconds: 300, cardId: "AB", key });
    const b = encodeProfile(p, sha256);
    expect(Buffer.from(b.subarray(0, 4)).toString("latin1")).to.equal("INKP");
    expect([...b.subarray(4, 8)]).to.deep.equal([2, 0, 2, 10]); // version, counter, SHA256, digits
    expect([...b.subarray(8, 24)]).to.deep.equal([0, 0, 1, 44, 0, 0, 0, 1, 0, 0, 0, 7, 2, 0, 0, 0]);
    expect([...b.subarray(24, 152)]).to.deep.equal(padsOf(key, 64)); // K0 ^ ipad, K0 ^ opad
    expect(Buffer.from(b.subarray(152, 154)).toString("latin1")).to.equal("AB");
    expect([...b.subarray(154, 156)]).to.deep.equal([0, 0]); // 154 -> 156, a multiple of 4
    expect([...b.subarray(156, 188)]).to.deep.equal([...sha256.digest(b.subarray(0, 156))]);
    expect([...b.subarray(188)]).to.deep.equal([255, 255, 255, 255]);
    expect(b.length).to.equal(192);
    expect(decodeProfile(b, sha256)!.fingerprint).to.equal(Buffer.from(b).readUInt32BE(156));
    // The key itself is nowhere in the record.
    expect(Buffer.from(b).indexOf(Buffer.from(key))).to.equal(-1);

    // SHA-512: 128-byte pads; a 12-character id needs no padding (24 + 256 + 12 = 292).
    const q = encodeProfile(testProfile({ algorithm: "SHA512", key: testKey(64), cardId: "ABCDEFGHIJKL" }), sha256);
    expect(q.length).to.equal(292 + 32 + 4);
    expect([...q.subarray(24, 280)]).to.deep.equal(padsOf(testKey(64), 128));
    expect([...q.subarray(292, 324)]).to.deep.equal([...sha256.digest(q.subarray(0, 292))]);
  });

  it("detects every damaged byte of the record and its digest", () => {
    const bytes = encodeProfile(testProfile(), sha256);
    for (let i = 0; i < bytes.length - 4; i++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const bad = bytes.slice();
        bad[i] ^= flip;
        expect(decodeProfile(bad, sha256), `byte ${i} ^ ${flip}`).to.equal(null);
        expect(readProfile(bad, sha256), `press read, byte ${i} ^ ${flip}`).to.equal(null);
      }
    }
  });

  it("reads the activation word, outside the digest", () => {
    const bytes = encodeProfile(testProfile(), sha256);
    for (let i = bytes.length - 4; i < bytes.length; i++) {
      const b = bytes.slice();
      b[i] = 0xfe;
      expect(decodeProfile(b, sha256)!.activated).to.equal(true);
    }
  });

  it("returns null for absent, short, long, unknown-version and garbage bytes, never throwing", () => {
    const bytes = encodeProfile(testProfile(), sha256);
    expect(decodeProfile(undefined, sha256)).to.equal(null);
    expect(decodeProfile(new Uint8Array(0), sha256)).to.equal(null);
    for (let n = 0; n < bytes.length; n++) expect(decodeProfile(bytes.subarray(0, n), sha256)).to.equal(null);
    const longer = new Uint8Array(bytes.length + 1).fill(0xff);
    longer.set(bytes);
    expect(decodeProfile(longer, sha256)).to.equal(null);
    expect(decodeProfile(new Uint8Array(bytes.length).fill(0xff), sha256)).to.equal(null);

    // Another version with a valid digest is refused; so is a real version 1 record (the key at 22).
    for (const v of [0, 1, 3, 255]) {
      expect(decodeProfile(forged(bytes, (b) => (b[4] = v)), sha256), `version ${v}`).to.equal(null);
      expect(readProfile(forged(bytes, (b) => (b[4] = v)), sha256), `version ${v}`).to.equal(null);
    }
    const old = versionOne(testProfile({ algorithm: "SHA1", key: testKey(20) }));
    expect(decodeProfile(old, sha256)).to.equal(null);
    expect(readProfile(old, sha256)).to.equal(null);

    let seed = 1;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 255;
    for (let i = 0; i < 2000; i++) {
      const g = Uint8Array.from({ length: rnd() }, rnd);
      if (i % 2) g.set([0x49, 0x4e, 0x4b, 0x50, 2].slice(0, g.length)); // a plausible start
      expect(decodeProfile(g, sha256)).to.equal(null);
      expect(readProfile(g, sha256)).to.equal(null);
    }
  });

  it("a press's read leaves to decodeProfile only fields a valid digest vouches for", () => {
    const bytes = encodeProfile(testProfile({ cardId: "AB" }), sha256);
    // Records no encoder writes, digest made valid: decodeProfile refuses each, readProfile need not.
    const changes: Array<[string, (b: Uint8Array) => void]> = [
      ["reserved byte", (b) => (b[22] = 1)],
      ["starting counter 2^53", (b) => (b[13] = 0x20)],
      ["step 0", (b) => b.fill(0, 8, 12)],
      ["id not printable", (b) => (b[152] = 0x07)],
      ["padding not zero", (b) => (b[155] = 1)],
    ];
    for (const [what, change] of changes) {
      const f = forged(bytes, change);
      expect(decodeProfile(f, sha256), what).to.equal(null);
      expect(readProfile(f, sha256), what).to.not.equal(null);
    }
    // What steers a press it checks itself.
    for (const [what, change] of [
      ["mode 2", (b: Uint8Array) => (b[5] = 2)],
      ["digits 2", (b: Uint8Array) => (b[7] = 2)],
      ["digits 11", (b: Uint8Array) => (b[7] = 11)],
    ] as const) {
      expect(readProfile(forged(bytes, change), sha256), what).to.equal(null);
    }
  });

  it("finds the pads again in the same record read anew, and nothing in another", () => {
    const bytes = encodeProfile(testProfile(), sha256);
    const p = readProfile(bytes, sha256) as StoredProfile;
    const moved = bytes.slice(); // a file Storage moved: same bytes, new place
    const again = padsAgain(moved, p)!;
    expect([...again]).to.deep.equal([...p.pads]);
    expect(again.buffer).to.equal(moved.buffer);
    expect(padsAgain(undefined, p)).to.equal(null);
    expect(padsAgain(moved.subarray(0, moved.length - 4), p)).to.equal(null);
    expect(padsAgain(encodeProfile(testProfile({ key: testKey(20) }), sha256), p)).to.equal(null);
  });

  it("refuses to encode a bad profile, naming the field and never the key", () => {
    const bad: Array<[Partial<Profile>, RegExp]> = [
      [{ mode: "hour" as never }, /mode/],
      [{ algorithm: "MD5" as never }, /algorithm/],
      [{ digits: 2 }, /digits/],
      [{ digits: 11 }, /digits/],
      [{ stepSeconds: 0 }, /step/],
      [{ startCounter: -1 }, /starting counter/],
      [{ startCounter: 2 ** 53 }, /starting counter/],
      [{ startCounter: 1.5 }, /starting counter/],
      [{ cardId: "" }, /card id/],
      [{ cardId: "x".repeat(13) }, /card id/],
      [{ cardId: "caf\u00e9" }, /card id/],
      [{ key: testKey(15) }, /key/],
      [{ key: testKey(65) }, /key/],
    ];
    for (const [over, msg] of bad) {
      expect(() => encodeProfile(testProfile(over), sha256)).to.throw(msg);
    }
    // The whole message is fixed text: nothing of the key's value can be in it.
    expect(() => encodeProfile(testProfile({ key: Uint8Array.from([0xde, 0xad, 0xbe, 0xef]) }), sha256)).to.throw(
      /^profile key must be 16\.\.64 bytes$/,
    );
    expect(() => encodeProfile(testProfile(), nodeHash("SHA1"))).to.throw(/SHA-256/);
  });
});
