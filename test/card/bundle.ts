/**
 * A TypeScript entry as the card would run it: bundled by esbuild (CommonJS,
 * so require("crypto") stays a call to Espruino's module), downlevelled to
 * ES5 by TypeScript with function declarations hoisted, wrapped in one
 * function and minified for ES5: the stages of host-tools/build/build.ts,
 * without the firmware's entry rules. Minified names matter on the card:
 * Espruino reads the source text as it runs, so timings of unminified code
 * would be pessimistic.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as esbuild from "esbuild";
import ts from "typescript";
import { hoistFunctionDeclarations } from "../../host-tools/build/hoist.ts";
import { Interpreter, bootFromStorage, textBytes, writeStorage } from "../../host-tools/lib/interpreter.ts";

/** define: esbuild's, to put values into the program (a seed, the cases' count). */
export async function bundleForCard(entry: string, define: Record<string, string> = {}): Promise<string> {
  const out = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: "cjs",
    external: ["crypto", "Storage"],
    platform: "neutral",
    target: "esnext",
    minifySyntax: true,
    define,
    logLevel: "silent",
  });
  const es5 = ts.transpileModule(out.outputFiles[0].text, {
    transformers: { after: [hoistFunctionDeclarations] },
    compilerOptions: { target: ts.ScriptTarget.ES5, module: ts.ModuleKind.ESNext, removeComments: true, noEmitHelpers: true },
  });
  const wrapped = `(function(){\n${es5.outputText}\n})();\n`;
  return (await esbuild.transform(wrapped, { minify: true, target: "es5", charset: "ascii", legalComments: "none" })).code;
}

/**
 * Run a bundle the way the card runs its firmware: written to Storage as
 * `.bootcde` and booted, so the functions' code stays in (memory-mapped)
 * flash rather than in the 2,630 variables (a script given as an argument
 * is read into RAM whole, and 10 KB of program does not fit that way).
 * Returns the output up to the first line matching `done`; throws on an
 * error in the output or after ms.
 */
export async function runFromStorage(code: string, done: RegExp, ms: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "inkcard-card-"));
  let repl: Interpreter | undefined;
  try {
    await writeStorage(dir, [[".bootcde", textBytes(code)]]);
    repl = await bootFromStorage(dir);
    await repl.waitFor(done, ms);
    repl.check("running the bundle");
    return repl.output;
  } finally {
    await repl?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}
