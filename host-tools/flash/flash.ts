/**
 * `inkcard flash`: put dist/firmware.js on a card as its boot code and prove
 * it is there and runs.
 *
 *   1. build the bundle if it is missing or stale
 *   2. look at the port: an Espruino console that is not locked (an issued
 *      card's console is locked: it is never flashed over serial), running
 *      Espruino 2v26 or later (the bundle is pretokenised: build/tokens.ts)
 *   3. upload with the espruino package (espruino.ts), progress shown
 *   4. read back the SHA-256 of the stored boot code; compare with the file's
 *   5. restart the card from flash (load()), wait until it is back (polled,
 *      up to bootMs: a card boots far slower than a PC), check it printed no
 *      `Uncaught` and that the firmware answers with the version just flashed
 */
import { readFileSync } from "node:fs";
import { ensureFirmwareBuilt } from "../build/ensure.ts";
import { cardError, ToolError } from "../lib/errors.ts";
import { CardConsole } from "../serial/card-console.ts";
import { Link } from "../serial/link.ts";
import { uploadBootCode } from "./espruino.ts";
import { ESPRUINO_MIN } from "../build/tokens.ts";

/** "2v29" >= "2v26"; "2v25.396" (a cutting-edge build) < "2v26". */
export function espruinoAtLeast(version: string, min: string): boolean {
  const parse = (v: string) => (/^(\d+)v(\d+)(?:\.(\d+))?$/.exec(v) ?? []).slice(1, 4).map((x) => Number(x ?? 0));
  const [a, b] = [parse(version), parse(min)];
  if (a.length !== 3) return false;
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return true;
}

export interface FlashOptions {
  port: string;
  baud: number;
  /** The firmware version the bundle carries (package.json's). */
  firmware: string;
  /** Progress lines (never the code itself). */
  log: (line: string) => void;
  /** Upload progress, bytes. */
  progress?: (sent: number, total: number) => void;
  /** EspruinoTools' own log (--verbose). */
  toolLog?: (line: string) => void;
  /** How long the card may take to restart and answer again, ms (default: the link's BOOT_MS). */
  bootMs?: number;
}

export interface Flashed {
  port: string;
  file: string;
  bytes: number;
  sha256: string;
  firmware: string;
  board: string;
  chipSerial: string;
}

export async function flashCard(o: FlashOptions): Promise<Flashed> {
  const built = await ensureFirmwareBuilt(o.log);
  const code = readFileSync(built.file, "latin1");

  await withConsole(o, async (con) => {
    // A card just plugged in may still be booting: its answer may take up to the boot deadline.
    if ((await con.probe(con.link.bootMs)) === "locked") {
      throw new ToolError(`the card on ${con.link.port} has a locked console: it is an issued card`, "an issued card is not flashed over serial; erase it through SWD first");
    }
    // The bundle is pretokenised (build/tokens.ts): an older Espruino would misread it.
    const version = await con.espruinoVersion();
    if (!espruinoAtLeast(version, ESPRUINO_MIN)) {
      throw new ToolError(`the card runs Espruino ${version}; this firmware needs ${ESPRUINO_MIN} or later`, "update the card's Espruino (espruino.com/Download), then flash again");
    }
  });

  o.log(`uploading ${built.bytes} bytes of boot code`);
  await uploadBootCode({ port: o.port, baud: o.baud, code, progress: o.progress, log: o.toolLog });

  return withConsole(o, async (con) => {
    // The upload may still be on the wire (buffered in the adapter, the OS, a serial server) or queued
    // on the card behind its reset() (which runs .boot0, if any): the probe's line waits behind it, up to
    // the boot deadline, before any Ctrl-C that would cut a Storage write short.
    await con.probe(con.link.wireMs(Buffer.byteLength(code)) + con.link.bootMs);
    const stored = await con.bootCodeSha256();
    if (stored !== built.sha256) {
      throw new ToolError(
        stored ? "the boot code read back from the card differs from dist/firmware.js" : "the card holds no boot code after the upload",
        "flash it again; check the cable (and try a lower --baud)",
      );
    }
    o.log("boot code verified (SHA-256 read back); restarting the card");
    const output = await con.restart(); // polls until the restarted card answers, up to bootMs
    const error = cardError(output);
    if (error) throw new ToolError(`the firmware failed as the card booted: ${error}`, "this firmware does not run on this board: check espruino.config.js");
    const id = await con.identify();
    const later = cardError(con.link.received());
    if (later) throw new ToolError(`the firmware failed as the card booted: ${later}`, "this firmware does not run on this board: check espruino.config.js");
    if (id.fw !== o.firmware) throw new ToolError(`the card runs firmware ${id.fw} after flashing ${o.firmware}`, "flash it again");
    return { port: con.link.port, file: built.file, bytes: built.bytes, sha256: built.sha256, firmware: id.fw, board: id.board, chipSerial: id.serial };
  });
}

async function withConsole<T>(o: FlashOptions, fn: (con: CardConsole) => Promise<T>): Promise<T> {
  const link = await Link.open({ port: o.port, baud: o.baud, bootMs: o.bootMs });
  try {
    return await fn(new CardConsole(link));
  } finally {
    await link.close();
  }
}
