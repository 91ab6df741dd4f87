/**
 * The firmware bundle against its budget (host-tools/build/build.ts BUDGET_BYTES: the MDBT42Q's
 * 40 KB of Storage less one page for what the card keeps).
 * Run: node --import tsx bench/bundle.ts   (builds dist/firmware.js first if it is stale)
 *
 * The gzip size is for reference only: Espruino keeps and parses the text as is.
 */
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { BUDGET_BYTES } from "../host-tools/build/build.ts";
import { ensureFirmwareBuilt } from "../host-tools/build/ensure.ts";

export interface BundleMeasure {
  bytes: number;
  budgetBytes: number;
  /** bytes / budgetBytes: at most 1 passes. */
  ratio: number;
  gzipBytes: number;
  sha256: string;
}

export async function measureBundle(): Promise<BundleMeasure> {
  const built = await ensureFirmwareBuilt();
  const gzipBytes = gzipSync(readFileSync(built.file), { level: 9 }).length;
  return { bytes: built.bytes, budgetBytes: BUDGET_BYTES, ratio: built.bytes / BUDGET_BYTES, gzipBytes, sha256: built.sha256 };
}

export function report(m: BundleMeasure): string {
  return [
    `bundle    ${m.bytes} bytes = ${m.ratio.toFixed(3)} x the budget of ${m.budgetBytes} bytes (${m.ratio <= 1 ? "within" : "OVER"})`,
    `gzip -9   ${m.gzipBytes} bytes (reference only)`,
    `sha256    ${m.sha256}`,
    // Memory (Espruino variables at idle and during a press, against the card's ~2,630)
    // is measured on the real interpreter, not here: this script reports no memory figure.
    `memory    not measured by this script`,
  ].join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    console.log(report(await measureBundle()));
  } catch (e) {
    console.error(`bench/bundle: ${(e as Error).message}`); // a build that fails has no size
    process.exitCode = 1;
  }
}
