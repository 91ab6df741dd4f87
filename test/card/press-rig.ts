/**
 * A card on the real interpreter with a panel and a button that move: the
 * bundle (dist/firmware.js) boots from Storage with a test profile (counter
 * mode, a random key that is never printed) as bench/memory.ts boots it, and
 * a `.boot0` shim (test-only, never in the bundle) makes up for Linux pins,
 * which never change:
 *
 *   panel  The driver's BUSY pin (espruino.config.js panel.busy) reads high
 *          while the panel would be busy: a few ms after the software reset
 *          (0x12), the refresh time after the refresh command (0x20; the full
 *          or partial time by the mode sent with 0x22), and from deep sleep
 *          (0x10) until the next hardware reset (RST low). When a refresh
 *          ends, the driver's falling-edge setWatch on BUSY fires, once, as
 *          setWatch would. The rig reads the commands by wrapping SPI.write
 *          (the real one still runs) and DC/RST through digitalWrite.
 *   button The button's setWatch callback is captured; press(holdMs) calls it
 *          with a falling edge now and a rising edge holdMs later ({state,
 *          time}, as setWatch calls it: the button is active low).
 *   memory process.memory(false).usage (no garbage collection) is sampled at
 *          every panel pin write, SPI write and font decode, as bench/memory.ts's
 *          PRESS_HOOKS do, and after each button edge. The shim's own
 *          variables at idle are measured (idle with the shim less idle
 *          without it, same bundle and flash) and taken off every figure.
 *          What the shim allocates while it runs (a timer for a BUSY pulse
 *          or a release, an event object) is left in: figures err high.
 *   screen The CRC-32 of each frame written to the panel's RAM (0x24) is kept
 *          and the one a refresh (0x20) showed is reported, so a test can say
 *          which screen the glass holds without the code ever leaving the
 *          interpreter: it renders the expected screen on the host
 *          (test/screens/render.ts, byte for byte Espruino's Graphics) and
 *          compares checksums. Frames not in one block of RAM are counted.
 *
 * Console lines go in after DLE (0x10), as the provisioning tool sends them:
 * no echo, and no copy in Espruino's command history, whose variables would
 * count in every figure (it is freed only when memory runs low).
 *
 * Only the pins' names are used (the firmware passes them as strings from
 * its board settings). Nothing the card prints is echoed: its output may hold
 * a code.
 */
import { createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureFirmwareBuilt } from "../../host-tools/build/ensure.ts";
import { loadBoardConfig } from "../../host-tools/config.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { ESPRUINO, Interpreter, bootFromStorage, sleep, textBytes, writeStorage } from "../../host-tools/lib/interpreter.ts";
import { encodeProfile } from "../../firmware/core/profile.ts";
import { drawBlankScreen, drawCodeScreen } from "../../firmware/core/screens.ts";
import { LINK_SERVICE, LINK_WRITE } from "../../firmware/core/frames.ts";
import type { BoardConfig } from "../../firmware/board-config.ts";
import { decode, render } from "../screens/render.ts";
import { NRF_STUB } from "../support/nrf-stub.ts";

