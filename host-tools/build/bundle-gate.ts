/**
 * The bundle gate: the last check on what the card will run, after bundling,
 * downlevelling and minifying. The source gate sees the author's code; this one
 * also sees compiler helpers and minifier output. The bundle must parse as
 * ECMAScript 5, reference only globals the card has, and use none of the
 * members Espruino lacks nor regular-expression features its matcher lacks
 * (regex.ts): esbuild turns a literal that ES5 cannot write (a flag u, a
 * lookbehind) into `new RegExp("...")`, so those strings are checked too.
 */
import { parse, type Node } from "acorn";
import {
  ES_GLOBALS, ESPRUINO_GLOBALS, MISSING_GLOBALS, MISSING_METHODS, MISSING_STATICS,
  POW_EXPONENT_MAX, POW_EXPONENT_MIN, REQUIRE_MODULES,
} from "./globals.ts";
import { REGEX_CONSTRUCTS, regexProblems } from "./regex.ts";
import type { Violation } from "./violation.ts";

/** Every construct name this gate reports (besides MISSING_GLOBALS / _STATICS / _METHODS names). */
export const BUNDLE_CONSTRUCTS = [
  "not ES5", "unknown global", "compiler helper", "builtin prototype", "Math.pow exponent", "require module", "labelled statement",
  "late function declaration", ...REGEX_CONSTRUCTS,
] as const;

// A minimal ESTree view: acorn's types are a union too wide to narrow by hand here.
type N = Node & { [key: string]: unknown };
const isNode = (v: unknown): v is N => typeof v === "object" && v !== null && typeof (v as N).type === "string";

