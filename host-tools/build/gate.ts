/**
 * The source gate: walks the firmware's TypeScript AST and rejects every
 * construct Espruino cannot run, and every global the card does not have.
 * Identifiers are resolved with the type checker, so a local that shadows a
 * global (a parameter named `E`) is fine and a real global is not.
 * firmware/core/ may use ES built-ins only: everything else is injected.
 * Type-only code (annotations, interfaces, `declare`) emits nothing and is skipped.
 */
import ts from "typescript";
import { isAbsolute, relative, resolve } from "node:path";
import {
  BUILD_DEFINES, ENGINE_LINKS, ES_GLOBALS, ESPRUINO_GLOBALS, MISSING_GLOBALS, MISSING_METHODS, MISSING_STATICS,
  POW_EXPONENT_MAX, POW_EXPONENT_MIN, REQUIRE_MODULES,
} from "./globals.ts";
import { REGEX_CONSTRUCTS, regexProblems } from "./regex.ts";
import type { Violation } from "./violation.ts";

/** Every construct name this gate reports (besides the names in MISSING_GLOBALS / MISSING_STATICS / MISSING_METHODS). */
export const SOURCE_CONSTRUCTS = [
  "destructuring declaration", "destructuring parameter", "destructuring assignment",
  "default parameter", "rest parameter", "array spread", "argument spread", "object spread",
  "bigint literal", "generator", "yield", "async function", "await", "optional chaining",
  "** operator", "**= operator", "computed property key", "labelled statement",
  "Math.pow exponent", "loop closure", "builtin prototype", "extends builtin", "require module",
  "unknown global", "global in core", "var declaration", ...REGEX_CONSTRUCTS,
] as const;

export interface GateOptions {
  /** Absolute path of firmware/core: files under it may reference ES built-ins only. */
  coreDir: string;
  /** Paths in violations are relative to this directory. */
  root: string;
}

/** Gate every non-declaration source file of the program. */
export function gateProgram(program: ts.Program, opts: GateOptions): Violation[] {
  const out: Violation[] = [];
  for (const sf of program.getSourceFiles()) {
    if (sf.isDeclarationFile || program.isSourceFileFromExternalLibrary(sf)) continue;
    gateFile(sf, program.getTypeChecker(), opts, out);
  }
  return out;
}

/** Declared, not defined: in a .d.ts, or under a `declare`. */
function isAmbient(decl: ts.Node): boolean {
  if (decl.getSourceFile().isDeclarationFile) return true;
  for (let n: ts.Node | undefined = decl; n; n = n.parent) if (hasModifier(n, ts.SyntaxKind.DeclareKeyword)) return true;
  return false;
}

function hasModifier(n: ts.Node, kind: ts.SyntaxKind): boolean {
  return ts.canHaveModifiers(n) && (ts.getModifiers(n) ?? []).some((m) => m.kind === kind);
}

