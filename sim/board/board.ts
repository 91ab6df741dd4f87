/**
 * The emulated card: an nRF52 running Espruino, its flash, its button and
 * its e-ink panel, wired as espruino.config.js says. It runs the firmware
 * exactly as a card would: on power-up Espruino runs the Storage file
 * `.bootcde` (where flashing puts the bundle), then E.on("init") handlers,
 * then shows its console. A board with no code is a blank board (banner and
 * prompt only).
 *
 * Time is virtual (see clock.ts): nothing happens until advance() is called.
 *
 *   const board = new Board({ config });
 *   board.storage.write(".bootcde", bundle); board.reboot();
 *   board.press(); board.advance(3000);
 *   board.textRuns();            // what the firmware drew
 *   board.panel.display;         // what the glass shows
 *   board.console.transcript();  // everything the console printed
 */
import { EventEmitter } from "node:events";
import { randomBytes } from "node:crypto";
import type { BoardConfig } from "../../firmware/board-config.ts";
import { Ble } from "./ble.ts";
import { Repl } from "../console/repl.ts";
import { VirtualClock } from "./clock.ts";
import { Flash, PowerCut } from "./flash.ts";
import type { ArrayBufferGraphics } from "./graphics.ts";
import { ESPRUINO_VERSION, type NrfRecord } from "./libs.ts";
import { Pins } from "./pins.ts";
import { Runtime, type RuntimeHost } from "./runtime.ts";
import { PanelBus } from "./spi.ts";
import { Ssd1681 } from "./ssd1681.ts";
import { Storage } from "./storage.ts";
import { untokenise } from "../../host-tools/build/tokens.ts";

export interface BoardOptions {
  /** The validated espruino.config.js (host-tools/config.ts loadBoardConfig()). */
  config: BoardConfig;
  /** The chip's flash; default: a fresh erased one. Pass `new Flash({ file })` to keep it on disk. */
  flash?: Flash;
  /** getSerial() and process.env.SERIAL; default: random, as every chip has its own. */
  serial?: string;
  /** A runaway script is stopped after this long (wall clock, ms; 0: never). Default 5000. */
  scriptTimeoutMs?: number;
  /** Panel refresh times, ms (default: the SSD1681 model's, 2000 full and 300 partial). */
  fullRefreshMs?: number;
  partialRefreshMs?: number;
  /** Start with the power off (default: on, booting at once). */
  unpowered?: boolean;
  /** The Espruino version the board reports (process.env.VERSION, the banner; default ESPRUINO_VERSION): a card not yet updated. */
  espruinoVersion?: string;
}

/** A line of text the firmware drew, at its top-left corner. */
export interface TextRun {
  x: number;
  y: number;
  text: string;
}

export interface CutPowerOptions {
  /**
   * Cut at the n-th flash operation from now (word write or page erase, see
   * flash.ts) instead of at once: the operation is torn after `bytes` bytes
   * (or completes) and the card dies in the middle of whatever it was doing.
   */
  atFlashOp?: number;
  bytes?: number;
}

/**
 * Events: "output" (console bytes), "display" (a refresh reached the glass),
 * "power" (true on, false off).
 */
export class Board extends EventEmitter {
  readonly config: BoardConfig;
  readonly clock = new VirtualClock();
  readonly pins = new Pins();
  readonly flash: Flash;
  readonly storage: Storage;
  /** The e-ink controller: `display`, `pixel(x, y)`, `refreshes`, `unknown`, `faults`. */
  readonly panel: Ssd1681;
  /** The REPL on the card's serial console: write() bytes in, onData() bytes out, transcript(). */
  readonly console: Repl;
  readonly serial: string;
  /** What the firmware asked of the Bluetooth stack (NRF.setServices, setAdvertising). */
  readonly nrf: NrfRecord = { services: undefined, servicesOptions: undefined, advertising: undefined, advertisingOptions: undefined, sleeping: false };
  /**
   * The card's Bluetooth LE and the world around it (ble.ts): a phone
   * connects with `ble.connect({ mtu })` and gets a Central (discover,
   * subscribe, write, read, pair, notifications); `ble.loseNotifications(n)`
   * and `ble.dropLink(reason)` inject faults.
   */
  readonly ble: Ble;
  /** Hardware faults seen (SPI traffic the panel could not take, panel driver faults). */
  readonly notes: string[] = [];
  /** The last E.setConsole() device: recorded only, the simulated serial console stays attached. */
  consoleDevice: unknown = "Serial1";

