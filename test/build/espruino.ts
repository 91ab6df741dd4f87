/**
 * Run a script on the Espruino interpreter built for Linux (the ground truth for
 * what the card runs). Its stdin gets an endless trickle of empty lines: at end
 * of file the Linux build spins and its memory use climbs. It exits by itself
 * once no timer is left. Set ESPRUINO to the binary; default: ../espruino-bin/espruino-2630
 * beside the repository (never part of it).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ESPRUINO = process.env.ESPRUINO ?? fileURLToPath(new URL("../../../espruino-bin/espruino-2630", import.meta.url));
export const haveEspruino = (bin = ESPRUINO) => existsSync(bin);

export interface EspruinoRun {
  /** What the script printed: banner, prompts and escape codes removed. */
  output: string;
  exitCode: number | null;
  /** An uncaught error, even in a callback (those do not stop the interpreter). */
  failed: boolean;
}

export function runOnEspruino(code: string, bin = ESPRUINO, timeoutMs = 20_000): Promise<EspruinoRun> {
  const dir = mkdtempSync(join(tmpdir(), "inkcard-espruino-"));
  writeFileSync(join(dir, "script.js"), code);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ["script.js"], { cwd: dir }); // Storage lands in dir/espruino.flash
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
