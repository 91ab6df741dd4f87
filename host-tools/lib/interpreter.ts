/**
 * The real Espruino interpreter built for Linux, as a child process: the
 * ground truth for what the card runs. Tests, benchmarks and the simulator's
 * `--engine espruino` use it through this one module.
 *
 * The binary: $ESPRUINO, else ../shared/espruino/espruino-2630 beside the
 * repository (2v29 with a card's 2,630 variables, its i386 build run under
 * qemu-i386 near a card's speed; Storage memory-mapped from espruino.flash in
 * the working directory, as flash is on the nRF52). It is never part of the
 * repository.
 *
 * Its standard input must keep delivering: at end of file the Linux build
 * spins and its memory use climbs, so an Interpreter feeds it an empty line
 * every 20 ms. It ignores SIGTERM and never exits on Ctrl-C: kill() sends
 * SIGKILL. An exception in a callback does not stop it, so check() looks for
 * "Uncaught" and its kin in the output, not at the exit code.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ESPRUINO: string = process.env.ESPRUINO || fileURLToPath(new URL("../../../shared/espruino/espruino-2630", import.meta.url));

export function haveEspruino(bin = ESPRUINO): boolean {
  return existsSync(bin);
}

/** Lines that mean the interpreter hit an error, even one it carried on from. */
export const FAILURE = /Uncaught |OUT OF MEMORY|ASSERT\(|^>?ERROR:|New interpreter error/m;

/** Espruino's output with the 0xF7 noise, carriage returns and escape codes removed. */
export function cleanOutput(raw: string): string {
  return raw.replace(/\xf7/g, "").replace(/\r/g, "").replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");
}

/** The failure lines of an output, without any line of the card's answers to host tools (they may hold a code). */
export function failureLines(out: string): string {
  return out
    .split("\n")
    .filter((l) => FAILURE.test(l) && !l.includes("[inkcard"))
    .slice(0, 5)
    .join("\n");
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface InterpreterOptions {
  /** Working directory: Storage lives in dir/espruino.flash. */
  dir: string;
  /** Arguments (a script file to run first, for instance). */
  args?: string[];
  bin?: string;
  /** Raw output as it arrives (banner, prompts and escape codes included). */
  onOutput?: (chunk: string) => void;
}

/** One run of the interpreter. */
export class Interpreter {
  readonly child: ChildProcessWithoutNullStreams;
  private out = "";
  private readonly feed: NodeJS.Timeout;
  private readonly exited: Promise<number | null>;
  private closed = false;

  constructor(o: InterpreterOptions) {
    this.child = spawn(o.bin ?? ESPRUINO, o.args ?? [], { cwd: o.dir });
    const take = (d: Buffer) => {
      const s = d.toString("latin1");
      this.out += cleanOutput(s);
      o.onOutput?.(s);
    };
    this.child.stdout.on("data", take);
    this.child.stderr.on("data", take);
    this.child.stdin.on("error", () => { /* it exited while we were writing */ });
    this.feed = setInterval(() => this.child.stdin.write("\n"), 20);
    this.exited = new Promise((resolve, reject) => {
      this.child.on("error", reject);
      this.child.on("close", (code) => {
        this.closed = true;
        resolve(code);
      });
    });
    this.exited.catch(() => {}).finally(() => clearInterval(this.feed));
  }

  /** Everything printed so far, cleaned (see cleanOutput). */
  get output(): string {
    return this.out;
  }

  get running(): boolean {
    return !this.closed;
  }

  /** Throws if the output shows an error (even one in a callback, which does not stop the interpreter). */
  check(what: string): void {
    const bad = failureLines(this.out);
    if (bad) throw new Error(`${what}: the interpreter reported:\n${bad}`);
  }

  /** Type a line at the console. */
  send(line: string): void {
    this.child.stdin.write(line + "\n");
  }

  /** Raw bytes to the console. */
  write(data: string | Uint8Array): void {
    this.child.stdin.write(data);
  }

  /** Wait until the output matches re (searched from `from`); throws on a failure in the output, an exit, or after ms. */
  async waitFor(re: RegExp, ms: number, from = 0): Promise<RegExpMatchArray> {
    const end = Date.now() + ms;
    for (;;) {
      const m = this.out.slice(from).match(re);
      if (m) return m;
      this.check("running the firmware");
      if (this.closed) throw new Error(`the interpreter exited before printing ${re}`);
      if (Date.now() > end) throw new Error(`no ${re} from the interpreter within ${ms} ms`);
      await sleep(20);
    }
  }

  /** One number from the console: `expr` must evaluate to it. */
  async value(tag: string, expr: string, ms = 10_000): Promise<number> {
    const from = this.out.length;
    this.send(`print("@${tag}",${expr})`);
    return Number((await this.waitFor(new RegExp(`(?:^|\\n)>?@${tag} (-?[\\d.]+)`), ms, from))[1]);
  }

  /** Wait for the process to end by itself (SIGKILL after ms); its exit code. */
  async exit(ms: number): Promise<number | null> {
    const timer = setTimeout(() => this.child.kill("SIGKILL"), ms);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  kill(): Promise<number | null> {
    if (!this.closed) this.child.kill("SIGKILL"); // it handles SIGTERM as an interrupt
    return this.exited;
  }
}

/** A JavaScript string literal of these bytes, ASCII only (Espruino strings are bytes). */
export function byteLiteral(bytes: Uint8Array): string {
  let s = '"';
  for (const b of bytes) {
    s += b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : "\\x" + b.toString(16).padStart(2, "0");
  }
  return s + '"';
}

/** Bytes of a latin1 string (Espruino strings are bytes). */
export function textBytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "latin1"));
}

/**
 * Erase Storage in dir and write these files, in several short scripts run
 * one after the other: a script's own text sits in RAM while it runs, so a
 * bundle goes in a few KB at a time. Throws unless every file reads back whole.
 */
export async function writeStorage(dir: string, files: Array<[string, Uint8Array]>, bin = ESPRUINO): Promise<void> {
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
      scripts[scripts.length - 1].push(`S.write(${JSON.stringify(name)},${byteLiteral(part)},${off},${data.length});`);
      size += part.length;
    }
  }
  const check = files.map(([name, data]) => `(S.read(${JSON.stringify(name)})||"").length===${data.length}`).join("&&");
  scripts[scripts.length - 1].push(`print("@stored",${check || "true"}?1:0);`);
  for (let i = 0; i < scripts.length; i++) {
    writeFileSync(join(dir, "write.js"), `var S=require("Storage");\n${scripts[i].join("\n")}\n`);
    const run = new Interpreter({ dir, args: ["write.js"], bin });
    await run.exit(60_000);
    run.check("writing Storage");
    if (i === scripts.length - 1 && !/@stored 1/.test(run.output)) throw new Error("writing Storage failed: files read back short");
  }
}

/**
 * Boot from Storage in dir, as a card powers up (.boot0, then .bootcde), and
 * wait until its console answers: the boot code has run by then.
 */
export async function bootFromStorage(dir: string, bin = ESPRUINO, onOutput?: (chunk: string) => void): Promise<Interpreter> {
  const repl = new Interpreter({ dir, bin, onOutput });
  await repl.value("up", "1", 60_000);
  repl.check("booting");
  return repl;
}
