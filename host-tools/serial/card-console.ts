/**
 * The card's side of issuance as the tool sees it over the console
 * (firmware/main.ts): each request is one no-echo line (DLE first, so a key
 * is never echoed back), each answer one `[inkcard {json} crc32]` line, or a
 * marker the request prints once it has run. A reply that does not parse or
 * whose CRC does not match is "garbled"; no reply is "no answer".
 */
import { crc32 } from "node:zlib";
import { z } from "zod";
import { isConsolePassword } from "../../firmware/core/lock.ts";
import { cardError, ToolError } from "../lib/errors.ts";
import { NoAnswer, type Link } from "./link.ts";

const DLE = "\x10";
const GARBLED_TODO = "check the cable and the baud rate, then run the same command again";
const HEX64 = /^[0-9a-f]{64}$/;

export const Identity = z.object({
  fw: z.string().min(1).max(32),
  board: z.string().min(1).max(32),
  serial: z.string().min(4).max(64),
  /** The live profile's digest, "" for none. */
  profile: z.string().regex(/^([0-9a-f]{64})?$/),
  staged: z.boolean(),
  locked: z.boolean(),
});
export type Identity = z.infer<typeof Identity>;

const Installed = z.object({ installed: z.boolean(), profile: z.string().regex(/^([0-9a-f]{64})?$/) });
const Code = z.object({ code: z.string().regex(/^([0-9]{3,10})?$/) });

/** What probe() found on the port. */
export type Probe = "console" | "locked";

export class CardConsole {
  constructor(readonly link: Link) {}

  /**
   * Is an Espruino console there, and is it locked? A marker line first, as
   * is: a card still busy (booting, or writing an upload still queued in its
   * input: backlogMs) answers it once done. Only if it does not answer in
   * time, Ctrl-C and the marker again: Ctrl-C clears whatever an interrupted
   * run left half-typed on the card's input line, but it also interrupts code
   * the card is running, so it never goes first (it would cut a boot short).
   */
  async probe(backlogMs = 0): Promise<Probe> {
    try {
      return await this.probeOnce("", backlogMs);
    } catch (e) {
      if (!(e instanceof NoAnswer)) throw e;
    }
    try {
      return await this.probeOnce("\x03", 0);
    } catch (e) {
      if (e instanceof NoAnswer && this.link.isOpen && this.link.received().trim() !== "") {
        throw new ToolError(`what answers on ${this.link.port} is not an Espruino console`, "check that the port is the card's (and the baud rate)");
      }
      throw e;
    }
  }

  private async probeOnce(first: string, backlogMs: number): Promise<Probe> {
    this.link.mark();
    // Concatenated on the card, so an echo of the line is never taken for the answer.
    await this.link.write(`${first}${DLE}print("<<ink"+"probe>>")\n`, "probing its console");
    // A locked console answers any line with "Invalid password" and then its prompt: wait for the prompt, the end of it.
    return this.link.until((s) => (s.includes("<<inkprobe>>") ? "console" : /password>/.test(s) ? "locked" : undefined), "probing its console", backlogMs);
  }

  /**
   * Who the card is. Throws a clear error when no inkcard firmware answers. Like every request the
   * card answers once a panel refresh under way has ended (the boot screen's, seconds on a card):
   * it may take up to the link's boot deadline more than the line alone.
   */
  async identify(): Promise<Identity> {
    try {
      return await this.request("ink-id", "asking who it is", Identity, this.link.bootMs);
    } catch (e) {
      // Silence from a console that still answers a probe: nothing listens for ink-id.
      if (e instanceof ToolError && /did not answer/.test(e.problem) && (await this.probe().then(() => true, () => false))) {
        throw new ToolError(`the card on ${this.link.port} runs no inkcard firmware`, `flash it first: inkcard flash --port ${this.link.port}`);
      }
      throw e;
    }
  }

  /** Write the profile record to the staging file, whole, in one Storage.write. */
  async stage(file: string, record: Uint8Array): Promise<void> {
    await this.run(`require("Storage").write(${JSON.stringify(file)},atob("${Buffer.from(record).toString("base64")}"))`, "writing the profile");
  }

