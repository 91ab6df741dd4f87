/**
 * Espruino's `require("Storage")` over the flash model, laid out in flash the
 * way Espruino 2v2x's src/jsflash.c does it, so that power cuts hit the same
 * bytes they would on a card:
 *
 *   each file: header { u32 LE size | flags << 24, 28-byte name, 0-padded }
 *              then the data, then padding to a 4-byte boundary.
 *
 * Files follow each other from the start of the area; a scan follows the
 * sizes and, at an empty header, looks at the start of the next page once.
 * A file is erased by zeroing the first 4 bytes of its name (it stays as
 * trash until compact()). Writing offset 0 of a file that exists replaces it:
 * the old one is erased FIRST, then the new one is created at the end, so a
 * power cut in between leaves neither. Creating a file with a size reserves
 * that many bytes (0xFF); later writes at an offset may only go to bytes that
 * are still 0xFF. When no gap is big enough, creation compacts (live files
 * are moved down page by page: a cut mid-compaction can lose or duplicate
 * files, as on a card).
 *
 * Return values and error messages are Espruino's. Differences, on purpose:
 * no StorageFile (open()), no drive letters or filename table, compaction
 * never fails for lack of RAM, writeJSON writes standard JSON (Espruino
 * leaves keys unquoted) and readJSON parses standard JSON only, and
 * readArrayBuffer returns a copy (on a card it is a view of flash: use
 * readBytes() for the view).
 */
import { Buffer } from "node:buffer";
import type { Flash } from "./flash.ts";

const HEADER = 32;
const NAME_LEN = 28;
const UNSET = 0xffffffff;
/** Flags in the header's top byte that a real file may carry (none, StorageFile, compressed). */
const REAL_FLAGS = [0, 64, 128];

interface Header {
  /** Header address (offset in the area). */
  addr: number;
  raw: number;
  size: number;
  flags: number;
  name: Uint8Array;
}

export interface StorageOptions {
  /** Address of the area on the chip, used only by hash() (default: MDBT42Q, 0x6C000). */
  baseAddress?: number;
  /** Where Espruino prints "Compacting..." (its console). */
  log?: (text: string) => void;
}

export interface StorageStats {
  totalBytes: number;
  freeBytes: number;
  fileBytes: number;
  fileCount: number;
  trashBytes: number;
  trashCount: number;
}

/** What Storage.write takes: a string, bytes, an array of byte values, or an object (written as JSON). */
export type StorageData = string | ArrayBuffer | ArrayBufferView | number[] | object;

export class Storage {
  private readonly end: number;
  private readonly page: number;
  private readonly baseAddress: number;
  private readonly log: (text: string) => void;

  constructor(
    private readonly flash: Flash,
    options: StorageOptions = {},
  ) {
    this.end = flash.size;
    this.page = flash.pageSize;
    this.baseAddress = options.baseAddress ?? 0x6c000;
    this.log = options.log ?? (() => {});
  }

  // ------------------------------------------------------------------ API

  /** The file as a string of bytes (char codes 0..255), or undefined. */
  read(name: string, offset?: number, length?: number): string | undefined {
    const bytes = this.readRange(name, offset ?? 0, length ?? 0);
    return bytes && Buffer.from(bytes).toString("latin1");
  }

  /** The file's bytes as an ArrayBuffer (a copy), or undefined. */
  readArrayBuffer(name: string): ArrayBuffer | undefined {
    const bytes = this.readBytes(name);
    return bytes && bytes.slice().buffer;
  }

  /** The file's bytes as a view of flash (follows later writes, like memory-mapped flash), or undefined. */
  readBytes(name: string): Uint8Array | undefined {
    return this.readRange(name, 0, 0);
  }

