/**
 * core's FlashStore over Espruino's require("Storage").
 *
 * read() wraps readArrayBuffer: on an nRF52 that is memory-mapped flash, so
 * the Uint8Array is a view, not a copy in RAM. It is valid until the next
 * write or erase (Espruino nulls views of an erased file and moves files when
 * it compacts): core reads again after every change.
 * write() returns false instead of throwing: Espruino throws for a write to
 * bytes already written, for a full Storage and for data past the file's end.
 */
import type { FlashStore } from "../core/types";

const storage = require("Storage");

function read(name: string): Uint8Array | undefined {
  const ab = storage.readArrayBuffer(name);
  return ab === undefined ? undefined : new Uint8Array(ab);
}

function write(name: string, data: Uint8Array, offset: number, size?: number): boolean {
  try {
    return storage.write(name, data, offset, size);
  } catch (e) {
    return false;
  }
}

function erase(name: string): void {
  storage.erase(name);
}

export const flashStore: FlashStore = { read: read, write: write, erase: erase };
