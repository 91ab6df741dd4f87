/**
 * Module constants into the code that uses them: on the card each one left a
 * variable in RAM for as long as its engine lives (an engine's modules are
 * evaluated anew each time it is built), and the link's frame types, error
 * codes and sizes alone were about sixty of them.
 *
 * esbuild scope-hoists a bundle's modules into one top level, where
 * `export const E_TYPE = 6` becomes `var E_TYPE = 6`, and folds only what
 * it sees in one module. This pass, on that bundle, replaces each use of a
 * top-level variable with its value and drops the declaration when:
 * - its initialiser is a number (or a negated one), a boolean, or a string
 *   used at most once (a longer string used twice would be in flash twice);
 * - nothing else in the bundle declares the same name (no shadowing to get
 *   wrong) and nothing assigns it.
 * A shorthand property `{ X }` becomes `{ X: value }`; property names are
 * never touched.
 */
import ts from "typescript";

export function inlineConstants(): ts.TransformerFactory<ts.SourceFile> {
  return (context) => (sf) => {
    const f = context.factory;
    const candidates = new Map<string, ts.Expression>();
    for (const st of sf.statements) {
      if (!ts.isVariableStatement(st)) continue;
      for (const d of st.declarationList.declarations) {
        if (ts.isIdentifier(d.name) && d.initializer && literal(d.initializer)) candidates.set(d.name.text, d.initializer);
      }
    }
    // Declarations of each name anywhere, assignments, and uses.
    const declared = new Map<string, number>();
    const uses = new Map<string, number>();
    const assigned = new Set<string>();
    // transpileModule's tree may have no parent pointers: keep them here.
    const parents = new Map<ts.Node, ts.Node>();
    const isRef = (n: ts.Identifier): boolean => isReference(n, parents.get(n));
    const scan = (n: ts.Node): void => {
      ts.forEachChild(n, (c) => void parents.set(c, n));
      const name = declaredName(n);
      if (name) declared.set(name, (declared.get(name) ?? 0) + 1);
      if (ts.isBinaryExpression(n) && isAssignment(n.operatorToken.kind) && ts.isIdentifier(n.left)) assigned.add(n.left.text);
      if ((ts.isPrefixUnaryExpression(n) || ts.isPostfixUnaryExpression(n)) && ts.isIdentifier(n.operand) && (n.operator === ts.SyntaxKind.PlusPlusToken || n.operator === ts.SyntaxKind.MinusMinusToken)) {
        assigned.add(n.operand.text);
      }
      if (ts.isIdentifier(n) && isRef(n)) uses.set(n.text, (uses.get(n.text) ?? 0) + 1);
      ts.forEachChild(n, scan);
    };
    scan(sf);
    const inline = new Map<string, ts.Expression>();
    for (const [name, value] of candidates) {
      if (declared.get(name) !== 1 || assigned.has(name)) continue;
      if (ts.isStringLiteral(value) && (uses.get(name) ?? 0) > 1) continue;
      inline.set(name, value);
    }
    if (!inline.size) return sf;

    const copy = (e: ts.Expression): ts.Expression => {
      if (ts.isNumericLiteral(e)) return f.createNumericLiteral(e.text);
      if (ts.isStringLiteral(e)) return f.createStringLiteral(e.text);
      if (e.kind === ts.SyntaxKind.TrueKeyword) return f.createTrue();
      if (e.kind === ts.SyntaxKind.FalseKeyword) return f.createFalse();
      const u = e as ts.PrefixUnaryExpression;
      return f.createParenthesizedExpression(f.createPrefixUnaryExpression(u.operator, copy(u.operand)));
    };
    const visit = (n: ts.Node): ts.Node | undefined => {
      if (ts.isVariableStatement(n) && parents.get(n) === sf) {
        const keep = n.declarationList.declarations.filter((d) => !(ts.isIdentifier(d.name) && inline.has(d.name.text)));
        if (keep.length === n.declarationList.declarations.length) return ts.visitEachChild(n, visit, context);
        if (!keep.length) return undefined;
        return f.updateVariableStatement(n, n.modifiers, f.updateVariableDeclarationList(n.declarationList, keep.map((d) => ts.visitEachChild(d, visit, context))));
      }
      if (ts.isShorthandPropertyAssignment(n) && inline.has(n.name.text)) return f.createPropertyAssignment(n.name.text, copy(inline.get(n.name.text)!));
      if (ts.isIdentifier(n) && isRef(n) && inline.has(n.text)) return copy(inline.get(n.text)!);
      return ts.visitEachChild(n, visit, context);
    };
    return ts.visitEachChild(sf, visit, context);
  };
}

function literal(e: ts.Expression): boolean {
  if (ts.isNumericLiteral(e) || ts.isStringLiteral(e) || e.kind === ts.SyntaxKind.TrueKeyword || e.kind === ts.SyntaxKind.FalseKeyword) return true;
  return ts.isPrefixUnaryExpression(e) && e.operator === ts.SyntaxKind.MinusToken && ts.isNumericLiteral(e.operand);
}

function isAssignment(k: ts.SyntaxKind): boolean {
  return k >= ts.SyntaxKind.FirstAssignment && k <= ts.SyntaxKind.LastAssignment;
}

/** The name a node declares (variable, parameter, function, class, catch binding), if any. */
function declaredName(n: ts.Node): string | undefined {
  if ((ts.isVariableDeclaration(n) || ts.isParameter(n) || ts.isFunctionDeclaration(n) || ts.isFunctionExpression(n) || ts.isClassDeclaration(n) || ts.isClassExpression(n) || ts.isBindingElement(n)) && n.name && ts.isIdentifier(n.name)) {
    return n.name.text;
  }
  return undefined;
}

/** An identifier that reads a variable: not a declaration's name, not a property name, not a label. */
function isReference(n: ts.Identifier, p: ts.Node | undefined): boolean {
  if (!p) return false;
  if (declaredName(p) === n.text && (p as ts.NamedDeclaration).name === n) return false;
  if ((ts.isPropertyAccessExpression(p) && p.name === n) || (ts.isPropertyAssignment(p) && p.name === n) || (ts.isMethodDeclaration(p) && p.name === n)) return false;
  if ((ts.isPropertyDeclaration(p) || ts.isGetAccessor(p) || ts.isSetAccessor(p) || ts.isPropertySignature(p)) && p.name === n) return false;
  if ((ts.isLabeledStatement(p) || ts.isBreakOrContinueStatement(p)) && p.label === n) return false;
  return true;
}
