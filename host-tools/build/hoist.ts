/**
 * Espruino does not hoist: a function declaration creates the function only when
 * the statement runs (checked on 2v29: `(function(){ g(); function g(){} })()`
 * throws ReferenceError). JavaScript hoists it, and TypeScript's ES5 output relies
 * on that (`__extends(C, _super); function C() {...}`), as may the firmware's own
 * code. This transformer does the hoisting at build time: in every function body
 * and at the top level, function declarations move, in order, before the other
 * statements. That is what JavaScript would have done, so meaning is unchanged.
 * (`var` has the same problem; the source gate forbids it, and TypeScript rejects
 * a let/const used before its declaration.)
 */
import ts from "typescript";

export const hoistFunctionDeclarations: ts.TransformerFactory<ts.SourceFile> = (context) => {
  const hoist = <T extends ts.Statement>(statements: ts.NodeArray<T>): T[] => [
    ...statements.filter((s) => ts.isFunctionDeclaration(s)),
    ...statements.filter((s) => !ts.isFunctionDeclaration(s)),
  ];
  const visit = (node: ts.Node): ts.Node => {
    if (!ts.isFunctionLike(node)) return ts.visitEachChild(node, visit, context);
    const body = (node as ts.FunctionLikeDeclarationBase).body;
    return ts.visitEachChild(node, (child) => {
      const out = visit(child);
      return child === body && ts.isBlock(out) ? context.factory.updateBlock(out, hoist(out.statements)) : out;
    }, context);
  };
  return (sf) => {
    const out = ts.visitEachChild(sf, visit, context);
    return context.factory.updateSourceFile(out, hoist(out.statements));
  };
};
