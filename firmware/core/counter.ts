/**
 * A monotonic counter in flash that survives a power cut at any write, for
 * the counter-mode codes: a value is handed out only after it is committed,
 * and nothing ever makes the counter go back.
 *
 * File `<prefix>0` or `<prefix>1` (Storage), integers big-endian:
 *
 *   off      len  field
 *   0        4    magic "ICT1"
 *   4        4    base, high 32 bits
 *   8        4    base, low 32 bits
 *   12       4    binding: the profile's fingerprint (core/profile.ts)
 *   16       4*S  step words, FF FF FF FF while unused
 *   16+4S    4    seal: a check of bytes 0..15, written last
 *
 * Value = base + the number of step words used, where "used" runs up to the
 * last word that is not FF FF FF FF: a word partly written when the power
 * went counts as used, so the value it would have given is skipped, never
 * repeated. A press writes the next word to 00 00 00 00, reads it back, and
 * only then hands out its value.
 *
 * Why a whole word per press, and not a bit: the nRF52's flash controller
 * writes 32-bit words, and a word may be written only N_WRITE = 2 times
 * between erases (nRF52840) and a 512-byte block only 181 times (nRF52832).
 * Clearing one bit per press would write each word 32 times. One word per
 * press writes every word once (the Storage header's name word twice, when
 * Espruino erases the file), so a block sees at most 128 + a few writes.
 * Espruino's Storage.write also refuses bytes that are not FF
 * ("File already written with different data"), so bits cannot be cleared
 * twice through it anyway.
 *
 * When a file is full, the next press first writes the other name with
 * base + S, reads it back, seals it, and only then erases the full one. A
 * cut before the seal leaves an unsealed file, which is ignored; a cut after
 * it leaves two sealed files, and the one with the higher value wins. The
 * seal is last in the file, so a copy torn by an interrupted Storage
 * compaction (which copies files front to back) is also unsealed: it is
 * never mistaken for a lower value. Files bound to another profile are
 * ignored (a card that was issued again starts afresh).
 *
 * What this cannot survive: a power cut in the middle of a Storage
 * compaction (Espruino compacts when a new file does not fit) can lose the
 * counter file altogether. load() then finds nothing, and the card, which
 * knows from its profile that its counter was set up, refuses to make codes
 * rather than start again (core/card.ts). Bigger files mean rarer rollovers
 * and so rarer compactions.
 *
 * S defaults to 256 (a 1,044-byte file, 1,076 bytes in Storage): 256
 * presses per file, one rollover per 256 presses.
 */
import type { FlashStore } from "./types";
import { isIntIn, readU32BE, writeU32BE } from "./bytes";

export const DEFAULT_STEPS = 256;
const HEAD = 16;
const MAGIC = 0x49435431; // "ICT1"
const MAX_VALUE = 9007199254740991;
const ZERO = new Uint8Array(4);

interface Slot {
  name: string;
  base: number;
  steps: number;
  used: number;
}

export class MonotonicCounter {
  private slot: Slot | null = null;

  /**
   * store: flash; prefix: file name prefix (1..27 characters); bind: the
   * profile fingerprint the files must carry; steps: presses per new file.
   */
  constructor(
    private readonly store: FlashStore,
    private readonly prefix: string,
    private readonly bind: number,
    private readonly steps: number,
  ) {
    if (typeof prefix !== "string" || prefix.length < 1 || prefix.length > 27) {
      throw new Error("counter prefix must be 1..27 characters");
    }
    if (!isIntIn(bind, 0, 0xffffffff)) throw new Error("counter binding must be a 32-bit unsigned integer");
    if (!isIntIn(steps, 1, 16384)) throw new Error("counter steps per file must be 1..16384");
  }

  /**
   * Find the counter in flash. False when there is no sealed file bound to
   * this profile (never set up, or lost). Erases a stale second file.
   */
  load(): boolean {
    const a = this.inspect(this.prefix + "0");
    const b = this.inspect(this.prefix + "1");
    let best = a;
    if (!best || (b && b.base + b.used > best.base + best.used)) best = b;
    this.slot = best;
    if (!best) return false;
    const other = best === a ? this.prefix + "1" : this.prefix + "0";
    if (this.store.read(other) !== undefined) this.store.erase(other);
    return true;
  }