/** What an error looks like in the output: the interpreter's (interpreter.ts FAILURE and kin) and the firmware's reports. */
const FAILURE_LINE = /Uncaught |OUT OF MEMORY|ASSERT\(|^>?ERROR:|New interpreter error|Execution Interrupted| failed: /;

/** Espruino variables on the card. */
export const CARD_VARIABLES = 2630;
/** No sequence of presses may take the card past this many variables: HEADROOM stays free for what these figures miss (Bluetooth, a console, fragmentation). */
export const HEADROOM = 300;
export const PEAK_BOUND = CARD_VARIABLES - HEADROOM;
/** The rig panel's refresh times, ms: the SSD1681's at room temperature (about 2 s full, 0.3-0.6 s partial). */
export const FULL_MS = 1800;
export const PARTIAL_MS = 600;

export interface RigOptions {
  /** How long BUSY stays high for a full refresh, ms (default FULL_MS). */
  fullMs?: number;
  /** ... and for a partial one (default PARTIAL_MS). */
  partialMs?: number;
  /** The bundle to run (default dist/firmware.js, built first if stale). */
  bundle?: Uint8Array;
  /** Card id on the code screen. */
  cardId?: string;
  /** Code digits. */
  digits?: number;
  bin?: string;
}

/** What the shim saw of the panel. */
export interface PanelLog {
  /** Refresh commands (0x20) sent. */
  refreshes: number;
  /** Refreshes still running (BUSY high after 0x20), 0 or 1. */
  refreshing: number;
  /** Deep-sleep commands (0x10) sent. */
  sleeps: number;
  /** CRC-32 (unsigned) of the frame the last refresh showed, 0 before any. */
  shown: number;
  /** Commands of any kind sent: it stops moving once the card is idle. */
  commands: number;
  /** Panel pin writes, and button releases still to come: they too stop once the card is idle. */
  pinWrites: number;
  releases: number;
  /**
   * Frames that were not one contiguous block. Espruino gives a typed array a flat string of free
   * variables in a row; when fragmented RAM has no such run it spreads the data over ordinary
   * string blocks, which take more variables and slow Graphics.
   */
  scattered: number;
}


/** The panel and button shim (see the top of this file). Pins by name; times in ms. */
export function shim(board: BoardConfig, fullMs: number, partialMs: number): string {
  const p = board.panel;
  const q = JSON.stringify;
  return (
    NRF_STUB +
    // R: the rig's state. w: the driver's BUSY watch callback; b: the button's; t: the BUSY timer.
    // pw: pin writes; up: button releases still to come; nf: frames not in one piece (fragmented
    // RAM); fail: SPI writes left before one throws (0: none); stuck: BUSY never falls once raised.
    `var R={busy:0,w:null,b:null,t:0,dc:1,cmd:0,mode:0,crc:0,shown:0,refr:0,ing:0,slp:0,ops:0,pw:0,up:0,nf:0,peak:0,fail:0,stuck:0};` +
    `function SAMPLE(){var u=process.memory(false).usage;if(u>R.peak)R.peak=u;}` +
    `function BEND(){R.t=0;R.busy=0;R.ing=0;var f=R.w;R.w=null;if(f)f({state:false,time:getTime(),lastTime:0});}` +
    `function BUSY(ms){if(R.t)clearTimeout(R.t);R.busy=1;R.t=ms&&!R.stuck?setTimeout(BEND,ms):0;}` +
    `var ATOB=atob;global.atob=function(s){var r=ATOB(s);SAMPLE();return r;};` +
    `var DW=digitalWrite;global.digitalWrite=function(p,v){SAMPLE();R.pw++;` +
    `if(p===${q(p.dc)})R.dc=v;else if(p===${q(p.rst)}&&!v){if(R.t)clearTimeout(R.t);R.t=0;R.busy=0;R.ing=0;}DW(p,v);};` +
    `var DR=digitalRead;global.digitalRead=function(p){return p===${q(p.busy)}?R.busy:DR(p);};` +
    // The driver's one-shot BUSY watch is kept here (id 99), not given to Espruino: Linux pins never fire.
    `var SW=setWatch;global.setWatch=function(f,p,o){if(p===${q(p.busy)}){R.w=f;return 99;}if(p===${q(board.button.pin)})R.b=f;return SW(f,p,o);};` +
    `var CW=clearWatch;global.clearWatch=function(i){if(i===99){R.w=null;return;}CW(i);};` +
    `var SPIW=new SPI().write;SPI.prototype.write=function(d){SAMPLE();if(R.fail&&!--R.fail)throw new Error("rig: SPI failed");` +
    `if(!R.dc){R.cmd=d;R.ops++;if(d===0x20){R.refr++;R.ing=1;R.shown=R.crc;BUSY(R.mode===0xf7?${fullMs}:${partialMs});}else if(d===0x12)BUSY(5);}` +
    `else if(R.cmd===0x24){R.crc=E.CRC32(d)>>>0;if(!E.getAddressOf(d,true))R.nf++;}else if(R.cmd===0x22)R.mode=d;else if(R.cmd===0x10){R.slp++;BUSY(0);}` +
    `SPIW.call(this,d);};` +
    // Sampled after each edge too: a long press draws nothing, yet builds an engine.
    `function DOWN(){R.b({state:false,time:getTime(),lastTime:0});SAMPLE();}` +
    `function UP(){R.up--;R.b({state:true,time:getTime(),lastTime:0});SAMPLE();}` +
    `function PRESS(ms){R.up++;setTimeout(DOWN,0);setTimeout(UP,ms);}` +
    // The link: WRITE(b64) is one BLE write to the card's service; SHA-256 (each HMAC block of the
    // AEAD, HKDF and the answer) and each notification are sampled, and counted in R.sh.
    `R.sh=0;var CR=require("crypto"),SH2=CR.SHA256;CR.SHA256=function(d){SAMPLE();R.sh++;return SH2(d);};` +
    `var UPD=NRF.updateServices;NRF.updateServices=function(s){SAMPLE();UPD(s);};` +
    `function WRITE(b){SAMPLE();NRF.S[${q(LINK_SERVICE)}][${q(LINK_WRITE)}].onWrite({data:E.toArrayBuffer(atob(b))});SAMPLE();}`
  );
}

/** RFC 4226 HOTP on node:crypto: independent of the firmware's core/otp.ts. */
export function expectedHotp(key: Uint8Array, counter: number, digits: number): string {
  const msg = Buffer.alloc(8);
  msg.writeUInt32BE(Math.floor(counter / 2 ** 32), 0);
  msg.writeUInt32BE(counter >>> 0, 4);
  const h = createHmac("sha1", key).update(msg).digest();
  const o = h[h.length - 1] & 15;
  const bin = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(bin % 10 ** digits).padStart(digits, "0");
}

/** CRC-32 (IEEE, as E.CRC32). */
export function crc32(data: Uint8Array): number {
  let c = ~0;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** A button held longer than espruino.config.js's longPressMs (1,500). */
export const LONG_MS = 1700;

/**
 * The press sequences of issue 9, each run from an idle card; test/card/presses.test.ts
 * checks what each shows, bench/memory.ts reports what each costs.
 */
export const SEQUENCES = {
  single: { label: "one press", run: (r: PressRig) => r.taps([0]) },
  double: { label: "double press (250 ms apart)", run: (r: PressRig) => r.taps([0, 250]) },
  triple: { label: "triple press (150 ms apart)", run: (r: PressRig) => r.taps([0, 150, 150]) },
  ten: { label: "ten presses, 100 ms apart", run: (r: PressRig) => r.taps([0, 100, 100, 100, 100, 100, 100, 100, 100, 100]) },
  long: { label: "long press", run: (r: PressRig) => r.taps([0], LONG_MS) },
  longDuring: {
    label: "long press during a refresh",
    run: async (r: PressRig) => {
      r.press();
      await sleep(200);
      r.press(LONG_MS); // pressed during the code's refresh, released after it
      await sleep(LONG_MS);
    },
  },
  boot: {
    label: "presses during the boot refresh",
    run: async (r: PressRig) => {
      await r.reboot(false); // a fresh boot from the same flash: its refresh is under way
      await r.taps([0, 200, 200]);
    },
  },
  powerCut: {
    label: "press right after a power cut",
    run: async (r: PressRig) => {
      r.press();
      await sleep(400); // the press's counter committed or not, its code maybe never on the glass
      await r.reboot(false);
      r.press();
    },
  },
} satisfies Record<string, { label: string; run: (r: PressRig) => Promise<void> }>;

export class PressRig {
  readonly dir: string;
  /** The shim's own variables at idle, taken off every figure. */
  shimVars = 0;
  private repl: Interpreter | undefined;
  private asked = 0;
  /** Output offset from which failures() reads. */
  private accepted = 0;
  private readonly key: Uint8Array;
  private constructor(
    readonly board: BoardConfig,
    private readonly bundle: Uint8Array,
    private readonly boot0: string,
    readonly cardId: string,
    readonly digits: number,
    private readonly bin: string,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), "inkcard-press-"));
    this.key = randomBytes(20); // exists only in this run, never printed
  }

  /** Write Storage (bundle, shim, test profile) and boot; measure the shim's variables first. */
  static async start(o: RigOptions = {}): Promise<PressRig> {
    const board = await loadBoardConfig();
    const bundle = o.bundle ?? readFileSync((await ensureFirmwareBuilt()).file);
    const rig = new PressRig(board, bundle, shim(board, o.fullMs ?? FULL_MS, o.partialMs ?? PARTIAL_MS), o.cardId ?? "RIG", o.digits ?? 6, o.bin ?? ESPRUINO);
    try {
      // Idle without the shim (BUSY never high: every refresh ends at once), then with it, from the same flash.
      await rig.write(NRF_STUB);
      const plain = await rig.boot();
      // Its boot refresh runs on 10 ms timers (BUSY reads low): idle once three readings agree.
      let bare = -1;
      for (let same = 0, end = Date.now() + 60_000; same < 3; ) {
        await sleep(200);
        const v = await plain.value("idle", "process.memory().usage");
        same = v === bare ? same + 1 : 0;
        bare = v;
        if (Date.now() > end) throw new Error("the card without the shim never settled");
      }
      await plain.kill();
      await rig.write(rig.boot0);
      await rig.reboot();
      rig.shimVars = (await rig.idle()) - bare;
      // The shim's idle share is counted from here on.
      await rig.resetPeak();
      return rig;
    } catch (e) {
      await rig.close();
      throw e;
    }
  }

  /** The profile record: counter mode from 0, SHA-1. */
  private profile(): Uint8Array {
    return encodeProfile(
      { mode: "counter", algorithm: "SHA1", digits: this.digits, stepSeconds: 30, startCounter: 0, cardId: this.cardId, key: new Uint8Array(this.key) },
      nodeHash("SHA256"),
    );
  }

  private async write(boot0: string): Promise<void> {
    await writeStorage(
      this.dir,
      [
        [".boot0", textBytes(boot0)],
        [".bootcde", this.bundle],
        [this.board.storage.profile, this.profile()],
      ],
      this.bin,
    );
  }

  private boot(): Promise<Interpreter> {
    return bootFromStorage(this.dir, this.bin);
  }

  get interpreter(): Interpreter {
    if (!this.repl) throw new Error("the card is not running");
    return this.repl;
  }

  /** A power cut and a fresh boot from the same flash; waits for the boot refresh. */
  async reboot(settle = true): Promise<void> {
    await this.repl?.kill();
    this.repl = await this.boot();
    this.accepted = 0;
    if (settle) await this.settle();
  }

  /** Press the button for holdMs (a long press from board.button.longPressMs on). Returns at once. */
  press(holdMs = 80): void {
    this.interpreter.send(`\x10PRESS(${holdMs})`);
  }

  /** Presses held holdMs, each gap ms after the one before (the first after gaps[0]). */
  async taps(gaps: number[], holdMs = 80): Promise<void> {
    for (const g of gaps) {
      if (g) await sleep(g);
      this.press(holdMs);
    }
  }

  /** The card's key, for a test's issuer (never printed). */
  cardKey(): Uint8Array {
    return new Uint8Array(this.key);
  }

  /** True when code is this card's code for counter (HOTP on node:crypto). For codes the card printed: compare here, never print them. */
  isCode(code: string, counter: number): boolean {
    return code === expectedHotp(this.key, counter, this.digits);
  }

  /**
   * Numbers from the console: exprs evaluated in one line. Unlike Interpreter.value this does not
   * stop at an error in the output (tests look at failures() themselves): it fails only when the
   * console does not answer within ms.
   */
  async ask(exprs: string[], ms = 30_000): Promise<number[]> {
    const r = this.interpreter;
    const tag = `@q${++this.asked}`;
    const from = r.output.length;
    r.send(`\x10print(${JSON.stringify(tag)},${exprs.join(",")})`);
    const re = new RegExp(`${tag}((?: -?[\\d.]+)+)\n`);
    const end = Date.now() + ms;
    for (;;) {
      const m = r.output.slice(from).match(re);
      if (m) return m[1].trim().split(" ").map(Number);
      if (!r.running) throw new Error("the interpreter exited");
      if (Date.now() > end) throw new Error(`the console did not answer within ${ms} ms`);
      await sleep(20);
    }
  }

  async panel(): Promise<PanelLog> {
    const v = await this.ask(["R.refr", "R.ing", "R.slp", "R.shown", "R.ops", "R.pw", "R.up", "R.nf"]);
    return { refreshes: v[0], refreshing: v[1], sleeps: v[2], shown: v[3], commands: v[4], pinWrites: v[5], releases: v[6], scattered: v[7] };
  }

  /**
   * Wait until the card has done all it will: no button release to come, no refresh running, and
   * no panel pin or command for quietMs. The console answers only between events, so an answer
   * after a release means that press's own work is done; what it left for later runs from timers
   * of 0-10 ms (the driver's reset pulses, a press that waited), or from BUSY (watched here).
   * Not for a panel that never lowers BUSY: its driver waits BUSY_TIMEOUT_MS in silence.
   */
  async settle(quietMs = 800, deadlineMs = 90_000): Promise<PanelLog> {
    const end = Date.now() + deadlineMs;
    let last = await this.panel();
    let since = Date.now();
    for (;;) {
      await sleep(100);
      const now = await this.panel();
      if (now.commands !== last.commands || now.pinWrites !== last.pinWrites || now.releases || now.refreshing) since = Date.now();
      else if (Date.now() - since >= quietMs) return now;
      last = now;
      if (Date.now() > end) throw new Error("the panel never settled");
    }
  }

  /** Variables in use now (no garbage collection), less the shim's. */
  async usage(): Promise<number> {
    return (await this.ask(["process.memory(false).usage"]))[0] - this.shimVars;
  }

  /** Variables in use after a garbage collection (as the shell sees it at idle), less the shim's. */
  async idle(): Promise<number> {
    return (await this.ask(["process.memory().usage"]))[0] - this.shimVars;
  }

  /** The highest usage sampled since the last resetPeak(), less the shim's. */
  async peak(): Promise<number> {
    return (await this.ask(["R.peak"]))[0] - this.shimVars;
  }

  async resetPeak(): Promise<void> {
    await this.ask(["R.peak=0"]);
  }

  /** The counter whose code the glass shows (its screen's CRC among counters 0..maxCounter), or -1 for none. */
  shownCounter(log: PanelLog, maxCounter = 200): number {
    for (let c = 0; c <= maxCounter; c++) {
      const code = expectedHotp(this.key, c, this.digits);
      const frame = render((s) => drawCodeScreen(s, decode, code, `${this.cardId} #${c}`)).frame;
      if (crc32(frame) === log.shown) return c;
    }
    return -1;
  }

  /** True when the glass shows the blank screen. */
  shownBlank(log: PanelLog): boolean {
    return crc32(render((s) => drawBlankScreen(s)).frame) === log.shown;
  }

  /** True when the glass shows what `draw` draws (core/screens.ts, rendered on the host). */
  shows(log: PanelLog, draw: (s: Parameters<typeof drawBlankScreen>[0], d: typeof decode) => void): boolean {
    return crc32(render((s) => draw(s, decode)).frame) === log.shown;
  }

  /**
   * Lines printed since the last accept() (or boot) that say an error happened: the interpreter's
   * own and the firmware's reports ("press failed: ..."). Never a line of the card's answers.
   */
  failures(): string[] {
    return this.interpreter.output
      .slice(this.accepted)
      .split("\n")
      .filter((l) => FAILURE_LINE.test(l) && !l.includes("[inkcard"));
  }

  /** Take the failures so far as expected (a test that causes an error): the next failures() starts here. */
  accept(): string[] {
    const seen = this.failures();
    this.accepted = this.interpreter.output.length;
    return seen;
  }

  async close(): Promise<void> {
    await this.repl?.kill();
    this.repl = undefined;
    this.key.fill(0);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
