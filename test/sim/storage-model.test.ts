import { expect } from "chai";
import { Flash, PowerCut } from "../../sim/board/flash.ts";
import { Storage, crc32 } from "../../sim/board/storage.ts";

function fresh(size = 40960) {
  const flash = new Flash({ size });
  return { flash, s: new Storage(flash) };
}

describe("Storage model (Espruino's require('Storage') over the flash model)", () => {
  it("follows Espruino's documented write example", () => {
    const { s } = fresh();
    expect(s.write("a", "Hello", 0, 14)).to.equal(true);
    expect(s.read("a")).to.equal("Hello" + "\xff".repeat(9));
    s.write("a", " ", 5);
    s.write("a", "World!!!", 6);
    expect(s.read("a")).to.equal("Hello World!!!");
    expect(() => s.write("a", "x", 5)).to.throw("File already written with different data");
    s.write("a", " ", 0); // offset 0 again: a new file
    expect(s.read("a")).to.equal(" ");
    expect(s.list()).to.deep.equal(["a"]);
  });

  it("lays files out as jsflash.c does: 32-byte header, data padded to words", () => {
    const { flash, s } = fresh();
    s.write("first", "abc");
    s.write("second", Uint8Array.of(1, 2));
    const h = flash.read(0, 40);
    expect([...h.subarray(0, 4)]).to.deep.equal([3, 0, 0, 0]); // size, flags 0
    expect(Buffer.from(h.subarray(4, 9)).toString()).to.equal("first");
    expect([...h.subarray(9, 32)]).to.deep.equal(Array(23).fill(0));
    expect(Buffer.from(h.subarray(32, 35)).toString()).to.equal("abc");
    expect([...flash.read(36, 4)]).to.deep.equal([2, 0, 0, 0]); // next header at 32 + 4
    expect([...flash.read(68, 2)]).to.deep.equal([1, 2]);
  });

  it("takes strings, ArrayBuffers, typed arrays (with their offset), arrays and objects", () => {
    const { s } = fresh();
    s.write("s", "\x00\xff");
    s.write("ab", Uint8Array.of(9, 8).buffer);
    s.write("view", new Uint8Array([0, 1, 2, 3, 4]).subarray(1, 3));
    s.write("u16", Uint16Array.of(0x0102));
    s.write("arr", [65, 66, 256 + 67]);
    s.write("obj", { a: 1 }, 5, 99); // an object is JSON, offset and size ignored
    expect([...s.readBytes("s")!]).to.deep.equal([0, 255]);
    expect([...s.readBytes("ab")!]).to.deep.equal([9, 8]);
    expect([...s.readBytes("view")!]).to.deep.equal([1, 2]);
    expect([...s.readBytes("u16")!]).to.deep.equal([2, 1]);
    expect(s.read("arr")).to.equal("ABC");
    expect(s.readJSON("obj")).to.deep.equal({ a: 1 });
    expect(s.writeJSON("j", [1, "x"])).to.equal(true);
    expect(s.readJSON("j")).to.deep.equal([1, "x"]);
    s.write("bad", "{nope");
    expect(() => s.readJSON("bad")).to.throw();
    expect(s.readJSON("bad", true)).to.equal(undefined);
  });

  it("reads ranges, a copy as ArrayBuffer, and a live view of flash", () => {
    const { s } = fresh();
    s.write("f", "abcdef", 0, 8);
    expect(s.read("f", 2, 3)).to.equal("cde");
    expect(s.read("f", 6)).to.equal("\xff\xff");
    expect(s.read("f", 99)).to.equal("");
    const copy = new Uint8Array(s.readArrayBuffer("f")!);
    const view = s.readBytes("f")!;
    s.write("f", "gh", 6);
    expect(copy[6]).to.equal(0xff);
    expect(String.fromCharCode(view[6], view[7])).to.equal("gh");
    expect(s.read("missing")).to.equal(undefined);
    expect(s.readArrayBuffer("missing")).to.equal(undefined);
  });

  it("returns and throws what Espruino does for bad writes", () => {
    const { s } = fresh();
    expect(s.write("x", "a", -1)).to.equal(false);
    expect(s.write("x", "a", 0, -1)).to.equal(false);
    expect(() => s.write("x", "")).to.throw("Can't create zero length file");
    expect(() => s.write("nofile", "a", 4)).to.throw("Unable to find or create file");
    s.write("x", "abc", 0, 4);
    expect(() => s.write("x", "abc", 2)).to.throw("Too much data for file size");
    expect(() => s.write("huge", "a", 0, 50000)).to.throw("Unable to find or create file");
  });

  it("does not rewrite a file written again with the same bytes", () => {
    const { flash, s } = fresh();
    s.write("same", "12345678");
    const writes = flash.stats().writes;
    expect(s.write("same", "12345678")).to.equal(true);
    expect(flash.stats().writes).to.equal(writes);
    expect(s.getStats().trashCount).to.equal(0);
  });

  it("cuts names at 28 characters, as Espruino does", () => {
    const { s } = fresh();
    const long = "n".repeat(30);
    s.write(long, "x");
    expect(s.list()).to.deep.equal(["n".repeat(28)]);
    expect(s.read("n".repeat(28))).to.equal("x");
    expect(s.read(long)).to.equal("x");
  });

  it("erases by marking (trash until compaction), lists by pattern, and reports free space", () => {
    const { s } = fresh();
    s.write("a.js", "1");
    s.write("b.json", "2");
    s.write("c.js", "3");
    expect(s.list(/\.js$/)).to.deep.equal(["a.js", "c.js"]);
    s.erase("a.js");
    s.erase("nothing"); // no error
    expect(s.list()).to.deep.equal(["b.json", "c.js"]);
    expect(s.getStats()).to.deep.equal({ totalBytes: 40960, freeBytes: 40960 - 108, fileBytes: 72, fileCount: 2, trashBytes: 36, trashCount: 1 });
    expect(s.getFree()).to.equal(40960 - 108);
    s.compact();
    expect(s.getStats()).to.include({ freeBytes: 40960 - 72, trashCount: 0 });
    expect(s.list()).to.deep.equal(["b.json", "c.js"]);
  });

  it("compacts by itself when a new file only fits after it, and fails when it would not", () => {
    const lines: string[] = [];
    const flash = new Flash({ size: 40960 });
    const s = new Storage(flash, { log: (t) => lines.push(t) });
    for (let i = 0; i < 10; i++) s.write(`f${i}`, "x".repeat(4000));
    expect(() => s.write("f10", "x".repeat(4000))).to.throw("Unable to find or create file");
    expect(lines).to.deep.equal([]);
    for (let i = 0; i < 10; i += 2) s.erase(`f${i}`);
    s.write("f10", "y".repeat(4000));
    expect(lines).to.deep.equal(["Compacting...\n"]);
    expect(s.list()).to.deep.equal(["f1", "f3", "f5", "f7", "f9", "f10"]);
    for (const n of ["f1", "f3", "f5", "f7", "f9"]) expect(s.read(n)).to.equal("x".repeat(4000));
    expect(s.read("f10")).to.equal("y".repeat(4000));
  });

  it("replaces a file by erasing the old one first: a cut in between leaves neither", () => {
    const { flash, s } = fresh();
    s.write("p", "old data");
    flash.cutAfterWrites(1); // the old file's erase mark is the last write
    expect(() => s.write("p", "new data!")).to.throw(PowerCut);
    flash.powerUp();
    expect(s.read("p")).to.equal(undefined);
    s.write("p", "old data");
    flash.cutAfterWrites(2); // the new header is written, its data is not
    expect(() => s.write("p", "new data!")).to.throw(PowerCut);
    flash.powerUp();
    expect(s.read("p")).to.equal("\xff".repeat(9));
  });

  it("hashes names and addresses like Espruino, as a signed 32-bit number", () => {
    const { s } = fresh();
    s.write("a", "1");
    s.write("b", "2");
    const roll = (h: number) => ((h << 1) | (h >>> 31)) >>> 0;
    let h = 0xabcddcba;
    h = (roll(h) ^ (0x6c000 + 0) ^ crc32(Buffer.from("a"))) >>> 0;
    h = (roll(h) ^ (0x6c000 + 36) ^ crc32(Buffer.from("b"))) >>> 0;
    expect(s.hash()).to.equal(h | 0);
    expect(crc32(Buffer.from("123456789"))).to.equal(0xcbf43926);
    expect(s.hash(/^b/)).to.not.equal(s.hash());
  });
});