  /** Set up a new counter whose first value is start (erasing any other counter files). */
  init(start: number): void {
    if (!isIntIn(start, 0, MAX_VALUE)) throw new Error("counter start must be an integer 0..2^53-1");
    this.slot = null;
    this.createFile(this.prefix + "0", start);
    if (this.store.read(this.prefix + "1") !== undefined) this.store.erase(this.prefix + "1");
  }

  /** The value the next call to next() will hand out. */
  current(): number {
    const s = this.ready();
    return s.base + s.used;
  }

  /** Commit the next value to flash, then return it. Throws if flash fails (no value is handed out). */
  next(): number {
    let s = this.ready();
    if (s.used >= s.steps) s = this.rollover(s);
    const at = HEAD + 4 * s.used;
    const value = s.base + s.used;
    // Counted as used before anything is known: a failed write may have cleared some bits.
    s.used++;
    const ok = this.store.write(s.name, ZERO, at);
    const file = this.store.read(s.name);
    if (!ok || !file || file.length < at + 4 || (file[at] | file[at + 1] | file[at + 2] | file[at + 3]) !== 0) {
      throw new Error("counter: step write failed");
    }
    return value;
  }

  private ready(): Slot {
    if (!this.slot) throw new Error("counter not loaded");
    return this.slot;
  }

  private rollover(s: Slot): Slot {
    const name = s.name === this.prefix + "0" ? this.prefix + "1" : this.prefix + "0";
    this.createFile(name, s.base + s.steps);
    this.store.erase(s.name);
    return this.ready();
  }

  /** Write, check and seal a fresh file; it becomes the current slot. */
  private createFile(name: string, base: number): void {
    if (base + this.steps > MAX_VALUE) throw new Error("counter exhausted");
    const size = HEAD + 4 * this.steps + 4;
    const head = new Uint8Array(HEAD);
    const hi = Math.floor(base / 4294967296);
    writeU32BE(head, 0, MAGIC);
    writeU32BE(head, 4, hi);
    writeU32BE(head, 8, base - hi * 4294967296);
    writeU32BE(head, 12, this.bind);
    const seal = new Uint8Array(4);
    writeU32BE(seal, 0, sealOf(head));
    let ok = this.store.write(name, head, 0, size);
    const file = this.store.read(name);
    if (!ok || !file || file.length !== size || !same(file, head, 0)) throw new Error("counter: new file did not verify");
    ok = this.store.write(name, seal, size - 4);
    const made = this.inspect(name);
    if (!ok || !made || made.base !== base) throw new Error("counter: new file did not seal");
    this.slot = made;
  }

  /** A sealed file bound to this profile, or null. */
  private inspect(name: string): Slot | null {
    const f = this.store.read(name);
    if (!f || f.length < HEAD + 8 || (f.length - HEAD) % 4 !== 0) return null;
    if (readU32BE(f, 0) !== MAGIC || readU32BE(f, 12) !== this.bind) return null;
    if (readU32BE(f, f.length - 4) !== sealOf(f)) return null;
    const hi = readU32BE(f, 4);
    if (hi >= 0x200000) return null;
    const steps = (f.length - HEAD - 4) / 4;
    let used = steps;
    while (used > 0 && (f[HEAD + 4 * used - 4] & f[HEAD + 4 * used - 3] & f[HEAD + 4 * used - 2] & f[HEAD + 4 * used - 1]) === 0xff) used--;
    return { name: name, base: hi * 4294967296 + readU32BE(f, 8), steps: steps, used: used };
  }
}

/**
 * The seal over the 16 header bytes: a rotate-xor mix, top bit clear so an
 * unwritten seal (FF FF FF FF) never matches. It detects torn and stray
 * data, not forgery: whoever can write the flash can write any counter.
 */
function sealOf(f: Uint8Array): number {
  let h = 0x5ea1c0de;
  for (let i = 0; i < HEAD; i++) h = ((h << 5) | (h >>> 27)) ^ f[i] ^ (h >>> 13);
  return h & 0x7fffffff;
}

function same(a: Uint8Array, b: Uint8Array, off: number): boolean {
  for (let i = 0; i < b.length; i++) if (a[off + i] !== b[i]) return false;
  return true;
}
