/**
 * Build dist/firmware.js only when it is stale. This module is cheap to import:
 * the compiler (build.ts, with TypeScript and esbuild, about a second to load)
 * is imported only when a build is due, so the simulator and the flash tool
 * start at once when the bundle is current.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { DEFAULT_CONFIG } from "../config.ts";
import type { BuildResult } from "./build.ts";
import { DIST_FILE, FIRMWARE_DIR, ROOT } from "./paths.ts";

/** Files whose change makes dist/firmware.js stale. */
function buildInputs(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
  return [...walk(FIRMWARE_DIR), ...walk(join(ROOT, "host-tools", "build")), join(ROOT, "host-tools", "config.ts"), DEFAULT_CONFIG, join(ROOT, "package.json")];
}

/**
 * Build dist/firmware.js when it is missing or older than any input (firmware/,
 * espruino.config.js, package.json, the build itself). The simulator and the flash
 * tool call this, so they always run what the sources say.
 */
export async function ensureFirmwareBuilt(log?: (line: string) => void): Promise<BuildResult & { built: boolean }> {
  let builtAt = -1;
  try {
    builtAt = statSync(DIST_FILE).mtimeMs;
  } catch { /* missing: build */ }
  const newest = Math.max(...buildInputs().map((f) => statSync(f).mtimeMs));
  if (builtAt >= newest) {
    const code = readFileSync(DIST_FILE);
    return { file: DIST_FILE, bytes: code.length, sha256: createHash("sha256").update(code).digest("hex"), built: false };
  }
  const { buildFirmware } = await import("./build.ts");
  const result = await buildFirmware();
  log?.(`built ${relative(process.cwd(), result.file)}: ${result.bytes} bytes`);
  return { ...result, built: true };
}
