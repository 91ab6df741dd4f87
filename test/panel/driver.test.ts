// The real card driver (firmware/hal/ssd1681.ts, run by tsx) against the SSD1681 model.
import { expect } from "chai";
import { Harness } from "./harness.ts";
import { HW_RESET_MS, SW_RESET_MS } from "../../sim/board/ssd1681.ts";

// Imported through a URL so that tsc does not pull card code (Espruino globals) into the Node program.
interface Driver {
  show(frame: Uint8Array, full: boolean, done: () => void): void;
  timeouts: number;
}
interface DriverModule {
  Ssd1681: new (o: object) => Driver;
  BUSY_TIMEOUT_MS: number;
}
const driverUrl = new URL("../../firmware/hal/ssd1681.ts", import.meta.url).href;
const { Ssd1681, BUSY_TIMEOUT_MS } = (await import(driverUrl)) as DriverModule;

const PINS = { cs: "D28", dc: "D29", rst: "D30", busy: "D31" };
const W = 200;
const H = 200;
const FULL_MS = 2000;
const PARTIAL_MS = 300;
/** Reset pulse, settle (BUSY of the hardware reset ends within it), BUSY of the software reset: then the refresh starts. */
const LEAD_MS = 10 + Math.max(10, HW_RESET_MS) + SW_RESET_MS;

function rig(model: { fullRefreshMs?: number } = {}) {
  const log: string[] = [];
  const h = new Harness(PINS, { width: W, height: H, fullRefreshMs: FULL_MS, partialRefreshMs: PARTIAL_MS, log: (m) => log.push(m), ...model });
  const panel = h.call(() => new Ssd1681({ spi: h.spi, ...PINS, width: W, height: H }));
  /** Start an update; returns a record filled in when done() runs. */
  const show = (frame: Uint8Array, full: boolean) => {
    const r = { at: -1, timers: -1, watches: -1 };
    h.call(() =>
      panel.show(frame, full, () => {
        r.at = h.now;
        r.timers = h.pendingTimers;
        r.watches = h.activeWatches;
      }),
    );
    return r;
  };
  return { h, panel, show, log };
}

let seed = 12345;
function randomFrame(): Uint8Array {
  const f = new Uint8Array((W / 8) * H);
  for (let i = 0; i < f.length; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    f[i] = seed >>> 24;
  }
  return f;
}

function expectClean(h: Harness, log: string[]) {
  expect(h.model.faults, "controller faults").to.deep.equal([]);
  expect(h.model.unknown, "unknown commands").to.deep.equal([]);
  expect(h.faults, "bus faults").to.deep.equal([]);
  expect(log).to.deep.equal([]);
}

