/**
 * Values printed the way Espruino prints them (src/jswrap_json.c,
 * jsfGetJSONWithCallback): print() of a non-string, and the REPL's `=value`.
 *
 *   print({a:1})           {"a": 1}                     (JSON-like, keys quoted)
 *   REPL: {a:1,b:"x"}      ={ a: 1, b: "x" }            (quotes dropped, long arrays cut)
 *   new Uint8Array([1,2])  new Uint8Array([1, 2])
 *   undefined, NaN         undefined, NaN
 */
import { types } from "node:util";

export interface InspectOptions {
  /** REPL result style: unquoted keys, long arrays and strings shortened. */
  repl: boolean;
  /** Tells the board's own functions (printed as native code) from the firmware's. */
  isNative: (f: Function) => boolean;
}

const LIMIT_AMOUNT = 15;
const LIMITED_AMOUNT = 5;
const LIMIT_STRING = 60;
const LIMITED_STRING = 27;
const ITEMS_ON_LINE = 4;
const LIMIT_TEXT = " ... ";
const ID = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

export function inspect(value: unknown, options: InspectOptions): string {
  const seen = new Set<object>();
  const out: string[] = [];
  const emit = (s: string): void => {
    out.push(s);
  };

  const newline = (indent: number) => emit("\n" + "  ".repeat(indent));
  const needsNewLine = (v: unknown) => !(v === undefined || v === null || typeof v === "number" || typeof v === "boolean");

  const quote = (s: string) => JSON.stringify(s);

  function walk(v: unknown, indent: number): void {
    if (v === undefined) return emit("undefined");
    if (v === null) return emit("null");
    if (typeof v === "string") {
      if (options.repl && v.length > LIMIT_STRING) {
        return emit(quote(v.slice(0, LIMITED_STRING)) + LIMIT_TEXT + quote(v.slice(-LIMITED_STRING)));
      }
      return emit(quote(v));
    }
    if (typeof v === "number") return emit(numberText(v));
    if (typeof v === "boolean") return emit(String(v));
    if (typeof v === "function") return emit(functionText(v, options));
    if (typeof v !== "object") return emit(String(v));
    if (seen.has(v)) return emit(LIMIT_TEXT);
    seen.add(v);
    try {
      if (types.isArrayBuffer(v) || ArrayBuffer.isView(v)) emitBuffer(v);
      else if (Array.isArray(v)) emitArray(v, indent);
      else emitObject(v as Record<string, unknown>, indent);
    } finally {
      seen.delete(v);
    }
  }

  function emitBuffer(v: ArrayBuffer | ArrayBufferView): void {
    const isPlain = types.isArrayBuffer(v);
    const name = isPlain ? "Uint8Array" : (Object.getPrototypeOf(v)?.constructor?.name ?? "Uint8Array");
    const items: number[] = isPlain
      ? [...new Uint8Array(v as ArrayBuffer)]
      : types.isDataView(v)
        ? [...new Uint8Array(v.buffer, v.byteOffset, v.byteLength)]
        : Array.from(v as unknown as ArrayLike<number>, Number);
    if (items.every((x) => x === 0)) {
      return emit(`new ${isPlain ? "ArrayBuffer" : name}(${items.length})`);
    }
    const limited = options.repl && items.length > LIMIT_AMOUNT;
    const parts: string[] = [];
    items.forEach((x, i) => {
      if (limited && i >= LIMITED_AMOUNT && i < items.length - LIMITED_AMOUNT) return;
      parts.push((limited && i === items.length - LIMITED_AMOUNT ? LIMIT_TEXT : "") + numberText(x));
    });
    emit(`new ${name}([${parts.join(", ")}])${isPlain ? ".buffer" : ""}`);
  }

  function emitArray(a: unknown[], indent: number): void {
    const limited = options.repl && a.length > LIMIT_AMOUNT;
    emit("[ ");
    let needNewLine = false;
    let first = true;
    for (let i = 0; i < a.length; i++) {
      if (limited && i >= LIMITED_AMOUNT && i < a.length - LIMITED_AMOUNT) continue;
      if (!first) emit(", ");
      first = false;
      if (limited && i === a.length - LIMITED_AMOUNT) emit(LIMIT_TEXT);
      const item = a[i];
      const newNeeds = needsNewLine(item);
      if (needNewLine || newNeeds) newline(indent + 1);
      walk(item, indent + 1);
      needNewLine = newNeeds;
    }
    if (needNewLine) newline(indent);
    emit(" ]");
  }

  function emitObject(o: Record<string, unknown>, indent: number): void {
    emit("{ ");
    let needNewLine = false;
    let sinceNewLine = 0;
    let first = true;
    for (const key of Object.keys(o)) {
      let item: unknown;
      try {
        item = o[key];
      } catch {
        continue;
      }
      sinceNewLine++;
      if (!first) emit(", ");
      const newNeeds = needsNewLine(item);
      if (sinceNewLine > ITEMS_ON_LINE) needNewLine = true;
      if (needNewLine || newNeeds) {
        newline(indent + 1);
        sinceNewLine = 0;
      }
      emit((options.repl && (ID.test(key) || /^\d+$/.test(key)) ? key : quote(key)) + ": ");
      first = false;
      walk(item, indent + 1);
      needNewLine = newNeeds;
    }
    if (needNewLine) newline(indent);
    emit(" }");
  }

  walk(value, 0);
  return out.join("");
}

function numberText(n: number): string {
  if (Object.is(n, -0)) return "0";
  return String(n);
}

function functionText(f: Function, options: InspectOptions): string {
  if (options.isNative(f)) return "function () { [native code] }";
  const src = Function.prototype.toString.call(f);
  if (options.repl) {
    const head = /^[^(]*\(([^)]*)\)/.exec(src);
    return `function (${head ? head[1].replace(/\s+/g, "") : ""}) {${LIMIT_TEXT}}`;
  }
  return src;
}
