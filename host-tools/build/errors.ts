/**
 * The card's error messages, out of the bundle: every `new Error(message)`
 * in the firmware becomes `INKCARD_ERROR(n)`, which makes `new Error("E<n>")`
 * (ERROR_DEFINITION, once in the bundle), and the build writes the
 * table n -> message (the message's source text) next to the bundle
 * (dist/firmware.errors.json). The messages were about a tenth of the
 * bundle; the card only prints them (main.ts: "press failed: E12"), for a
 * developer, who reads the table. Host code runs the sources and keeps its
 * messages. The same message gets the same number everywhere in a build.
 */
import ts from "typescript";

export const ERROR_FUNCTION = "INKCARD_ERROR";
/** What the build puts beside the engine when the code calls it. */
export const ERROR_DEFINITION = `function ${ERROR_FUNCTION}(n) { return new Error("E" + n); }\n`;

/** Messages in the order they were numbered: index + 1 is n. */
export type ErrorTable = string[];

export function shortErrors(table: ErrorTable): ts.TransformerFactory<ts.SourceFile> {
  return (context) => {
    const f = context.factory;
    const visit = (node: ts.Node): ts.Node => {
      if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === "Error" && node.arguments?.length) {
        const text = node.arguments[0].getText();
        let n = table.indexOf(text) + 1;
        if (!n) n = table.push(text);
        return f.createCallExpression(f.createIdentifier(ERROR_FUNCTION), undefined, [f.createNumericLiteral(n)]);
      }
      return ts.visitEachChild(node, visit, context);
    };
    return (sf) => ts.visitEachChild(sf, visit, context);
  };
}

/** The table as the file the build writes: {"E1": "message source", ...}. */
export function errorTableJson(table: ErrorTable): string {
  const o: Record<string, string> = {};
  table.forEach((m, i) => (o["E" + (i + 1)] = m));
  return JSON.stringify(o, null, 1) + "\n";
}
