// The build pipeline: on the fixture firmware (everything allowed), on broken
// firmwares, and on the real one.
import { expect } from "chai";
import { parse } from "acorn";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runInNewContext } from "node:vm";
import { BUDGET_BYTES, BuildError, FIRMWARE_DIR, ROOT, buildFirmware, compileFirmware, errorsFile, type BuildResult } from "../../host-tools/build/build.ts";
import { ensureFirmwareBuilt } from "../../host-tools/build/ensure.ts";
import { tokenise, untokenise } from "../../host-tools/build/tokens.ts";
import { loadBoardConfig } from "../../host-tools/config.ts";
import { VERSION } from "../../host-tools/lib/version.ts";

const FIXTURE = join(ROOT, "test/fixtures/gate/accept");
const MAIN = join(ROOT, "firmware/main.ts");
const failure = (p: Promise<unknown>) => p.then(() => { throw new Error("expected the build to fail"); }, (e: Error) => e);

/** A one-file firmware in a temporary directory, with the real firmware's compiler options and globals. */
function tinyFirmware(dir: string, main: string): string {
  const fw = join(dir, `fw-${Math.random().toString(36).slice(2)}`);
  mkdirSync(join(fw, "core"), { recursive: true });
  writeFileSync(join(fw, "tsconfig.json"), JSON.stringify({
    extends: join(ROOT, "firmware/tsconfig.json"),
    include: ["**/*.ts", join(ROOT, "firmware/types/espruino.d.ts")],
  }));
  writeFileSync(join(fw, "main.ts"), main);
  return fw;
}

/** A built bundle's source: its bytes untokenised (host-tools/build/tokens.ts), as Espruino's lexer reads them. */
function readBundle(file: string): string {
  return untokenise(readFileSync(file, "latin1"));
}

/** Run a bundle in a bare context (ES built-ins only); what it logs. */
function runInNode(code: string): string[] {
  const lines: string[] = [];
  runInNewContext(code, { console: { log: (...a: unknown[]) => lines.push(a.join(" ")) }, setTimeout: (f: () => void) => (f(), 1) });
  return lines;
}

