import { expect } from "chai";
import {
  bytesToHex, concatBytes, equalBytes, hexToBytes, readU32BE, utf8Bytes, wipe, writeU32BE, isIntIn,
} from "../../firmware/core/bytes.ts";

const u8 = (...b: number[]) => new Uint8Array(b);

describe("core/bytes", () => {
  it("hex round-trips every byte value, either case in", () => {
    const all = new Uint8Array(256);
    for (let i = 0; i < 256; i++) all[i] = i;
    const hex = bytesToHex(all);
    expect(hex).to.equal(Buffer.from(all).toString("hex"));
    expect(hexToBytes(hex)).to.deep.equal(all);
    expect(hexToBytes(hex.toUpperCase())).to.deep.equal(all);
    expect(hexToBytes("")).to.deep.equal(new Uint8Array(0));
  });

  it("hex decode is strict", () => {
    for (const bad of ["0", "abc", "0g", "g0", " 00", "0x00", "00 ", "zz", "0-", "/0", ":0", "@0", "`0"]) {
      expect(() => hexToBytes(bad), bad).to.throw(Error);
    }
    expect(() => hexToBytes(7 as unknown as string)).to.throw(/string/);
  });

  it("hex errors do not echo the input", () => {
    const secretish = "00112233445566778899aabbccddeefX";
    expect(() => hexToBytes(secretish)).to.throw(Error).that.satisfies((e: Error) => !e.message.includes("0011"));
  });

  it("utf8Bytes matches Buffer for ASCII, BMP and astral text", () => {
    for (const s of ["", "inkcard/dcvv/v1", "4111111111111111", "é", "€ 12", "日本", "a😀b", "\u007f\u0080\u07ff\u0800\uffff"]) {
      expect(utf8Bytes(s), s).to.deep.equal(new Uint8Array(Buffer.from(s, "utf8")));
    }
  });

  it("utf8Bytes rejects lone surrogates", () => {
    expect(() => utf8Bytes("a\ud800")).to.throw(/surrogate/);
    expect(() => utf8Bytes("\udc00a")).to.throw(/surrogate/);
    expect(() => utf8Bytes("\ud800\ud800")).to.throw(/surrogate/);
  });

  it("concatBytes joins in order and copies", () => {
    const a = u8(1, 2);
    const out = concatBytes([a, u8(), u8(3), a.subarray(1)]);
    expect(out).to.deep.equal(u8(1, 2, 3, 2));
    a[0] = 9;
    expect(out[0]).to.equal(1);
    expect(concatBytes([])).to.deep.equal(u8());
    expect(() => concatBytes([u8(1), [2] as unknown as Uint8Array])).to.throw(/part 1/);
  });

  it("equalBytes compares content and length", () => {
    expect(equalBytes(u8(), u8())).to.equal(true);
    expect(equalBytes(u8(1, 2, 3), u8(1, 2, 3))).to.equal(true);
    expect(equalBytes(u8(1, 2, 3), u8(1, 2, 4))).to.equal(false);
    expect(equalBytes(u8(0x80), u8(0))).to.equal(false);
    expect(equalBytes(u8(1, 2), u8(1, 2, 3))).to.equal(false);
    expect(() => equalBytes(u8(), "x" as unknown as Uint8Array)).to.throw(Error);
  });

  it("wipe zeroes", () => {
    const b = u8(1, 2, 255);
    wipe(b);
    expect(b).to.deep.equal(u8(0, 0, 0));
  });

  it("u32 big-endian read/write agree with DataView over the full range", () => {
    const b = new Uint8Array(6);
    const dv = new DataView(b.buffer);
    for (const v of [0, 1, 0xff, 0x1234, 0x7fffffff, 0x80000000, 0xdeadbeef, 0xffffffff]) {
      writeU32BE(b, 2, v);
      expect(dv.getUint32(2, false), v.toString(16)).to.equal(v);
      expect(readU32BE(b, 2)).to.equal(v);
    }
    expect(b[0]).to.equal(0);
    expect(b[1]).to.equal(0);
  });

  it("u32 rejects bad values and offsets", () => {
    const b = new Uint8Array(4);
    for (const v of [-1, 2 ** 32, 1.5, NaN, Infinity]) expect(() => writeU32BE(b, 0, v), String(v)).to.throw(/value/);
    for (const off of [-1, 1, 0.5, NaN]) {
      expect(() => writeU32BE(b, off, 0), String(off)).to.throw(/offset/);
      expect(() => readU32BE(b, off), String(off)).to.throw(/offset/);
    }
  });

  it("isIntIn", () => {
    expect(isIntIn(3, 3, 10)).to.equal(true);
    expect(isIntIn(10, 3, 10)).to.equal(true);
    for (const n of [2, 11, 3.5, NaN, Infinity, "5", null]) expect(isIntIn(n, 3, 10), String(n)).to.equal(false);
  });
});
