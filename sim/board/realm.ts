/**
 * The vm context's own built-ins, and conversions across the realm border.
 *
 * Objects the board hands to the firmware must come from the context's realm
 * (its ArrayBuffer, Uint8Array, Error...), or `x instanceof Uint8Array` in the
 * firmware is false although x is one. Values the firmware passes in are read
 * with realm-neutral checks (ArrayBuffer.isView, util.types).
 */
import vm from "node:vm";
import { types } from "node:util";

export interface Intrinsics {
  Object: ObjectConstructor;
  Function: FunctionConstructor;
  Error: ErrorConstructor;
  TypeError: TypeErrorConstructor;
  ArrayBuffer: ArrayBufferConstructor;
  Uint8Array: Uint8ArrayConstructor;
  Array: ArrayConstructor;
  JSON: JSON;
}

export class Realm {
  readonly intrinsics: Intrinsics;

  constructor(readonly context: vm.Context) {
    this.intrinsics = vm.runInContext("({ Object, Function, Error, TypeError, ArrayBuffer, Uint8Array, Array, JSON })", context);
  }

  error(message: string): Error {
    return new this.intrinsics.Error(message);
  }

  typeError(message: string): TypeError {
    return new this.intrinsics.TypeError(message);
  }

  /** A copy of bytes as the context's Uint8Array. */
  uint8Array(bytes: Uint8Array): Uint8Array {
    const out = new this.intrinsics.Uint8Array(bytes.length);
    out.set(bytes);
    return out;
  }

  /** A copy of bytes as the context's ArrayBuffer. */
  arrayBuffer(bytes: Uint8Array): ArrayBuffer {
    return this.uint8Array(bytes).buffer as ArrayBuffer;
  }

  /** A copy of a host array as the context's Array. */
  array<T>(items: readonly T[]): T[] {
    const out = new this.intrinsics.Array<T>();
    out.push(...items);
    return out;
  }

  /** A plain object of the context's realm with the given fields. */
  object<T extends object>(fields: T): T {
    return Object.assign(new this.intrinsics.Object(), fields) as T;
  }

  /** True for a function the firmware defined (as opposed to one the board provides). */
  isOwnFunction(f: unknown): boolean {
    return typeof f === "function" && f instanceof this.intrinsics.Function;
  }

  /**
   * Bytes from the data Espruino accepts wherever it sends bytes (SPI.write,
   * E.toUint8Array, crypto): numbers (one byte each), strings (one byte per
   * character), arrays of those, typed arrays (each element, & 255),
   * ArrayBuffers, and {data, count: N} to repeat data.
   */
  bytes(value: unknown, out: number[] = []): number[] {
    if (typeof value === "number" || typeof value === "boolean") {
      out.push(Number(value) & 255);
    } else if (typeof value === "string") {
      for (let i = 0; i < value.length; i++) out.push(value.charCodeAt(i) & 255);
    } else if (Array.isArray(value)) {
      for (const v of value) this.bytes(v, out);
    } else if (ArrayBuffer.isView(value)) {
      if (types.isDataView(value)) this.bytes(new Uint8Array(value.buffer, value.byteOffset, value.byteLength), out);
      else for (const v of Array.from(value as unknown as ArrayLike<number>)) out.push(Number(v) & 255);
    } else if (types.isArrayBuffer(value)) {
      for (const v of new Uint8Array(value)) out.push(v);
    } else if (value !== null && typeof value === "object" && "data" in value && typeof (value as { count?: unknown }).count === "number") {
      const { data, count } = value as { data: unknown; count: number };
      for (let i = 0; i < count; i++) this.bytes(data, out);
    } else if (value !== null && typeof value === "object") {
      throw this.typeError("If specifying an object, it must be of the form {data : ..., count : N} or {callback : fn}");
    } else {
      throw this.typeError(`Expecting a number or something iterable, got ${value === null ? "null" : typeof value}`);
    }
    return out;
  }

  /** bytes() as a host Uint8Array. */
  u8(value: unknown): Uint8Array {
    return Uint8Array.from(this.bytes(value));
  }
}

/** Espruino strings hold bytes: one character per byte. */
export function bytesToString(bytes: Uint8Array | number[]): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.slice(i, i + 8192));
  return s;
}