  readJSON(name: string, noExceptions?: boolean): unknown {
    const text = this.read(name);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text);
    } catch (e) {
      if (noExceptions) return undefined;
      throw e;
    }
  }

  /**
   * Create or write into a file (see the header comment). True on success;
   * false for a negative offset or size; throws Espruino's errors otherwise.
   */
  write(name: string, data: StorageData, offset?: number, size?: number): boolean {
    let off = toInt(offset);
    let sz = toInt(size);
    let bytes: Uint8Array;
    if (isPlainObject(data)) {
      bytes = Buffer.from(JSON.stringify(data), "utf8");
      off = 0;
      sz = 0;
    } else {
      bytes = toBytes(data);
    }
    return this.writeFile(nameBytes(name), bytes, off, sz);
  }

  writeJSON(name: string, data: unknown): boolean {
    const text = JSON.stringify(data);
    return this.writeFile(nameBytes(name), Buffer.from(text ?? "", "utf8"), 0, 0);
  }

  erase(name: string): void {
    const h = this.find(nameBytes(name));
    if (h) this.eraseHeader(h);
  }

  eraseAll(): void {
    for (let a = 0; a < this.end; a += this.page) this.flash.erasePage(a);
  }

  /** Names of live files, in flash order; with pattern, those whose name String.match()es it. */
  list(pattern?: RegExp | string): string[] {
    const out: string[] = [];
    this.forEachFile((h) => {
      const name = nameString(h.name);
      if (isReal(h) && (pattern === undefined || name.match(pattern))) out.push(name);
    });
    return out;
  }

  /** Espruino's hash of the names and addresses of the matching files (a signed 32-bit integer). */
  hash(pattern?: RegExp | string): number {
    let h = 0xabcddcba;
    this.forEachFile((hd) => {
      const name = nameString(hd.name);
      if (!isReal(hd) || (hd.flags & 64) || (pattern !== undefined && !name.match(pattern))) return;
      h = ((h << 1) | (h >>> 31)) >>> 0;
      h = (h ^ (this.baseAddress + hd.addr) ^ crc32(Buffer.from(name, "latin1"))) >>> 0;
    });
    return h | 0;
  }

  /** Bytes left after the last file: the biggest file (with header) that can be created without compacting. */
  getFree(): number {
    return this.stats().freeBytes;
  }

  getStats(): StorageStats {
    return this.stats();
  }

  /** Move live files down over erased ones and erase the pages freed. */
  compact(): void {
    this.compactArea();
  }

  // ------------------------------------------------------------------ layout

  private header(addr: number): Header | undefined {
    if (addr + HEADER > this.end) return undefined;
    const b = this.flash.read(addr, HEADER);
    const raw = (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
    const size = raw & 0xffffff;
    if (raw === UNSET || raw === 0 || addr + HEADER + size > this.end) return undefined;
    return { addr, raw, size, flags: raw >>> 24, name: b.subarray(4) };
  }

  private pageAfter(addr: number): number | undefined {
    const next = addr - (addr % this.page) + this.page;
    return next < this.end ? next : undefined;
  }

  /** Where the header after h should be, and the header there (undefined: none). With all, look past one empty page start. */
  private next(h: Header, all: boolean): { addr: number | undefined; header: Header | undefined } {
    const addr = align(h.addr + HEADER + h.size);
    if (addr + HEADER > this.end) return { addr: undefined, header: undefined };
    let header = this.header(addr);
    if (header || !all) return { addr, header };
    const pageStart = this.pageAfter(addr);
    if (pageStart === undefined) return { addr: undefined, header: undefined };
    header = this.header(pageStart);
    return { addr: pageStart, header };
  }

  /** Every header, trash included, in flash order, until fn returns true. */
  private forEachFile(fn: (h: Header) => boolean | void): void {
    let h = this.header(0);
    while (h && !fn(h)) h = this.next(h, true).header;
  }

  /** The first live file of that name. (An empty name matches nothing; Espruino would match trash.) */
  private find(name: Uint8Array): Header | undefined {
    let found: Header | undefined;
    this.forEachFile((h) => {
      if (firstWord(h.name) !== 0 && equal(h.name, name)) found = h;
      return found !== undefined;
    });
    return found;
  }

  private readRange(name: string, offset: number, length: number): Uint8Array | undefined {
    const h = this.find(nameBytes(name));
    if (!h) return undefined;
    let off = Math.max(0, offset | 0);
    let len = length | 0;
    if (len <= 0) len = h.size;
    if (off > h.size) off = h.size;
    if (off + len > h.size) len = h.size - off;
    return this.flash.view(h.addr + HEADER + off, Math.max(0, len));
  }

  private eraseHeader(h: Header): void {
    this.flash.write(h.addr + 4, new Uint8Array(4));
  }

  private isErased(addr: number, len: number): boolean {
    const b = this.flash.read(addr, len);
    for (let i = 0; i < len; i++) if (b[i] !== 0xff) return false;
    return true;
  }

  private stats(): StorageStats {
    const s: StorageStats = { totalBytes: this.end, freeBytes: 0, fileBytes: 0, fileCount: 0, trashBytes: 0, trashCount: 0 };
    let last = 0;
    this.forEachFile((h) => {
      const bytes = align(h.size) + HEADER;
      last = h.addr + bytes;
      if (firstWord(h.name) !== 0) {
        s.fileBytes += bytes;
        s.fileCount++;
      } else {
        s.trashBytes += bytes;
        s.trashCount++;
      }
    });
    s.freeBytes = this.end - last;
    return s;
  }

  // ------------------------------------------------------------------ writing

  private writeFile(name: Uint8Array, data: Uint8Array, offset: number, size: number): boolean {
    if (offset < 0 || size < 0) return false;
    if (size === 0) size = data.length;
    if (size === 0) throw new Error("Can't create zero length file");
    if (size > 0xffffff) throw new Error("Unable to find or create file");
    let h = this.find(name);
    if (offset === 0 && (!h || h.flags !== 0 || h.size !== size || !this.isErased(h.addr + HEADER, size))) {
      if (h && h.flags === 0 && h.size === size && data.length === size && equal(this.flash.read(h.addr + HEADER, size), data)) {
        return true; // the same file again: nothing to write
      }
      if (h) this.eraseHeader(h);
      h = this.create(name, size);
    }
    if (!h) throw new Error("Unable to find or create file");
    if (offset + data.length > h.size) throw new Error("Too much data for file size");
    const addr = h.addr + HEADER + offset;
    if (!this.isErased(addr, data.length)) throw new Error("File already written with different data");
    this.writeAligned(addr, data);
    return true;
  }

  /** Flash takes whole words: a partial first or last word is merged with what is there (jshFlashWriteAligned). */
  private writeAligned(addr: number, data: Uint8Array): void {
    let i = 0;
    const lead = addr % 4;
    if (lead) {
      i = Math.min(4 - lead, data.length);
      const w = this.flash.read(addr - lead, 4);
      w.set(data.subarray(0, i), lead);
      this.flash.write(addr - lead, w);
    }
    const whole = (data.length - i) & ~3;
    if (whole) this.flash.write(addr + i, data.subarray(i, i + whole));
    i += whole;
    if (i < data.length) {
      const w = this.flash.read(addr + i, 4);
      w.set(data.subarray(i), 0);
      this.flash.write(addr + i, w);
    }
  }

  /** Find a gap for a new file (compacting once if that would make room) and write its header. */
  private create(name: Uint8Array, size: number): Header | undefined {
    const required = align(size) + HEADER;
    let compacted = false;
    for (;;) {
      let free = 0;
      let trash = 0;
      let at: number | undefined = 0;
      let found: number | undefined;
      while (at !== undefined && found === undefined) {
        let h = this.header(at);
        while (h) {
          if (firstWord(h.name) === 0) trash += h.size;
          const n = this.next(h, false);
          at = n.addr;
          h = n.header;
        }
        const space = at === undefined ? 0 : this.spaceFrom(at);
        free += space;
        if (at !== undefined && space >= required) found = at;
        else if (at !== undefined) at = this.pageAfter(at);
      }
      if (found !== undefined) {
        const hdr = new Uint8Array(HEADER);
        const raw = size >>> 0; // flags 0: a normal file
        hdr[0] = raw & 255;
        hdr[1] = (raw >>> 8) & 255;
        hdr[2] = (raw >>> 16) & 255;
        hdr[3] = raw >>> 24;
        hdr.set(name, 4);
        this.flash.write(found, hdr);
        return { addr: found, raw, size, flags: 0, name };
      }
      if (compacted || required >= free + trash) return undefined;
      compacted = true;
      if (!this.compactArea()) return undefined;
    }
  }

  /** Space from addr to the next page, or to the end when the next page starts with no file. */
  private spaceFrom(addr: number): number {
    let next = addr - (addr % this.page) + this.page;
    if (next < this.end && !this.header(next)) next = this.end;
    return Math.min(next, this.end) - addr;
  }

  /**
   * Compaction, page by page from the first page holding trash: each page is
   * erased and then written with its share of the live files packed down.
   * Files are held in RAM meanwhile, so a cut after an erase loses what that
   * page was to hold, and may leave a file both at its new and old place.
   */
  private compactArea(): boolean {
    let start = 0;
    let firstTrashPage: number | undefined;
    let scanEnd = 0;
    const live: Uint8Array[] = [];
    let h = this.header(0);
    while (h) {
      if (h.addr % this.page === 0) start = h.addr; // last page that begins with a header
      if (firstWord(h.name) === 0 && firstTrashPage === undefined) firstTrashPage = start;
      scanEnd = h.addr + HEADER + align(h.size);
      h = this.next(h, true).header;
    }
    if (firstTrashPage === undefined) return false;
    this.log("Compacting...\n");
    h = this.header(firstTrashPage);
    while (h) {
      if (isReal(h)) live.push(this.flash.read(h.addr, HEADER + align(h.size)));
      h = this.next(h, true).header;
    }
    const image = new Uint8Array(live.reduce((n, f) => n + f.length, 0));
    let o = 0;
    for (const f of live) {
      image.set(f, o);
      o += f.length;
    }
    const lastPage = scanEnd - 1 - ((scanEnd - 1) % this.page);
    for (let p = firstTrashPage; p <= lastPage; p += this.page) {
      this.flash.erasePage(p);
      const from = p - firstTrashPage;
      if (from < image.length) {
        const part = image.subarray(from, Math.min(image.length, from + this.page));
        this.flash.write(p, part);
      }
    }
    return true;
  }
}

