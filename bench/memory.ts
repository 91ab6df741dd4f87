/**
 * The firmware's RAM on the real interpreter: Espruino variables in use at idle
 * and during a press, against the card's 2,630 and the target of a fifth (526).
 *
 * Run: ESPRUINO=/path/to/espruino node --import tsx bench/memory.ts [bundle.js]
 * ESPRUINO is a Linux build of Espruino (see ../espruino-bin/README.txt beside the
 * repository: espruino-2630-mmap has the card's 2,630 variables and memory-mapped
 * Storage). Without it this prints that memory cannot be measured, and no number.
 *
 * Run the way the card runs it: dist/firmware.js (built first if stale) goes into
 * Storage as `.bootcde`, with a test profile (counter mode, a random key that is
 * never printed), and the interpreter boots from Storage; commands then go in on
 * its console. Function code stays in flash there, as on the card (a function
 * holds a reference to its text, not a copy).
 *   baseline  the interpreter with an empty program: not the firmware's doing
 *   idle      after boot, once the boot refresh has finished: main.ts's shell only,
 *             since the engine (engine.ts) is built per event and dropped after it
 *   press     E.emit("ink-code"), main.ts's press for the provisioning tool (Linux
 *             has no pins to press): the peak sampled while the screen is drawn
 *             and sent (after each font is decoded and at every panel pin write),
 *             and what stays once the refresh is done (code shown, wipe timer set;
 *             process.memory() collects garbage first, as the shell does before
 *             building the next engine)
 * Pins are not emulated: BUSY reads low, so a refresh finishes at once. `NRF` does
 * not exist on Linux: a stub with setServices is put in `.boot0`. The press is
 * sampled through hooks, also in `.boot0`; their own variables are measured (idle
 * with and without them) and taken off. Nothing the card prints is echoed: its
 * answer to ink-code holds a code.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ensureFirmwareBuilt } from "../host-tools/build/ensure.ts";
import { loadBoardConfig } from "../host-tools/config.ts";
import { nodeHash } from "../host-tools/lib/hash.ts";
import { encodeProfile } from "../firmware/core/profile.ts";

/** Espruino variables on the card (nRF52832, as Puck.js). */
export const CARD_VARIABLES = 2630;
/** Issue 2: less than a fifth of them at idle. */
export const IDLE_TARGET = 526;

export interface MemoryMeasure {
  /** process.memory().total of the interpreter used. */
  total: number;
  baseline: number;
  idle: number;
  pressPeak: number;
  afterPress: number;
}

const NRF_STUB = 'if(typeof NRF==="undefined")global.NRF={setServices:function(){}};';
/** Samples usage (no garbage collection) after each font decode and at each pin write of the panel. */
const PRESS_HOOKS =
  "var PEAK=0;function SAMPLE(){var u=process.memory(false).usage;if(u>PEAK)PEAK=u;}" +
  "var ATOB=atob;global.atob=function(s){var r=ATOB(s);SAMPLE();return r;};" +
  "var DW=digitalWrite;global.digitalWrite=function(p,v){SAMPLE();DW(p,v);};";

/** A JavaScript string literal of these bytes, ASCII only (Espruino strings are bytes). */
function literal(bytes: Uint8Array): string {
  let s = '"';
  for (const b of bytes) {
    s += b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : "\\x" + b.toString(16).padStart(2, "0");
  }
  return s + '"';
}

/** Espruino's output with the banner's noise, prompts and escape codes removed. */
function clean(raw: string): string {
  return raw.replace(/\xf7/g, "").replace(/\r/g, "").replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
}