  /** Have the card install the staged profile; the digest of the live profile after it. */
  async install(): Promise<{ installed: boolean; profile: string }> {
    return this.request("ink-install", "installing the profile", Installed, this.link.bootMs); // waits for a refresh, as identify()
  }

  /** Set the card's clock (seconds since 1970), for time-mode codes. */
  async setTime(seconds: number): Promise<void> {
    await this.run(`setTime(${Math.floor(seconds)})`, "setting its clock");
  }

  /**
   * A button press that tells the code it showed ("" when the card refused to
   * make one). The card answers once the press has run, and a press waits for
   * a panel refresh under way (the boot screen's, seconds on a card): it may
   * take up to the link's boot deadline more than a plain request.
   */
  async code(): Promise<string> {
    return (await this.request("ink-code", "computing its first code", Code, this.link.bootMs)).code;
  }

  /** Write the console password and boot again: the firmware then locks the console. */
  async lock(file: string, password: string): Promise<void> {
    if (!isConsolePassword(password)) throw new Error("a console password is 20 lower-case hex digits"); // the card's own rule
    const { locked } = await this.reboot(`require("Storage").write(${JSON.stringify(file)},"${password}");`, "locking its console");
    if (!locked) throw new ToolError("the card did not lock its console", "run the same command again");
  }

  /** True when the console refuses to run a line (asks for its password). */
  async isLocked(): Promise<boolean> {
    this.link.mark();
    await this.link.write(`${DLE}print("<<ink"+"open>>")\n`, "checking its console lock");
    return this.link.until((s) => (s.includes("<<inkopen>>") ? false : /password>/.test(s) ? true : undefined), "checking its console lock");
  }

  /** Log in to a locked console. */
  async unlock(password: string): Promise<void> {
    // End whatever was typed at the password prompt, and wait for the prompt it brings back:
    // what the card says to that line must not be taken for its answer to the password.
    this.link.mark();
    await this.link.write("\n", "logging in to its console");
    await this.link.until((s) => (/password>/.test(s) ? true : undefined), "logging in to its console");
    this.link.mark();
    await this.link.write(`${password}\n`, "logging in to its console");
    const ok = await this.link.until((s) => (/Logged in/.test(s) ? true : /Invalid password/.test(s) ? false : undefined), "logging in to its console");
    if (!ok) throw new ToolError("the card refused its console password", "it is not the card the issuer thinks: check --card");
  }

  /** The Espruino version the card runs (process.env.VERSION, e.g. "2v29"). */
  async espruinoVersion(): Promise<string> {
    this.link.mark();
    await this.link.write(`${DLE}print("<<ink"+"ver:"+process.env.VERSION+">>")\n`);
    return this.link.until((s) => /<<inkver:([0-9v.]{1,20})>>/.exec(s)?.[1], "asking its Espruino version", 5000);
  }

  /** SHA-256 of the boot code the card stores (.bootcde), hex; "" when it has none. */
  async bootCodeSha256(): Promise<string> {
    this.link.mark();
    await this.link.write(
      `${DLE}(function(){var c=require("Storage").read(".bootcde"),s="";if(c!==undefined){var h=new Uint8Array(require("crypto").SHA256(c));` +
        `for(var i=0;i<h.length;i++)s+=(256+h[i]).toString(16).substr(1);}print("<<ink"+"sha:"+s+">>");})()\n`,
    );
    return this.link.until((s) => /<<inksha:([0-9a-f]{64})?>>/.exec(s)?.[1] ?? (/<<inksha:>>/.test(s) ? "" : undefined), "hashing its boot code", 5000);
  }

  /** Restart the interpreter from flash (load()): what the card does at power-up. Returns what it printed meanwhile. */
  async restart(): Promise<string> {
    const { locked, output } = await this.reboot("", "restarting it");
    if (locked) throw new ToolError("the card locked its console as it restarted: it holds a console password", "an issued card is not flashed over serial; erase it through SWD first");
    return output;
  }

