/**
 * The firmware's TypeScript program, built from its own tsconfig (ES5 lib,
 * Espruino globals only), and its type errors as file:line:column lines.
 */
import ts from "typescript";
import { dirname, relative } from "node:path";

export function firmwareProgram(tsconfig: string, rootNames?: string[]): ts.Program {
  const host: ts.ParseConfigFileHost = {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    },
  };
  const parsed = ts.getParsedCommandLineOfConfigFile(tsconfig, { noEmit: true }, host);
  if (!parsed) throw new Error(`${tsconfig}: cannot be read`);
  if (parsed.errors.length) throw new Error(parsed.errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n")).join("\n"));
  return ts.createProgram({
    rootNames: rootNames ?? parsed.fileNames,
    options: parsed.options,
    projectReferences: parsed.projectReferences ?? [],
  });
}

/** Every type error of the program, relative to root, sorted by position. */
export function typeErrors(program: ts.Program, root: string = dirname(program.getCompilerOptions().configFilePath as string)): string[] {
  return ts.sortAndDeduplicateDiagnostics(ts.getPreEmitDiagnostics(program)).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, "\n");
    if (!d.file || d.start === undefined) return `error TS${d.code}: ${text}`;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${relative(root, d.file.fileName)}:${line + 1}:${character + 1}: error TS${d.code}: ${text}`;
  });
}