describe("SSD1681 driver on the controller model", () => {
  it("a full update puts the frame on the glass, waits for BUSY, then sleeps with nothing left running", () => {
    const { h, show, log } = rig();
    const frame = randomFrame();
    const done = show(frame, true);
    h.advance(LEAD_MS + FULL_MS - 1);
    expect(done.at, "done before the refresh ended").to.equal(-1);
    expect(h.model.refreshes).to.deep.equal({ full: 0, partial: 0 });
    h.advance(1);
    expect(done.at).to.equal(LEAD_MS + FULL_MS);
    expect(Buffer.from(h.model.display).equals(Buffer.from(frame))).to.equal(true);
    expect(h.model.refreshes).to.deep.equal({ full: 1, partial: 0 });
    expect(h.model.asleep).to.equal(true);
    expect(done.timers, "timers at done()").to.equal(0);
    expect(done.watches, "watches at done()").to.equal(0);
    h.advance(60_000);
    expect(h.pendingTimers + h.activeWatches).to.equal(0);
    expectClean(h, log);
  });

  it("partial updates diff against the base image; refresh kinds follow the flags", () => {
    const { h, show, log } = rig();
    const flags = [true, false, false, false, true, false, false, false, false, false, false, true, false];
    for (const full of flags) {
      const frame = randomFrame();
      const writesBefore = h.spiWrites.length;
      const start = h.now;
      const done = show(frame, full);
      h.advance(LEAD_MS + (full ? FULL_MS : PARTIAL_MS));
      expect(done.at - start, "time to done()").to.equal(LEAD_MS + (full ? FULL_MS : PARTIAL_MS));
      expect(Buffer.from(h.model.display).equals(Buffer.from(frame)), "display equals frame").to.equal(true);
      expect(h.model.asleep, "asleep after the update").to.equal(true);
      const writes = h.spiWrites.slice(writesBefore);
      expect(writes.filter((n) => n === frame.length), "frame sent whole to 0x24 and 0x26").to.have.length(2);
      expect(writes.length, "SPI writes per update").to.be.below(40);
    }
    const full = flags.filter((f) => f).length;
    expect(h.model.refreshes).to.deep.equal({ full, partial: flags.length - full });
    expect(h.resetPulses, "one hardware reset per update (the wake from deep sleep)").to.have.length(flags.length);
    for (const ms of h.resetPulses) expect(ms).to.be.at.least(10);
    expectClean(h, log);
  });

  it("a partial update that skipped the base image would leave stale pixels (the model is strict)", () => {
    const { h, show } = rig();
    const a = randomFrame();
    show(a, true);
    h.advance(5000);
    // Spoil the base the driver wrote: a partial refresh must then go wrong.
    h.model.ramRed.fill(0);
    const b = randomFrame();
    show(b, false);
    h.advance(5000);
    expect(Buffer.from(h.model.display).equals(Buffer.from(b))).to.equal(false);
  });

  it("the first update after start is full even when partial is asked (the base RAM is unknown)", () => {
    const { h, show, log } = rig();
    const frame = randomFrame();
    show(frame, false);
    h.advance(5000);
    expect(h.model.refreshes).to.deep.equal({ full: 1, partial: 0 });
    expect(Buffer.from(h.model.display).equals(Buffer.from(frame))).to.equal(true);
    expectClean(h, log);
  });

  it("a new driver sharing the state knows the base image (main.ts builds one per event)", () => {
    const { h, show, log } = rig();
    const state = { based: false };
    const first = h.call(() => new Ssd1681({ spi: h.spi, ...PINS, width: W, height: H, state }));
    h.call(() => first.show(randomFrame(), true, () => {}));
    h.advance(5000);
    expect(state.based).to.equal(true);
    const frame = randomFrame();
    const second = h.call(() => new Ssd1681({ spi: h.spi, ...PINS, width: W, height: H, state }));
    h.call(() => second.show(frame, false, () => {}));
    h.advance(5000);
    expect(h.model.refreshes).to.deep.equal({ full: 1, partial: 1 });
    expect(Buffer.from(h.model.display).equals(Buffer.from(frame))).to.equal(true);
    show(randomFrame(), false); // a driver with a state of its own knows nothing: full
    h.advance(5000);
    expect(h.model.refreshes).to.deep.equal({ full: 2, partial: 1 });
    expectClean(h, log);
  });

  it(`a panel whose BUSY never falls: done() after the ${BUSY_TIMEOUT_MS} ms timeout, nothing left running`, () => {
    const { h, panel, show, log } = rig();
    h.stuckBusy = true;
    const done = show(randomFrame(), true);
    h.advance(20 + BUSY_TIMEOUT_MS - 1);
    expect(done.at).to.equal(-1);
    h.advance(1);
    expect(done.at).to.equal(20 + BUSY_TIMEOUT_MS);
    expect(panel.timeouts).to.equal(1);
    expect([done.timers, done.watches, h.pendingTimers, h.activeWatches]).to.deep.equal([0, 0, 0, 0]);
    expect(h.model.refreshes).to.deep.equal({ full: 0, partial: 0 });
    expectClean(h, log);
  });

  it("a refresh that hangs times out, and the next update recovers with a full refresh", () => {
    const { h, panel, show } = rig({ fullRefreshMs: 60_000 });
    const done = show(randomFrame(), true);
    h.advance(LEAD_MS + BUSY_TIMEOUT_MS);
    expect(done.at).to.equal(LEAD_MS + BUSY_TIMEOUT_MS);
    expect(panel.timeouts).to.equal(1);
    expect(h.pendingTimers + h.activeWatches).to.equal(0);
    const frame = randomFrame();
    const again = show(frame, false);
    h.advance(LEAD_MS + 60_000);
    expect(again.at).to.be.above(0);
    expect(Buffer.from(h.model.display).equals(Buffer.from(frame))).to.equal(true);
    expect(h.model.refreshes).to.deep.equal({ full: 1, partial: 0 });
    // The wake reset cut the hung refresh short, which the controller reports; nothing else went wrong.
    expect(h.model.faults).to.deep.equal(["hardware reset during a refresh: refresh abandoned"]);
  });

  it("rejects a second update while one runs, a frame of the wrong size, and bad options", () => {
    const { h, show } = rig();
    show(randomFrame(), true);
    expect(() => show(randomFrame(), false)).to.throw(/in progress/);
    h.advance(5000);
    expect(() => show(new Uint8Array(10), false)).to.throw(/5000 bytes/);
    expect(() => h.call(() => new Ssd1681({ spi: h.spi, ...PINS, width: 201, height: 200 }))).to.throw(/width/);
    expect(() => h.call(() => new Ssd1681({ spi: h.spi, ...PINS, busy: undefined, width: 200, height: 200 }))).to.throw(/pins/);
  });
});
