/**
 * Byte equality of the Graphics emulation with the real Espruino interpreter.
 *
 *   npx tsx test/screens/crosscheck/crosscheck.ts          compare
 *   npx tsx test/screens/crosscheck/crosscheck.ts --save   also store what the
 *                                                          interpreter drew in ref/espruino.json
 *
 * Runs cases.ts on the interpreter (../shared/espruino/espruino-2630 beside the
 * repository, or the binaries in ESPRUINO_BINS=a:b) and in Node on sim/board/graphics.ts. The
 * 2,630-variable build cannot hold all the cases' code at once; memory.ts
 * runs the screens on it. CI has no interpreter: graphics.test.ts checks the
 * emulation against the stored ref/espruino.json instead.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleForEspruino, runOnEspruino } from "./espruino.ts";
import { runCases, saveReference, type CaseOutput } from "./reference.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const BINS = (process.env.ESPRUINO_BINS ?? fileURLToPath(new URL("../../../../shared/espruino/espruino-2630", import.meta.url))).split(":");

function parse(output: string, bin: string): CaseOutput[] {
  const cases: CaseOutput[] = [];
  let done = false;
  for (const line of output.split("\n")) {
    const [tag, a, b] = line.split("\t");
    if (tag === "CASE") cases.push({ name: a, values: b ? b.split(",").map(Number) : [], buffer: "" });
    else if (tag === "DATA") cases[cases.length - 1].buffer += a;
    else if (tag === "DONE") done = true;
  }
  if (!done) throw new Error(`${bin} did not finish:\n${output.slice(-2000)}`);
  return cases;
}

async function main(): Promise<number> {
  const bins = BINS.filter((b) => existsSync(b));
  if (bins.length === 0) {
    console.error(`no Espruino interpreter at ${BINS.join(", ")}`);
    return 2;
  }
  const program = await bundleForEspruino(join(HERE, "espruino-main.ts"));
  const emulated = runCases();
  let failures = 0;
  let reference: CaseOutput[] | undefined;
  for (const bin of bins) {
    const real = parse(await runOnEspruino(bin, program), bin);
    reference ??= real;
    for (const [i, e] of emulated.entries()) {
      const r = real[i];
      const same = r && r.name === e.name && r.buffer === e.buffer && r.values.join() === e.values.join();
      if (!same) failures++;
      console.log(`${same ? "same" : "DIFFERENT"}  ${bin.split("/").pop()}  ${e.name}`);
      if (!same && r) {
        const a = Buffer.from(r.buffer, "base64");
        const b = Buffer.from(e.buffer, "base64");
        const first = a.findIndex((v, k) => v !== b[k]);
        console.log(`    espruino values ${r.values} emulated ${e.values}; first differing byte ${first} (${a[first]} vs ${b[first]})`);
      }
    }
  }
  if (process.argv.includes("--save") && reference) {
    saveReference(reference);
    console.log("saved the interpreter's buffers to test/screens/ref/espruino.json");
  }
  console.log(failures ? `${failures} case(s) differ` : "the emulation draws every case byte for byte as Espruino does");
  return failures ? 1 : 0;
}

process.exitCode = await main();
