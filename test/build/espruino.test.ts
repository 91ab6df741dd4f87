// The gates' rule set checked against the real interpreter: what they allow
// exists and runs, what they reject really fails there. Each claim snippet
// prints "ok" on a complete JavaScript engine (checked here in Node first).
import { expect } from "chai";
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createContext, runInContext } from "node:vm";
import { buildFirmware, ROOT } from "../../host-tools/build/build.ts";
import { ES_GLOBALS, ESPRUINO_GLOBALS } from "../../host-tools/build/globals.ts";
import { REGEX_CONSTRUCTS } from "../../host-tools/build/regex.ts";
import { requireEspruino, runOnEspruino } from "./espruino.ts";
import { untokenise } from "../../host-tools/build/tokens.ts";

/** A program that prints "ok" where cond holds. */
const yes = (cond: string) => `print(${cond} ? "ok" : "bad");`;

/**
 * Rejected construct -> a program that prints "ok" only where it works, or
 * several (each form of the construct, each shown to fail on its own).
 */
const CLAIMS: Record<string, string | string[]> = {
  "destructuring declaration": 'var o = { a: 1 }; var { a } = o; print(a === 1 ? "ok" : "bad");',
  "destructuring parameter": 'function f({ a }) { return a; } print(f({ a: 1 }) === 1 ? "ok" : "bad");',
  "destructuring assignment": 'var a, b; [a, b] = [1, 2]; print(a === 1 && b === 2 ? "ok" : "bad");',
  "default parameter": 'function f(a = 1) { return a; } print(f() === 1 ? "ok" : "bad");',
  "rest parameter": 'function f(...a) { return a.length; } print(f(1, 2) === 2 ? "ok" : "bad");',
  "array spread": 'var a = [1, 2]; print([0, ...a].length === 3 ? "ok" : "bad");',
  "argument spread": 'print(Math.max(...[1, 3, 2]) === 3 ? "ok" : "bad");',
  "object spread": 'var o = { ...{ a: 1 } }; print(o.a === 1 ? "ok" : "bad");',
  Map: 'print(new Map([[1, 2]]).get(1) === 2 ? "ok" : "bad");',
  Set: 'print(new Set([1, 1]).size === 1 ? "ok" : "bad");',
  WeakMap: 'var k = {}; print(new WeakMap([[k, 2]]).get(k) === 2 ? "ok" : "bad");',
  WeakSet: 'var k = {}; print(new WeakSet([k]).has(k) ? "ok" : "bad");',
  WeakRef: 'var k = {}; print(new WeakRef(k).deref() === k ? "ok" : "bad");',
  Symbol: 'print(typeof Symbol("x") === "symbol" ? "ok" : "bad");',
  BigInt: 'print(String(BigInt(2) * BigInt(3)) === "6" ? "ok" : "bad");',
  "bigint literal": 'print(String(18446744073709551615n + 1n) === "18446744073709551616" ? "ok" : "bad");',
  generator: 'function* g() { yield 1; yield 2; } var it = g(); it.next(); print(it.next().value === 2 ? "ok" : "bad");',
  "async function": 'async function f() { return 1; } f().then(function (v) { print(v === 1 ? "ok" : "bad"); });',
  await: 'async function f() { var v = await Promise.resolve(1); return v + 1; } f().then(function (v) { print(v === 2 ? "ok" : "bad"); });',
  "optional chaining": 'var o = {}; print(o.a?.b === undefined ? "ok" : "bad");',
  "** operator": 'print(2 ** 10 === 1024 ? "ok" : "bad");',
  "**= operator": 'var n = 2; n **= 10; print(n === 1024 ? "ok" : "bad");',
  "computed property key": 'var k = "a"; var o = { [k]: 1 }; print(o.a === 1 ? "ok" : "bad");',
  "labelled statement": 'var n = 0; outer: for (var i = 0; i < 3; i++) { for (var j = 0; j < 3; j++) { if (j == 1) continue outer; n++; } } print(n === 3 ? "ok" : "bad");',
  "Math.imul": 'print(Math.imul(0x7fffffff, 3) === 2147483645 ? "ok" : "bad");',
  "Array.from": 'print(Array.from("ab").length === 2 ? "ok" : "bad");',
  "Array.of": 'print(Array.of(7).length === 1 ? "ok" : "bad");',
  "Object.freeze": 'var o = Object.freeze({ a: 1 }); o.a = 2; print(o.a === 1 ? "ok" : "bad");',
  "Number.isInteger": 'print(Number.isInteger(5) && !Number.isInteger(5.5) ? "ok" : "bad");',
  "Math.pow exponent": 'var ok = true; for (var n = 10; n <= 22; n++) if (Math.pow(10, n) !== Number("1e" + n)) ok = false; print(ok ? "ok" : "bad");',
  "loop closure": 'var fs = []; for (let i = 0; i < 3; i++) fs.push(function () { return i; }); print(fs[0]() === 0 ? "ok" : "bad");',
  "builtin prototype": 'print(Array.prototype.slice.call([1, 2], 1)[0] === 2 ? "ok" : "bad");',
  "extends builtin": 'class E2 extends Error { constructor(m) { super(m); } } print(new E2("x").message === "x" ? "ok" : "bad");',
  "late function declaration": '(function () { print(g()); function g() { return "ok"; } })();',
  "var declaration": '(function () { v = 1; var v; print(typeof global.v === "undefined" ? "ok" : "bad"); })();',
  // Regular expressions (host-tools/build/regex.ts). Most do not throw on Espruino: they just fail to match.
  "regex counted repetition": [
    yes('/^a{3}$/.test("aaa")'), yes('/^a{2,}$/.test("aaa")'), yes('/^a{2,4}$/.test("aaa")'),
    yes('new RegExp("^[0-9a-f]{20}$").test("0123456789abcdef0123")'), // the console lock's old test (issue 9)
  ],
  "regex optional": [yes('/^ab?c$/.test("ac") && /^ab?c$/.test("abc")'), yes('new RegExp("^-?[0-9]+$").test("-12")')],
  "regex lazy quantifier": [yes('/<.*?>/.exec("<a><b>")[0] === "<a>"'), yes('/a+?/.exec("aa")[0] === "a"'), yes('/a??/.exec("a")[0] === ""')],
  "regex quantified group": [
    yes('/^(ab)+$/.test("abab")'), yes('/^(ab)*c$/.test("ababc")'), yes('/^(ab)?c$/.test("c")'), yes('/^(ab){2}$/.test("abab")'),
  ],
  "regex alternation in group": [yes('/^a(b|c)d$/.test("acd")'), yes('/x(a|b)/.exec("xb")[0] === "xb"')],
  "regex non-capturing group": yes('/^(?:ab)c$/.test("abc")'),
  "regex lookahead": [yes('/a(?=b)/.test("ab")'), yes('/a(?!b)/.test("ac")')],
  "regex lookbehind": [yes('/(?<=a)b/.test("ab")'), yes('/(?<!a)b/.test("cb")')],
  "regex named group": yes('/^(?<y>[0-9]+)-/.exec("2024-").groups.y === "2024"'),
  "regex backreference": [yes('/^(a)\\1$/.test("aa")'), yes('/^[\\1]$/.test("\\x01")'), yes('/^(?<n>a)\\k<n>$/.test("aa")')],
  "regex more than 9 groups": yes('/(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)/.exec("abcdefghij")[10] === "j"'),
  "regex word boundary": [yes('/\\bfoo/.test("a foo")'), yes('/a\\B/.test("ab")')],
  "regex unicode escape": yes('/^\\u0041$/.test("A")'),
  "regex control escape": yes('/^\\cJ$/.test("\\n")'),
  "regex property escape": [yes('/^\\p{Lu}$/u.test("A")'), yes('/^\\P{Lu}$/u.test("a")')],
  "regex flag m": yes('/^b$/m.test("a\\nb\\nc")'),
  "regex flag s": yes('/^a.b$/s.test("a\\nb")'),
  "regex flag u": yes('/^.$/u.test("\\ud83d\\ude00")'),
  "regex flag v": yes('/^[\\w--\\d]$/v.test("a") && !/^[\\w--\\d]$/v.test("1")'),
  "regex flag y": '(function () { var r = /b/y; print(!r.test("ab") ? "ok" : "bad"); })();',
  "regex flag d": yes('/b/d.exec("ab").indices[0][0] === 1'),
};