// -------------------------------------------------------------------- helpers

function align(n: number): number {
  return (n + 3) & ~3;
}

function toInt(n: number | undefined): number {
  return n === undefined || !Number.isFinite(n) ? 0 : Math.trunc(n);
}

function isPlainObject(x: unknown): x is object {
  return (
    typeof x === "object" &&
    x !== null &&
    !Array.isArray(x) &&
    !ArrayBuffer.isView(x) &&
    Object.prototype.toString.call(x) !== "[object ArrayBuffer]"
  );
}

/** Bytes of data as Espruino takes them. Works across vm realms (no instanceof). */
function toBytes(data: StorageData): Uint8Array {
  if (typeof data === "string") {
    // Espruino strings are bytes; a string with characters above 255 is stored as UTF-8.
    return Buffer.from(data, /[^\x00-\xff]/.test(data) ? "utf8" : "latin1");
  }
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (Object.prototype.toString.call(data) === "[object ArrayBuffer]") return new Uint8Array(data as ArrayBuffer);
  if (Array.isArray(data)) return Uint8Array.from(data, (v) => Number(v) & 255);
  if (data === undefined || data === null) throw new Error("Can't get pointer to data to write");
  return Buffer.from(String(data), "latin1");
}

/** Espruino's filename: the first 28 bytes of the name, 0-padded (longer names are cut, silently). */
function nameBytes(name: string): Uint8Array {
  const out = new Uint8Array(NAME_LEN);
  out.set(Buffer.from(String(name), "latin1").subarray(0, NAME_LEN));
  return out;
}

function nameString(name: Uint8Array): string {
  let n = name.indexOf(0);
  if (n < 0) n = NAME_LEN;
  return Buffer.from(name.subarray(0, n)).toString("latin1");
}

function firstWord(name: Uint8Array): number {
  return name[0] | name[1] | name[2] | name[3];
}

function isReal(h: Header): boolean {
  return firstWord(h.name) !== 0 && REAL_FLAGS.includes(h.flags);
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** CRC-32 (IEEE 802.3), as Espruino's E.CRC32. */
export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}
