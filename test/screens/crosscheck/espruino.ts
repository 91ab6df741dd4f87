/**
 * Runs a TypeScript entry file on the Espruino interpreter for Linux: bundled,
 * downlevelled to ES5 and minified (the interpreter keeps a program's text in
 * RAM, and the 2,630-variable build has little of it).
 */
import * as esbuild from "esbuild";
import ts from "typescript";
import { runOnEspruino as run } from "../../build/espruino.ts";

export async function bundleForEspruino(entry: string): Promise<string> {
  const out = await esbuild.build({ entryPoints: [entry], bundle: true, write: false, format: "iife", platform: "neutral", target: "esnext", logLevel: "silent" });
  const es5 = ts.transpileModule(out.outputFiles[0].text, {
    compilerOptions: { target: ts.ScriptTarget.ES5, module: ts.ModuleKind.None, removeComments: true },
  });
  return (await esbuild.transform(es5.outputText, { minify: true, target: "es5", charset: "ascii" })).code;
}

/** The program's output; throws if it failed or printed an Uncaught error. */
export async function runOnEspruino(bin: string, code: string): Promise<string> {
  const { output, failed } = await run(code, bin, 120_000);
  if (failed) throw new Error(`${bin} failed:\n${output.slice(-2000)}`);
  return output + "\n";
}
