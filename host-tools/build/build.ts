/**
 * firmware/ -> dist/firmware.js, the one file Espruino runs.
 *
 *   typecheck (firmware/tsconfig.json) + source gate      reject what the card cannot run
 *   esbuild bundles of main.ts and each engine, board     scripts, ESNext
 *     injected
 *   TypeScript transpile to ES5, Espruino-safe helpers    no ES2015+ syntax left
 *     and function declarations hoisted                   Espruino does not hoist
 *     module constants inlined                            each one left is RAM (constants.ts)
 *     error messages numbered                             the table beside the bundle (errors.ts)
 *   each engine's code wrapped in its function            see below
 *   esbuild minify (target es5), wrapped in one function  small and deterministic
 *     the firmware's own property names shortened         (mangle.ts); the board's JSON once
 *   bundle gate (acorn, ecmaVersion 5)                     the last word on what ships
 *   pretokenised (EspruinoTools, tokens.ts)               a fifth smaller; Espruino 2v26 on
 *
 * Shell and engines: Espruino keeps every function object a program creates in
 * RAM (code stays in flash; each function object, its scope and the data it
 * holds cost variables), so firmware/main.ts is a small shell that stays
 * loaded, and each engine (ENGINES below: the card's, the link's, the
 * panel's) is bundled on its own and placed, whole, inside
 *   function INKCARD_ENGINE(INKCARD_STATE, INKCARD_ENGINE_OUT) { <engine>; return INKCARD_ENGINE_OUT; }
 * (INKCARD_LINK, INKCARD_PANEL the same), which the shell calls when it needs
 * that engine and drops afterwards: at idle no engine's functions exist.
 * (The second parameter, never passed, is the engine's local result: a `var`
 * would come before the engine's function declarations, which Espruino does
 * not hoist.) An engine's modules are evaluated anew at each call, so
 * module-level state there lasts one engine; what must last longer is in
 * INKCARD_STATE, which the shell keeps. A module two entries import is in
 * both bundles, each copy with its own state (sharing one copy cost more RAM
 * than the flash it saved: docs/dynamic-data.md). A firmware without an
 * engine's file (the test fixtures) has no such function.
 *
 * Everything runs locally and is deterministic: the same sources give the same bytes.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import * as esbuild from "esbuild";
import ts from "typescript";
import type { BoardConfig } from "../../firmware/board-config.ts";
import { loadBoardConfig } from "../config.ts";
import { gateBundle } from "./bundle-gate.ts";
import { gateProgram } from "./gate.ts";
import { REQUIRE_MODULES } from "./globals.ts";
import { helpersFor } from "./helpers.ts";
import { hoistFunctionDeclarations } from "./hoist.ts";
import { inlineConstants } from "./constants.ts";
import { internalProperties } from "./mangle.ts";
import { ERROR_DEFINITION, type ErrorTable, errorTableJson, shortErrors } from "./errors.ts";
import { firmwareProgram, typeErrors } from "./typecheck.ts";
import { tokenise } from "./tokens.ts";
import { byPosition, formatViolation } from "./violation.ts";
import { VERSION } from "../lib/version.ts";
import { DIST_FILE, FIRMWARE_DIR, ROOT } from "./paths.ts";

export { DIST_FILE, FIRMWARE_DIR, ROOT } from "./paths.ts";
/**
 * The bundle is Storage's .bootcde, and the MDBT42Q's Storage is 40 KB (ten
 * 4 KB pages) for it and everything the card keeps; a file that does not fit
 * is a press or a payment that fails. The bundle may take all but one page:
 * the other holds the profile (232 bytes in Storage), two counter files
 * while one rolls over (2 x 1,076, core/counter.ts), the pairing's two link
 * records (2 x 72), the lock file, and about 1.5 KB for what document A adds.
 * test/core/powercut.test.ts presses a counter through rollovers beside a
 * bundle of exactly this size.
 */
