/**
 * A model of the Solomon Systech SSD1681 e-paper controller (B/W, up to
 * 200x200; Waveshare 1.54" V2 / Good Display GDEH0154D67) for the simulator.
 * It decodes the SPI byte stream as the controller does and keeps its two
 * RAMs apart from the pixels on the glass, so the simulator shows what the
 * driver really sent. Passive: time is read from `now()` whenever the model
 * is touched; a refresh lands in `display` once its time has passed.
 *
 * What it models, and how:
 * - Commands and data: DC low = command byte, DC high = data for the last
 *   command. CS high does not end a command (the Waveshare reference sends
 *   every byte in its own CS frame). A command's parameters take effect once
 *   all its data bytes arrived; too few or too many are driver faults.
 * - RAM writes 0x24 (B/W) and 0x26 ("red", the base for a partial refresh)
 *   at the address counter (0x4E/0x4F), which then steps as data entry mode
 *   0x11 says (X/Y increment or decrement, X or Y first). A counter at the
 *   window's end address (0x44/0x45) reloads the window's start address and
 *   steps the other one: this works in both directions because a driver sets
 *   start/end in the order it traverses them.
 * - Gate scan (0x01 byte 3, TB): display row r shows RAM row r with TB=0 and
 *   RAM row MUX-1-r with TB=1, so both the Waveshare setup (TB=1, Y
 *   decrement from h-1) and GxEPD2's (TB=0, Y increment) put frame row 0 on top.
 * - 0x22/0x20 (Display Update Control 2, Master Activation) run the bits of
 *   the 0x22 value in order: 0x80 clock on, 0x40 analog on, 0x20 load
 *   temperature, 0x10 load LUT, 0x08 selects display mode 2, 0x04 display,
 *   0x02 analog off, 0x01 clock off. Display needs clock, analog and a LUT
 *   (loaded by bit 0x10 now or earlier, or written with 0x32). Mode 1 is the
 *   full refresh: every pixel is driven to the B/W RAM. Mode 2 is the partial
 *   refresh: only pixels whose B/W RAM bit differs from the red RAM bit are
 *   driven, the others keep what the glass showed. So 0xF7/0xC7 are full,
 *   0xFF/0xFC/0xCF partial. The model does not copy 0x24 into 0x26 after a
 *   refresh: a driver must keep the base itself (harmless on real glass).
 * - BUSY is high during a hardware reset and HW_RESET_MS after it, during
 *   SW_RESET_MS after 0x12, during a refresh (fullRefreshMs/partialRefreshMs)
 *   or other activation (LOAD_MS), and in deep sleep, as the datasheet says.
 *   Any byte sent while BUSY is high is ignored and logged as a driver fault.
 * - Deep sleep (0x10 0x01 keeps RAM, 0x10 0x03 loses it) ignores everything
 *   (logged as a fault) until a hardware reset. A hardware or software reset
 *   sets the registers to their power-on values; RAM starts as garbage.
 * - Unknown commands are logged and their data ignored. Known commands that
 *   do not change pixels (voltages, VCOM, OTP options, border, temperature)
 *   are accepted and otherwise ignored.
 */

export interface Ssd1681ModelOptions {
  width: number;
  height: number;
  /** Virtual time, ms. */
  now: () => number;
  /** Time of a full refresh, ms (Waveshare 1.54" V2: 2 s). */
  fullRefreshMs?: number;
  /** Time of a partial refresh, ms (Waveshare 1.54" V2: 0.3 s). */
  partialRefreshMs?: number;
  log?: (msg: string) => void;
}

/** BUSY after a hardware reset, after 0x12, and for activations that do not display, ms (assumed: the datasheet asks hosts to wait for BUSY, not for a time). */
export const HW_RESET_MS = 2;
export const SW_RESET_MS = 2;
export const LOAD_MS = 1;

