/**
 * What a button press costs on the real interpreter, against Espruino's own
 * TOTP module (../shared/peers/espruino-totp: TOTP.js, hmac.js, base32.js,
 * MIT; its FixedSHA1 prepares the key pads once, so its generate() is two
 * native SHA-1 calls and a little JavaScript) measured in the same run.
 *
 * Run: npx tsx bench/press.ts [--rounds N] [--codes N] [--presses N] [--bundle FILE]
 * on the interpreter of host-tools/lib/interpreter.ts ($ESPRUINO, else
 * ../shared/espruino/espruino-2630: the i386 build under qemu, near a
 * card's speed). ONE interpreter run boots dist/firmware.js (built first if
 * stale) from Storage as a card does, with a counter-mode SHA-1 profile of a
 * random key (never printed), and then measures, interleaved in rounds:
 *   peer      require("TOTP").create(key).generate(t, 6, 30): ms per code
 *   code      our code computation as the card runs it: core/otp.ts padOtp's
 *             code(c) over the profile's pads, read in place from Storage,
 *             with the card's hashes (hal/crypto.ts); ms per code
 *   press     what a press computes besides: readProfile (the record's
 *             SHA-256 and fields), padOtp's preparation, one code; ms
 *   floor     the two native SHA-1 calls of a code and nothing else: what
 *             neither implementation can go below
 *   panel     press to panel start: E.emit("ink-code") on the real bundle
 *             to the panel driver's first pin write (hooked in .boot0), so
 *             engine build, profile check, counter commit in flash, code and
 *             drawing; ms per press
 * Before any timing, our codes and the peer's are compared for the same key
 * and times (time mode, where the two agree on the counter), so the peer is
 * known to compute correct TOTP-SHA1 and the two do the same work.
 *
 * The core functions are compiled the way the firmware is (esbuild bundle,
 * TypeScript to ES5 with functions hoisted, esbuild minify to ES5: see
 * host-tools/build/build.ts), stored as a Storage file and eval'd from flash.
 * Timings come from getTime() around each loop of N codes, the subjects
 * taking turns in short loops. The machine is shared and timings are noisy:
 * reported are the best round (load from elsewhere only adds time) and the
 * median, and the ratios to the peer: of the bests, and the median of each
 * round's own ratio (the steadier under load). Target (issue 9): code at most 0.5 x peer. Nothing the
 * card prints is echoed: its answer to ink-code holds a code.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import * as esbuild from "esbuild";
import ts from "typescript";
import { ensureFirmwareBuilt } from "../host-tools/build/ensure.ts";
import { helpersFor } from "../host-tools/build/helpers.ts";
import { hoistFunctionDeclarations } from "../host-tools/build/hoist.ts";
import { REQUIRE_MODULES } from "../host-tools/build/globals.ts";
import { loadBoardConfig } from "../host-tools/config.ts";
import { nodeHash } from "../host-tools/lib/hash.ts";
import { ESPRUINO, Interpreter, bootFromStorage, sleep, textBytes as text, writeStorage } from "../host-tools/lib/interpreter.ts";
import { encodeProfile } from "../firmware/core/profile.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const PEER_DIR = join(ROOT, "..", "shared", "peers", "espruino-totp");
const PEER_MODULES = ["base32", "hmac", "TOTP"];
const DIGITS = 6;
const STEP = 30;

/** What bench.js (below) exposes, compiled from the firmware's own sources. */
const ENTRY = `
import { padOtp, timeStep } from "./firmware/core/otp";
import { readProfile } from "./firmware/core/profile";
import { boardHashes } from "./firmware/hal/crypto";
declare let INKBENCH_OUT: object;
INKBENCH_OUT = { padOtp: padOtp, timeStep: timeStep, readProfile: readProfile, hashes: boardHashes(["SHA1", "SHA256"]) };
`;

/** ENTRY as the firmware build compiles its code, as one expression statement defining INKBENCH. */
export async function compileBenchCode(): Promise<string> {
  const bundled = await esbuild.build({
    stdin: { contents: ENTRY, resolveDir: ROOT, loader: "ts", sourcefile: "bench-entry.ts" },
    bundle: true,
    write: false,
    format: "cjs",
    external: [...REQUIRE_MODULES],
    platform: "neutral",
    target: "esnext",
    minifySyntax: true,
    tsconfig: join(ROOT, "firmware", "tsconfig.json"),
    logLevel: "silent",
  });
  const es5 = ts.transpileModule(bundled.outputFiles[0].text, {
    fileName: "bench.js",
    transformers: { after: [hoistFunctionDeclarations] },
    compilerOptions: { target: ts.ScriptTarget.ES5, module: ts.ModuleKind.ESNext, noEmitHelpers: true, alwaysStrict: false, removeComments: true },
  }).outputText;
  const wrapped = `INKBENCH=(function(INKBENCH_OUT){\n${helpersFor(es5)}\n${es5}\nreturn INKBENCH_OUT;\n})();\n`;
  return (await esbuild.transform(wrapped, { loader: "js", minify: true, target: "es5", charset: "ascii", legalComments: "none" })).code;
}

