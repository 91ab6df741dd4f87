import { expect } from "chai";
import { decodeProfile, encodeProfile } from "../../firmware/core/profile.ts";
import type { Profile } from "../../firmware/core/profile.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { testKey, testProfile } from "../support/card-rig.ts";

const sha256 = nodeHash("SHA256");

/** The profile fields only (decode adds fingerprint and activation). */
function fields(p: Profile): Profile {
  const { mode, algorithm, digits, stepSeconds, startCounter, cardId, key } = p;
  return { mode, algorithm, digits, stepSeconds, startCounter, cardId, key };
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
      expect(d!.activated).to.equal(false);
      expect(d!.activationOffset).to.equal(bytes.length - 4);
      expect(d!.activationOffset % 4, "the activation word is a flash word of its own").to.equal(0);
    }
  });

  it("lays the record out as documented", () => {
    const p = testProfile({ startCounter: 2 ** 32 + 7, stepSeconds: 300, cardId: "AB", key: testKey(16) });
    const b = encodeProfile(p, sha256);
    expect(Buffer.from(b.subarray(0, 4)).toString("latin1")).to.equal("INKP");
    expect([...b.subarray(4, 8)]).to.deep.equal([1, 0, 2, 10]); // version, counter, SHA256, digits
    expect([...b.subarray(8, 22)]).to.deep.equal([0, 0, 1, 44, 0, 0, 0, 1, 0, 0, 0, 7, 2, 16]);
    expect(Buffer.from(b.subarray(22, 24)).toString("latin1")).to.equal("AB");
    expect([...b.subarray(24, 40)]).to.deep.equal([...testKey(16)]);
    expect([...b.subarray(40, 72)]).to.deep.equal([...sha256.digest(b.subarray(0, 40))]);
    expect([...b.subarray(72)]).to.deep.equal([255, 255, 255, 255]);
    expect(decodeProfile(b, sha256)!.fingerprint).to.equal(Buffer.from(b).readUInt32BE(40));

    // 22 + 3 + 16 = 41: three zero bytes of padding before the digest.
    const q = encodeProfile({ ...p, cardId: "ABC" }, sha256);
    expect(q.length).to.equal(44 + 32 + 4);
    expect([...q.subarray(41, 44)]).to.deep.equal([0, 0, 0]);
    expect([...q.subarray(44, 76)]).to.deep.equal([...sha256.digest(q.subarray(0, 44))]);
  });

  it("detects every damaged byte of the record and its digest", () => {
    const bytes = encodeProfile(testProfile(), sha256);
    for (let i = 0; i < bytes.length - 4; i++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const bad = bytes.slice();
        bad[i] ^= flip;
        expect(decodeProfile(bad, sha256), `byte ${i} ^ ${flip}`).to.equal(null);
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

    // A version 2 record with a valid digest is still refused.
    const v2 = bytes.slice();
    v2[4] = 2;
    const r = v2.length - 36;
    v2.set(sha256.digest(v2.subarray(0, r)), r);
    expect(decodeProfile(v2, sha256)).to.equal(null);

    let seed = 1;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 255;
    for (let i = 0; i < 2000; i++) {
      const g = Uint8Array.from({ length: rnd() }, rnd);
      if (i % 2) g.set([0x49, 0x4e, 0x4b, 0x50, 1].slice(0, g.length)); // a plausible start
      expect(decodeProfile(g, sha256)).to.equal(null);
    }
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
