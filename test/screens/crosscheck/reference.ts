/**
 * The cases' results on the emulation, and the interpreter's results stored
 * in test/screens/ref/espruino.json (written by crosscheck.ts --save).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createGraphicsClass } from "../../../sim/board/graphics.ts";
import { CASES, type GraphicsFactory } from "./cases.ts";

export interface CaseOutput {
  name: string;
  values: number[];
  /** The buffer, base64. */
  buffer: string;
}

const FILE = join(dirname(fileURLToPath(import.meta.url)), "..", "ref", "espruino.json");

export function runCases(): CaseOutput[] {
  const Graphics = createGraphicsClass() as unknown as GraphicsFactory;
  return CASES.map((c) => {
    const r = c.run(Graphics, atob);
    return { name: c.name, values: r.values, buffer: Buffer.from(r.g.buffer).toString("base64") };
  });
}

export function loadReference(): CaseOutput[] {
  return JSON.parse(readFileSync(FILE, "utf8")) as CaseOutput[];
}

export function saveReference(cases: CaseOutput[]): void {
  writeFileSync(FILE, JSON.stringify(cases, null, 1) + "\n");
}
