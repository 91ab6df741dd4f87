// The SSD1681 model on its own, fed byte streams as a driver would send them.
import { expect } from "chai";
import { Ssd1681, HW_RESET_MS, SW_RESET_MS } from "../../sim/board/ssd1681.ts";

function rig(width = 16, height = 4) {
  const clock = { now: 0 };
  const log: string[] = [];
  const m = new Ssd1681({ width, height, now: () => clock.now, fullRefreshMs: 2000, partialRefreshMs: 300, log: (s) => log.push(s) });
  const send = (cmd: number, ...data: Array<number | Uint8Array>) => {
    m.write(Uint8Array.of(cmd), 0);
    for (const d of data) m.write(typeof d === "number" ? Uint8Array.of(d) : d, 1);
    m.csHigh();
  };
  /** Hardware reset and wait it out: a controller ready for commands. */
  const wake = () => {
    m.setReset(0);
    m.setReset(1);
    clock.now += HW_RESET_MS;
  };
  /** Set the whole RAM window, X and Y increment, TB=0: RAM row r is display row r. */
  const window = () => {
    send(0x01, height - 1, 0, 0);
    send(0x11, 0x03);
    send(0x44, 0, width / 8 - 1);
    send(0x45, 0, 0, height - 1, 0);
    send(0x4e, 0);
    send(0x4f, 0, 0);
  };
  const update = (mode: number) => {
    send(0x22, mode);
    send(0x20);
    const until = m.busyUntil();
    if (until !== undefined) clock.now = until;
  };
  wake();
  return { m, clock, log, send, wake, window, update };
}