/** RFC 4648 base32, for the peer's create(). */
function base32(bytes: Uint8Array): string {
  const A = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let out = "";
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += A[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return bits ? out + A[(acc << (5 - bits)) & 31] : out;
}

const NRF_STUB = 'if(typeof NRF==="undefined")global.NRF={setServices:function(){}};';
/** T0 is set just before a press; the first panel pin write after it sets T1. */
const PANEL_HOOK = "var T0=0,T1=0;var DW=digitalWrite;global.digitalWrite=function(p,v){if(T0&&!T1)T1=getTime();DW(p,v);};";

/**
 * Timing rounds, run on the interpreter: each round times the peer, our code
 * and our press computation over n codes, in a rotated order, and prints one line.
 */
const ROUNDS_JS = `
function benchRounds(P,S,rounds,n,digits,step){
  var H=INKBENCH.hashes,h=H("SHA1"),s256=H("SHA256"),I=INKBENCH;
  var v=new Uint8Array(S.readArrayBuffer(P));
  var pr=I.readProfile(v,s256);var code=I.padOtp(h,pr.pads,digits);
  var peer=require("TOTP").create(KEY32);
  var t0=1767225600,c0=Math.floor(t0/step);
  function tPeer(){var a=getTime();for(var i=0;i<n;i++)peer.generate(t0+i*step,digits,step);return getTime()-a;}
  function tCode(){var a=getTime();for(var i=0;i<n;i++)code(c0+i);return getTime()-a;}
  function tPress(){var a=getTime();for(var i=0;i<n;i++){var p=I.readProfile(v,s256);I.padOtp(h,p.pads,p.digits)(c0+i);}return getTime()-a;}
  var f=require("crypto").SHA1,ip=pr.pads.subarray(0,64),op=pr.pads.subarray(64),blk=new Uint8Array(8);
  function tFloor(){var a=getTime();for(var i=0;i<n;i++)f([op,f([ip,blk])]);return getTime()-a;}
  var fs=[tPeer,tCode,tPress,tFloor];
  for(var r=0;r<rounds;r++){var ms=[0,0,0,0];for(var j=0;j<4;j++){var k=(r+j)%4;ms[k]=fs[k]()*1000/n;}print("@round "+ms.join(" "));}
  print("@rounds done");
}
function benchAgree(P,S,count,digits,step){
  var H=INKBENCH.hashes,v=new Uint8Array(S.readArrayBuffer(P));
  var pr=INKBENCH.readProfile(v,H("SHA256"));var code=INKBENCH.padOtp(H("SHA1"),pr.pads,digits);
  var peer=require("TOTP").create(KEY32),same=0;
  for(var i=0;i<count;i++){var t=1000000000+i*7919*step+i;if(code(INKBENCH.timeStep(t,step))===peer.generate(t,digits,step))same++;}
  print("@agree "+same+" "+count);
}
`;

export interface PressMeasure {
  peer: number[];
  code: number[];
  press: number[];
  /** Two bare native SHA-1 calls on the parts of one code: what no HMAC-SHA1 code can go below. */
  floor: number[];
  panel: number[];
  /** Codes compared, and how many were the same. */
  agree: [number, number];
}

/** bundleFile: another bundle to boot (default: dist/firmware.js, built first if stale). */
export async function measurePress(bin: string, rounds: number, codes: number, presses: number, bundleFile?: string): Promise<PressMeasure> {
  const board = await loadBoardConfig();
  const bundle = readFileSync(bundleFile ?? (await ensureFirmwareBuilt()).file);
  const bench = await compileBenchCode();
  const key = new Uint8Array(randomBytes(20)); // exists only in this run, never printed
  const profile = encodeProfile(
    { mode: "counter", algorithm: "SHA1", digits: DIGITS, stepSeconds: STEP, startCounter: 0, cardId: "BENCH", key },
    nodeHash("SHA256"),
  );
  const files: Array<[string, Uint8Array]> = [
    [".boot0", text(NRF_STUB + PANEL_HOOK)],
    [".bootcde", bundle],
    [board.storage.profile, profile],
    ["bench.js", text(bench + `var KEY32=${JSON.stringify(base32(key))};` + ROUNDS_JS)],
    ...PEER_MODULES.map((m): [string, Uint8Array] => [`${m}.js`, readFileSync(join(PEER_DIR, `${m}.js`))]),
  ];
  key.fill(0);
  const dir = mkdtempSync(join(tmpdir(), "inkcard-press-"));
  let r: Interpreter | undefined;
  try {
    await writeStorage(dir, files, bin);
    r = await bootFromStorage(dir, bin);
    await sleep(1500); // the boot refresh
    r.check("booting the firmware");

    // Presses first, on the card as booted: nothing else loaded yet.
    const panel: number[] = [];
    for (let i = 0; i < presses; i++) {
      const from = r.output.length;
      r.send('T1=0;T0=getTime();E.emit("ink-code");');
      const answer = await r.waitFor(/\[inkcard \{"code":"(\d*)"\}/, 30_000, from);
      if (!answer[1]) throw new Error("the press made no code (the card did not take the test profile)");
      await sleep(1000); // the refresh
      const ms = await r.value(`panel${i}`, "T1?(T1-T0)*1000:-1");
      if (ms < 0) throw new Error("the press drew nothing: no panel pin write after it");
      panel.push(ms);
    }

    // The peer's modules and ours, from flash (function code stays there, as on a card).
    r.send('var S=require("Storage");' + PEER_MODULES.map((m) => `Modules.addCached(${JSON.stringify(m)},S.read(${JSON.stringify(`${m}.js`)}));`).join("") + 'eval(S.read("bench.js"));');
    let from = r.output.length;
    r.send(`benchAgree(${JSON.stringify(board.storage.profile)},S,200,${DIGITS},${STEP});`);
    const agreed = await r.waitFor(/@agree (\d+) (\d+)/, 120_000, from);
    const agree: [number, number] = [Number(agreed[2]), Number(agreed[1])];

    from = r.output.length;
    r.send(`benchRounds(${JSON.stringify(board.storage.profile)},S,${rounds},${codes},${DIGITS},${STEP});`);
    await r.waitFor(/@rounds done/, 60_000 + rounds * codes * 50, from);
    r.check("timing");
    const lines = [...r.output.slice(from).matchAll(/@round ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)/g)];
    return {
      peer: lines.map((m) => Number(m[1])),
      code: lines.map((m) => Number(m[2])),
      press: lines.map((m) => Number(m[3])),
      floor: lines.map((m) => Number(m[4])),
      panel,
      agree,
    };
  } finally {
    await r?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
const best = (xs: number[]) => Math.min(...xs);

export function report(m: PressMeasure, bin: string, codes: number): string {
  const ratio = (xs: number[]) => xs.map((x, i) => x / m.peer[i]);
  const row = (name: string, xs: number[], ratios: number[] | null, note: string) =>
    `${name.padEnd(7)}${best(xs).toFixed(3).padStart(10)}${median(xs).toFixed(3).padStart(9)}` +
    (ratios ? `${(best(xs) / best(m.peer)).toFixed(3).padStart(12)}${median(ratios).toFixed(3).padStart(9)}` : " ".repeat(21)) +
    `  ${note}`;
  const panelPeer = median(m.peer);
  return [
    `press bench on ${bin}: ${m.peer.length} rounds of ${codes} codes, ${m.panel.length} presses`,
    `codes: ours and the peer's ${m.agree[1] === m.agree[0] ? "agree" : "DISAGREE"} (${m.agree[1]} of ${m.agree[0]}, TOTP-SHA1, 6 digits, same key and times)`,
    `        ms: best   median   x peer: best   median (of per-round ratios)`,
    row("peer", m.peer, ratio(m.peer), "Espruino's TOTP module, generate()"),
    row("code", m.code, ratio(m.code), `padOtp's code(c): our code computation (target <= 0.5 x peer: ${best(m.code) / best(m.peer) <= 0.5 ? "met" : "NOT met"})`),
    row("press", m.press, ratio(m.press), "readProfile + padOtp + one code: a press's computing"),
    row("floor", m.floor, ratio(m.floor), "two bare native SHA-1 calls: the floor under any HMAC-SHA1 code"),
    row("panel", m.panel, null, `press to panel start on the booted bundle = ${(median(m.panel) / panelPeer).toFixed(1)} x the peer's median code`),
  ].join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { rounds: { type: "string", default: "31" }, codes: { type: "string", default: "20" }, presses: { type: "string", default: "5" }, bundle: { type: "string" } } });
  const bin = ESPRUINO;
  if (!existsSync(bin)) {
    console.error(`bench/press: no Espruino interpreter at ${bin} (set ESPRUINO): this measures the interpreter itself`);
    process.exitCode = 1;
  } else if (!existsSync(PEER_DIR)) {
    console.error(`bench/press: no peer modules at ${PEER_DIR}`);
    process.exitCode = 1;
  } else {
    try {
      const codes = Number(values.codes);
      console.log(report(await measurePress(bin, Number(values.rounds), codes, Number(values.presses), values.bundle), bin, codes));
    } catch (e) {
      console.error(`bench/press: ${(e as Error).message}`);
      process.exitCode = 1;
    }
  }
}
