// The gates against fixtures. Each fixture line that breaks a rule ends with
// `// expect: CONSTRUCT[, CONSTRUCT]`; the gate must report exactly those, on those lines.
import { expect } from "chai";
import { readdirSync, readFileSync } from "node:fs";
import { basename, join, relative } from "node:path";
import ts from "typescript";
import { gateBundle, BUNDLE_CONSTRUCTS } from "../../host-tools/build/bundle-gate.ts";
import { gateProgram, SOURCE_CONSTRUCTS } from "../../host-tools/build/gate.ts";
import { ES_GLOBALS, ESPRUINO_GLOBALS, MISSING_GLOBALS, MISSING_METHODS, MISSING_STATICS } from "../../host-tools/build/globals.ts";
import { ROOT } from "../../host-tools/build/build.ts";
import { firmwareProgram, typeErrors } from "../../host-tools/build/typecheck.ts";
import type { Violation } from "../../host-tools/build/violation.ts";

const FIXTURES = join(ROOT, "test/fixtures/gate");
const REJECT = join(FIXTURES, "reject");
const ESPRUINO_DTS = join(ROOT, "firmware/types/espruino.d.ts");
const FIRMWARE_TSCONFIG = join(ROOT, "firmware/tsconfig.json");

type Finding = { line: number; construct: string };

function expected(file: string): Finding[] {
  return readFileSync(file, "utf8").split("\n").flatMap((text, i) => {
    const m = /\/\/ expect: (.+)$/.exec(text);
    return m ? (m[1] as string).split(", ").map((construct) => ({ line: i + 1, construct })) : [];
  });
}
const findings = (vs: Violation[]): Finding[] => vs.map((v) => ({ line: v.line, construct: v.construct }));
const files = (dir: string, ext: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(ext)).sort().map((f) => join(dir, f));

/** Gate one fixture as a firmware file (type errors are expected in some and ignored). */
function gateFixture(file: string): Violation[] {
  const program = firmwareProgram(FIRMWARE_TSCONFIG, [file, ESPRUINO_DTS]);
  return gateProgram(program, { coreDir: join(REJECT, "core"), root: ROOT });
}

describe("source gate", () => {
  const fixtures = files(REJECT, ".ts");

  for (const file of fixtures) {
    it(`rejects ${file.slice(REJECT.length + 1)}`, () => {
      const want = expected(file);
      expect(want, "fixture has no expect: markers").to.not.be.empty;
      const got = gateFixture(file);
      expect(findings(got)).to.deep.equal(want);
      for (const v of got) expect(v.file).to.equal(relative(ROOT, file));
    });
  }

  it("has a fixture for every construct it rejects", () => {
    const covered = new Set(fixtures.flatMap((f) => expected(f).map((e) => e.construct)));
    const all = [...SOURCE_CONSTRUCTS, ...MISSING_GLOBALS, ...MISSING_STATICS, ...MISSING_METHODS];
    expect(all.filter((c) => !covered.has(c))).to.deep.equal([]);
  });

  it("reports file:line:column", () => {
    const [v] = gateFixture(join(REJECT, "map.ts"));
    expect(v).to.include({ file: "test/fixtures/gate/reject/map.ts", line: 1, column: 22, construct: "Map" });
  });

  it("reports a construct inside a regular expression at its own column", () => {
    // export const hex20 = /^[0-9a-f]{20}$/;  the literal starts at column 22, its {20} at 32
    const [v] = gateFixture(join(REJECT, "regex-counted-repetition.ts"));
    expect(v).to.include({ line: 1, column: 32, construct: "regex counted repetition" });
    expect(v?.message).to.match(/\{20\}/);
  });

  it("accepts a firmware that uses everything allowed (and it typechecks)", () => {
    const program = firmwareProgram(join(FIXTURES, "accept/tsconfig.json"));
    expect(typeErrors(program, ROOT)).to.deep.equal([]);
    expect(gateProgram(program, { coreDir: join(FIXTURES, "accept/core"), root: ROOT }).map((v) => `${v.file}:${v.line}: ${v.construct}`)).to.deep.equal([]);
  });

  it("allows exactly the Espruino globals espruino.d.ts declares", () => {
    const sf = ts.createSourceFile(ESPRUINO_DTS, readFileSync(ESPRUINO_DTS, "utf8"), ts.ScriptTarget.ES5);
    const declared = new Set<string>();
    for (const s of sf.statements) {
      if ((ts.isFunctionDeclaration(s) || ts.isClassDeclaration(s)) && s.name) declared.add(s.name.text);
      if (ts.isVariableStatement(s)) for (const d of s.declarationList.declarations) declared.add(d.name.getText(sf));
    }
    expect([...declared].filter((n) => !ESPRUINO_GLOBALS.has(n) && !ES_GLOBALS.has(n)), "declared but not allowed").to.deep.equal([]);
    expect([...ESPRUINO_GLOBALS].filter((n) => !declared.has(n)), "allowed but not declared").to.deep.equal([]);
  });
});

describe("bundle gate", () => {
  const fixtures = files(join(FIXTURES, "bundle"), ".js");

  for (const file of fixtures) {
    it(`${basename(file)}`, () => {
      const got = gateBundle(readFileSync(file, "utf8"), basename(file));
      expect(findings(got)).to.deep.equal(expected(file));
    });
  }

  it("reports a construct inside a regular expression at its own column", () => {
    const got = gateBundle('var a=1;\nvar counted = /^[0-9a-f]{20}$/, flags = new RegExp("a", "gm");', "b.js");
    expect(got.map((v) => [v.line, v.column, v.construct])).to.deep.equal([
      [2, 25, "regex counted repetition"],
      [2, 57, "regex flag m"], // the flags argument,
    ]);
  });

  it("has a fixture for every construct it rejects", () => {
    const covered = new Set(fixtures.flatMap((f) => expected(f).map((e) => e.construct)));
    const all = [...BUNDLE_CONSTRUCTS, "Map", "Math.imul", "Object.freeze", "replaceAll"];
    expect(all.filter((c) => !covered.has(c))).to.deep.equal([]);
  });
});
