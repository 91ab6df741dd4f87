/**
 * SSD1681 e-paper driver (200x200 B/W, Waveshare 1.54" V2 / Good Display
 * GDEH0154D67) over 4-wire SPI, implementing core's Panel.
 *
 * One update, each step started by the previous one's timer or BUSY edge:
 *   RST low 10 ms, high, 10 ms, BUSY low   hardware reset: the only way out of deep sleep
 *   0x12, BUSY low                         software reset (registers to defaults, RAM kept)
 *   setup table, 0x24 frame, 0x22 mode, 0x20, BUSY low   the refresh itself
 *   0x4E/0x4F, 0x26 frame, 0x10 0x01       base image for the next partial refresh, deep sleep
 *
 * Update modes (0x22, Display Update Control 2; bits run in this order:
 * 0x80 clock on, 0x40 analog on, 0x20 load temperature, 0x10 load LUT from
 * OTP, 0x08 display mode 2, 0x04 display, 0x02 analog off, 0x01 clock off):
 *   full    0xF7: mode 1, the panel's full waveform (flashes, clears ghosting)
 *   partial 0xFF: mode 2, the panel's partial waveform, which drives only the
 *           pixels where new RAM (0x24) differs from base RAM (0x26)
 * Both load temperature and LUT (registers are at their defaults after the
 * resets) and end with analog and clock off, since deep sleep follows. The
 * Waveshare V2 reference (2019, OTP waveforms) uses 0xF7/0xFF; its later code
 * loads its own LUTs and uses 0xC7/0xCF; GxEPD2's 0xF4/0xFC keep analog on for
 * back-to-back updates, which a card asleep between presses does not need.
 *
 * RAM survives deep sleep mode 1 (datasheet), and the resets leave RAM alone
 * (assumed as GxEPD2 and Waveshare do; to confirm on real glass), so 0x26 is
 * written with the frame after each refresh: the next partial refresh diffs
 * against what the glass shows without the card keeping a 5 KB copy. The
 * frame must therefore stay unchanged until done(). The first update after
 * start (or after a failed one) is always full: the base RAM is unknown.
 * Whether it is known lives in `state`, which may outlive the driver (main.ts
 * builds one per event).
 *
 * BUSY (active high) is awaited with a one-shot falling-edge watch plus a
 * BUSY_TIMEOUT_MS timer, so a dead panel cannot hang the card: the update is
 * abandoned, `timeouts` counts it and done() still runs. A step that throws
 * (SPI, a pin) abandons the update too, and the error is thrown on once
 * done() has run: an update always ends, so the card never waits for a
 * panel that will not finish. Nothing stays scheduled between updates.
 *
 * RAM: the two callbacks the timers and watches call are made for each
 * update, after the frame is drawn (when the card's RAM peaks), and dropped
 * by finish(). arm() makes them, in a scope that holds nothing but the
 * driver: made in show(), whose scope holds the frame, they kept that 5 KB
 * frame alive until the update after it had drawn its own (issue 9: two
 * frames at once ran the card out of memory).
 * Steps that need no wait (BUSY already low) run in a loop, not by recursion:
 * nested method calls on one object saturate its 4-bit lock count in
 * Espruino 2v29, after which it is never freed.
 */
import type { Panel } from "../core/types";

export interface Ssd1681Options {
  /** An SPI already set up (mode 0, MSB first, up to 20 MHz). CS is driven here, not by SPI.write. */
  spi: SPI;
  cs: Pin;
  dc: Pin;
  rst: Pin;
  busy: Pin;
  /** Pixels; width a multiple of 8. At most 200x200. */
  width: number;
  height: number;
  /** Where "base RAM known" is kept (default: a new one, unknown). */
  state?: PanelState;
}

/** What the driver remembers between updates (and between drivers sharing it). */
export interface PanelState {
  /** True once 0x26 holds what the glass shows. */
  based: boolean;
}

/** Longest wait for BUSY to fall, ms: a full refresh takes about 2 s at 25 C and grows in the cold. */
export const BUSY_TIMEOUT_MS = 8000;
/** Reset pulse, and the settling time after it, ms (as GxEPD2 and the Waveshare reference). */
const RESET_MS = 10;
const MODE_FULL = 0xf7;
const MODE_PARTIAL = 0xff;
/** Border waveform (0x3C): white via LUT1 on a full refresh; held at VCOM on a partial one so it does not flash. */
const BORDER_FULL = 0x05;
const BORDER_PARTIAL = 0x80;
/** Offsets into the setup table: the border byte, and the start of the RAM cursor commands. */
const AT_BORDER = 20;
const AT_CURSOR = 24;

export class Ssd1681 implements Panel {
  /** Updates abandoned because BUSY never fell. */
  timeouts = 0;
  private readonly o: Ssd1681Options;
  private readonly bytes: number;
  /** Commands as [command, data length, data...]; the Waveshare V2 init. */
  private readonly setup: Uint8Array;
  /** During an update: resumes after a timer or BUSY's falling edge, and ends it when BUSY never falls. */
  private onWake: (() => void) | undefined;
  private onTimeout: (() => void) | undefined;
  private phase = 0;
  private full = true;
  private readonly state: PanelState;
  private frame: Uint8Array | undefined;
  private done: (() => void) | undefined;
  private watch = 0;
  /** The BUSY timeout while one is armed, else 0. */
  private timer = 0;