export const BUDGET_BYTES = 36 * 1024;

export interface BuildOptions {
  /** espruino.config.js to inject (default: the repository's). */
  config?: string;
  /** Where to write the bundle (default: dist/firmware.js). */
  outFile?: string;
  budgetBytes?: number;
  /** A firmware tree with main.ts, tsconfig.json and core/ (default: firmware/). For tests. */
  firmwareDir?: string;
}

export interface BuildResult {
  file: string;
  bytes: number;
  sha256: string;
}

/** A build that failed; `details` holds one line per problem (file:line:column: ...). */
export class BuildError extends Error {
  override name = "BuildError";
  constructor(summary: string, readonly details: string[] = []) {
    super([summary, ...details].join("\n"));
  }
}

export async function buildFirmware(opts: BuildOptions = {}): Promise<BuildResult> {
  const firmwareDir = resolve(opts.firmwareDir ?? FIRMWARE_DIR);
  const file = resolve(opts.outFile ?? DIST_FILE);
  const budget = opts.budgetBytes ?? BUDGET_BYTES;
  const board = await loadBoardConfig(opts.config);
  const errors: ErrorTable = [];
  // Pretokenised (tokens.ts): the bytes the card stores and runs, latin1 one byte per character.
  const code = Buffer.from(tokenise(await compileFirmware(firmwareDir, board, VERSION, relative(ROOT, file), errors)), "latin1");
  const bytes = code.length;
  if (bytes > budget) {
    throw new BuildError(`${relative(ROOT, file)} would be ${bytes} bytes: over the budget of ${budget} bytes by ${bytes - budget}`);
  }
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, code);
  renameSync(tmp, file); // readers never see half a file
  writeFileSync(tmp, errorTableJson(errors));
  renameSync(tmp, errorsFile(file));
  return { file, bytes, sha256: createHash("sha256").update(code).digest("hex") };
}

/** Where the build puts the table of the bundle's error messages (errors.ts): dist/firmware.errors.json. */
export function errorsFile(bundle: string): string {
  return bundle.replace(/\.js$/, "") + ".errors.json";
}

/** The bundle's source, before it is pretokenised: every other stage of the pipeline, without writing anything; `messages` gets the error messages (errors.ts). */
export async function compileFirmware(firmwareDir: string, board: BoardConfig, version: string, label = "dist/firmware.js", messages: ErrorTable = []): Promise<string> {
  const entry = join(firmwareDir, "main.ts");
  const tsconfig = join(firmwareDir, "tsconfig.json");
  if (!existsSync(entry)) throw new BuildError(`${relative(ROOT, entry)} does not exist: it is the firmware's entry point`);

  const program = firmwareProgram(tsconfig);
  const errors = typeErrors(program, ROOT);
  const violations = gateProgram(program, { coreDir: join(firmwareDir, "core"), root: ROOT }).sort(byPosition);
  if (errors.length || violations.length) {
    throw new BuildError(
      `firmware rejected: ${errors.length} type error(s), ${violations.length} construct(s) Espruino cannot run`,
      [...errors, ...violations.map(formatViolation)],
    );
  }

  const define = {
    INKCARD_BOARD: JSON.stringify(board),
    INKCARD_VERSION: JSON.stringify(version),
  };
  const shell = await toEs5(entry, tsconfig, define, messages);
  // The engines (see the header): each its own bundle, so its modules' code runs only inside its wrapper.
  let engines = "";
  let fns = "";
  for (const [file, name] of ENGINES) {
    const path = join(firmwareDir, file);
    if (!existsSync(path)) continue;
    const engine = await toEs5(path, tsconfig, define, messages);
    engines += engine;
    fns += `function ${name}(INKCARD_STATE, INKCARD_ENGINE_OUT) {\n${engine}\nreturn INKCARD_ENGINE_OUT;\n}\n`;
  }

  const mangle = internalProperties(program, firmwareDir + sep);
  // The board's JSON once, for the shell and the engines, in a function: its text stays in flash and each reader's copy is garbage after use (board.ts readBoard).
  const readBoard = `function INKCARD_READ_BOARD(){return JSON.parse(${JSON.stringify(JSON.stringify(board))})}\n`;
  const errorFn = messages.length ? ERROR_DEFINITION : "";
  const wrapped = `(function(){\n${helpersFor(engines + shell)}\n${errorFn}${readBoard}${fns}${shell}\n})();\n`;
  const minified = await esbuild.transform(wrapped, {
    loader: "js",
    minify: true,
    target: "es5",
    charset: "ascii",
    legalComments: "none",
    logLevel: "silent",
    mangleProps: mangle.length ? new RegExp(`^(?:${mangle.join("|")})$`) : undefined,
  }).catch((e: esbuild.TransformFailure) => {
    throw new BuildError("esbuild could not minify the ES5 bundle", (e.errors ?? []).map(esbuildMessage));
  });

  const gated = gateBundle(minified.code, label);
  if (gated.length) throw new BuildError("the built bundle has constructs Espruino cannot run", gated.map(formatViolation));
  return minified.code;
}