  /** What each interpreter (runtime.ts) gets from the board. */
  private readonly host: RuntimeHost;
  private readonly bus: PanelBus;
  private readonly button: number;
  private runtime: Runtime | undefined;
  private isPowered = false;
  /** getTime() = (clock + rtcOffset) / 1000. */
  private rtcOffsetMs = 0;
  /** What reset(), load() or save() asked for, done when the running code returns. */
  private todo: { kind: "reset" } | { kind: "load"; file: string | undefined } | { kind: "save" } | undefined;
  private runs: { g: ArrayBufferGraphics | undefined; list: TextRun[] } = { g: undefined, list: [] };
  private shownRefreshes = 0;
  private depth = 0;
  private silent = false;

  constructor(options: BoardOptions) {
    super();
    const config = options.config;
    this.config = config;
    this.serial = options.serial ?? `${randomBytes(4).toString("hex")}-${randomBytes(4).toString("hex")}`;
    this.flash = options.flash ?? new Flash();
    this.ble = new Ble(this.clock, this.serial, (t) => this.print(t));
    this.storage = new Storage(this.flash, { log: (t) => this.print(t) });
    const pin = (name: string) => {
      const p = this.pins.find(name);
      if (p === undefined) throw new Error(`board config: no pin ${name} on this chip`);
      return p;
    };
    const p = config.panel;
    this.panel = new Ssd1681({
      width: p.width,
      height: p.height,
      now: () => this.clock.now(),
      fullRefreshMs: options.fullRefreshMs,
      partialRefreshMs: options.partialRefreshMs,
      log: (msg) => this.note(msg),
    });
    this.bus = new PanelBus(
      this.panel,
      { sck: pin(p.spi.sck), mosi: pin(p.spi.mosi), cs: pin(p.cs), dc: pin(p.dc), rst: pin(p.rst), busy: pin(p.busy) },
      this.pins,
      this.clock,
      (msg) => this.note(msg),
      () => this.checkDisplay(),
    );
    this.button = pin(config.button.pin);
    this.console = new Repl({
      powered: () => this.powered,
      runLine: (code) => this.runLine(code),
      inspect: (v) => this.runtime?.inspect(v, true) ?? String(v),
      idle: () => this.idle(),
      identity: () => `Espruino ${this.host.version} ${config.board}`,
    });
    this.host = {
      config,
      clock: this.clock,
      pins: this.pins,
      storage: this.storage,
      serial: this.serial,
      version: options.espruinoVersion ?? ESPRUINO_VERSION,
      nrf: this.nrf,
      ble: this.ble,
      scriptTimeoutMs: options.scriptTimeoutMs ?? 5000,
      spiSink: (sck, mosi, mode, bytes) => this.bus.transfer(sck, mosi, mode, bytes),
      graphicsHooks: {
        // Firmware that caught a PowerCut runs on for a moment in a dead chip: what it draws counts for nothing.
        onClear: (g) => {
          if (this.powered) this.runs = { g, list: [] };
        },
        onDrawString: (g, text, x, y) => {
          if (!this.powered) return;
          if (this.runs.g !== g) this.runs = { g, list: [] };
          this.runs.list.push({ x, y, text });
        },
      },
      powered: () => this.powered,
      guard: () => {
        if (!this.powered) throw new PowerCut();
      },
      afterCall: () => this.idle(),
      print: (text) => this.print(text),
      getTime: () => this.getTime(),
      setTime: (seconds) => this.setTime(seconds),
      secondsAt: (ms) => (ms + this.rtcOffsetMs) / 1000,
      setPassword: (password) => this.console.setPassword(password),
      lockConsole: () => this.console.lock(),
      setEcho: (on) => this.console.setEcho(on),
      setConsole: (device) => {
        this.consoleDevice = device;
      },
      requestReset: (clearFlash) => {
        if (clearFlash) {
          this.print("Erasing saved code.");
          for (const f of [".varimg", ".bootcde", ".bootrst"]) this.storage.erase(f);
          this.print("\nDone!\n");
        }
        this.todo = { kind: "reset" };
      },
      requestLoad: (file) => {
        this.todo = { kind: "load", file };
      },
      requestSave: () => {
        this.todo = { kind: "save" };
      },
    };
    this.console.onData((bytes) => this.emit("output", bytes));
    if (!options.unpowered) this.restorePower();
  }

  // ------------------------------------------------------------ the world

  /** False from the moment of a power cut (a cut inside a flash write included). */
  get powered(): boolean {
    return this.isPowered && !this.flash.poweredOff;
  }

