/**
 * The interfaces through which core/ receives everything it uses. core/ never
 * touches a global: main.ts builds these from hal/, tests build them from
 * models, host tools from @noble/hashes.
 */

export type HashName = "SHA1" | "SHA256" | "SHA512";

/** A one-shot hash. On the card: require("crypto"); on a host: @noble/hashes. */
export interface Hash {
  readonly name: HashName;
  /** Block length in bytes (64 for SHA-1/SHA-256, 128 for SHA-512). */
  readonly blockLen: number;
  /** Digest length in bytes. */
  readonly outputLen: number;
  digest(data: Uint8Array): Uint8Array;
}

/**
 * Flash file storage with Espruino's Storage semantics: a file is created with
 * a fixed size (bytes not yet written read 0xFF); a later write at an offset
 * may only clear bits (1 -> 0) of bytes in that file.
 */
export interface FlashStore {
  /** The whole file, or undefined if absent. May be a view of flash: do not modify. */
  read(name: string): Uint8Array | undefined;
  /** Create (size given, offset 0) or write into an existing file. False when it failed. */
  write(name: string, data: Uint8Array, offset: number, size?: number): boolean;
  erase(name: string): void;
}

/** Wall-clock seconds since 1970 (float), as Espruino's getTime(). */
export type Clock = () => number;

/**
 * The e-ink panel as core sees it. A frame is the panel's own RAM layout:
 * 1 bit per pixel, rows top to bottom, MSB = leftmost pixel, 1 = white.
 * An Espruino Graphics.createArrayBuffer(w, h, 1, {msb: true}) buffer drawn
 * with colour 0 on a background of 1 is exactly that.
 */
export interface Panel {
  /** Refresh the panel with frame (full: a full refresh against ghosting, else partial); done() once it is asleep again. */
  show(frame: Uint8Array, full: boolean, done: () => void): void;
}

/** What the card shows. Implemented in core/display.ts over a Panel. */
export interface Display {
  /** A dynamic code and the facts beside it. */
  showCode(code: string, caption: string): void;
  /** No valid profile: never a code. */
  showNotIssued(): void;
  /** The blank idle screen (the code wiped). */
  wipe(): void;
  /**
   * Another screen (the link's, core/link.ts): fn(surface, decode, arg) draws it.
   * Only the latest waits while the panel is busy, as for the others.
   */
  showScreen?(fn: (s: any, decode: (base64: string) => string, arg: unknown) => void, arg: unknown): void;
}