function gateFile(sf: ts.SourceFile, checker: ts.TypeChecker, opts: GateOptions, out: Violation[]): void {
  const fromCore = relative(opts.coreDir, resolve(sf.fileName));
  const inCore = !fromCore.startsWith("..") && !isAbsolute(fromCore);
  const file = relative(opts.root, sf.fileName);
  /** offset: characters into the node (a construct inside a regular expression literal). */
  const report = (node: ts.Node, construct: string, message: string, offset = 0) => {
    const { line, character } = sf.getLineAndCharacterOfPosition(node.getStart(sf) + offset);
    out.push({ file, line: line + 1, column: character + 1, construct, message });
  };

  /** True when the identifier names something outside the program: a global, or nothing at all. */
  const isGlobal = (id: ts.Identifier): boolean => {
    const sym = ts.isShorthandPropertyAssignment(id.parent) && id.parent.name === id
      ? checker.getShorthandAssignmentValueSymbol(id.parent)
      : checker.getSymbolAtLocation(id);
    if (!sym) return true;
    if (sym.flags & ts.SymbolFlags.Alias) return false; // an import
    // Ambient: lib and .d.ts declarations, and `declare const X` promises in modules.
    return (sym.declarations ?? []).every(isAmbient);
  };

  const checkGlobal = (id: ts.Identifier) => {
    const name = id.text;
    if (name === "arguments") return; // a function's own arguments object
    if (MISSING_GLOBALS.has(name)) return report(id, name, `${name} does not exist on Espruino`);
    if (ES_GLOBALS.has(name)) return;
    if (ESPRUINO_GLOBALS.has(name) || BUILD_DEFINES.has(name) || ENGINE_LINKS.has(name)) {
      if (inCore) report(id, "global in core", `core/ reads no globals: inject what \`${name}\` provides (main.ts wires hal/ into core/)`);
      return;
    }
    report(id, "unknown global", `\`${name}\` is not a global on the card (allowed: host-tools/build/globals.ts)`);
  };

  const checkLoopClosure = (id: ts.Identifier) => {
    const decl = checker.getSymbolAtLocation(id)?.valueDeclaration;
    if (!decl || !ts.isVariableDeclaration(decl) || !(ts.getCombinedNodeFlags(decl) & ts.NodeFlags.BlockScoped)) return;
    let loop: ts.Node | undefined;
    for (let n: ts.Node = decl.parent; !ts.isSourceFile(n) && !ts.isFunctionLike(n); n = n.parent) {
      if (ts.isIterationStatement(n, false)) { loop = n; break; }
    }
    if (!loop) return;
    for (let n: ts.Node = id.parent; n !== loop; n = n.parent) {
      if (ts.isFunctionLike(n)) {
        return report(id, "loop closure", `a function created in a loop captures \`${id.text}\`, a let/const of that loop: Espruino has no fresh binding per iteration (hoist the function, pass the value)`);
      }
    }
  };

  /** Name of a `.x` or `["x"]` member access. */
  const memberName = (n: ts.PropertyAccessExpression | ts.ElementAccessExpression): string | undefined =>
    ts.isPropertyAccessExpression(n) ? n.name.text
      : ts.isStringLiteralLike(n.argumentExpression) ? n.argumentExpression.text : undefined;

  const checkMember = (n: ts.PropertyAccessExpression | ts.ElementAccessExpression) => {
    const name = memberName(n);
    if (name === undefined) return;
    const at = ts.isPropertyAccessExpression(n) ? n.name : n.argumentExpression;
    if (MISSING_METHODS.has(name)) report(at, name, `.${name}() does not exist on Espruino`);
    if (!ts.isIdentifier(n.expression) || !isGlobal(n.expression)) return;
    const full = `${n.expression.text}.${name}`;
    if (MISSING_STATICS.has(full)) report(n, full, `${full} does not exist on Espruino`);
    if (name === "prototype" && ES_GLOBALS.has(n.expression.text)) {
      report(n, "builtin prototype", `${full}: Espruino's built-in methods are not properties of the prototype (call them on an instance)`);
    }
  };

  /** `RegExp("...", "...")`, with or without new: a literal pattern and flags are checked as a literal's are. */
  const checkRegExp = (n: ts.CallExpression | ts.NewExpression) => {
    if (!ts.isIdentifier(n.expression) || n.expression.text !== "RegExp" || !isGlobal(n.expression)) return;
    const [pattern, flags] = n.arguments ?? [];
    if (pattern && ts.isStringLiteralLike(pattern)) {
      for (const p of regexProblems(pattern.text, "")) report(pattern, p.construct, p.message);
    }
    if (flags && ts.isStringLiteralLike(flags)) {
      for (const p of regexProblems("", flags.text)) report(flags, p.construct, p.message);
    }
  };

  const checkCall = (n: ts.CallExpression) => {
    const callee = n.expression;
    if (ts.isIdentifier(callee) && callee.text === "require" && isGlobal(callee)) {
      const arg = n.arguments[0];
      if (n.arguments.length !== 1 || !arg || !ts.isStringLiteralLike(arg) || !REQUIRE_MODULES.has(arg.text)) {
        report(n, "require module", `require() takes one of the card's built-in modules by literal name: ${[...REQUIRE_MODULES].join(", ")}`);
      }
    }
    if (ts.isPropertyAccessExpression(callee) && callee.name.text === "pow" && ts.isIdentifier(callee.expression)
      && callee.expression.text === "Math" && isGlobal(callee.expression)) {
      const e = n.arguments[1];
      const v = e && ts.isNumericLiteral(e) ? Number(e.text) : NaN;
      if (!(Number.isInteger(v) && v >= POW_EXPONENT_MIN && v <= POW_EXPONENT_MAX)) {
        report(e ?? n, "Math.pow exponent", `Math.pow is exact on Espruino only for a literal integer exponent ${POW_EXPONENT_MIN}..${POW_EXPONENT_MAX}: use a table`);
      }
    }
  };

  /** Identifiers that are names, not references: `a.NAME`, `{ NAME: 1 }`, `let NAME`, labels. */
  const isNamePosition = (id: ts.Identifier): boolean => {
    const p = id.parent as ts.Node & { name?: ts.Node; propertyName?: ts.Node; label?: ts.Node };
    if (ts.isShorthandPropertyAssignment(p)) return false; // `{ x }` reads x
    return p.name === id || p.propertyName === id || p.label === id;
  };

  const visit = (node: ts.Node): void => {
    // Type-only code emits nothing. A class's `extends X` is a value, though.
    if (ts.isExpressionWithTypeArguments(node) && ts.isHeritageClause(node.parent)
      && node.parent.token === ts.SyntaxKind.ExtendsKeyword && ts.isClassLike(node.parent.parent)) {
      if (ts.isIdentifier(node.expression) && isGlobal(node.expression)) {
        report(node, "extends builtin", `a class cannot extend the built-in ${node.expression.getText(sf)} on Espruino (extends Error loses the message)`);
      }
      return visit(node.expression);
    }
    if (ts.isTypeNode(node) || ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node)
      || ts.isHeritageClause(node) && node.token === ts.SyntaxKind.ImplementsKeyword
      || ts.isImportDeclaration(node) || ts.isExportDeclaration(node) || ts.isImportEqualsDeclaration(node)
      || hasModifier(node, ts.SyntaxKind.DeclareKeyword)) return;

    switch (node.kind) {
      case ts.SyntaxKind.ObjectBindingPattern:
      case ts.SyntaxKind.ArrayBindingPattern:
        // Report the outermost pattern once and skip what is inside.
        if (ts.isParameter(node.parent)) report(node, "destructuring parameter", "Espruino has no destructuring: take the object and read its fields");
        else if (!ts.isBindingElement(node.parent)) report(node, "destructuring declaration", "Espruino has no destructuring: read the fields one by one");
        return;
      case ts.SyntaxKind.Parameter: {
        const p = node as ts.ParameterDeclaration;
        if (p.dotDotDotToken) report(p, "rest parameter", "Espruino has no rest parameters: pass an array");
        if (p.initializer) report(p.initializer, "default parameter", "Espruino has no default parameters: test for undefined in the body");
        break;
      }
      case ts.SyntaxKind.SpreadElement:
        if (ts.isArrayLiteralExpression(node.parent)) report(node, "array spread", "Espruino has no spread: copy with a loop");
        else report(node, "argument spread", "Espruino has no spread (and .apply helpers need Array.prototype): pass an array");
        break;
      case ts.SyntaxKind.SpreadAssignment:
        report(node, "object spread", "Espruino has no object spread: copy the fields");
        break;
      case ts.SyntaxKind.BinaryExpression: {
        const b = node as ts.BinaryExpression;
        const op = b.operatorToken.kind;
        if (op === ts.SyntaxKind.EqualsToken && (ts.isObjectLiteralExpression(b.left) || ts.isArrayLiteralExpression(b.left))) {
          report(b.left, "destructuring assignment", "Espruino has no destructuring: assign the fields one by one");
          return visit(b.right);
        }
        if (op === ts.SyntaxKind.AsteriskAsteriskToken) report(b.operatorToken, "** operator", "Espruino has no **: multiply, or use a table");
        if (op === ts.SyntaxKind.AsteriskAsteriskEqualsToken) report(b.operatorToken, "**= operator", "Espruino has no **=: multiply, or use a table");
        break;
      }
      case ts.SyntaxKind.ForOfStatement:
      case ts.SyntaxKind.ForInStatement: {
        const f = node as ts.ForOfStatement | ts.ForInStatement;
        if (ts.isObjectLiteralExpression(f.initializer) || ts.isArrayLiteralExpression(f.initializer)) {
          report(f.initializer, "destructuring assignment", "Espruino has no destructuring: assign the fields in the loop body");
        }
        if (ts.isForOfStatement(f) && f.awaitModifier) report(f.awaitModifier, "await", "Espruino has no async/await: use callbacks or a Promise");
        break;
      }
      case ts.SyntaxKind.VariableDeclarationList:
        if (!(node.flags & ts.NodeFlags.BlockScoped)) {
          report(node, "var declaration", "use let or const: Espruino does not hoist var, and TypeScript rejects a let/const used before its declaration");
        }
        break;
      case ts.SyntaxKind.BigIntLiteral:
        report(node, "bigint literal", "Espruino has no BigInt: use two 32-bit halves");
        break;
      case ts.SyntaxKind.YieldExpression:
        report(node, "yield", "Espruino has no generators");
        break;
      case ts.SyntaxKind.AwaitExpression:
        report(node, "await", "Espruino has no async/await: use callbacks or a Promise");
        break;
      case ts.SyntaxKind.ComputedPropertyName:
        report(node, "computed property key", "Espruino has no computed keys: assign obj[key] = value after creating the object");
        break;
      case ts.SyntaxKind.LabeledStatement:
        report(node, "labelled statement", "Espruino has no labelled break/continue: use a flag or a function");
        break;
      case ts.SyntaxKind.PropertyAccessExpression:
      case ts.SyntaxKind.ElementAccessExpression:
        checkMember(node as ts.PropertyAccessExpression | ts.ElementAccessExpression);
        break;
      case ts.SyntaxKind.CallExpression:
        checkCall(node as ts.CallExpression);
        checkRegExp(node as ts.CallExpression);
        break;
      case ts.SyntaxKind.NewExpression:
        checkRegExp(node as ts.NewExpression);
        break;
      case ts.SyntaxKind.RegularExpressionLiteral: {
        const text = (node as ts.RegularExpressionLiteral).text; // "/pattern/flags"
        const end = text.lastIndexOf("/");
        for (const p of regexProblems(text.slice(1, end), text.slice(end + 1))) report(node, p.construct, p.message, p.offset);
        break;
      }
      case ts.SyntaxKind.Identifier: {
        const id = node as ts.Identifier;
        if (isNamePosition(id)) break;
        if (isGlobal(id)) checkGlobal(id);
        else checkLoopClosure(id);
        break;
      }
    }
    if ((node as { questionDotToken?: ts.Node }).questionDotToken) {
      report(node, "optional chaining", "Espruino has no ?.: test for undefined first");
    }
    if (ts.isFunctionLike(node)) {
      if ((node as ts.FunctionLikeDeclarationBase).asteriskToken) report(node, "generator", "Espruino has no generators");
      if (hasModifier(node, ts.SyntaxKind.AsyncKeyword)) report(node, "async function", "Espruino has no async/await: use callbacks or a Promise");
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
}