/** What the gates allow in a regular expression (regex.ts), each matching as in Node: one line per check. */
const REGEX_ALLOWED = [
  '/^[0-9a-f]+$/.test("09af") && !/^[0-9a-f]+$/.test("09ag")', '/^[^0-9]*$/.test("ab") && !/^[^0-9]*$/.test("a1")',
  '/^\\d+\\s\\w+$/.test("12 a_1") && /^\\D\\S\\W$/.test("a-.")', '/^[\\d\\s,]+$/.test("1, 2")',
  '/^a*b+$/.test("bb") && !/^a*b+$/.test("aa")', '/^ab$|^cd$/.test("cd") && !/^ab$|^cd$/.test("ad")',
  '/^(a)(b)$/.exec("ab")[2] === "b"', '/^ABC$/i.test("abc")', '"a1b22".replace(/[0-9]+/g, "#") === "a#b#"',
  '"a,b;c".split(/[,;]/).length === 3', '/^\\x41\\t\\n$/.test("A\\t\\n")', '/^[\\b]$/.test("\\b")',
  '/^a\\{2\\}\\?\\.\\*\\+\\(\\)\\[\\]\\/\\\\\\|\\^\\$$/.test("a{2}?.*+()[]/\\\\|^$")', '/^a{$/.test("a{")',
  'new RegExp("^[0-9]+$", "g").test("12")',
];

