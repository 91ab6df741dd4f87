/**
 * A model of the nRF52's internal NOR flash, the medium under Espruino's
 * Storage (sim/board/storage.ts).
 *
 * - Fixed size, 4096-byte pages; an erased byte reads 0xFF.
 * - A write programs bits: the result is old & new, so a write can only clear
 *   bits (writing 1 over 0 changes nothing), as on real NOR flash.
 * - Writes are whole 32-bit words at word addresses, as the NVMC takes them
 *   (Espruino's jshFlashWrite asserts the same); sub-word writes are the
 *   caller's read-modify-write, and each one costs that word a write.
 * - Wear limits between erases are counted: a word may be written
 *   N_WRITE = 2 times (nRF52840) and a 512-byte block 181 times (nRF52832).
 *   `stats()` reports the worst case; `strict` makes a violation throw.
 * - Power cuts: `cutAfterWrites(n, bytes)` lets n-1 more flash operations
 *   (word writes and page erases) complete; the n-th is the last, done only
 *   for its first `bytes` bytes (a cut mid-write) or wholly, and from then on
 *   every operation, reads included, throws PowerCut until `powerUp()`.
 * - Persistence: given `file`, the flash lives in that file, write-through
 *   (each operation updates the file before it returns), so a crash of the
 *   simulator loses nothing the card had written.
 */
import * as fs from "node:fs";

export const PAGE_SIZE = 4096;
/** nRF52840: times one 32-bit word may be written between erases. */
export const N_WRITE_WORD = 2;
/** nRF52832: writes per 512-byte block between erases. */
export const N_WRITE_BLOCK = 181;
export const BLOCK_SIZE = 512;

/** Thrown by every flash operation once the power has been cut. */
export class PowerCut extends Error {
  constructor() {
    super("power cut");
    this.name = "PowerCut";
  }
}

export interface FlashOptions {
  /** Bytes; a whole number of pages. Default: 10 pages, Espruino's Storage area on an MDBT42Q (nRF52832). */
  size?: number;
  /** Keep the flash in this file (created erased if missing, loaded if present). */
  file?: string;
  /** Initial contents (size bytes), e.g. a snapshot(); ignored when file exists. */
  image?: Uint8Array;
  /** Throw when a write exceeds the nRF52 wear limits above (default: only count). */
  strict?: boolean;
}

/** One flash operation, as recorded in Flash.trace. */
export interface FlashOp {
  op: "write" | "erase";
  addr: number;
  len: number;
}

export interface FlashStats {
  /** Word-write operations since creation (a multi-word write counts once). */
  writes: number;
  /** Page erases since creation. */
  erases: number;
  /** Most writes any one word has had since its page was last erased. */
  maxWordWrites: number;
  /** Most writes any 512-byte block has had since its page was last erased. */
  maxBlockWrites: number;
}

export class Flash {
  readonly size: number;
  readonly pageSize = PAGE_SIZE;
  private readonly mem: Uint8Array;
  private readonly wordWrites: Uint8Array;
  private readonly blockWrites: Uint16Array;
  private readonly strict: boolean;
  private fd: number | undefined;
  private writes = 0;
  private erases = 0;
  private maxWord = 0;
  private maxBlock = 0;
  /** Operations still allowed before the cut, or -1 for none pending. */
  private opsLeft = -1;
  private cutBytes: number | undefined;
  private off = false;
  /** When set, every operation is appended here (for tests that cut at each one). */
  trace: FlashOp[] | undefined;

  constructor(options: FlashOptions = {}) {
    const size = options.size ?? 10 * PAGE_SIZE;
    if (!Number.isInteger(size) || size <= 0 || size % PAGE_SIZE) {
      throw new Error(`flash size must be a positive multiple of ${PAGE_SIZE} bytes, got ${size}`);
    }
    this.size = size;
    this.strict = options.strict ?? false;
    this.mem = new Uint8Array(size).fill(0xff);
    if (options.image !== undefined) {
      if (options.image.length !== size) throw new Error(`flash image holds ${options.image.length} bytes, expected ${size}`);
      this.mem.set(options.image);
    }
    this.wordWrites = new Uint8Array(size / 4);
    this.blockWrites = new Uint16Array(size / BLOCK_SIZE);
    if (options.file !== undefined) this.attach(options.file);
  }

  private attach(file: string): void {
    if (fs.existsSync(file)) {
      const data = fs.readFileSync(file);
      if (data.length !== this.size) {
        throw new Error(`flash file ${file} holds ${data.length} bytes, expected ${this.size}`);
      }
      this.mem.set(data);
      this.fd = fs.openSync(file, "r+");
    } else {
      this.fd = fs.openSync(file, "w+");
      fs.writeSync(this.fd, this.mem, 0, this.size, 0);
    }
  }

  /** Stop writing through to the file (the flash stays usable in memory). */
  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  /** True once a cut has happened and until powerUp(). */
  get poweredOff(): boolean {
    return this.off;
  }