const FAILURE = /Uncaught |OUT OF MEMORY|ASSERT\(|^>?ERROR:|New interpreter error/m;

/** What went wrong, without any line of the card's answers (they may hold a code). */
function failureLines(out: string): string {
  return out.split("\n").filter((l) => FAILURE.test(l) && !l.includes("[inkcard")).slice(0, 5).join("\n");
}

/** One run of the interpreter in dir (its Storage is dir/espruino.flash), fed empty lines: at end of input it spins. */
class Interpreter {
  private out = "";
  private readonly child;
  private readonly feed;
  private readonly exited: Promise<void>;

  constructor(bin: string, dir: string, args: string[] = []) {
    this.child = spawn(bin, args, { cwd: dir });
    this.child.stdout.on("data", (d: Buffer) => (this.out += clean(d.toString("latin1"))));
    this.child.stderr.on("data", (d: Buffer) => (this.out += clean(d.toString("latin1"))));
    this.child.stdin.on("error", () => { /* it exited while we were writing */ });
    this.feed = setInterval(() => this.child.stdin.write("\n"), 20);
    this.exited = new Promise((resolve, reject) => {
      this.child.on("error", reject);
      this.child.on("close", () => resolve());
    });
    this.exited.catch(() => {}).finally(() => clearInterval(this.feed));
  }

  get output(): string {
    return this.out;
  }

  /** Throws if the output shows an error (even one in a callback, which does not stop the interpreter). */
  check(what: string): void {
    const bad = failureLines(this.out);
    if (bad) throw new Error(`${what}: the interpreter reported:\n${bad}`);
  }

  send(line: string): void {
    this.child.stdin.write(line + "\n");
  }

  /** Wait until the output matches re (searched from `from`); throws on a failure in the output or after ms. */
  async waitFor(re: RegExp, ms: number, from = 0): Promise<RegExpMatchArray> {
    const end = Date.now() + ms;
    for (;;) {
      const m = this.out.slice(from).match(re);
      if (m) return m;
      this.check("running the firmware");
      if (Date.now() > end) throw new Error(`no ${re} from the interpreter within ${ms} ms`);
      await sleep(20);
    }
  }

  /** Print one number from the console: `expr` must evaluate to it. */
  async value(tag: string, expr: string): Promise<number> {
    const from = this.out.length;
    this.send(`print("@${tag}",${expr})`);
    return Number((await this.waitFor(new RegExp(`(?:^|\\n)@${tag} (\\d+)`), 5000, from))[1]);
  }

  async exit(ms: number): Promise<void> {
    const timer = setTimeout(() => this.child.kill("SIGKILL"), ms);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): Promise<void> {
    this.child.kill("SIGKILL"); // it handles SIGTERM as an interrupt
    return this.exited;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Erase Storage and write these files, in several short scripts: a script's own
 * text sits in RAM while it runs, so the bundle goes in a few KB at a time.
 */
async function writeStorage(bin: string, dir: string, files: Array<[string, Uint8Array]>): Promise<void> {
  const CHUNK = 256;
  const PER_SCRIPT = 4096;
  const scripts: string[][] = [["S.eraseAll();"]];
  let size = 0;
  for (const [name, data] of files) {
    for (let off = 0; off < data.length; off += CHUNK) {
      if (size >= PER_SCRIPT) {
        scripts.push([]);
        size = 0;
      }
      const part = data.subarray(off, off + CHUNK);
      scripts[scripts.length - 1].push(`S.write(${JSON.stringify(name)},${literal(part)},${off},${data.length});`);
      size += part.length;
    }
  }
  const check = files.map(([name, data]) => `(S.read(${JSON.stringify(name)})||"").length===${data.length}`).join("&&");
  scripts[scripts.length - 1].push(`print("@stored",${check}?1:0);`);
  for (let i = 0; i < scripts.length; i++) {
    writeFileSync(join(dir, "write.js"), `var S=require("Storage");\n${scripts[i].join("\n")}\n`);
    const run = new Interpreter(bin, dir, ["write.js"]);
    await run.exit(20_000);
    run.check("writing Storage");
    if (i === scripts.length - 1 && !/@stored 1/.test(run.output)) throw new Error("writing Storage failed: files read back short");
  }
}

/** Boot from Storage in dir and let the boot refresh finish. */
async function boot(bin: string, dir: string): Promise<Interpreter> {
  const repl = new Interpreter(bin, dir);
  await repl.value("up", "1"); // the console answers once the boot code has run (no banner when there is one)
  await sleep(1500); // the boot refresh: BUSY reads low on Linux, so a few 10 ms reset timers
  repl.check("booting the firmware");
  return repl;
}

/** bundleFile: another bundle to measure (default: dist/firmware.js, built first if stale). */
export async function measureMemory(bin: string, bundleFile?: string): Promise<MemoryMeasure> {
  const board = await loadBoardConfig();
  const bundle = readFileSync(bundleFile ?? (await ensureFirmwareBuilt()).file);
  const key = randomBytes(20); // a test card: this key exists only in this run and is never printed
  const profile = encodeProfile(
    { mode: "counter", algorithm: "SHA1", digits: 6, stepSeconds: 30, startCounter: 0, cardId: "BENCH", key },
    nodeHash("SHA256"),
  );
  key.fill(0);
  const text = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));
  const dir = mkdtempSync(join(tmpdir(), "inkcard-memory-"));
  let repl: Interpreter | undefined;
  const session = async (boot0: string, bootcde: Uint8Array, withProfile: boolean) => {
    await repl?.kill();
    const files: Array<[string, Uint8Array]> = [[".boot0", text(boot0)], [".bootcde", bootcde]];
    if (withProfile) files.push([board.storage.profile, profile]);
    await writeStorage(bin, dir, files);
    repl = await boot(bin, dir);
    return repl;
  };
  try {
    let r = await session(NRF_STUB, text("0;"), false);
    const total = await r.value("total", "process.memory().total");
    const baseline = await r.value("base", "process.memory().usage");

    r = await session(NRF_STUB, bundle, true);
    const idle = await r.value("idle", "process.memory().usage");

    r = await session(NRF_STUB + PRESS_HOOKS, bundle, true);
    const hooks = (await r.value("hidle", "process.memory().usage")) - idle;
    const from = r.output.length;
    r.send('E.emit("ink-code")');
    const answer = await r.waitFor(/\[inkcard \{"code":"(\d*)"\}/, 10_000, from);
    if (!answer[1]) throw new Error("the press made no code (the card did not take the test profile)");
    await sleep(1000); // the refresh
    const pressPeak = (await r.value("peak", "PEAK")) - hooks;
    const afterPress = (await r.value("after", "process.memory().usage")) - hooks;
    return { total, baseline, idle, pressPeak, afterPress };
  } finally {
    await repl?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function report(m: MemoryMeasure, bin: string): string {
  const line = (what: string, vars: number) =>
    `${what.padEnd(10)}${String(vars).padStart(5)} variables = ${(vars / CARD_VARIABLES).toFixed(3)} x the card's ${CARD_VARIABLES}` +
    `, ${(vars / IDLE_TARGET).toFixed(2)} x the idle target of ${IDLE_TARGET}`;
  return [
    `memory    Espruino variables on ${bin} (total ${m.total}${m.total === CARD_VARIABLES ? "" : `, NOT the card's ${CARD_VARIABLES}`})`,
    line("baseline", m.baseline) + "  (empty program: the interpreter's own)",
    line("idle", m.idle) + `  (${m.idle < IDLE_TARGET ? "within" : "OVER"} the target)`,
    line("press", m.pressPeak) + "  (peak while drawing and sending the screen)",
    line("after", m.afterPress) + "  (code on screen, wipe timer set)",
  ].join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const bin = process.env.ESPRUINO;
  if (!bin) {
    console.log("memory    not measured: set ESPRUINO to an Espruino Linux binary (e.g. ../espruino-bin/espruino-2630-mmap);");
    console.log("          RAM use can only be measured on the interpreter itself");
  } else if (!existsSync(bin)) {
    console.error(`bench/memory: ESPRUINO=${bin} does not exist`);
    process.exitCode = 1;
  } else {
    try {
      console.log(report(await measureMemory(bin, process.argv[2]), bin));
    } catch (e) {
      console.error(`bench/memory: ${(e as Error).message}`);
      process.exitCode = 1;
    }
  }
}
