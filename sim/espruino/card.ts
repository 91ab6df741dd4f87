/**
 * The espruino engine's card (`inkcard sim --engine espruino`): the real
 * interpreter (host-tools/lib/interpreter.ts ESPRUINO, the i386 build under
 * qemu: a card's speed and its 2,630 variables) runs dist/firmware.js from
 * Storage as a card does, and the simulator's own board models stand around
 * it: the SSD1681 model on the panel's pins, the button, the flash view.
 * The shim in `.boot0` (shim.ts) carries the pins over a pseudo-terminal
 * (channel.ts); the interpreter's standard input and output are the card's
 * console, which the console server (sim/console/server.ts) serves.
 *
 * Time is real: the interpreter's timers run on the wall clock, so the board
 * models run on a VirtualClock that follows it (plus what advance() added).
 * Power cut = SIGKILL; power up = start the interpreter again on the same
 * espruino.flash (Storage, memory-mapped from that file, as on a card).
 *
 * Every action returns once the card has finished what it started, as
 * BoardCard's do (settle()): the shim answered a ping sent after the last
 * word to it, no record came after that answer, the panel is not busy, and
 * no timer of the card is due within SETTLE_HORIZON_MS.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { EventEmitter } from "node:events";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { BoardConfig } from "../../firmware/board-config.ts";
import { ESPRUINO, sleep } from "../../host-tools/lib/interpreter.ts";
import { Ble } from "../board/ble.ts";
import { VirtualClock } from "../board/clock.ts";
import { Flash } from "../board/flash.ts";
import { Pins } from "../board/pins.ts";
import { PanelBus } from "../board/spi.ts";
import { Ssd1681 } from "../board/ssd1681.ts";
import { Storage } from "../board/storage.ts";
import type { ConsoleLine } from "../console/server.ts";
import type { SimCard, TextRun } from "../server/api.ts";
import { CardRadio } from "./bluetooth.ts";
import { Channel, type CardRecord } from "./channel.ts";
import { shimSource } from "./shim.ts";

/** The Linux build's Storage: espruino.flash in its working directory, 256 KB. */
export const FLASH_FILE = "espruino.flash";
export const FLASH_BYTES = 256 * 1024;

/** Timers due this soon after an action belong to it (the panel driver's steps); the wipe does not. As BoardCard. */
const SETTLE_HORIZON_MS = 1000;
/** Settling gives up after this long (wall clock): a full refresh is 2 s, the interpreter ~10x slower than V8. */
const SETTLE_LIMIT_MS = 60_000;
/** Booting: from start to the shim's hello (the interpreter under qemu takes about a second). */
const BOOT_TIMEOUT_MS = 60_000;
/** A ping the card does not answer within this long (it is running something long) is sent again. */
const PING_MS = 30_000;

export interface EspruinoCardOptions {
  config: BoardConfig;
  /** The interpreter's working directory: espruino.flash and the channel's pseudo-terminal live here. */
  dir: string;
  bin?: string;
}

/** Events: "output" (console bytes), "display" (a refresh reached the glass), "power" (on/off). */
export class EspruinoCard extends EventEmitter implements SimCard, ConsoleLine {
  readonly config: BoardConfig;
  readonly clock = new VirtualClock();
  readonly pins = new Pins();
  readonly panel: Ssd1681;
  /**
   * The card's Bluetooth LE, the vm board's model (sim/board/ble.ts) driven
   * through the shim's NRF (bluetooth.ts): `ble.connect({ mtu })` gives a
   * Central. What the card receives arrives as fast as the card takes it;
   * wait for it with settled(). The card's address comes from its directory
   * (the Linux build's getSerial() is the same on every card).
   */
  readonly ble: Ble;
  private readonly radio: CardRadio;
  /** Hardware faults seen (SPI traffic the panel could not take). */
  readonly notes: string[] = [];
  /** getSerial() of the interpreter, from the shim's hello. */
  serial = "";
  readonly dir: string;
  private readonly bin: string;
  private readonly busyPin: number;
  private readonly buttonPin: number;
  private readonly bus: PanelBus;
  private proc: ChildProcessWithoutNullStreams | undefined;
  private channel: Channel | undefined;
  private readonly hearers = new Set<(bytes: string) => void>();
  /** Wall time origin of the clock, and the time advance() added. */
  private readonly t0 = performance.now();
  private skipped = 0;
  private wake: NodeJS.Timeout | undefined;
  /** Records the shim counted since its hello (it acknowledges by this count), all records taken, and lines sent to it. */
  private counted = 0;
  private recordsIn = 0;
  private linesOut = 0;
  private pings = new Map<number, (r: { next: number | undefined; recordsIn: number }) => void>();
  private pingSeq = 0;
  private hello: ((serial: string) => void) | undefined;
  private runs: TextRun[] = [];
  private shownText: TextRun[] = [];
  private shownRefreshes = 0;
  private queue: Promise<unknown> = Promise.resolve();
  /** The power switch: on while the interpreter runs or boots. */
  private switchedOn = false;

