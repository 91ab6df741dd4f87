/**
 * Which property names the card's bundle may rename (esbuild `mangleProps`).
 *
 * Minification renames variables but keeps property names, and the
 * firmware's own (lastIssuerSeq, fingerprint, sinceFull, ...) were about a
 * tenth of the bundle; the MDBT42Q has 40 KB of Storage for the bundle and
 * everything the card keeps. A name is renamed only when the type checker
 * shows it is the firmware's alone:
 *
 * - it is declared as a member of an interface, class or type literal in a
 *   firmware source, but not in a declaration file, not in hal/ (where
 *   types describe what Espruino hands over: onWrite's {data}) and not in
 *   board-config.ts (the board settings are JSON.parse'd at run time, so
 *   their keys must stay);
 * - and no use of it, anywhere in the firmware, resolves to anything else:
 *   Espruino's API or the ES5 library (declaration files), a value of type
 *   any (the option objects handed to NRF, SPI, setWatch), or an object
 *   literal's own property (what is printed as JSON: ink-id's answer);
 * - and no declaration file declares a member of that name: an interface
 *   of ours may describe an object Espruino makes (core/screens.ts Surface
 *   is its Graphics), which the checker cannot tell from one we make.
 *
 * Every occurrence of a renamed name is renamed consistently across shell
 * and engines: the whole bundle is minified in one pass (build.ts). Quoted
 * keys (`o["x"]`) are never renamed.
 */
import ts from "typescript";
import { basename, join, sep } from "node:path";

export function internalProperties(program: ts.Program, firmwareDir: string): string[] {
  const checker = program.getTypeChecker();
  const declared = new Set<string>();
  const external = new Set<string>();
  const ours = (d: ts.Declaration): boolean => {
    const f = d.getSourceFile();
    return !f.isDeclarationFile && f.fileName.startsWith(firmwareDir) && !f.fileName.startsWith(join(firmwareDir, "hal") + sep) && basename(f.fileName) !== "board-config.ts";
  };
  const member = (d: ts.Declaration): boolean =>
    ts.isPropertySignature(d) || ts.isPropertyDeclaration(d) || ts.isMethodSignature(d) || ts.isMethodDeclaration(d) ||
    ts.isGetAccessorDeclaration(d) || ts.isSetAccessorDeclaration(d) || (ts.isParameter(d) && ts.isConstructorDeclaration(d.parent));

  for (const file of program.getSourceFiles()) {
    if (file.isDeclarationFile) {
      const members = (node: ts.Node): void => {
        if ((ts.isPropertySignature(node) || ts.isMethodSignature(node) || ts.isPropertyDeclaration(node) || ts.isMethodDeclaration(node)) && ts.isIdentifier(node.name)) external.add(node.name.text);
        ts.forEachChild(node, members);
      };
      members(file);
      continue;
    }
    if (!file.fileName.startsWith(firmwareDir)) continue;
    const visit = (node: ts.Node): void => {
      let name: ts.Node | undefined;
      if (ts.isPropertyAccessExpression(node)) name = node.name;
      else if ((ts.isPropertyAssignment(node) || ts.isMethodDeclaration(node) || ts.isPropertySignature(node) || ts.isPropertyDeclaration(node) || ts.isMethodSignature(node)) && ts.isIdentifier(node.name)) name = node.name;
      else if (ts.isShorthandPropertyAssignment(node)) name = node.name;
      else if (ts.isParameter(node) && ts.isConstructorDeclaration(node.parent) && node.modifiers?.length && ts.isIdentifier(node.name)) name = node.name;
      if (name && ts.isIdentifier(name) || (name && ts.isPrivateIdentifier(name))) {
        const text = (name as ts.Identifier).text;
        // For an object literal's property, what it is checked against (its contextual type's member), if anything.
        let decls: readonly ts.Declaration[] = [];
        if (ts.isPropertyAssignment(node) || ts.isShorthandPropertyAssignment(node) || (ts.isMethodDeclaration(node) && ts.isObjectLiteralExpression(node.parent))) {
          const lit = node.parent as ts.ObjectLiteralExpression;
          const ctx = checker.getContextualType(lit);
          const prop = ctx && !(ctx.flags & ts.TypeFlags.Any) ? checker.getPropertyOfType(checker.getApparentType(ctx), text) : undefined;
          decls = prop?.declarations ?? [];
          // A union's members: every one that has the property.
          if (!decls.length && ctx?.isUnion()) decls = ctx.types.flatMap((t) => t.getProperty(text)?.declarations ?? []);
        } else {
          const sym = checker.getSymbolAtLocation(name);
          decls = sym?.declarations ?? [];
        }
        if (!decls.length) external.add(text);
        for (const d of decls) {
          if (ours(d) && member(d)) declared.add(text);
          else external.add(text);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(file);
  }
  return [...declared].filter((n) => !external.has(n)).sort();
}