describe("build", function () {
  this.timeout(60_000);
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), "inkcard-build-"))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe("the fixture firmware", () => {
    let first: BuildResult;
    let code: string;
    before(async () => {
      first = await buildFirmware({ firmwareDir: FIXTURE, outFile: join(dir, "a.js") });
      code = readBundle(first.file);
    });

    it("reports the file's size and sha256", () => {
      const bytes = readFileSync(first.file);
      expect(first.bytes).to.equal(bytes.length);
      expect(first.sha256).to.equal(createHash("sha256").update(bytes).digest("hex"));
    });

    it("writes Espruino's pretokenised form, a fifth smaller than the source it reads as", () => {
      const bytes = readFileSync(first.file);
      expect(bytes.some((b) => b >= 0x8a), "keywords are single bytes").to.equal(true);
      expect(code).to.not.match(/[^\x00-\x7f]/);
      expect(bytes.length).to.be.below(code.length * 0.9);
    });

    it("reads back (untokenise) as the very program it was made from, for the real firmware too", async () => {
      const shape = (src: string) => JSON.stringify(parse(src, { ecmaVersion: 5, sourceType: "script" }), (k, v) => (k === "start" || k === "end" || k === "raw" ? undefined : v));
      const source = await compileFirmware(FIRMWARE_DIR, await loadBoardConfig(), VERSION);
      expect(shape(untokenise(tokenise(source)))).to.equal(shape(source));
      // Negative integers are raw signed bytes: -1 must not come back as 255.
      expect(untokenise(tokenise("x=-1;y=[-300,70000,-70000];"))).to.equal("x=-1;y=[-300,70000,-70000];");
    });

    it("gives the same bytes from the same sources", async () => {
      const again = await buildFirmware({ firmwareDir: FIXTURE, outFile: join(dir, "b.js") });
      expect(again.sha256).to.equal(first.sha256);
      expect(readBundle(again.file)).to.equal(code);
    });

    it("is one ES5 script: no modules, no strict-mode prologue, no source map, no local paths", () => {
      expect(() => parse(code, { ecmaVersion: 5, sourceType: "script" })).to.not.throw();
      expect(code).to.match(/^\(function\(\)\{/);
      expect(code).to.not.match(/use strict|sourceMappingURL|\bexport\b|\bimport\b/);
      expect(code).to.not.include(ROOT);
      expect(code).to.not.match(/[^\x20-\x7e\n]/); // ASCII only
    });

    it("runs, with the board and version injected", () => {
      expect(runInNode(code)).to.deep.equal([`result anon=4294967295 D31=1 5 6 deadbeef 3456 <42> 2,4 ${VERSION} true counter`]);
    });

    it("injects another board config", async () => {
      const board = structuredClone(await loadBoardConfig());
      board.panel.busy = "D5";
      const file = join(dir, "other-board.mjs");
      writeFileSync(file, `export default ${JSON.stringify(board)};`);
      const r = await buildFirmware({ firmwareDir: FIXTURE, config: file, outFile: join(dir, "c.js") });
      expect(runInNode(readBundle(r.file))[0]).to.include(" D5=1 ");
    });

    it("fails over budget, writing nothing", async () => {
      const out = join(dir, "over.js");
      const e = await failure(buildFirmware({ firmwareDir: FIXTURE, outFile: out, budgetBytes: first.bytes - 1 }));
      expect(e).to.be.instanceOf(BuildError);
      expect(e.message).to.match(/over\.js would be \d+ bytes: over the budget of \d+ bytes by 1$/);
      expect(existsSync(out)).to.equal(false);
    });
  });

  describe("the engine (firmware/engine.ts)", () => {
    const MAIN_CALLS = [
      "declare function INKCARD_ENGINE(state: { n: number }): string;",
      "const state = { n: 0 };",
      'console.log("shell");',
      "console.log(INKCARD_ENGINE(state), INKCARD_ENGINE(state));",
    ].join("\n");

    it("runs its whole code on each call of INKCARD_ENGINE, and only then", async () => {
      const fw = tinyFirmware(dir, MAIN_CALLS);
      writeFileSync(join(fw, "engine.ts"), [
        "declare const INKCARD_STATE: { n: number };",
        "declare let INKCARD_ENGINE_OUT: string;",
        "function twice(n: number): number { return 2 * n; }",
        "INKCARD_STATE.n++;",
        'INKCARD_ENGINE_OUT = "engine " + twice(INKCARD_STATE.n);',
      ].join("\n"));
      const r = await buildFirmware({ firmwareDir: fw, outFile: join(dir, "e.js") });
      expect(runInNode(readBundle(r.file))).to.deep.equal(["shell", "engine 2 engine 4"]);
    });

    it("must export nothing, types aside", async () => {
      const fw = tinyFirmware(dir, MAIN_CALLS);
      writeFileSync(join(fw, "engine.ts"), "declare let INKCARD_ENGINE_OUT: string;\nexport const x = 1;\nINKCARD_ENGINE_OUT = String(x);\n");
      const e = await failure(buildFirmware({ firmwareDir: fw, outFile: join(dir, "x.js") }));
      expect(e.message).to.match(/engine\.ts must not export anything but types/);
    });

    it("a shell that calls it without engine.ts is rejected by the bundle gate", async () => {
      const fw = tinyFirmware(dir, MAIN_CALLS);
      const e = await failure(buildFirmware({ firmwareDir: fw, outFile: join(dir, "n.js") }));
      expect(e.message).to.match(/unknown global: `INKCARD_ENGINE`/);
    });
  });

  describe("what the build does to the card's code, behaviour kept", () => {
    it("inlines module constants, but not one that is assigned or shadowed, nor a string used twice", async () => {
      const fw = tinyFirmware(dir, [
        'import { BIG, COUNT, bump, NAME, shadow } from "./core/k";',
        "bump();",
        "function twice(n: number): number { return n + n; }",
        'console.log(twice(BIG), COUNT, NAME + NAME, shadow(1));',
      ].join("\n"));
      writeFileSync(join(fw, "core/k.ts"), [
        "export const BIG = 4242;",
        "export let COUNT = 7007;",
        "export function bump(): void { COUNT++; }",
        'export const NAME = "twice-used";',
        "export const LIMIT = 9393;",
        "export function shadow(LIMIT: number): number { return LIMIT + 1; }",
      ].join("\n"));
      const r = await buildFirmware({ firmwareDir: fw, outFile: join(dir, "k.js") });
      const code = readBundle(r.file);
      expect(runInNode(code)).to.deep.equal(["8484 7008 twice-usedtwice-used 2"]);
      expect(code, "BIG at its use").to.include("4242");
      expect(code, "no declaration of BIG").to.not.match(/=4242\b/);
      expect(code, "COUNT declared").to.match(/=7007\b/);
      expect(code.split("twice-used").length - 1, "NAME declared once").to.equal(1);
    });

    it("numbers error messages and writes their table beside the bundle", async () => {
      const fw = tinyFirmware(dir, [
        "function fail(n: number): void { throw new Error(\"the panel did not answer: \" + n); }",
        "try { fail(3); } catch (e) { console.log((e as Error).message, e instanceof Error); }",
      ].join("\n"));
      const r = await buildFirmware({ firmwareDir: fw, outFile: join(dir, "m.js") });
      const code = readBundle(r.file);
      expect(runInNode(code)).to.deep.equal(["E1 true"]);
      expect(code).to.not.include("did not answer");
      expect(JSON.parse(readFileSync(errorsFile(r.file), "utf8"))).to.deep.equal({ E1: '"the panel did not answer: " + n' });
    });

    it("shortens the firmware's own property names, not those of objects it hands out", async () => {
      const fw = tinyFirmware(dir, [
        "interface Tally { ownLongPropertyName: number }",
        "const t: Tally = { ownLongPropertyName: 41 };",
        "t.ownLongPropertyName++;",
        "console.log(t.ownLongPropertyName, JSON.stringify({ printedPropertyName: t.ownLongPropertyName }));",
      ].join("\n"));
      const r = await buildFirmware({ firmwareDir: fw, outFile: join(dir, "p.js") });
      const code = readBundle(r.file);
      expect(runInNode(code)).to.deep.equal(['42 {"printedPropertyName":42}']);
      expect(code).to.not.include("ownLongPropertyName");
    });
  });

  describe("a broken firmware fails with file:line:column", () => {
    it("a type error", async () => {
      const fw = tinyFirmware(dir, 'const n: number = "one";\nconsole.log(n);\n');
      const e = await failure(buildFirmware({ firmwareDir: fw, outFile: join(dir, "t.js") }));
      expect(e).to.be.instanceOf(BuildError);
      expect((e as BuildError).details.join("\n")).to.match(/fw-\w+\/main\.ts:1:7: error TS2322: Type 'string' is not assignable to type 'number'/);
    });

    it("a construct Espruino cannot run", async () => {
      const fw = tinyFirmware(dir, "const a = [1];\nconsole.log([0, ...a]);\n");
      const e = await failure(buildFirmware({ firmwareDir: fw, outFile: join(dir, "g.js") }));
      expect((e as BuildError).details).to.have.length(1);
      expect((e as BuildError).details[0]).to.match(/fw-\w+\/main\.ts:2:17: array spread: /);
    });

    it("a global the card does not have", async () => {
      // `Reflect` is typed by no lib here, so the type checker and the source gate both object.
      const fw = tinyFirmware(dir, "console.log(typeof Reflect);\n");
      const e = (await failure(buildFirmware({ firmwareDir: fw, outFile: join(dir, "r.js") }))) as BuildError;
      expect(e.details.some((d) => /main\.ts:1:20: unknown global: `Reflect`/.test(d))).to.equal(true);
    });

    it("a compiler helper the build does not provide (caught by the bundle gate)", async () => {
      const fw = tinyFirmware(dir, "const tag = (s: TemplateStringsArray, n: number) => s.length + n;\nconsole.log(tag`a${1}b`);\n");
      const e = (await failure(buildFirmware({ firmwareDir: fw, outFile: join(dir, "h.js") }))) as BuildError;
      expect(e.message).to.match(/^the built bundle has constructs Espruino cannot run\n.*\/h\.js:1:\d+: compiler helper: the build provides no helper `__makeTemplateObject`/);
    });

    it("a missing entry point", async () => {
      const fw = tinyFirmware(dir, "");
      rmSync(join(fw, "main.ts"));
      writeFileSync(join(fw, "other.ts"), "export {};\n");
      expect((await failure(buildFirmware({ firmwareDir: fw, outFile: join(dir, "m.js") }))).message).to.match(/main\.ts does not exist/);
    });
  });

  describe("the real firmware", () => {
    before(function (this: Mocha.Context) {
      if (!existsSync(MAIN)) {
        console.log("      (skipped: firmware/main.ts does not exist yet)");
        this.skip();
      }
    });

    it("builds within the budget, ES5, deterministic, with the board injected", async () => {
      const board = await loadBoardConfig();
      const a = await buildFirmware({ outFile: join(dir, "real-a.js") });
      const b = await buildFirmware({ outFile: join(dir, "real-b.js") });
      expect(a.sha256).to.equal(b.sha256);
      expect(a.bytes).to.be.at.most(BUDGET_BYTES);
      const code = readBundle(a.file);
      expect(() => parse(code, { ecmaVersion: 5, sourceType: "script" })).to.not.throw();
      for (const v of [board.panel.busy, board.panel.cs, board.button.pin, board.storage.profile]) {
        expect(code).to.include(JSON.stringify(v));
      }
    });

    it("ensureFirmwareBuilt builds dist/firmware.js once, then reuses it", async () => {
      const first = await ensureFirmwareBuilt();
      const second = await ensureFirmwareBuilt();
      expect(second.built).to.equal(false);
      expect(second.sha256).to.equal(first.sha256);
    });
  });
});

describe("inkcard's output into a reader that stops early", () => {
  it("ends with status 141 (as SIGPIPE would) and no stack trace, like a Unix tool", async function () {
    this.timeout(60_000);
    const { spawn } = await import("node:child_process");
    // The reader is gone before the command writes its first line (`inkcard build | head -0`).
    const child = spawn(process.execPath, ["bin/inkcard.js", "build"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    const status = await new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    expect(stderr, "nothing on stderr").to.equal("");
    expect(status).to.equal(141);
  });
});
