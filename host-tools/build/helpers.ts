/**
 * The TypeScript helpers the firmware may need, written for Espruino.
 * The bundle is downlevelled with noEmitHelpers; each helper it then calls is
 * defined once here. TypeScript's own versions read built-in prototypes
 * (Object.prototype.hasOwnProperty.call), which Espruino does not expose.
 * A helper not listed is reported by the bundle gate as "compiler helper".
 * Function declarations come first: Espruino does not hoist (see hoist.ts).
 */
export const HELPERS: Readonly<Record<string, string>> = {
  // class B extends A: prototype chain, and static members copied (as TypeScript's __extends does).
  __extends: `function __extends(d, b) {
  function __() { this.constructor = d; }
  for (var p in b) if (p !== "prototype" && b.hasOwnProperty(p)) d[p] = b[p];
  __.prototype = b.prototype;
  d.prototype = new __();
}`,
};

/** Definitions of the helpers `code` calls, to put in front of it. */
export function helpersFor(code: string): string {
  return Object.keys(HELPERS)
    .filter((name) => new RegExp(`\\b${name}\\b`).test(code))
    .map((name) => HELPERS[name])
    .join("\n");
}