/**
 * The engines: each file, when the firmware has it, becomes the function of that name.
 * engine.ts is the card's (a press, the panel); link-engine.ts the Bluetooth link's (document C),
 * built while a phone writes and never beside the other (firmware/main.ts).
 */
const ENGINES: ReadonlyArray<readonly [string, string]> = [
  ["engine.ts", "INKCARD_ENGINE"],
  ["link-engine.ts", "INKCARD_LINK"],
  ["panel-engine.ts", "INKCARD_PANEL"],
];

/** One entry bundled by esbuild (board injected) and downlevelled to ES5: constants inlined, error messages numbered into `errors`, functions hoisted. */
async function toEs5(entry: string, tsconfig: string, define: Record<string, string>, errors: ErrorTable): Promise<string> {
  const bundled = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    // CommonJS leaves require("Storage") as it is (ESM would wrap it in a shim that needs Proxy).
    // No wrapper: the function added by compileFirmware scopes everything, so the minifier renames it all.
    format: "cjs",
    external: [...REQUIRE_MODULES],
    platform: "neutral",
    target: "esnext",
    // Folds what it can within a module; constants.ts then inlines module constants across them.
    minifySyntax: true,
    tsconfig,
    absWorkingDir: ROOT,
    define,
    sourcemap: false,
    legalComments: "none",
    logLevel: "silent",
  }).catch((e: esbuild.BuildFailure) => {
    throw new BuildError(`esbuild could not bundle ${relative(ROOT, entry)}`, (e.errors ?? []).map(esbuildMessage));
  });
  const esnext = bundled.outputFiles[0]?.text ?? "";
  if (/\bmodule\.exports\b/.test(esnext)) throw new BuildError(`${relative(ROOT, entry)} must not export anything but types: it is a program`);

  const es5 = ts.transpileModule(esnext, {
    fileName: "firmware.js",
    reportDiagnostics: true,
    transformers: { before: [shortErrors(errors), inlineConstants()], after: [hoistFunctionDeclarations] },
    compilerOptions: {
      target: ts.ScriptTarget.ES5,
      module: ts.ModuleKind.ESNext,
      noEmitHelpers: true, // helpers.ts provides Espruino-safe ones
      importHelpers: false,
      downlevelIteration: false, // for..of over arrays becomes an index loop, no Symbol.iterator
      useDefineForClassFields: false,
      alwaysStrict: false,
      removeComments: true,
    },
  });
  if (es5.diagnostics?.length) {
    throw new BuildError("TypeScript could not downlevel the bundle to ES5", es5.diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n")));
  }
  return es5.outputText;
}

function esbuildMessage(m: esbuild.Message): string {
  return m.location ? `${m.location.file}:${m.location.line}:${m.location.column + 1}: ${m.text}` : m.text;
}
