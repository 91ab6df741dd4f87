import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Flash, PowerCut } from "../../sim/board/flash.ts";

describe("flash model (nRF52 NOR flash)", () => {
  it("is erased to 0xFF, and writes only clear bits", () => {
    const f = new Flash({ size: 8192 });
    expect([...f.read(0, 8)]).to.deep.equal(Array(8).fill(0xff));
    f.write(4, Uint8Array.of(0x0f, 0xf0, 0xaa, 0xff));
    f.write(4, Uint8Array.of(0xff, 0xff, 0x55, 0x0f)); // 1 over 0 changes nothing
    expect([...f.read(4, 4)]).to.deep.equal([0x0f, 0xf0, 0x00, 0x0f]);
    f.erasePage(4095);
    expect([...f.read(4, 4)]).to.deep.equal([0xff, 0xff, 0xff, 0xff]);
    expect(f.stats()).to.include({ writes: 2, erases: 1 });
  });

  it("takes whole words at word addresses, inside its size", () => {
    const f = new Flash({ size: 4096 });
    expect(() => f.write(2, new Uint8Array(4))).to.throw(/whole words/);
    expect(() => f.write(0, new Uint8Array(3))).to.throw(/whole words/);
    expect(() => f.write(4096, new Uint8Array(4))).to.throw(/out of range/);
    expect(() => f.read(4090, 8)).to.throw(/out of range/);
    expect(() => new Flash({ size: 1000 })).to.throw(/multiple of 4096/);
  });

  it("counts writes per word and per 512-byte block since erase, and strict mode refuses too many", () => {
    const f = new Flash({ size: 4096, strict: true });
    f.write(0, new Uint8Array(4));
    f.write(0, new Uint8Array(4));
    expect(() => f.write(0, new Uint8Array(4))).to.throw(/written 3 times/);
    f.erasePage(0);
    f.write(0, new Uint8Array(4));
    expect(f.stats().maxWordWrites).to.equal(3); // the worst seen, kept across erases

    const g = new Flash({ size: 4096, strict: true });
    for (let i = 0; i < 128; i++) g.write(4 * i, new Uint8Array(4));
    for (let i = 0; i < 53; i++) g.write(4 * i, new Uint8Array(4));
    expect(() => g.write(4 * 53, new Uint8Array(4))).to.throw(/block at 0x0 written 182 times/);
  });

  it("cuts the power at the n-th operation, whole or after some bytes, then refuses everything until powerUp", () => {
    const f = new Flash({ size: 8192 });
    f.cutAfterWrites(2, 5);
    f.write(0, Uint8Array.of(1, 2, 3, 4));
    expect(() => f.write(8, Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0))).to.throw(PowerCut);
    expect(f.poweredOff).to.equal(true);
    expect(() => f.read(0, 4)).to.throw(PowerCut);
    expect(() => f.erasePage(0)).to.throw(PowerCut);
    f.powerUp();
    expect([...f.read(0, 16)]).to.deep.equal([1, 2, 3, 4, 255, 255, 255, 255, 0, 0, 0, 0, 0, 255, 255, 255]);

    f.cutAfterWrites(1, 100); // an erase cut after 100 bytes
    expect(() => f.erasePage(0)).to.throw(PowerCut);
    f.powerUp();
    expect(f.read(0, 16).every((b) => b === 255)).to.equal(true);
    f.write(4096, new Uint8Array(4));
    f.cutAfterWrites(1, 100);
    expect(() => f.erasePage(4096)).to.throw(PowerCut);
    f.powerUp();
    expect([...f.read(4096, 4)]).to.deep.equal([255, 255, 255, 255]);
    expect(() => f.cutAfterWrites(0)).to.throw(/n must be/);
  });

  it("records operations in trace, and starts from an image or snapshot", () => {
    const f = new Flash({ size: 4096 });
    f.trace = [];
    f.write(8, new Uint8Array(8));
    f.erasePage(0);
    expect(f.trace).to.deep.equal([
      { op: "write", addr: 8, len: 8 },
      { op: "erase", addr: 0, len: 4096 },
    ]);
    f.write(0, Uint8Array.of(7, 7, 7, 7));
    const g = new Flash({ size: 4096, image: f.snapshot() });
    expect([...g.read(0, 4)]).to.deep.equal([7, 7, 7, 7]);
  });

  it("keeps its contents in a file, write-through", () => {
    const dir = mkdtempSync(join(tmpdir(), "inkcard-flash-"));
    try {
      const file = join(dir, "flash.bin");
      const f = new Flash({ size: 8192, file });
      f.write(4100, Uint8Array.of(1, 2, 3, 4));
      // No save() or close(): the file already holds the write.
      expect([...readFileSync(file).subarray(4100, 4104)]).to.deep.equal([1, 2, 3, 4]);
      const g = new Flash({ size: 8192, file });
      expect([...g.read(4100, 4)]).to.deep.equal([1, 2, 3, 4]);
      g.erasePage(4100);
      f.close();
      g.close();
      expect(readFileSync(file).every((b) => b === 255)).to.equal(true);
      expect(() => new Flash({ size: 4096, file })).to.throw(/holds 8192 bytes/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