  constructor(o: EspruinoCardOptions) {
    super();
    this.config = o.config;
    this.dir = o.dir;
    this.bin = o.bin ?? ESPRUINO;
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
    const pin = (name: string) => {
      const p = this.pins.find(name);
      if (p === undefined) throw new Error(`board config: no pin ${name} on this chip`);
      return p;
    };
    const p = o.config.panel;
    this.busyPin = pin(p.busy);
    this.buttonPin = pin(o.config.button.pin);
    this.panel = new Ssd1681({ width: p.width, height: p.height, now: () => this.clock.now(), log: (m) => this.note(m) });
    this.bus = new PanelBus(
      this.panel,
      { sck: pin(p.spi.sck), mosi: pin(p.spi.mosi), cs: pin(p.cs), dc: pin(p.dc), rst: pin(p.rst), busy: this.busyPin },
      this.pins,
      this.clock,
      (m) => this.note(m),
    );
    this.pins.drive(this.buttonPin, this.released());
    this.ble = new Ble(this.clock, `espruino:${o.dir}`, (t) => this.print(t));
    this.radio = new CardRadio(this.ble, (line) => this.send(line), (t) => this.print(t));
    // The two pins the board drives: their levels go to the shim as they change.
    this.pins.onLevel((pin, level) => {
      if (pin === this.busyPin || pin === this.buttonPin) this.level(pin, level);
    });
  }

  // ------------------------------------------------------------ flash

  /** The card's Storage as it is now (a copy read from espruino.flash: look, do not write). */
  storage(): Storage {
    const file = join(this.dir, FLASH_FILE);
    const image = existsSync(file) ? readFileSync(file) : undefined;
    return new Storage(new Flash({ size: FLASH_BYTES, image: image && image.length === FLASH_BYTES ? image : undefined }));
  }

  /**
   * Write files into Storage with the power off (the shim, and the bundle
   * when flashing at start): through the simulator's Storage model, whose
   * layout is Espruino's. Unchanged files are not written again.
   */
  install(files: Array<[string, string]>): void {
    if (this.proc) throw new Error("install: the card is running (cut its power first)");
    const flash = new Flash({ size: FLASH_BYTES, file: join(this.dir, FLASH_FILE) });
    try {
      const s = new Storage(flash);
      for (const [name, data] of files) if (s.read(name) !== data) s.write(name, data);
    } finally {
      flash.close();
    }
  }

  // ------------------------------------------------------------ SimCard

  press(): Promise<void> {
    return this.hold(100);
  }

  hold(ms: number): Promise<void> {
    return this.serially(async () => {
      this.setButton(true);
      await sleep(ms);
      this.setButton(false);
      await sleep(this.config.button.debounceMs);
      await this.settle();
    });
  }

  /**
   * The card's timers run ms sooner (setTime() on the Linux build moves the
   * interpreter's idle-loop time, not getTime(), which stays the host's), and
   * the board's clock moves on by ms.
   */
  advance(ms: number): Promise<void> {
    return this.serially(async () => {
      this.skipped += ms;
      this.tick();
      if (this.proc) {
        this.send(`A${ms}`);
        await this.settle();
      }
    });
  }

  cutPower(): Promise<void> {
    this.switchedOn = false;
    return this.serially(() => this.kill());
  }

  restorePower(): Promise<void> {
    // On from the moment it is switched on: the page must not see "off" while the interpreter boots (3 s).
    this.switchedOn = true;
    return this.serially(async () => {
      if (this.proc || !this.switchedOn) return;
      // The shim first: a console tool may have erased it (eraseAll); a card's flash is never without its pins.
      this.install([[".boot0", shimSource(this.config)]]);
      await this.start();
      await this.settle(); // the firmware draws at boot
    });
  }