describe("SSD1681 model", () => {
  it("decodes 0x22 as the controller does: 0xF7 full, 0xFF partial, each after its refresh time", () => {
    const { m, clock, send, window } = rig();
    window();
    send(0x24, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    send(0x22, 0xf7);
    send(0x20);
    expect(m.busyUntil()).to.equal(clock.now + 2000);
    clock.now += 1999;
    expect([m.busy(), m.refreshes.full, m.display[0]]).to.deep.equal([1, 0, 0xff]);
    clock.now += 1;
    expect([m.busy(), m.refreshes.full, m.busyUntil()]).to.deep.equal([0, 1, undefined]);
    expect([...m.display]).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
    send(0x22, 0xff);
    send(0x20);
    expect(m.busyUntil()).to.equal(clock.now + 300);
    clock.now += 300;
    expect(m.refreshes).to.deep.equal({ full: 1, partial: 1 });
    expect(m.faults).to.deep.equal([]);
  });

  it("needs clock, analog power and a LUT to display: 0xC7 alone fails, 0x91 then 0xC7 works", () => {
    const { m, clock, update, window } = rig();
    window();
    update(0xc7);
    expect(m.faults).to.deep.equal(["update 0xC7 displays without a LUT: nothing shown"]);
    expect(m.refreshes.full).to.equal(0);
    update(0x91); // clock on, load LUT (mode 1), clock off
    update(0xc7);
    expect(m.refreshes).to.deep.equal({ full: 1, partial: 0 });
    update(0x04); // display with the clock and analog off
    expect(m.faults[1]).to.match(/0x04 displays without clock/);
    expect(clock.now).to.be.above(2000);
  });

  it("a partial refresh drives only the pixels whose new and base bits differ", () => {
    const { m, send, window, update } = rig(8, 1);
    window();
    send(0x24, 0b11110000);
    update(0xf7);
    expect(m.display[0]).to.equal(0b11110000);
    send(0x4e, 0);
    send(0x24, 0b00001111); // new
    send(0x4e, 0);
    send(0x26, 0b00111100); // base the controller diffs against (wrong on purpose in the middle bits)
    update(0xff);
    // Pairs of bits: 7-6 new = base, keep 11; 5-4 differ, new 00; 3-2 new = base, keep 00; 1-0 differ, new 11.
    expect(m.display[0]).to.equal(0b11000011);
    expect(m.pixel(0, 0)).to.equal(1);
    expect(m.pixel(2, 0)).to.equal(0);
  });

  it("steps the RAM address through the window in every data entry mode, wrapping at the end address", () => {
    /** Write 1..6 into a 2x2 window (x 1..2 bytes, y 5..6); returns the cells (1,5) (2,5) (1,6) (2,6). */
    const cells = (entry: number, xs: number, xe: number, ys: number, ye: number) => {
      const { m, send } = rig(32, 8);
      send(0x11, entry);
      send(0x44, xs, xe);
      send(0x45, ys, 0, ye, 0);
      send(0x4e, xs);
      send(0x4f, ys, 0);
      send(0x24, Uint8Array.of(1, 2, 3, 4, 5, 6)); // 4 fill the window, 5 and 6 wrap to its start
      expect(m.faults).to.deep.equal([]);
      return [5 * 4 + 1, 5 * 4 + 2, 6 * 4 + 1, 6 * 4 + 2].map((i) => m.ram[i]);
    };
    expect(cells(0x03, 1, 2, 5, 6), "X+ Y+, X first").to.deep.equal([5, 6, 3, 4]);
    expect(cells(0x07, 1, 2, 5, 6), "X+ Y+, Y first").to.deep.equal([5, 3, 6, 4]);
    expect(cells(0x01, 1, 2, 6, 5), "X+ Y-").to.deep.equal([3, 4, 5, 6]);
    expect(cells(0x02, 2, 1, 5, 6), "X- Y+").to.deep.equal([6, 5, 4, 3]);
    expect(cells(0x00, 2, 1, 6, 5), "X- Y-").to.deep.equal([4, 3, 6, 5]);
  });

  it("puts frame row 0 on top both for TB=1 with Y decrement (Waveshare) and TB=0 with Y increment (GxEPD2)", () => {
    const frame = Uint8Array.of(0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08);
    for (const [tb, entry, y0, y1] of [
      [1, 0x01, 3, 0],
      [0, 0x03, 0, 3],
    ]) {
      const { m, send, update } = rig(16, 4);
      send(0x01, 3, 0, tb);
      send(0x11, entry);
      send(0x44, 0, 1);
      send(0x45, y0, 0, y1, 0);
      send(0x4e, 0);
      send(0x4f, y0, 0);
      send(0x24, frame);
      update(0xf7);
      expect([...m.display], `TB=${tb}`).to.deep.equal([...frame]);
      expect(m.faults).to.deep.equal([]);
    }
  });

  it("ignores commands sent while BUSY and logs them as driver faults", () => {
    const { m, clock, send, log } = rig();
    send(0x12);
    expect(m.busyUntil()).to.equal(clock.now + SW_RESET_MS);
    send(0x11, 0x00); // the driver did not wait
    expect(m.faults).to.deep.equal(["command 0x11 while BUSY ignored"]);
    expect(log).to.deep.equal(["SSD1681: fault: command 0x11 while BUSY ignored"]);
    clock.now += SW_RESET_MS;
    send(0x24, Uint8Array.of(0xaa));
    expect(m.ram[0], "entry mode stayed at its reset value, X+ Y+ from 0,0").to.equal(0xaa);
  });

  it("deep sleep ignores everything, BUSY high, until a hardware reset", () => {
    const { m, clock, send, wake, window, update } = rig(8, 1);
    send(0x10, 0x01);
    expect([m.asleep, m.busy(), m.busyUntil()]).to.deep.equal([true, 1, undefined]);
    clock.now += 10_000;
    send(0x12);
    send(0x24, Uint8Array.of(0));
    expect(m.faults).to.deep.equal(["command 0x12 in deep sleep ignored", "command 0x24 in deep sleep ignored"]);
    wake();
    expect([m.asleep, m.busy()]).to.deep.equal([false, 0]);
    window();
    send(0x24, 0x5a);
    update(0xf7);
    expect(m.display[0]).to.equal(0x5a);
  });

  it("keeps RAM across deep sleep mode 1 and loses it in mode 2", () => {
    const { m, send, wake, window } = rig(8, 1);
    window();
    send(0x24, 0x5a);
    send(0x10, 0x01);
    wake();
    expect(m.ram[0]).to.equal(0x5a);
    send(0x10, 0x03);
    wake();
    expect(m.ram[0]).to.not.equal(0x5a);
  });

  it("logs and lists unknown commands, and flags malformed ones", () => {
    const { m, send, log } = rig();
    send(0x99, 1, 2);
    expect(m.unknown).to.deep.equal([0x99]);
    expect(log).to.deep.equal(["SSD1681: unknown command 0x99"]);
    send(0x44, 0); // one of two bytes
    send(0x4e, 0, 0); // two of one
    send(0x7f, 1); // NOP
    expect(m.faults).to.deep.equal([
      "command 0x44 got 1 of 2 data bytes",
      "command 0x4E takes at most 1 data bytes",
      "command 0x7F takes at most 0 data bytes",
    ]);
  });

  it("a hardware reset in the middle of a refresh abandons it", () => {
    const { m, clock, send, window, wake } = rig(8, 1);
    window();
    send(0x24, 0);
    send(0x22, 0xf7);
    send(0x20);
    clock.now += 100;
    wake();
    clock.now += 5000;
    expect(m.refreshes.full).to.equal(0);
    expect(m.display[0]).to.equal(0xff);
    expect(m.faults).to.deep.equal(["hardware reset during a refresh: refresh abandoned"]);
  });

  it("rejects sizes the controller cannot drive", () => {
    expect(() => new Ssd1681({ width: 204, height: 200, now: () => 0 })).to.throw(/width/);
    expect(() => new Ssd1681({ width: 200, height: 201, now: () => 0 })).to.throw(/height/);
  });
});
