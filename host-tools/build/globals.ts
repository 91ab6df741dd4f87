/**
 * What the card's JavaScript may reference, and what it must not: the rule set
 * both gates (gate.ts on the TypeScript sources, bundle-gate.ts on the built
 * bundle) enforce. Source of truth: the Espruino interpreter (2v2x), see
 * ../../../shared/design.md "The JavaScript that Espruino runs".
 */

/**
 * ECMAScript built-ins that Espruino has (test/build/espruino.test.ts checks each on
 * the interpreter). Not there in 2v29: RangeError, EvalError, URIError. Note that
 * Espruino's own errors are not `instanceof TypeError`, and `new TypeError()` is not
 * `instanceof Error`. firmware/core/ may use only these globals.
 */
export const ES_GLOBALS: ReadonlySet<string> = new Set([
  "undefined", "NaN", "Infinity",
  "Object", "Function", "Array", "String", "Number", "Boolean", "Math", "JSON", "Date", "RegExp", "Promise",
  "Error", "TypeError", "ReferenceError", "SyntaxError",
  "ArrayBuffer", "DataView", "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
  "Int32Array", "Uint32Array", "Float32Array", "Float64Array",
  "parseInt", "parseFloat", "isNaN", "isFinite", "encodeURIComponent", "decodeURIComponent",
]);

/**
 * Espruino's own globals: exactly the values firmware/types/espruino.d.ts declares
 * (a test keeps the two in step). Only hal/ and main.ts may use them.
 */
export const ESPRUINO_GLOBALS: ReadonlySet<string> = new Set([
  "setWatch", "clearWatch", "digitalWrite", "digitalRead", "pinMode",
  "setTimeout", "clearTimeout", "setInterval", "clearInterval",
  "getTime", "setTime", "getSerial", "print", "console", "process", "atob",
  "SPI", "Graphics", "require", "E", "NRF", "reset", "load",
]);

/** Modules `require()` may name: those espruino.d.ts types. */
export const REQUIRE_MODULES: ReadonlySet<string> = new Set(["Storage", "crypto"]);

/** Replaced by esbuild `define` at build time: allowed in sources, never left in the bundle. */
export const BUILD_DEFINES: ReadonlySet<string> = new Set(["INKCARD_BOARD", "INKCARD_VERSION"]);

/**
 * Names that link main.ts (the shell) to the engines, bound by the functions
 * build.ts wraps the code in: INKCARD_ENGINE and INKCARD_LINK(INKCARD_STATE,
 * INKCARD_ENGINE_OUT) return INKCARD_ENGINE_OUT, and INKCARD_READ_BOARD(),
 * the one copy of the board's JSON that the shell and both engines parse.
 * Allowed in sources, never free in the bundle.
 */
export const ENGINE_LINKS: ReadonlySet<string> = new Set(["INKCARD_ENGINE", "INKCARD_LINK", "INKCARD_PANEL", "INKCARD_STATE", "INKCARD_ENGINE_OUT", "INKCARD_READ_BOARD"]);

/** Well-known globals Espruino lacks, each reported under its own name. */
export const MISSING_GLOBALS: ReadonlySet<string> = new Set([
  "Map", "Set", "WeakMap", "WeakSet", "WeakRef", "Symbol", "BigInt",
]);

/** Static members of built-ins that Espruino lacks, by "Object.member". */
export const MISSING_STATICS: ReadonlySet<string> = new Set([
  "Math.imul", "Array.from", "Array.of", "Object.freeze", "Number.isInteger",
]);

/**
 * Methods Espruino lacks on every receiver. replaceAll is rejected as the team's rules
 * say, though String.prototype.replaceAll exists since Espruino 2v22 (works on 2v29).
 */
export const MISSING_METHODS: ReadonlySet<string> = new Set(["replaceAll"]);

/** Math.pow is exact on Espruino only for these literal integer exponents. */
export const POW_EXPONENT_MIN = 0;
export const POW_EXPONENT_MAX = 9;