/** Run in Node with print() and global, as the claim snippets expect. */
async function runInNode(code: string): Promise<string> {
  const out: string[] = [];
  const ctx = createContext({ print: (...a: unknown[]) => out.push(a.join(" ")) });
  ctx.global = runInContext("this", ctx);
  runInContext(code, ctx);
  await new Promise((r) => setImmediate(r));
  return out.join("\n");
}

describe("the rule set on the Espruino interpreter", function () {
  this.timeout(120_000);
  before(function (this: Mocha.Context) {
    requireEspruino(this);
  });

  it("runs the fixture firmware's bundle, printing what Node prints", async () => {
    const dir = mkdtempSync(join(tmpdir(), "inkcard-fixture-"));
    try {
      const built = await buildFirmware({ firmwareDir: join(ROOT, "test/fixtures/gate/accept"), outFile: join(dir, "fw.js") });
      const bytes = readFileSync(built.file); // pretokenised: Espruino reads it as the source below
      const code = untokenise(bytes.toString("latin1"));
      const node: string[] = [];
      runInContext(code, createContext({ console: { log: (s: string) => node.push(s) }, setTimeout: (f: () => void) => (f(), 1) }));
      const run = await runOnEspruino(bytes);
      expect(run.failed, run.output).to.equal(false);
      expect(run.output).to.equal(node.join("\n"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("has every global the gates allow", async () => {
    // NRF (Bluetooth) exists on the card but not in the Linux build.
    const names = [...ES_GLOBALS, ...ESPRUINO_GLOBALS].filter((n) => n !== "undefined" && n !== "NRF");
    const run = await runOnEspruino(names.map((n) => `print(${JSON.stringify(n)}, typeof ${n});`).join("\n"));
    expect(run.failed, run.output).to.equal(false);
    const missing = run.output.split("\n").filter((l) => l.endsWith(" undefined"));
    expect(missing).to.deep.equal([]);
  });

  for (const [construct, claim] of Object.entries(CLAIMS)) {
    it(`${construct}: works in Node, not on Espruino`, async () => {
      for (const code of typeof claim === "string" ? [claim] : claim) {
        expect(await runInNode(code), `the snippet itself is wrong: ${code}`).to.equal("ok");
        const run = await runOnEspruino(code);
        expect(run.failed || run.output !== "ok", `Espruino printed: ${run.output} for ${code}`).to.equal(true);
      }
    });
  }

  it("has a claim for every regular-expression construct the gates reject", () => {
    expect(REGEX_CONSTRUCTS.filter((c) => !(c in CLAIMS))).to.deep.equal([]);
  });

  it("matches the regular expressions the gates allow as Node does", async () => {
    const code = REGEX_ALLOWED.map((c, i) => `print(${i}, ${c} ? "ok" : "bad");`).join("\n");
    const want = REGEX_ALLOWED.map((_, i) => `${i} ok`).join("\n");
    expect(await runInNode(code), "the snippets themselves are wrong").to.equal(want);
    const run = await runOnEspruino(code);
    expect(run.failed, run.output).to.equal(false);
    expect(run.output).to.equal(want);
  });
});