  /** Virtual time, ms since the board was made. */
  now(): number {
    return this.clock.now();
  }

  /** Move virtual time forward, running the card's timers and watches on the way. */
  advance(ms: number): void {
    this.clock.advance(ms);
    this.checkDisplay();
  }

  /** The card's clock, seconds since 1970 (what getTime() returns). It restarts at 0 after a power cut, as the nRF52's RTC does. */
  getTime(): number {
    return (this.clock.now() + this.rtcOffsetMs) / 1000;
  }

  /** Set the card's clock (what setTime() does). */
  setTime(seconds: number): void {
    if (!Number.isFinite(seconds)) return;
    this.rtcOffsetMs = seconds * 1000 - this.clock.now();
  }

  /** Hold the button down or let it go (the pin goes to its active level while held). */
  setButton(down: boolean): void {
    const active = this.config.button.activeLow ? 0 : 1;
    this.pins.drive(this.button, down ? active : undefined);
    this.clock.runDue();
    this.checkDisplay();
  }

  /** A short press: down for ms, then up, then the debounce time so the card has seen the release. */
  press(ms = 100): void {
    this.hold(ms);
  }

  /** Hold the button for ms, release it, and wait out the debounce time. */
  hold(ms: number): void {
    if (!(ms >= 0)) throw new Error(`hold: ms must be >= 0, got ${ms}`);
    this.setButton(true);
    this.advance(ms);
    this.setButton(false);
    this.advance(this.config.button.debounceMs);
  }

  /** The text runs drawn into the firmware's Graphics since the last clear() of one (the firmware draws each screen from a clear). */
  textRuns(): TextRun[] {
    return this.runs.list.map((r) => ({ ...r }));
  }

  /** Run code in the card's interpreter, as a line at the console without echo; returns its value (undefined if it threw: see the console). */
  evaluate(code: string): unknown {
    const r = this.runLine(code);
    this.idle();
    this.console.returnPrompt();
    return r.ok ? r.value : undefined;
  }

  // ------------------------------------------------------------ power

  /** Cut the power now, or at a later flash operation (options.atFlashOp). */
  cutPower(options: CutPowerOptions = {}): void {
    if (options.atFlashOp !== undefined) {
      this.flash.cutAfterWrites(options.atFlashOp, options.bytes);
      return;
    }
    this.powerLost();
  }

  /** Power up (again): Espruino boots from what the flash holds. */
  restorePower(): void {
    if (this.powered) return;
    this.powerLost(); // a cut inside a flash write not yet noticed
    this.flash.powerUp();
    this.isPowered = true;
    this.rtcOffsetMs = -this.clock.now();
    this.emit("power", true);
    this.boot("power");
  }

  /** Power off and on again. */
  reboot(): void {
    this.cutPower();
    this.restorePower();
  }

  // ------------------------------------------------------------ inside

  private print(text: string): void {
    if (this.powered && !this.silent) this.console.print(text);
  }

  private runLine(code: string): { ok: true; value: unknown } | { ok: false } {
    const rt = this.runtime;
    if (!rt || !this.isPowered) return { ok: false };
    if (code.trim()) rt.program.push(code);
    this.depth++;
    try {
      return rt.evaluate(code, "REPL");
    } finally {
      this.depth--;
    }
  }

  /**
   * After firmware code returns: notice a power cut that happened inside it,
   * then do what reset()/load()/save() asked for, then give the prompt back.
   */
  private idle(): void {
    if (this.depth > 0) return;
    if (this.isPowered && this.flash.poweredOff) this.powerLost();
    const todo = this.todo;
    this.todo = undefined;
    if (todo && this.isPowered) {
      if (todo.kind === "save") this.save();
      else this.boot(todo.kind, todo.kind === "load" ? todo.file : undefined);
    }
    if (this.isPowered) this.console.returnPrompt();
  }

  private powerLost(): void {
    if (!this.isPowered) return;
    this.isPowered = false;
    this.runtime?.kill();
    this.runtime = undefined;
    this.todo = undefined;
    this.ble.powerOff();
    this.pins.reset(); // outputs off: RST low holds the panel controller, powerless, in reset
    this.emit("power", false);
  }