  powered(): boolean {
    return this.switchedOn;
  }

  timeMs(): number {
    this.tick();
    return this.clock.now();
  }

  screen() {
    this.tick();
    const panel = this.panel;
    const display = panel.display;
    const rowBytes = panel.width >> 3;
    return {
      width: panel.width,
      height: panel.height,
      text: this.shownText.map((r) => ({ ...r })),
      refreshes: { ...panel.refreshes },
      isWhite: (x: number, y: number) => ((display[y * rowBytes + (x >> 3)] >> (7 - (x & 7))) & 1) === 1,
    };
  }

  /** Wait until the card has finished what it is doing (see the file's comment). */
  settled(): Promise<void> {
    return this.serially(() => this.settle());
  }

  // ------------------------------------------------------------ console

  /** Bytes typed at the card's console (dropped without power, as on a card). */
  write(data: string | Uint8Array): void {
    if (!this.proc) return;
    this.proc.stdin.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  }

  onData(listener: (bytes: string) => void): () => void {
    this.hearers.add(listener);
    return () => this.hearers.delete(listener);
  }

  /** Kill the interpreter for good (the simulator stops). */
  async close(): Promise<void> {
    await this.kill();
    if (this.wake) clearTimeout(this.wake);
  }

  // ------------------------------------------------------------ inside

