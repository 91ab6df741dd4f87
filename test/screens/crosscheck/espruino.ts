/**
 * Runs a TypeScript entry file on the Espruino interpreter for Linux: bundled,
 * downlevelled to ES5 and minified (the interpreter keeps a program's text in
 * RAM, and the 2,630-variable build has little of it).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as esbuild from "esbuild";
import ts from "typescript";

const RUNNER = "/work/shared/tools/run-espruino.sh";

export async function bundleForEspruino(entry: string): Promise<string> {
  const out = await esbuild.build({ entryPoints: [entry], bundle: true, write: false, format: "iife", platform: "neutral", target: "esnext", logLevel: "silent" });
  const es5 = ts.transpileModule(out.outputFiles[0].text, {
    compilerOptions: { target: ts.ScriptTarget.ES5, module: ts.ModuleKind.None, removeComments: true },
  });
  return (await esbuild.transform(es5.outputText, { minify: true, target: "es5", charset: "ascii" })).code;
}

/** The program's output; throws if it failed or printed an Uncaught error. */
export function runOnEspruino(bin: string, code: string): string {
  const dir = mkdtempSync(join(tmpdir(), "inkcard-espruino-"));
  try {
    const file = join(dir, "program.js");
    writeFileSync(file, code);
    return execFileSync(RUNNER, ["-t", "120", file], { env: { ...process.env, ESPRUINO: bin }, encoding: "utf8" });
  } finally {
    rmSync(dir, { recursive: true });
  }
}