/** Data bytes of each known command: [fewest, most]. 0x24/0x26 stream any number. */
const ARGS = new Map<number, readonly [number, number]>([
  [0x01, [3, 3]], // driver output control: MUX-1 low, high, GD/SM/TB
  [0x03, [1, 1]], // gate driving voltage
  [0x04, [3, 3]], // source driving voltage
  [0x0c, [4, 4]], // booster soft start
  [0x10, [1, 1]], // deep sleep mode
  [0x11, [1, 1]], // data entry mode
  [0x12, [0, 0]], // software reset
  [0x18, [1, 1]], // temperature sensor selection
  [0x1a, [2, 2]], // temperature register write
  [0x20, [0, 0]], // master activation
  [0x21, [1, 2]], // display update control 1: RAM content options, source output mode
  [0x22, [1, 1]], // display update control 2: the activation sequence
  [0x24, [0, Infinity]], // write B/W RAM
  [0x26, [0, Infinity]], // write red RAM
  [0x2c, [1, 1]], // VCOM
  [0x32, [153, 153]], // LUT
  [0x37, [10, 10]], // display option (OTP)
  [0x3c, [1, 1]], // border waveform
  [0x3f, [1, 1]], // end option
  [0x44, [2, 2]], // RAM X window, bytes
  [0x45, [4, 4]], // RAM Y window
  [0x4e, [1, 1]], // RAM X counter
  [0x4f, [2, 2]], // RAM Y counter
  [0x7f, [0, 0]], // NOP
]);

const hex = (b: number) => "0x" + b.toString(16).padStart(2, "0").toUpperCase();

export class Ssd1681 {
  readonly width: number;
  readonly height: number;
  /** B/W RAM (0x24), panel layout: rows of width/8 bytes, MSB leftmost, 1 = white. */
  readonly ram: Uint8Array;
  /** Red RAM (0x26): the base image a partial refresh diffs against. */
  readonly ramRed: Uint8Array;
  /** Commands the model does not know, in the order received. */
  readonly unknown: number[] = [];
  /** Driver faults: bytes while BUSY, in deep sleep or in reset, malformed commands, impossible updates. */
  readonly faults: string[] = [];

  private readonly rowBytes: number;
  private readonly now: () => number;
  private readonly fullMs: number;
  private readonly partialMs: number;
  private readonly logFn: ((msg: string) => void) | undefined;
  private readonly shown: Uint8Array;
  private readonly count = { full: 0, partial: 0 };
  private readonly args = new Uint8Array(160);
  private seed = 0x2545f491;

  private cmd = -1; // command receiving data; -1 none, -2 ignored
  private argc = 0;
  private faulted = false; // one fault per command or CS frame, not per byte
  private inReset = false;
  private sleeping = false;
  private busyEnd = 0;
  private pending: { at: number; partial: boolean } | undefined;

  // Registers (power-on values set by resetRegisters).
  private mux = 0;
  private tb = 0;
  private entry = 0;
  private xs = 0;
  private xe = 0;
  private ys = 0;
  private ye = 0;
  private xc = 0;
  private yc = 0;
  private update2 = 0;
  private ramOption = 0;
  private clock = false;
  private analog = false;
  private lut = false;

  constructor(opts: Ssd1681ModelOptions) {
    const { width, height, now } = opts;
    if (!Number.isInteger(width) || width < 8 || width > 200 || width % 8) {
      throw new RangeError(`SSD1681 model: width must be 8..200, a multiple of 8 (got ${width})`);
    }
    if (!Number.isInteger(height) || height < 1 || height > 200) {
      throw new RangeError(`SSD1681 model: height must be 1..200 (got ${height})`);
    }
    if (typeof now !== "function") throw new TypeError("SSD1681 model: now must be a function");
    this.width = width;
    this.height = height;
    this.rowBytes = width / 8;
    this.now = now;
    this.fullMs = opts.fullRefreshMs ?? 2000;
    this.partialMs = opts.partialRefreshMs ?? 300;
    this.logFn = opts.log;
    this.ram = new Uint8Array(this.rowBytes * height);
    this.ramRed = new Uint8Array(this.rowBytes * height);
    this.shown = new Uint8Array(this.rowBytes * height).fill(0xff);
    this.garbage();
    this.resetRegisters();
  }

  /** Pixels on the glass after the last finished refresh (same layout as `ram`). */
  get display(): Uint8Array {
    this.settle();
    return this.shown;
  }

  /** Finished refreshes by kind. */
  get refreshes(): { readonly full: number; readonly partial: number } {
    this.settle();
    return { full: this.count.full, partial: this.count.partial };
  }

  /** In deep sleep: deaf until a hardware reset. */
  get asleep(): boolean {
    return this.sleeping;
  }

  /** A pixel of the displayed image: 1 white, 0 black. */
  pixel(x: number, y: number): 0 | 1 {
    if (!(x >= 0 && x < this.width && y >= 0 && y < this.height)) throw new RangeError(`pixel (${x}, ${y}) off the panel`);
    const b = this.display[y * this.rowBytes + (x >> 3)];
    return ((b >> (7 - (x & 7))) & 1) as 0 | 1;
  }

