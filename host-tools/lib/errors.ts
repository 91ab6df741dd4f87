/**
 * The one kind of error the flash and provision tools show: what went wrong
 * and what to do about it, in words an operator can act on. Messages never
 * carry card output verbatim (it could echo a key back), only what a step
 * expected and the first line of an Espruino error, cleaned by cardError().
 */
export class ToolError extends Error {
  override name = "ToolError";
  constructor(
    /** What went wrong, e.g. "port /dev/ttyUSB0 is busy". */
    readonly problem: string,
    /** What to do, e.g. "close the program that has it open". */
    readonly todo: string,
  ) {
    super(`${problem}: ${todo}`);
  }
}

/**
 * The first "Uncaught ..." line of card output, without anything that could
 * be key material (long runs of hex or base64) and at most 100 characters.
 */
export function cardError(output: string): string | undefined {
  const m = /Uncaught ([^\r\n]*)/.exec(output);
  if (!m) return undefined;
  return m[1].replace(/[A-Za-z0-9+/=]{16,}/g, "…").slice(0, 100);
}
