/**
 * Espruino's REPL (src/jsinteractive.c) as host tools meet it on a serial
 * line: bytes in, bytes out, one character at a time.
 *
 * - Typed characters are echoed; Enter runs the line once its brackets are
 *   closed (else it continues on a ":" line); the result prints as "=value";
 *   the prompt ">" returns once the board is idle again.
 * - DLE (0x10) at the start of a line: that line runs with no echo, no
 *   "=value" and no prompt (unless it prints): how tools upload code.
 *   ESC LF adds a newline without running. echo(0) silences all of it.
 * - Ctrl-C clears the line being typed. (Code never runs while input is
 *   read here: a runaway loop is stopped by the board's script timeout.)
 * - Output from the board first removes the prompt line, as Espruino does.
 * - With a password set and the console locked (E.setPassword,
 *   E.lockConsole), the prompt is "password>", input is not echoed and
 *   nothing runs until the password is given.
 * - Ctrl-E on an empty line answers "Espruino <version> <board>"; a DLE SOH
 *   packet is answered NAK (the packet protocol is not emulated).
 * Output strings hold one byte per character ("\n" becomes "\r\n").
 */
import * as acorn from "acorn";

/** What the REPL runs lines on: the board. */
export interface ReplHost {
  /** A card without power hears nothing. */
  powered(): boolean;
  /** Run a line typed at the prompt; ok=false when it threw (already reported). */
  runLine(code: string): { ok: true; value: unknown } | { ok: false };
  /** The value as the REPL prints it after "=". */
  inspect(value: unknown): string;
  /** Run whatever the line asked for once it has returned (reset(), load()...). */
  idle(): void;
  /** "Espruino 2v29 MDBT42Q" for Ctrl-E. */
  identity(): string;
}

const enum In {
  None,
  HadDle,
  Had27,
  Had27_91,
  Had27_91_Num,
  Had27_79,
  HadCR,
  PacketHeader,
  PacketData,
}

/** Keep this much console output for transcript(). */
const TRANSCRIPT_MAX = 1 << 20;

export class Repl {
  private line = "";
  private state = In.None;
  private packet = { header: 0, bytes: 0, length: 0 };
  private echoOff = false;
  private echoOffForLine = false;
  /** The prompt line is not on the terminal (output went over it). */
  private removed = true;
  private password: string | undefined;
  private locked = false;
  private readonly listeners = new Set<(bytes: string) => void>();
  private log = "";

  constructor(private readonly host: ReplHost) {}

  /** Bytes from the terminal (a string of byte-characters, or bytes). */
  write(data: string | Uint8Array): void {
    if (!this.host.powered()) return;
    const s = typeof data === "string" ? data : Buffer.from(data).toString("latin1");
    for (const ch of s) this.char(ch);
  }