  /** BUSY pin level now. */
  busy(): 0 | 1 {
    this.settle();
    return this.inReset || this.sleeping || this.now() < this.busyEnd ? 1 : 0;
  }

  /** When BUSY will fall by itself (virtual ms), or undefined if it is low or stays high (reset held, deep sleep). */
  busyUntil(): number | undefined {
    this.settle();
    return !this.inReset && !this.sleeping && this.now() < this.busyEnd ? this.busyEnd : undefined;
  }

  /** RST pin level: low holds the controller in reset, the rising edge starts it. */
  setReset(level: 0 | 1): void {
    this.settle();
    if (!level) {
      if (this.pending) this.fault("hardware reset during a refresh: refresh abandoned");
      this.pending = undefined;
      this.inReset = true;
      this.sleeping = false;
      this.resetRegisters();
    } else if (this.inReset) {
      this.inReset = false;
      this.busyEnd = this.now() + HW_RESET_MS;
    }
  }

  /** CS went high: the end of an SPI frame. */
  csHigh(): void {
    this.faulted = false;
  }

  /** Bytes clocked in while CS was low; dc is the DC pin level (0 command, 1 data). */
  write(bytes: Uint8Array, dc: 0 | 1): void {
    this.settle();
    for (let i = 0; i < bytes.length; i++) {
      const why = this.inReset ? "in reset" : this.sleeping ? "in deep sleep" : this.now() < this.busyEnd ? "while BUSY" : "";
      if (why) {
        if (dc === 0) {
          this.fault(`command ${hex(bytes[i])} ${why} ignored`);
          this.cmd = -2;
        } else if (!this.faulted) this.fault(`data ${why} ignored (${bytes.length - i} bytes)`);
        this.faulted = true;
        if (dc === 1) break;
        continue;
      }
      if (dc === 0) this.command(bytes[i]);
      else this.data(bytes[i]);
    }
  }

  private command(c: number): void {
    this.endCommand();
    this.faulted = false;
    const spec = ARGS.get(c);
    if (!spec) {
      this.unknown.push(c);
      this.say(`unknown command ${hex(c)}`);
      this.cmd = -2;
      return;
    }
    this.cmd = c;
    this.argc = 0;
    if (spec[1] > 0) return;
    if (c === 0x12) {
      this.resetRegisters();
      this.busyEnd = this.now() + SW_RESET_MS;
    } else if (c === 0x20) this.activate();
  }

  private data(b: number): void {
    const c = this.cmd;
    if (c === -2) return; // data of an unknown or ignored command
    if (c === -1) {
      this.fault(`data ${hex(b)} before any command`);
      return;
    }
    if (c === 0x24 || c === 0x26) {
      this.ramWrite(c === 0x24 ? this.ram : this.ramRed, b);
      return;
    }
    const [min, max] = ARGS.get(c)!;
    if (this.argc >= max) {
      if (!this.faulted) this.fault(`command ${hex(c)} takes at most ${max} data bytes`);
      this.faulted = true;
      return;
    }
    this.args[this.argc++] = b;
    if (this.argc >= min) this.apply(c);
  }

  /** A command cut short by the next one is a driver fault (its parameters were never applied). */
  private endCommand(): void {
    const spec = this.cmd >= 0 ? ARGS.get(this.cmd) : undefined;
    if (spec && this.argc < spec[0]) this.fault(`command ${hex(this.cmd)} got ${this.argc} of ${spec[0]} data bytes`);
    this.cmd = -1;
  }

  private apply(c: number): void {
    const a = this.args;
    switch (c) {
      case 0x01:
        this.mux = (a[0] | ((a[1] & 1) << 8)) + 1;
        this.tb = a[2] & 1;
        if (a[2] & 6) this.say("driver output control: GD/SM gate order is not modelled");
        break;
      case 0x10:
        if ((a[0] & 3) === 0) break;
        if ((a[0] & 3) === 2) this.fault("deep sleep mode 0x02 is undefined");
        this.sleeping = true;
        if ((a[0] & 3) === 3) this.garbage(); // mode 2 does not retain RAM
        break;
      case 0x11:
        this.entry = a[0] & 7;
        break;
      case 0x21:
        this.ramOption = a[0];
        break;
      case 0x22:
        this.update2 = a[0];
        break;
      case 0x32:
        this.lut = true;
        break;
      case 0x44:
        this.xs = a[0] & 0x3f;
        this.xe = a[1] & 0x3f;
        break;
      case 0x45:
        this.ys = a[0] | ((a[1] & 1) << 8);
        this.ye = a[2] | ((a[3] & 1) << 8);
        break;
      case 0x4e:
        this.xc = a[0] & 0x3f;
        break;
      case 0x4f:
        this.yc = a[0] | ((a[1] & 1) << 8);
        break;
    }
  }

