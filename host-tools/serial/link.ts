/**
 * A byte link to a card's serial console: a serial port (a pseudo-terminal
 * included) through the `serialport` package, or `tcp://host:port` (the
 * simulator's console, a serial server). It counts the bytes each way (the
 * benchmark reads them) and waits for patterns in what the card sends.
 * Nothing here logs or keeps what is written: the tools write keys.
 */
import type { Duplex } from "node:stream";
import { SerialPort } from "serialport";
import { ToolError } from "../lib/errors.ts";
import { CONSOLE_REFUSAL, connectTcpConsole, parseTcpConsole, refusedError } from "./tcp-console.ts";

export interface LinkOptions {
  /** Serial device path, or tcp://host:port (the simulator's console token: tcp-console.ts). */
  port: string;
  /** Baud rate of a serial port (ignored for tcp://). */
  baud: number;
  /** How long the card may take to answer a request, ms (default ANSWER_MS). */
  answerMs?: number;
  /** How long the card may take to come back after a restart (load()), ms (default BOOT_MS). */
  bootMs?: number;
}

/** How long a running card may take to answer one request, by default. */
export const ANSWER_MS = 4000;
/**
 * How long a card may take to restart and answer again, by default: a card's
 * boot (firmware and panel) is far slower than a PC's, and a busy host or a
 * slow adapter slows it further. Only a card that never comes back waits it out.
 */
export const BOOT_MS = 30_000;

/** The card sent nothing that answers a request in time (the link itself is fine). */
export class NoAnswer extends ToolError {}

export class Link {
  bytesSent = 0;
  bytesReceived = 0;
  /** What the card sent since the last mark(). */
  private seen = "";
  /** Bytes written since the last mark(): their time on the wire is added to the wait. */
  private sentSinceMark = 0;
  private closed = false;
  private wake: (() => void) | undefined;

  private constructor(
    readonly port: string,
    private readonly stream: Duplex,
    /** How long the card may take to answer one request, ms. */
    readonly answerMs: number,
    /** How long it may take to restart, ms. */
    readonly bootMs: number,
    private readonly baud: number,
  ) {
    stream.on("data", (d: Buffer) => {
      this.bytesReceived += d.length;
      this.seen += d.toString("latin1");
      if (this.seen.length > 1 << 20) this.seen = this.seen.slice(-(1 << 19));
      this.wake?.();
    });
    stream.on("close", () => {
      this.closed = true;
      this.wake?.();
    });
    stream.on("error", () => {
      this.closed = true;
      this.wake?.();
    });
  }

  static async open(o: LinkOptions): Promise<Link> {
    const tcp = parseTcpConsole(o.port);
    const stream = tcp ? await connectTcpConsole(tcp) : await openSerial(o.port, o.baud);
    // tcp:// has no baud rate of its own: the card behind it (a serial server, the simulator) may still be at o.baud.
    // The port is kept (and shown) without its token.
    return new Link(tcp ? tcp.display : o.port, stream, o.answerMs ?? ANSWER_MS, o.bootMs ?? BOOT_MS, o.baud);
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Forget what was received so far: expect() looks only at what comes after. */
  mark(): void {
    this.seen = "";
    this.sentSinceMark = 0;
  }

  /** How long n bytes take on the wire at the link's baud rate (8N1: 10 bits a byte), ms. */
  wireMs(n: number): number {
    return (n * 10 * 1000) / this.baud;
  }

  /** Everything received since mark() (for the tools' own parsing; never shown as is). */
  received(): string {
    return this.seen;
  }

  /** Send bytes (a string of byte-characters); resolves once they are handed to the OS. `doing` names the step for errors. */
  async write(text: string, doing = "sending to it"): Promise<void> {
    if (this.closed) throw this.lost(doing);
    const bytes = Buffer.from(text, "latin1");
    this.bytesSent += bytes.length;
    this.sentSinceMark += bytes.length;
    // A port whose other end went away may never call back: its close ends the wait too.
    await new Promise<void>((resolve, reject) => {
      const gone = () => reject(this.lost(doing));
      this.stream.once("close", gone);
      this.stream.write(bytes, (e) => {
        this.stream.off("close", gone);
        if (e) reject(this.lost(doing));
        else resolve();
      });
    });
  }

  /**
   * Wait until what was received since mark() satisfies test (a function
   * returning a value or undefined): the answer time, plus the time what was
   * sent since mark() takes on the wire, plus extraMs (a slow step, a backlog
   * still on its way), but never past `by` (a time, ms since 1970) when given.
   * `doing` names the step for the errors: no answer (NoAnswer), or the link
   * went away.
   */
  async until<T>(test: (seen: string) => T | undefined, doing: string, extraMs = 0, by = Infinity): Promise<T> {
    const deadline = Math.min(by, Date.now() + this.answerMs + this.wireMs(this.sentSinceMark) + extraMs);
    for (;;) {
      const found = test(this.seen);
      if (found !== undefined) return found;
      if (this.closed) throw this.lost(doing);
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new NoAnswer(
          `the card on ${this.port} did not answer while ${doing}`,
          "check that it is plugged in and powered, then run the command again",
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => {
      this.stream.once("close", () => resolve());
      // A SerialPort must be closed (destroy() leaves its file and poller open); a socket is destroyed.
      if (this.stream instanceof SerialPort) this.stream.close(() => resolve());
      else this.stream.destroy();
      setTimeout(resolve, 500).unref(); // a deadline, not a pause: a port whose device went away may never report its close
    });
  }

  private lost(doing: string): ToolError {
    if (this.seen.includes(CONSOLE_REFUSAL)) return refusedError(this.port);
    return new ToolError(`the link to ${this.port} went away while ${doing}`, "plug the card in again and run the same command: it picks up where it stopped");
  }
}

async function openSerial(path: string, baud: number): Promise<Duplex> {
  const port = new SerialPort({ path, baudRate: baud, autoOpen: false, lock: true });
  await new Promise<void>((resolve, reject) => {
    port.open((e) => {
      if (!e) return resolve();
      const m = e.message;
      if (/ENOENT|No such file/i.test(m)) reject(new ToolError(`port ${path} does not exist`, "check the cable and the port name (ls /dev/tty*)"));
      else if (/lock|EBUSY|busy|temporarily unavailable/i.test(m)) {
        reject(new ToolError(`port ${path} is busy`, "another program has it open (a terminal, the Web IDE): close it and try again"));
      } else if (/EACCES|permission/i.test(m)) reject(new ToolError(`no permission to open ${path}`, "add your user to the dialout group, or fix the device's permissions"));
      else reject(new ToolError(`cannot open port ${path} (${m})`, "check that it is a serial port"));
    });
  });
  return port as unknown as Duplex;
}
