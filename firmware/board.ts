import type { BoardConfig } from "./board-config";

/** Replaced by the build with the validated espruino.config.js (esbuild `define`). */
declare const INKCARD_BOARD: BoardConfig;
/** Declared by the build beside the engines, for the shell and both engines: JSON.parse of the same config. */
declare function INKCARD_READ_BOARD(): BoardConfig;
/** Replaced by the build with package.json's version. */
declare const INKCARD_VERSION: string;

export const BOARD: BoardConfig = INKCARD_BOARD;
export const FIRMWARE_VERSION: string = INKCARD_VERSION;

/**
 * A new copy of the board settings at each call, parsed from a string (which
 * stays in flash). engine.ts uses it rather than BOARD so that, once it has
 * taken what it needs, the rest is garbage: BOARD is a variable that would stay
 * in RAM as long as any engine function does (esbuild puts an object-valued
 * define in a variable of its own).
 */
export function readBoard(): BoardConfig {
  return INKCARD_READ_BOARD();
}