  constructor(o: Ssd1681Options) {
    const w = o.width;
    const h = o.height;
    if (!o.spi || typeof o.spi.write !== "function") throw new Error("SSD1681: spi must be an SPI");
    if (o.cs === undefined || o.dc === undefined || o.rst === undefined || o.busy === undefined) {
      throw new Error("SSD1681: cs, dc, rst and busy pins are required");
    }
    if (!(w > 0 && w <= 200 && w % 8 === 0)) throw new Error("SSD1681: width must be 8..200, a multiple of 8");
    if (!(h > 0 && h <= 200 && h % 1 === 0)) throw new Error("SSD1681: height must be 1..200");
    this.o = o;
    this.state = o.state || { based: false };
    this.bytes = (w / 8) * h;
    const y = h - 1;
    // prettier-ignore
    this.setup = new Uint8Array([
      0x01, 3, y & 255, y >> 8, 0x01, // driver output: h gate lines, TB=1 (scan G(h-1)..G0)
      0x11, 1, 0x01,                  // data entry: X increment, Y decrement, X first
      0x44, 2, 0, w / 8 - 1,          // RAM X window, in bytes
      0x45, 4, y & 255, y >> 8, 0, 0, // RAM Y window h-1 down to 0: with TB=1, frame row 0 is the top gate
      0x3c, 1, BORDER_FULL,           // border waveform [AT_BORDER]
      0x18, 1, 0x80,                  // temperature: internal sensor
      0x4e, 1, 0,                     // RAM X counter [AT_CURSOR]
      0x4f, 2, y & 255, y >> 8,       // RAM Y counter
    ]);
  }

  /** Refresh with frame (panel RAM layout, width/8*height bytes, 1 = white). Throws if an update is under way. */
  show(frame: Uint8Array, full: boolean, done: () => void): void {
    if (this.done) throw new Error("SSD1681: update in progress");
    if (!frame || frame.length !== this.bytes) throw new Error("SSD1681: frame must be " + this.bytes + " bytes");
    if (typeof done !== "function") throw new Error("SSD1681: done must be a function");
    this.frame = frame;
    this.done = done;
    this.full = full || !this.state.based;
    this.state.based = false;
    this.phase = 0;
    this.arm();
    digitalWrite(this.o.rst, 0);
    setTimeout(this.onWake as () => void, RESET_MS);
  }

  /** The update's two callbacks, in a scope that holds no frame (see the top). */
  private arm(): void {
    const self = this;
    this.onWake = function () {
      // After a reset timer, or after BUSY fell (its one-shot watch has removed itself) before the timeout.
      if (self.timer) clearTimeout(self.timer);
      self.timer = 0;
      self.run();
    };
    this.onTimeout = function () {
      self.timer = 0;
      clearWatch(self.watch);
      self.timeouts++;
      self.finish();
    };
  }

  /** The steps from `phase` on, until one has to wait for a timer or for BUSY. */
  private run(): void {
    const o = this.o;
    const wake = this.onWake;
    const timeout = this.onTimeout;
    if (!wake || !timeout) return; // no update under way
    let error: unknown;
    try {
      for (;;) {
        const p = this.phase++;
        if (p === 0) {
          digitalWrite(o.rst, 1);
          setTimeout(wake, RESET_MS);
          return;
        } else if (p === 2) {
          this.command(0x12);
        } else if (p === 3) {
          this.setup[AT_BORDER] = this.full ? BORDER_FULL : BORDER_PARTIAL;
          this.table(0);
          this.command(0x24, this.frame);
          this.command(0x22, this.full ? MODE_FULL : MODE_PARTIAL);
          this.command(0x20);
        } else if (p >= 4) {
          this.table(AT_CURSOR);
          this.command(0x26, this.frame);
          this.command(0x10, 0x01); // deep sleep mode 1: RAM kept, BUSY stays high until a hardware reset
          this.state.based = true;
          break;
        }
        // Phase 1 (the reset done) only waits; 2 and 3 wait after sending. For BUSY to fall, each time.
        if (this.busyHigh(wake, timeout)) return;
      }
    } catch (e) {
      // Abandoned. Nothing is armed while a step runs (wake came from the one-shot watch or a timer
      // and cleared the BUSY timer), and state.based is false: the next update is a full refresh.
      error = e;
    }
    // Outside the try: an error thrown by done() (the next update) is not this update's.
    this.finish();
    if (error !== undefined) throw error;
  }

  /** Send one command with its data; CS framed by hand since Espruino's SPI.write takes only a Pin object as CS. */
  private command(cmd: number, data?: number | Uint8Array): void {
    const o = this.o;
    digitalWrite(o.dc, 0);
    digitalWrite(o.cs, 0);
    o.spi.write(cmd);
    if (data !== undefined) {
      digitalWrite(o.dc, 1);
      o.spi.write(data);
    }
    digitalWrite(o.cs, 1);
  }

  /** Send the setup table from offset `at` to its end. */
  private table(at: number): void {
    const t = this.setup;
    while (at < t.length) {
      const n = t[at + 1];
      this.command(t[at], t.subarray(at + 2, at + 2 + n));
      at += n + 2;
    }
  }

  /**
   * True when BUSY is high: wake runs when it falls, timeout if it does not
   * within BUSY_TIMEOUT_MS. False when it is already low (nothing is left armed).
   * The watch is set before reading the pin so an edge in between is not lost.
   */
  private busyHigh(wake: () => void, timeout: () => void): boolean {
    const o = this.o;
    this.watch = setWatch(wake, o.busy, { edge: "falling", repeat: false });
    if (digitalRead(o.busy)) {
      this.timer = setTimeout(timeout, BUSY_TIMEOUT_MS);
      return true;
    }
    clearWatch(this.watch);
    return false;
  }

  private finish(): void {
    const done = this.done;
    this.done = undefined;
    this.frame = undefined;
    this.onWake = undefined;
    this.onTimeout = undefined;
    if (done) done();
  }
}
