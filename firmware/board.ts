import type { BoardConfig } from "./board-config";

/** Replaced by the build with the validated espruino.config.js (esbuild `define`). */
declare const INKCARD_BOARD: BoardConfig;
/** Replaced by the build with package.json's version. */
declare const INKCARD_VERSION: string;

export const BOARD: BoardConfig = INKCARD_BOARD;
export const FIRMWARE_VERSION: string = INKCARD_VERSION;