  /**
   * Cut the power at the n-th flash operation from now (n >= 1). With bytes,
   * that operation completes only for its first `bytes` bytes (0: none).
   */
  cutAfterWrites(n: number, bytes?: number): void {
    if (!Number.isInteger(n) || n < 1) throw new Error("cutAfterWrites: n must be an integer >= 1");
    if (bytes !== undefined && (!Number.isInteger(bytes) || bytes < 0)) {
      throw new Error("cutAfterWrites: bytes must be an integer >= 0");
    }
    this.opsLeft = n;
    this.cutBytes = bytes;
  }

  /** Power back on: the flash keeps whatever was written before the cut. */
  powerUp(): void {
    this.off = false;
    this.opsLeft = -1;
    this.cutBytes = undefined;
  }

  stats(): FlashStats {
    return { writes: this.writes, erases: this.erases, maxWordWrites: this.maxWord, maxBlockWrites: this.maxBlock };
  }

  /** A copy of the whole flash (works with the power off: it is the bench's view, not the chip's). */
  snapshot(): Uint8Array {
    return this.mem.slice();
  }

  /**
   * A second chip holding what this one holds now, as a flash dump written
   * into another chip would (a clone of the card): in memory, same size, its
   * own wear counts from zero. Works with the power off, as snapshot() does.
   */
  copy(): Flash {
    return new Flash({ size: this.size, image: this.snapshot() });
  }

  /** A copy of len bytes at addr. */
  read(addr: number, len: number): Uint8Array {
    this.checkPower();
    this.checkRange(addr, len);
    return this.mem.slice(addr, addr + len);
  }

  /**
   * The bytes at addr without copying, like memory-mapped flash: the view
   * follows later writes and erases. Never write through it.
   */
  view(addr: number, len: number): Uint8Array {
    this.checkPower();
    this.checkRange(addr, len);
    return this.mem.subarray(addr, addr + len);
  }

  /** Program whole words at a word address: each byte becomes old & new. */
  write(addr: number, data: Uint8Array): void {
    this.checkPower();
    if (addr % 4 || data.length % 4) {
      throw new Error(`flash write must be whole words at a word address (addr ${addr}, ${data.length} bytes)`);
    }
    this.checkRange(addr, data.length);
    this.countWear(addr, data.length);
    const n = this.lastOp() ? Math.min(this.cutBytes ?? data.length, data.length) : data.length;
    for (let i = 0; i < n; i++) this.mem[addr + i] &= data[i];
    this.writes++;
    this.trace?.push({ op: "write", addr, len: data.length });
    this.persist(addr, data.length);
    this.afterOp();
  }

  /** Erase the page holding addr (a cut mid-erase leaves the page partly erased). */
  erasePage(addr: number): void {
    this.checkPower();
    this.checkRange(addr, 1);
    const start = addr - (addr % PAGE_SIZE);
    const n = this.lastOp() ? Math.min(this.cutBytes ?? PAGE_SIZE, PAGE_SIZE) : PAGE_SIZE;
    this.mem.fill(0xff, start, start + n);
    if (n === PAGE_SIZE) {
      this.wordWrites.fill(0, start / 4, (start + PAGE_SIZE) / 4);
      this.blockWrites.fill(0, start / BLOCK_SIZE, (start + PAGE_SIZE) / BLOCK_SIZE);
    }
    this.erases++;
    this.trace?.push({ op: "erase", addr: start, len: PAGE_SIZE });
    this.persist(start, PAGE_SIZE);
    this.afterOp();
  }

  private countWear(addr: number, len: number): void {
    for (let w = addr / 4; w < (addr + len) / 4; w++) {
      const c = ++this.wordWrites[w];
      if (c > this.maxWord) this.maxWord = c;
      if (this.strict && c > N_WRITE_WORD) {
        throw new Error(`flash word at ${hex(w * 4)} written ${c} times since erase (nRF52840 allows ${N_WRITE_WORD})`);
      }
    }
    // The NVMC writes word by word, so a block counts one write per word.
    for (let a = addr; a < addr + len; a += 4) {
      const b = Math.floor(a / BLOCK_SIZE);
      const c = ++this.blockWrites[b];
      if (c > this.maxBlock) this.maxBlock = c;
      if (this.strict && c > N_WRITE_BLOCK) {
        throw new Error(`flash block at ${hex(b * BLOCK_SIZE)} written ${c} times since erase (nRF52832 allows ${N_WRITE_BLOCK})`);
      }
    }
  }

  private checkPower(): void {
    if (this.off) throw new PowerCut();
  }

  private checkRange(addr: number, len: number): void {
    if (!Number.isInteger(addr) || !Number.isInteger(len) || addr < 0 || len < 0 || addr + len > this.size) {
      throw new Error(`flash access out of range: ${len} bytes at ${addr} (size ${this.size})`);
    }
  }

  private lastOp(): boolean {
    return this.opsLeft === 1;
  }

  private afterOp(): void {
    if (this.opsLeft < 0) return;
    if (--this.opsLeft === 0) {
      this.off = true;
      this.opsLeft = -1;
      throw new PowerCut();
    }
  }

  private persist(addr: number, len: number): void {
    if (this.fd !== undefined) fs.writeSync(this.fd, this.mem, addr, len, addr);
  }
}

function hex(n: number): string {
  return "0x" + n.toString(16);
}