  /** Write one byte at the address counter, then step it through the window. */
  private ramWrite(target: Uint8Array, b: number): void {
    if (this.xc < this.rowBytes && this.yc < this.height) target[this.yc * this.rowBytes + this.xc] = b;
    else if (!this.faulted) {
      this.fault(`RAM write at x=${this.xc} y=${this.yc}, outside the ${this.rowBytes}x${this.height} RAM`);
      this.faulted = true;
    }
    const yFirst = (this.entry & 4) !== 0;
    if (yFirst ? this.stepY() : this.stepX()) {
      if (yFirst) this.stepX();
      else this.stepY();
    }
  }

  /** Step the X counter; true when it wrapped to the window start. */
  private stepX(): boolean {
    if (this.xc === this.xe) {
      this.xc = this.xs;
      return true;
    }
    this.xc = (this.xc + (this.entry & 1 ? 1 : -1)) & 0x3f;
    return false;
  }

  private stepY(): boolean {
    if (this.yc === this.ye) {
      this.yc = this.ys;
      return true;
    }
    this.yc = (this.yc + (this.entry & 2 ? 1 : -1)) & 0x1ff;
    return false;
  }

  /** Master activation: run the 0x22 sequence. */
  private activate(): void {
    const v = this.update2;
    const now = this.now();
    if (v & 0x80) this.clock = true;
    if (v & 0x70 && !this.clock) this.fault(`update ${hex(v)} needs the clock on (0x80)`);
    if (v & 0x40) this.analog = true;
    if (v & 0x10) this.lut = true;
    let ms = LOAD_MS;
    if (v & 0x04) {
      if (!this.clock || !this.analog || !this.lut) {
        this.fault(`update ${hex(v)} displays without ${!this.clock ? "clock" : !this.analog ? "analog power" : "a LUT"}: nothing shown`);
      } else {
        const partial = (v & 0x08) !== 0;
        ms = partial ? this.partialMs : this.fullMs;
        this.pending = { at: now + ms, partial };
      }
    }
    if (v & 0x02) this.analog = false;
    if (v & 0x01) this.clock = false;
    this.busyEnd = now + ms;
  }

  /** Land a refresh whose time has come. */
  private settle(): void {
    const p = this.pending;
    if (!p || this.now() < p.at) return;
    this.pending = undefined;
    const rb = this.rowBytes;
    const opt = (b: number, o: number) => (o === 8 ? ~b & 0xff : o === 4 ? 0 : b);
    for (let row = 0; row < this.height && row < this.mux; row++) {
      const y = this.tb ? this.mux - 1 - row : row;
      if (y < 0 || y >= this.height) continue;
      for (let x = 0; x < rb; x++) {
        const next = opt(this.ram[y * rb + x], this.ramOption & 15);
        const i = row * rb + x;
        if (!p.partial) this.shown[i] = next;
        else {
          const changed = next ^ opt(this.ramRed[y * rb + x], this.ramOption >> 4);
          this.shown[i] = (this.shown[i] & ~changed) | (next & changed);
        }
      }
    }
    if (p.partial) this.count.partial++;
    else this.count.full++;
  }

  private resetRegisters(): void {
    this.mux = this.height;
    this.tb = 0;
    this.entry = 3;
    this.xs = 0;
    this.xe = this.rowBytes - 1;
    this.ys = 0;
    this.ye = this.height - 1;
    this.xc = 0;
    this.yc = 0;
    this.update2 = 0xff;
    this.ramOption = 0;
    this.clock = false;
    this.analog = false;
    this.lut = false;
    this.cmd = -1;
    this.argc = 0;
  }

  /** RAM content after power-on or deep sleep mode 2: undefined, so not something a driver can rely on. */
  private garbage(): void {
    for (const r of [this.ram, this.ramRed]) {
      for (let i = 0; i < r.length; i++) {
        this.seed ^= this.seed << 13;
        this.seed ^= this.seed >>> 17;
        this.seed ^= this.seed << 5;
        r[i] = this.seed & 0xff;
      }
    }
  }

  private fault(msg: string): void {
    this.faults.push(msg);
    this.say("fault: " + msg);
  }

  private say(msg: string): void {
    this.logFn?.("SSD1681: " + msg);
  }
}