  /**
   * Run `code`, then load(), and wait until the card is back: polled, up to
   * the link's bootMs, never a pause sized for some card. The card runs lines
   * queued before load() takes effect on the old program, and keeps those
   * that come during its boot for after it, so each probe line asks whether
   * a mark set in RAM by the load() line is still there: load() wipes RAM.
   * One answered from the old program means "again"; a probe with no answer
   * in the answer time is sent again (its bytes may have gone in the restart);
   * a password prompt means the card came back locked. Nothing here sends
   * Ctrl-C: it would cut the boot short. What the card printed on the way
   * (an Uncaught error from its boot) is returned.
   */
  private async reboot(code: string, doing: string): Promise<{ locked: boolean; output: string }> {
    const by = Date.now() + this.link.bootMs;
    this.link.mark();
    await this.link.write(`${DLE}${code}global.inkOld=1;load()\n`, doing);
    let output = "";
    for (;;) {
      output += this.link.received();
      this.link.mark();
      await this.link.write(`${DLE}print("<<ink"+(global.inkOld?"old":"new")+">>")\n`, doing);
      let back: "old" | "new" | "locked";
      try {
        back = await this.link.until(
          (s) => (s.includes("<<inknew>>") ? "new" : /password>/.test(s) ? "locked" : s.includes("<<inkold>>") ? "old" : undefined),
          doing,
          0,
          by,
        );
      } catch (e) {
        if (!(e instanceof NoAnswer)) throw e;
        if (Date.now() < by) continue;
        throw new NoAnswer(
          `the card on ${this.link.port} did not come back within ${Math.round(this.link.bootMs / 1000)} s of its restart while ${doing}`,
          "check that it is plugged in and powered, then run the command again (a card slower than that: raise --boot-timeout)",
        );
      }
      if (back !== "old") return { locked: back === "locked", output: output + this.link.received() };
    }
  }

  /** One line of code, followed by a marker that shows it ran (an Uncaught error is reported instead). */
  private async run(code: string, doing: string, extraMs?: number): Promise<void> {
    this.link.mark();
    await this.link.write(`${DLE}${code};print("<<ink"+"done>>")\n`, doing);
    const error = await this.link.until((s) => (s.includes("<<inkdone>>") ? "" : cardError(s)), doing, extraMs);
    if (error) throw new ToolError(`the card failed while ${doing}: ${error}`, "run the same command again; if it fails again, flash the card again");
  }

  private async request<T>(event: string, doing: string, schema: z.ZodType<T>, extraMs = 0): Promise<T> {
    this.link.mark();
    await this.link.write(`${DLE}E.emit(${JSON.stringify(event)})\n`, doing);
    let line: string;
    try {
      line = await this.link.until((s) => /\[inkcard [^\r\n]*\]/.exec(s)?.[0] ?? cardError(s)?.replace(/^/, "!"), doing, extraMs);
    } catch (e) {
      if (this.link.received().includes("[inkcard")) throw new ToolError(`the card's answer was cut off while ${doing}`, GARBLED_TODO);
      throw e;
    }
    if (line.startsWith("!")) throw new ToolError(`the card failed while ${doing}: ${line.slice(1)}`, "run the same command again");
    return parseReply(line, schema, doing);
  }
}

/** `[inkcard {json} crc]` -> the checked value. */
export function parseReply<T>(line: string, schema: z.ZodType<T>, doing: string): T {
  const m = /^\[inkcard (\{.*\}) ([0-9a-f]{1,8})\]$/.exec(line);
  const garbled = new ToolError(`the card's answer was garbled while ${doing}`, GARBLED_TODO);
  if (!m || crc32(Buffer.from(m[1], "latin1")) !== parseInt(m[2], 16)) throw garbled;
  let value: unknown;
  try {
    value = JSON.parse(m[1]);
  } catch {
    throw garbled;
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw garbled;
  return parsed.data;
}

export function isDigest(s: string): boolean {
  return HEX64.test(s);
}