  /**
   * Start an interpreter, as Espruino does on power-up (jsiInit), after
   * reset() (jsiSemiInit without autoload: only .bootrst runs, and the
   * banner shows) and after load() (the saved state and boot code run
   * again; load(file) runs that file instead, after the banner).
   */
  private boot(kind: "power" | "reset" | "load", file?: string): void {
    if (this.runtime) {
      this.runtime.emit("kill");
      this.runtime.kill();
      this.pins.reset();
    }
    const rt = new Runtime(this.host);
    this.runtime = rt;
    this.console.restart();
    this.depth++;
    try {
      const files = this.storage.list();
      const loadFile = kind === "load" && file !== undefined;
      // Without autoload Espruino starts clean and runs only .bootrst ("run after reset").
      const autoload = kind === "power" || (kind === "load" && !loadFile);
      const hasCode = files.some((f) => f === ".varimg" || f === ".bootcde" || f === ".bootrst");
      if (kind === "power" && files.includes(".bootPowerOn")) this.runFile(rt, ".bootPowerOn");
      if (autoload && files.includes(".varimg")) this.replaySaved(rt);
      for (const f of [".boot0", ".boot1", ".boot2", ".boot3"]) if (files.includes(f)) this.runFile(rt, f);
      const main = files.includes(".bootrst") ? ".bootrst" : autoload && files.includes(".bootcde") ? ".bootcde" : undefined;
      if (main) this.runFile(rt, main);
      rt.emit("init");
      const onInit = rt.evaluate("typeof onInit === 'function' ? onInit : undefined", "onInit");
      if (onInit.ok && onInit.value) {
        this.print("Running onInit()...\n");
        rt.invoke(onInit.value, []);
      }
      if (!autoload || (kind === "power" && !hasCode)) this.banner();
      if (kind !== "load" || loadFile) this.print("\n");
      if (loadFile) this.runFile(rt, file);
    } finally {
      this.depth--;
    }
    this.idle();
  }

  private runFile(rt: Runtime, name: string): void {
    const code = this.storage.read(name);
    if (code !== undefined) rt.evaluate(lexed(code), name);
  }

  /**
   * save() keeps the interpreter's state in `.varimg`. The simulator cannot
   * snapshot a V8 heap, so it keeps the source typed at the REPL since the
   * interpreter started and runs it again, silently, at the next boot: the
   * functions, variables, timers and watches it made come back, as they do
   * on a card (re-running has the side effects the code has).
   */
  private save(): void {
    const rt = this.runtime!;
    rt.emit("kill");
    const code = rt.program.join("\n");
    this.print("Compacting Flash...\nCalculating Size...\nWriting..\n");
    this.storage.erase(".varimg");
    if (code) this.storage.write(".varimg", code);
    this.print(`\nCompressed ${code.length} bytes to ${code.length}\n`);
    rt.emit("init");
  }

  private replaySaved(rt: Runtime): void {
    const code = this.storage.read(".varimg");
    if (code === undefined) return;
    this.silent = true; // a restored state prints nothing
    try {
      rt.evaluate(code, ".varimg");
      rt.program.push(code);
    } finally {
      this.silent = false;
      this.todo = undefined; // the save(), reset() or load() typed back then is not done again
    }
  }

  private banner(): void {
    this.print(
      "\x1b[?7l\n" +
        " ____                 _ \n" +
        "|  __|___ ___ ___ _ _|_|___ ___ \n" +
        "|  __|_ -| . |  _| | | |   | . |\n" +
        "|____|___|  _|_| |___|_|_|_|___|\n" +
        "         |_| espruino.com\n" +
        ` ${this.host.version} (c) 2025 G.Williams\n` +
        // Not an "official" Espruino board, so the MDBT42Q build shows this too.
        "\n" +
        "Espruino is Open Source. Our work is supported\n" +
        "only by sales of official boards and donations:\n" +
        "http://espruino.com/Donate\n",
    );
  }

  private note(text: string): void {
    this.notes.push(text);
    if (this.notes.length > 1000) this.notes.splice(0, 500);
  }

  /** Emit "display" when a refresh has landed on the glass. */
  private checkDisplay(): void {
    const r = this.panel.refreshes;
    const n = r.full + r.partial;
    if (n !== this.shownRefreshes) {
      this.shownRefreshes = n;
      this.emit("display", r);
    }
  }
}

/**
 * A Storage file's code as Espruino's lexer reads it: a pretokenised file (the
 * built bundle, host-tools/build/tokens.ts; bytes 0x8A-0xD5 are tokens there)
 * back to source, by the same EspruinoTools code that made it. (Espruino reads
 * such bytes as tokens only outside string literals; this reads them anywhere,
 * which is the same for every file the tools write.)
 */
function lexed(code: string): string {
  return /[\x8a-\xd5]/.test(code) ? untokenise(code) : code;
}
