/**
 * The wire between the shim in the card's `.boot0` (shim.ts) and the
 * simulator: a pseudo-terminal made by Debian's socat, its link in the
 * interpreter's working directory (where the shim opens it as Serial1), its
 * other end socat's standard input and output here. A pseudo-terminal and not
 * a FIFO: the Linux build opens a Serial path read-write and also reads what
 * it wrote from a FIFO, racing us for the card's own records.
 *
 * Records from the card are parsed here (formats in shim.ts); lines to the
 * card are written as they are.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, lstatSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { CHANNEL_FILE, REC } from "./shim.ts";

export type CardRecord =
  | { kind: "hello"; serial: string }
  | { kind: "pin"; pin: number; level: 0 | 1 }
  | { kind: "spi"; sck: number; mosi: number; mode: number; bytes: Uint8Array }
  | { kind: "clear" }
  | { kind: "text"; x: number; y: number; text: string }
  | { kind: "pong"; seq: number; nextTimerMs: number }
  | { kind: "nrf"; json: string }
  | { kind: "taken" };

const LINK_TIMEOUT_MS = 5000;

export class Channel {
  private buf: Buffer = Buffer.alloc(0);
  private closed = false;

  private constructor(
    private readonly socat: ChildProcess,
    /** Called with the records of each chunk that arrived, in order. */
    private readonly onRecords: (records: CardRecord[]) => void,
  ) {
    socat.stdout!.on("data", (d: Buffer) => this.take(d));
    socat.stdin!.on("error", () => {}); // socat gone: close() follows
  }

  /** Make the pseudo-terminal in dir (the interpreter's working directory). */
  static async open(dir: string, onRecords: (records: CardRecord[]) => void): Promise<Channel> {
    const link = join(dir, CHANNEL_FILE);
    if (lstatSync(link, { throwIfNoEntry: false })) unlinkSync(link);
    const socat = spawn("socat", [`pty,rawer,link=${link}`, "STDIO"], { stdio: ["pipe", "pipe", "pipe"] });
    let failure: string | undefined;
    let stderr = "";
    socat.stderr!.on("data", (d) => (stderr += d));
    socat.on("error", (e) => (failure = `cannot run socat (${e.message}): the espruino engine needs Debian's socat`));
    socat.on("exit", (code) => (failure ??= `socat exited (${code}): ${stderr.trim()}`));
    const by = Date.now() + LINK_TIMEOUT_MS;
    while (!existsSync(link)) {
      if (failure || Date.now() > by) {
        socat.kill("SIGKILL");
        throw new Error(failure ?? `socat made no pseudo-terminal at ${link} within ${LINK_TIMEOUT_MS} ms`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    return new Channel(socat, onRecords);
  }

  /** One line to the shim. */
  send(line: string): void {
    if (!this.closed) this.socat.stdin!.write(line + "\n");
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socat.kill("SIGKILL");
  }

  private take(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    const out: CardRecord[] = [];
    let at = 0;
    const b = this.buf;
    for (;;) {
      const left = b.length - at;
      if (left < 1) break;
      const type = b[at];
      let need: number;
      if (type === REC.clear || type === REC.taken) need = 1;
      else if (type === REC.pin) need = 3;
      else if (type === REC.pong) need = 5;
      else if (type === REC.hello) need = left < 2 ? 2 : 2 + b[at + 1];
      else if (type === REC.text) need = left < 6 ? 6 : 6 + b[at + 5];
      else if (type === REC.nrf) need = left < 3 ? 3 : 3 + (b[at + 1] | (b[at + 2] << 8));
      else if (type === REC.spi) need = left < 6 ? 6 : 6 + (b[at + 4] | (b[at + 5] << 8));
      else {
        // Not a record: bytes from a card that died mid-record, or noise. Skip to the next byte.
        at++;
        continue;
      }
      if (left < need) break;
      const r = b.subarray(at, at + need);
      at += need;
      if (type === REC.clear) out.push({ kind: "clear" });
      else if (type === REC.taken) out.push({ kind: "taken" });
      else if (type === REC.nrf) out.push({ kind: "nrf", json: r.subarray(3).toString("latin1") });
      else if (type === REC.pin) out.push({ kind: "pin", pin: r[1], level: r[2] ? 1 : 0 });
      else if (type === REC.pong) out.push({ kind: "pong", seq: r[1], nextTimerMs: r[2] | (r[3] << 8) | (r[4] << 16) });
      else if (type === REC.hello) out.push({ kind: "hello", serial: r.subarray(2).toString("latin1") });
      else if (type === REC.text) out.push({ kind: "text", x: r.readInt16LE(1), y: r.readInt16LE(3), text: r.subarray(6).toString("latin1") });
      else out.push({ kind: "spi", sck: r[1], mosi: r[2], mode: r[3], bytes: new Uint8Array(r.subarray(6)) });
    }
    this.buf = at < b.length ? b.subarray(at) : Buffer.alloc(0);
    if (out.length) this.onRecords(out);
  }
}
