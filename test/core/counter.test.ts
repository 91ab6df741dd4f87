import { expect } from "chai";
import { DEFAULT_STEPS, MonotonicCounter } from "../../firmware/core/counter.ts";
import { Flash, N_WRITE_BLOCK, N_WRITE_WORD } from "../../sim/board/flash.ts";
import { Storage } from "../../sim/board/storage.ts";
import { storeOver } from "../support/card-rig.ts";

const BIND = 0x1234abcd;

function bench(steps = DEFAULT_STEPS, flash = new Flash({ strict: true })) {
  const storage = new Storage(flash);
  const store = storeOver(storage);
  const open = (bind = BIND) => new MonotonicCounter(store, "c.ctr", bind, steps);
  return { flash, storage, store, open };
}

describe("monotonic counter", () => {
  it("hands out start, start+1, ... across file rollovers, and continues after a reload", () => {
    // Two pages of Storage: its trash fills them, so it compacts on the way.
    const { flash, storage, open } = bench(8, new Flash({ size: 8192, strict: true }));
    let c = open();
    expect(c.load()).to.equal(false);
    c.init(2 ** 40 - 3); // the high word is in use, and carries on rollover
    let expected = 2 ** 40 - 3;
    for (let i = 0; i < 1000; i++) {
      expect(c.current()).to.equal(expected);
      expect(c.next()).to.equal(expected++);
      if (i % 97 === 0) {
        c = open();
        expect(c.load()).to.equal(true);
      }
      // One counter file at a time, alternating names.
      expect(storage.list(/^c\.ctr/)).to.have.length(1);
    }
    expect(storage.list(/^c\.ctr/)[0]).to.equal("c.ctr0"); // 124 rollovers: back to the first name
    // Wear: every word written at most N_WRITE_WORD times per erase (strict flash throws otherwise).
    expect(flash.stats().maxWordWrites).to.be.at.most(N_WRITE_WORD);
    expect(flash.stats().maxBlockWrites).to.be.at.most(N_WRITE_BLOCK);
    expect(flash.stats().erases).to.be.greaterThan(0); // Storage compacted along the way
  });

  it("uses one word per step: a 256-step file is 1,044 bytes", () => {
    const { storage, open } = bench();
    const c = open();
    c.init(0);
    expect(storage.readBytes("c.ctr0")!.length).to.equal(16 + 4 * 256 + 4);
    for (let i = 0; i < 300; i++) c.next();
    expect(c.current()).to.equal(300);
    expect(storage.list(/^c\.ctr/)).to.deep.equal(["c.ctr1"]);
  });

  it("counts a partly written step as used", () => {
    const { storage, open } = bench();
    const c = open();
    c.init(50);
    c.next(); // 50
    // A step word with only some bits cleared, as a cut mid-write leaves it.
    storage.write("c.ctr0", Uint8Array.of(0xff, 0xfe, 0xff, 0xff), 16 + 4);
    const d = open();
    expect(d.load()).to.equal(true);
    expect(d.next()).to.equal(52);
  });

  it("ignores files of another profile, unsealed files and stray data, and erases a stale second file", () => {
    const { storage, store, open } = bench(4);
    const other = open(0x99);
    other.init(500);
    for (let i = 0; i < 5; i++) other.next(); // rolls over to c.ctr1 (base 504)
    expect(open().load()).to.equal(false); // bound to 0x99, not BIND

    const c = open();
    c.init(7);
    expect(storage.list(/^c\.ctr/)).to.deep.equal(["c.ctr0"]);
    // An unsealed newer-looking file: header of base 1000, no seal.
    const head = Buffer.alloc(16);
    head.write("ICT1", 0, "latin1");
    head.writeUInt32BE(0, 4);
    head.writeUInt32BE(1000, 8);
    head.writeUInt32BE(BIND, 12);
    store.write("c.ctr1", head, 0, 16 + 16 + 4);
    const d = open();
    expect(d.load()).to.equal(true);
    expect(d.next()).to.equal(7);
    expect(storage.list(/^c\.ctr/)).to.deep.equal(["c.ctr0"]); // the unsealed one was erased

    storage.write("c.ctr1", "not a counter");
    const e = open();
    expect(e.load()).to.equal(true);
    expect(e.next()).to.equal(8);
  });

  it("prefers the higher of two sealed files (a cut between sealing the new one and erasing the old)", () => {
    const { storage, open } = bench(4);
    const c = open();
    c.init(0);
    for (let i = 0; i < 4; i++) c.next(); // c.ctr0 full: 0..3
    const full = storage.readBytes("c.ctr0")!.slice();
    c.next(); // 4: c.ctr1 created, c.ctr0 erased
    storage.write("c.ctr0", full); // bring the old, full file back
    const d = open();
    expect(d.load()).to.equal(true);
    expect(d.next()).to.equal(5);
    expect(storage.list(/^c\.ctr/)).to.deep.equal(["c.ctr1"]);
  });

  it("throws, handing out nothing, when flash refuses a step, and skips that step afterwards", () => {
    const { store, open } = bench();
    const c = open();
    c.init(10);
    expect(c.next()).to.equal(10);
    const failing = { ...store, write: () => false };
    const f = new MonotonicCounter(failing, "c.ctr", BIND, DEFAULT_STEPS);
    expect(f.load()).to.equal(true);
    expect(() => f.next()).to.throw(/step write failed/);
    expect(f.current()).to.equal(12); // 11 may be half-written: never handed out, never reused
  });

  it("checks its arguments", () => {
    const { store } = bench();
    expect(() => new MonotonicCounter(store, "", BIND, 8)).to.throw(/prefix/);
    expect(() => new MonotonicCounter(store, "x".repeat(28), BIND, 8)).to.throw(/prefix/);
    expect(() => new MonotonicCounter(store, "c", -1, 8)).to.throw(/binding/);
    expect(() => new MonotonicCounter(store, "c", BIND, 0)).to.throw(/steps/);
    const c = new MonotonicCounter(store, "c", BIND, 8);
    expect(() => c.next()).to.throw(/not loaded/);
    expect(() => c.init(2 ** 53)).to.throw(/start/);
    expect(() => c.init(2 ** 53 - 4)).to.throw(/exhausted/);
  });
});