  /** Listen to what the card sends; returns the function that stops listening. */
  onData(listener: (bytes: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Everything sent since the last clearTranscript() (the most recent 1 MB). */
  transcript(): string {
    return this.log;
  }

  clearTranscript(): void {
    this.log = "";
  }

  /** Output from the board (print, errors, the banner): takes the prompt away first. */
  print(text: string): void {
    this.removePrompt();
    this.send(text.replace(/\n/g, "\r\n"));
  }

  /** The board is idle: put the prompt back if output took it. */
  returnPrompt(): void {
    if (!this.removed) return;
    this.removed = false;
    if (!this.echo()) return;
    this.send((this.locked ? "password" : "") + ">" + this.line.replace(/\n/g, "\r\n:"));
  }

  /** A new interpreter (reset, load, power): echo on, no password, nothing typed. */
  restart(): void {
    this.line = "";
    this.state = In.None;
    this.echoOff = false;
    this.echoOffForLine = false;
    this.password = undefined;
    this.locked = false;
  }

  setEcho(on: boolean): void {
    this.echoOff = !on;
  }

  /** E.setPassword: undefined removes it (and unlocks). */
  setPassword(password: string | undefined): void {
    this.password = password;
    if (password === undefined) this.locked = false;
  }

  /** E.lockConsole: locks only when a password is set. */
  lock(): void {
    if (this.password !== undefined) this.locked = true;
  }

  get isLocked(): boolean {
    return this.locked;
  }

  private echo(): boolean {
    return !this.echoOff && !this.echoOffForLine;
  }

  private showLine(): boolean {
    return this.echo() && !this.removed && !this.locked;
  }

  private send(bytes: string): void {
    if (!bytes) return;
    this.log += bytes;
    if (this.log.length > TRANSCRIPT_MAX) this.log = this.log.slice(-TRANSCRIPT_MAX / 2);
    for (const l of this.listeners) l(bytes);
  }

  private removePrompt(): void {
    if (this.removed) return;
    this.removed = true;
    if (!this.echo()) return;
    const up = this.line.split("\n").length - 1;
    this.send("\x1b[A".repeat(up) + "\r\x1b[J");
  }

  private char(ch: string): void {
    if (this.locked) return this.passwordChar(ch);
    const c = ch.charCodeAt(0);
    switch (this.state) {
      case In.PacketHeader:
        this.packet.header = (this.packet.header << 8) | c;
        if (++this.packet.bytes === 2) {
          this.packet.length = this.packet.header & 0x1fff;
          this.state = this.packet.length ? In.PacketData : In.None;
          if (!this.packet.length) this.send("\x15"); // NAK
        }
        return;
      case In.PacketData:
        if (--this.packet.length === 0) {
          this.state = In.None;
          this.send("\x15");
        }
        return;
      case In.Had27:
        this.state = c === 91 ? In.Had27_91 : c === 79 ? In.Had27_79 : In.None;
        if (c === 10) this.newLine(false);
        return;
      case In.Had27_91:
        this.state = c >= 48 && c <= 57 ? In.Had27_91_Num : In.None;
        return; // cursor keys and history are not emulated
      case In.Had27_91_Num:
        if (c < 48 || c > 57) this.state = In.None;
        return;
      case In.Had27_79:
        this.state = In.None;
        return;
    }
    const hadCR = this.state === In.HadCR;
    const hadDle = this.state === In.HadDle;
    this.state = In.None;
    if (c === 3) {
      // Ctrl-C: drop what was typed.
      if (this.line) {
        this.removePrompt();
        this.line = "";
      }
      this.echoOffForLine = false;
      this.returnPrompt();
    } else if (c === 1 && hadDle) {
      this.state = In.PacketHeader;
      this.packet = { header: 0, bytes: 0, length: 0 };
      this.echoOffForLine = false;
    } else if (c === 5) {
      if (!this.line) this.send(this.host.identity() + "\r\n"); // straight out, as Espruino does: no prompt handling
    } else if (c === 16) {
      if (!this.line) this.echoOffForLine = true;
      this.state = In.HadDle;
    } else if (c === 27) {
      this.state = In.Had27;
    } else if (c === 8 || c === 127) {
      if (!this.line) return;
      const last = this.line[this.line.length - 1];
      this.line = this.line.slice(0, -1);
      if (this.showLine()) this.send(last === "\n" ? "\x1b[A\x1b[J" : "\x08 \x08");
    } else if (c === 10 && hadCR) {
      // \r\n: the \r did it
    } else if (c === 13 || c === 10) {
      if (c === 13) this.state = In.HadCR;
      this.newLine(true);
    } else if (c >= 32 || c === 9) {
      const text = c === 9 ? "    " : ch;
      this.line += text;
      if (this.showLine()) this.send(text);
    }
  }

  private newLine(execute: boolean): void {
    if (!execute || countBrackets(this.line) > 0) {
      if (this.showLine()) this.send("\r\n:");
      this.line += "\n";
      return;
    }
    if (this.showLine()) this.send("\r\n");
    if (!this.echoOffForLine) this.removed = true;
    const code = this.line.replace(/\s+$/, "");
    this.line = "";
    const result = this.host.runLine(code);
    if (result.ok && code && this.echo()) this.print("=" + this.host.inspect(result.value) + "\n");
    this.echoOffForLine = false;
    this.host.idle();
    this.returnPrompt();
  }

  private passwordChar(ch: string): void {
    if (ch === "\r" || ch === "\n") {
      if (ch === "\n" && this.state === In.HadCR) {
        this.state = In.None;
        return;
      }
      this.state = ch === "\r" ? In.HadCR : In.None;
      const ok = this.line === this.password;
      this.line = "";
      if (ok) {
        this.locked = false;
        this.send("\r\n  Logged in.\r\n");
        this.removed = true;
        this.returnPrompt();
      } else {
        this.send("\r\n  Invalid password\r\npassword>");
      }
      return;
    }
    this.state = In.None;
    if (this.line.length < 20) this.line += ch;
  }
}

/**
 * Open brackets in a line, as Espruino counts them to decide whether Enter
 * runs it: an unfinished comment or template literal waits for more, an
 * unfinished string runs (so that it errors).
 */
export function countBrackets(code: string): number {
  let n = 0;
  try {
    for (const t of acorn.tokenizer(code, { ecmaVersion: "latest", allowHashBang: true })) {
      const l = t.type.label;
      if (l === "(" || l === "{" || l === "[" || l === "${") n++;
      else if (l === ")" || l === "}" || l === "]") n--;
      if (n < 0) return n;
    }
  } catch (e) {
    const m = e instanceof Error ? e.message : "";
    if (/^Unterminated (comment|template)/.test(m)) return 1000;
    return 0;
  }
  return n;
}
