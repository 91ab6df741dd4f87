/**
 * Run a script on the Espruino interpreter built for Linux (the ground truth for
 * what the card runs). Its stdin gets an endless trickle of empty lines: at end
 * of file the Linux build spins and its memory use climbs. It exits by itself
 * once no timer is left. The binary: $ESPRUINO, else ../shared/espruino/espruino-2630
 * beside the repository (2v29 with a card's 2,630 variables, run under qemu-i386 near a
 * card's speed; never part of the repository). Tests that need it are pending, with one
 * line saying why, only where neither exists.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ESPRUINO, haveEspruino, writeStorage } from "../../host-tools/lib/interpreter.ts";

export { ESPRUINO, haveEspruino };

/** For a suite's before(): mark it pending, saying why in one line, where there is no interpreter. */
export function requireEspruino(ctx: Mocha.Context): void {
  if (haveEspruino()) return;
  console.log(`      (pending: no Espruino interpreter at ${ESPRUINO}; set ESPRUINO=path/to/espruino-2630)`);
  ctx.skip();
}

export interface EspruinoRun {
  /** What the script printed: banner, prompts and escape codes removed. */
  output: string;
  exitCode: number | null;
  /** An uncaught error, even in a callback (those do not stop the interpreter). */
  failed: boolean;
}

/**
 * code: a script's text, run as the interpreter's argument; or a built bundle's bytes
 * (pretokenised, with NUL bytes a script argument cannot hold), evaluated from Storage as a card
 * boots it.
 */
export async function runOnEspruino(code: string | Uint8Array, bin = ESPRUINO, timeoutMs = 20_000): Promise<EspruinoRun> {
  const dir = mkdtempSync(join(tmpdir(), "inkcard-espruino-"));
  if (typeof code !== "string") {
    await writeStorage(dir, [[".bootcde", code]], bin);
    code = 'eval(require("Storage").read(".bootcde"));'; // evaluated from flash, as a card boots it
  }
  writeFileSync(join(dir, "script.js"), code);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ["script.js"], { cwd: dir }); // Storage is dir/espruino.flash
    const chunks: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => chunks.push(d));
    child.stderr.on("data", (d: Buffer) => chunks.push(d));
    child.stdin.on("error", () => { /* it exited while we were writing */ });
    const feed = setInterval(() => child.stdin.write("\n"), 10);
    const limit = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (exitCode) => {
      clearInterval(feed);
      clearTimeout(limit);
      rmSync(dir, { recursive: true, force: true });
      let text = Buffer.concat(chunks).toString("latin1").replace(/\xf7/g, "").replace(/\r/g, "");
      const banner = text.indexOf("espruino.com/Donate\n");
      if (banner >= 0) text = text.slice(banner + "espruino.com/Donate\n".length);
      text = text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").replace(/^>+/gm, "");
      const output = text.split("\n").filter((l) => l.trim() !== "").join("\n");
      resolve({ output, exitCode, failed: exitCode !== 0 || /Uncaught |OUT OF MEMORY|ASSERT\(|^ERROR:/m.test(output) });
    });
  });
}