export function gateBundle(code: string, file: string): Violation[] {
  const out: Violation[] = [];
  const at = (pos: number) => {
    const before = code.slice(0, pos);
    const line = before.split("\n").length;
    return { line, column: pos - before.lastIndexOf("\n") };
  };
  // Minified code is one long line: show the node with a little context.
  const snippet = (n: N) => JSON.stringify(code.slice(Math.max(0, n.start - 20), Math.min(code.length, n.start + 60)));
  /** offset: characters into the node (a construct inside a regular expression literal). */
  const report = (n: N, construct: string, message: string, offset = 0) =>
    out.push({ file, ...at(n.start + offset), construct, message: `${message} at ${snippet(n)}` });

  let program: N;
  try {
    program = parse(code, { ecmaVersion: 5, sourceType: "script" }) as unknown as N;
  } catch (e) {
    const err = e as SyntaxError & { pos?: number };
    const pos = err.pos ?? 0;
    return [{ file, ...at(pos), construct: "not ES5", message: `${err.message.replace(/ \(\d+:\d+\)$/, "")} at ${JSON.stringify(code.slice(pos, pos + 60))}` }];
  }

  // Pass 1: every binding, keyed by the scope node (Program, a function, a catch clause) that owns it,
  // and every identifier reference with its chain of ancestors.
  const scopes = new Map<N, Set<string>>([[program, new Set()]]);
  const bind = (scope: N, name: string) => {
    let s = scopes.get(scope);
    if (!s) scopes.set(scope, (s = new Set()));
    s.add(name);
  };
  const isFunction = (n: N) => n.type === "FunctionDeclaration" || n.type === "FunctionExpression";
  const nearestFunctionScope = (chain: N[]) => [...chain].reverse().find((n) => isFunction(n) || n.type === "Program") as N;
  const refs: Array<{ id: N; chain: N[] }> = [];
  const members: Array<{ node: N; chain: N[] }> = [];
  const calls: Array<{ node: N; chain: N[] }> = [];

  const walk = (node: N, chain: N[]): void => {
    const parent = chain[chain.length - 1];
    if (node.type === "Identifier" && parent) {
      const key = keyOf(parent, node);
      const name = node.name as string;
      if ((parent.type === "MemberExpression" && key === "property" && !parent.computed)
        || (parent.type === "Property" && key === "key")
        || key === "label") {
        // a name, not a reference
      } else if (parent.type === "FunctionDeclaration" && key === "id") bind(nearestFunctionScope(chain.slice(0, -1)), name);
      else if (isFunction(parent) || parent.type === "CatchClause") bind(parent, name); // own name, params, catch param
      else if (parent.type === "VariableDeclarator" && key === "id") bind(nearestFunctionScope(chain), name);
      else refs.push({ id: node, chain });
      return;
    }
    if (node.type === "MemberExpression") members.push({ node, chain });
    if (node.type === "CallExpression" || node.type === "NewExpression") calls.push({ node, chain });
    const regex = node.regex as { pattern: string; flags: string } | undefined;
    if (node.type === "Literal" && regex) {
      for (const p of regexProblems(regex.pattern, regex.flags)) report(node, p.construct, p.message, p.offset);
    }
    // Espruino creates a function when its declaration runs: declarations must come first.
    const body = node.type === "Program" ? node.body : isFunction(node) ? (node.body as N).body : undefined;
    if (Array.isArray(body)) {
      const first = body.findIndex((s: N) => s.type !== "FunctionDeclaration");
      for (const s of body.slice(first < 0 ? body.length : first) as N[]) {
        if (s.type === "FunctionDeclaration") report(s, "late function declaration", "Espruino does not hoist: this function does not exist until this statement runs");
      }
    }
    if (node.type === "LabeledStatement") report(node, "labelled statement", "Espruino has no labelled break/continue");
    const next = [...chain, node];
    for (const key of Object.keys(node)) {
      const v = node[key];
      if (Array.isArray(v)) for (const c of v) { if (isNode(c)) walk(c, next); }
      else if (isNode(v)) walk(v, next);
    }
  };
  walk(program, []);

  const isFree = (id: N, chain: N[]) => {
    const name = id.name as string;
    for (let i = chain.length - 1; i >= 0; i--) {
      const n = chain[i] as N;
      if (scopes.get(n)?.has(name)) return false;
      if (name === "arguments" && isFunction(n)) return false;
    }
    return true;
  };
  const globalNamed = (n: unknown, chain: N[], name?: string): n is N =>
    isNode(n) && n.type === "Identifier" && (name === undefined || n.name === name) && isFree(n, chain);

  // Pass 2: free globals.
  for (const { id, chain } of refs) {
    if (!isFree(id, chain)) continue;
    const name = id.name as string;
    if (ES_GLOBALS.has(name) || ESPRUINO_GLOBALS.has(name)) continue;
    if (MISSING_GLOBALS.has(name)) report(id, name, `${name} does not exist on Espruino`);
    else if (name.startsWith("__")) report(id, "compiler helper", `the build provides no helper \`${name}\`: the construct that needs it cannot run on the card`);
    else report(id, "unknown global", `\`${name}\` is not a global on the card`);
  }
  // Members Espruino lacks, and built-in prototypes.
  for (const { node, chain } of members) {
    const prop = node.property as N;
    const name = !node.computed ? (prop.name as string) : prop.type === "Literal" && typeof prop.value === "string" ? prop.value : undefined;
    if (name === undefined) continue;
    if (MISSING_METHODS.has(name)) report(node, name, `.${name}() does not exist on Espruino`);
    const obj = node.object;
    if (!globalNamed(obj, chain)) continue;
    const full = `${obj.name as string}.${name}`;
    if (MISSING_STATICS.has(full)) report(node, full, `${full} does not exist on Espruino`);
    if (name === "prototype" && ES_GLOBALS.has(obj.name as string)) {
      report(node, "builtin prototype", `${full}: Espruino's built-in methods are not properties of the prototype`);
    }
  }
  // Math.pow exponents, require() names and RegExp("...") patterns.
  for (const { node, chain } of calls) {
    const callee = node.callee as N;
    const args = node.arguments as N[];
    if (globalNamed(callee, chain, "RegExp")) {
      const [pattern, flags] = args;
      if (pattern?.type === "Literal" && typeof pattern.value === "string") {
        for (const p of regexProblems(pattern.value, "")) report(pattern, p.construct, p.message);
      }
      if (flags?.type === "Literal" && typeof flags.value === "string") {
        for (const p of regexProblems("", flags.value)) report(flags, p.construct, p.message);
      }
    }
    if (node.type === "NewExpression") continue;
    if (globalNamed(callee, chain, "require")) {
      const a = args[0];
      if (args.length !== 1 || a?.type !== "Literal" || typeof a.value !== "string" || !REQUIRE_MODULES.has(a.value)) {
        report(node, "require module", `require() takes one of ${[...REQUIRE_MODULES].join(", ")} by literal name`);
      }
    }
    if (callee.type === "MemberExpression" && !callee.computed && (callee.property as N).name === "pow"
      && globalNamed(callee.object, chain, "Math")) {
      const e = args[1];
      const v = e?.type === "Literal" && typeof e.value === "number" ? e.value : NaN;
      if (!(Number.isInteger(v) && v >= POW_EXPONENT_MIN && v <= POW_EXPONENT_MAX)) {
        report(node, "Math.pow exponent", `Math.pow is exact on Espruino only for a literal exponent ${POW_EXPONENT_MIN}..${POW_EXPONENT_MAX}`);
      }
    }
  }
  return out.sort((a, b) => a.line - b.line || a.column - b.column);
}

/** The key of parent under which child sits (children are few: a linear scan is fine). */
function keyOf(parent: N, child: N): string | undefined {
  for (const key of Object.keys(parent)) {
    const v = parent[key];
    if (v === child || (Array.isArray(v) && v.includes(child))) return key;
  }
  return undefined;
}
