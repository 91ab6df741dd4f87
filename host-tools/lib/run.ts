/**
 * How `inkcard flash` and `inkcard provision` report: progress on stderr,
 * the result on stdout (one JSON line with --json), and every failure as one
 * message saying the problem and what to do, with exit code 1.
 */
import { ToolError } from "./errors.ts";

export interface Output {
  json: boolean;
  verbose: boolean;
}

/** A progress line for the operator (stderr; with --json only under --verbose). */
export function progress(out: Output, command: string): (line: string) => void {
  return (line) => {
    if (!out.json || out.verbose) process.stderr.write(`${command}: ${line}\n`);
  };
}

export async function runTool<T extends object>(command: string, out: Output, fn: () => Promise<T>, describe: (r: T) => string): Promise<void> {
  try {
    const result = await fn();
    if (out.json) process.stdout.write(JSON.stringify({ ok: true, ...result }) + "\n");
    else process.stdout.write(describe(result) + "\n");
  } catch (e) {
    const known = e instanceof ToolError;
    const error = known ? e.problem : e instanceof Error ? `${e.name === "Error" ? "" : `${e.name}: `}${e.message}` : String(e);
    const todo = known ? e.todo : "this is a bug in inkcard: please report it with the command you ran";
    if (out.json) process.stdout.write(JSON.stringify({ ok: false, error, todo }) + "\n");
    else {
      const red = (s: string) => (process.stderr.isTTY && !process.env.NO_COLOR ? `\x1b[31m${s}\x1b[0m` : s);
      process.stderr.write(`${red(`${command} failed:`)} ${error}\n  ${todo}\n`);
    }
    process.exitCode = 1;
  }
}