  private serially<T>(fn: () => T | Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  private released(): 0 | 1 {
    return this.config.button.activeLow ? 1 : 0;
  }

  private setButton(down: boolean): void {
    this.tick();
    this.pins.drive(this.buttonPin, down ? ((1 - this.released()) as 0 | 1) : this.released());
  }

  private note(msg: string): void {
    this.notes.push(msg);
    if (this.notes.length > 100) this.notes.shift();
  }

  private send(line: string): void {
    if (!this.channel) return;
    this.linesOut++;
    this.channel.send(line);
  }

  /** Tell the shim a pin's level, with the count of records taken (its acknowledgement) and the time, now (see shim.ts). */
  private level(pin: number, level: 0 | 1): void {
    this.send(`L${pin},${level},${this.counted},${Date.now() / 1000}`);
  }

  private print(text: string): void {
    for (const l of this.hearers) l(text);
    this.emit("output", text);
  }

  /** Bring the board's clock up to the wall clock, land refreshes, and wake up for the models' next step. */
  private tick(): void {
    const target = performance.now() - this.t0 + this.skipped;
    if (target > this.clock.now()) this.clock.advance(target - this.clock.now());
    const r = this.panel.refreshes;
    if (r.full + r.partial !== this.shownRefreshes) {
      this.shownRefreshes = r.full + r.partial;
      this.shownText = this.runs.map((x) => ({ ...x }));
      this.emit("display");
    }
    if (this.wake) clearTimeout(this.wake);
    this.wake = undefined;
    const at = this.clock.nextAt();
    if (at !== undefined) {
      this.wake = setTimeout(() => this.tick(), Math.max(0, at - this.clock.now()) + 1);
      this.wake.unref();
    }
  }

  private async start(): Promise<void> {
    this.channel = await Channel.open(this.dir, (records) => this.take(records));
    const booted = new Promise<string>((resolve) => (this.hello = resolve));
    const proc = spawn(this.bin, [], { cwd: this.dir, stdio: ["pipe", "pipe", "pipe"] });
    this.proc = proc;
    let stderr = "";
    proc.stdout.on("data", (d: Buffer) => this.print(d.toString("latin1")));
    proc.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString("latin1")).slice(-2000)));
    proc.stdin.on("error", () => {}); // it died while we wrote
    // Standard input stays open (never at end of file, where the Linux build spins); nothing is fed
    // into it, so a tool's line protocol on the console sees only what the tool sends.
    const exited = new Promise<string>((resolve) => {
      proc.on("error", (e) => resolve(`cannot run ${this.bin}: ${e.message}`));
      proc.on("exit", (code, signal) => resolve(`the interpreter exited (${signal ?? code}): ${stderr.trim().split("\n").slice(-3).join(" / ")}`));
    });
    proc.on("exit", () => {
      if (this.proc !== proc) return;
      this.switchedOn = false; // it died by itself
      void this.kill();
    });
    this.emit("power", true);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`no word from the card's .boot0 within ${BOOT_TIMEOUT_MS / 1000} s`), BOOT_TIMEOUT_MS)));
    const first = await Promise.race([booted.then((serial) => ({ serial })), exited.then((why) => ({ why })), timeout.then((why) => ({ why }))]);
    clearTimeout(timer);
    if ("why" in first) {
      this.switchedOn = false;
      await this.kill();
      throw new Error(`espruino engine: ${first.why}`);
    }
    this.serial = first.serial;
  }

  private async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.proc = undefined;
    const gone = new Promise((resolve) => (proc.exitCode !== null || proc.signalCode !== null ? resolve(null) : proc.once("exit", resolve)));
    proc.kill("SIGKILL"); // it handles SIGTERM as an interrupt
    await gone;
    this.channel?.close();
    this.channel = undefined;
    this.radio.powerOff();
    for (const resolve of this.pings.values()) resolve({ next: undefined, recordsIn: this.recordsIn });
    this.pings.clear();
    this.tick();
    this.pins.reset(); // outputs off: RST low holds the panel, powerless, in reset
    this.emit("power", false);
  }

  /** Records from the shim, one chunk at a time; then tell it how many were taken (and BUSY's level). */
  private take(records: CardRecord[]): void {
    this.tick();
    let counted = false;
    for (const r of records) {
      this.recordsIn++;
      if (r.kind === "pong") {
        const resolve = this.pings.get(r.seq);
        this.pings.delete(r.seq);
        resolve?.({ next: r.nextTimerMs >= 0xffffff ? undefined : r.nextTimerMs, recordsIn: this.recordsIn });
        continue;
      }
      if (r.kind === "nrf") {
        this.radio.call(r.json);
        continue;
      }
      if (r.kind === "taken") {
        this.radio.taken();
        continue;
      }
      counted = true;
      this.counted++;
      if (r.kind === "hello") {
        // A (re)start of the interpreter (power-up, load(), reset()): its pins are inputs again.
        this.counted = 1;
        this.runs = [];
        this.pins.reset();
        this.level(this.buttonPin, this.pins.level(this.buttonPin));
        this.radio.attach();
        this.hello?.(r.serial);
        this.hello = undefined;
      } else if (r.kind === "pin") {
        if (r.pin < this.pins.count) this.pins.write(r.pin, r.level);
      } else if (r.kind === "spi") {
        if (r.mode & 4) for (let i = 0; i < r.bytes.length; i++) r.bytes[i] = reverseBits(r.bytes[i]);
        this.bus.transfer(r.sck, r.mosi, r.mode & 3, r.bytes);
      } else if (r.kind === "clear") {
        this.runs = [];
      } else {
        this.runs.push({ x: r.x, y: r.y, text: r.text });
      }
    }
    if (counted) this.level(this.busyPin, this.pins.level(this.busyPin));
    this.tick();
  }

  /** Ask the shim how long until its next timer; answered once the card has handled everything sent before. */
  private ping(): Promise<{ next: number | undefined; recordsIn: number }> {
    if (!this.proc) return Promise.resolve({ next: undefined, recordsIn: this.recordsIn });
    const seq = (this.pingSeq = (this.pingSeq + 1) & 255);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pings.delete(seq);
        resolve({ next: 0, recordsIn: -1 }); // still busy: the caller asks again
      }, PING_MS);
      this.pings.set(seq, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.send(`Q${seq}`);
    });
  }

  private async settle(): Promise<void> {
    const end = Date.now() + SETTLE_LIMIT_MS;
    while (this.proc && Date.now() < end) {
      const before = this.linesOut;
      const answer = await this.ping();
      this.tick();
      // Anything we told the card after the ping (an acknowledgement, BUSY falling) may have started more: ask again.
      if (this.linesOut !== before + 1 || answer.recordsIn < 0) continue;
      if (this.radio.busy) continue; // a Bluetooth line still waits for the card
      const busyUntil = this.panel.busyUntil();
      if (busyUntil !== undefined) {
        await sleep(busyUntil - this.clock.now() + 2);
        continue;
      }
      if (answer.next !== undefined && answer.next <= SETTLE_HORIZON_MS) {
        await sleep(answer.next + 2);
        continue;
      }
      if (this.recordsIn !== answer.recordsIn) continue;
      return;
    }
  }
}

function reverseBits(b: number): number {
  let r = 0;
  for (let i = 0; i < 8; i++) r |= ((b >> i) & 1) << (7 - i);
  return r;
}
