/**
 * The engine: everything an event needs (board settings, card, display,
 * panel driver, hashes), built from nothing each time main.ts (the shell)
 * opens it and dropped by the shell once the panel sleeps again.
 *
 * Why: Espruino keeps every function object, class and closure of a loaded
 * program in RAM for good (about 5 variables per function, plus each scope
 * and the data they hold), while the function's code stays in flash. The
 * build (host-tools/build/build.ts) places this module's code inside one
 * function, INKCARD_ENGINE(state), that main.ts calls; so at idle none of
 * the functions below exist, and a press builds them, uses them and lets
 * them go. What must outlive one engine lives in the shell's EngineState.
 *
 * This file is the body of that function, not an ordinary module: it reads
 * the function's parameter INKCARD_STATE and hands the engine back in
 * INKCARD_ENGINE_OUT, which the function returns. It exports nothing (an
 * export would make esbuild emit module.exports): its types are in engine-api.ts.
 */
import type { BoardConfig } from "./board-config";
import { FIRMWARE_VERSION, readBoard } from "./board";
import { bytesToHex } from "./core/bytes";
import { Card } from "./core/card";
import { createDisplay } from "./core/display";
import { lockName } from "./core/profile";
import { clock } from "./hal/clock";
import { boardHashes } from "./hal/crypto";
import { Ssd1681 } from "./hal/ssd1681";
import { flashStore } from "./hal/storage";
import type { Engine, EngineState } from "./engine-api";

/** The wrapper's parameter. */
declare const INKCARD_STATE: EngineState;
/** What the wrapper returns. */
declare let INKCARD_ENGINE_OUT: Engine;

const state = INKCARD_STATE;
/** Set by make(); module-level so that the functions below do not keep make()'s scope, and the board with it. */
let driver: Ssd1681 | undefined;
let card: Card | undefined;
let boardName = "";
let lockFile = "";

/** The display's done() for the update under way (the driver takes one at a time). */
let shownDone: (() => void) | undefined;

/**
 * The driver's show(), telling the shell when the panel is asleep with nothing left to send.
 * No closure: one made here would keep this call's frame alive until the next update had
 * allocated its own (two frames at once ran the card out of memory, issue 9).
 */
function show(frame: Uint8Array, full: boolean, done: () => void): void {
  shownDone = done;
  (driver as Ssd1681).show(frame, full, shown);
  state.updating = true; // after show(): one that threw started nothing
}

function shown(): void {
  const done = shownDone as () => void;
  shownDone = undefined;
  state.updating = false;
  try {
    done(); // may start the update that waited
  } finally {
    if (!state.updating) state.idle();
  }
}

/**
 * The frame (5 KB: about 390 variables in a row) is made by the shell right
 * after its garbage collection, before anything of the engine: so it takes
 * the lowest free run, the same place every time, and the few variables
 * that outlive a press (a timer, a string of the shell), made while frame
 * and engine are in RAM, land above it. Made here, after the engine, it
 * went wherever a run was left: the survivors of earlier presses broke RAM
 * up until, after some dozens of presses, Espruino found no run and spread
 * the frame over ordinary string blocks, about 170 variables more, taking a
 * burst of presses past its bound (test/card/presses.test.ts; reproduced by
 * repeating it). The engine makes it itself only before the shell knows its
 * size: at boot, with RAM in one piece.
 */
function createSurface(width: number, height: number): Graphics {
  state.frame = width * 65536 + height;
  return state.surface || (state.surface = Graphics.createArrayBuffer(width, height, 1, { msb: true }));
}

function profileHex(): string {
  const d = (card as Card).digest();
  return d ? bytesToHex(d) : "";
}

function identify(): object {
  return {
    fw: FIRMWARE_VERSION,
    board: boardName,
    serial: getSerial(),
    profile: profileHex(),
    staged: (card as Card).staged(),
    locked: flashStore.read(lockFile) !== undefined,
  };
}

/** Everything from the board settings; what is not handed on is garbage when this returns. */
function make(board: BoardConfig): Engine {
  const p = board.panel;
  const spi = new SPI();
  spi.setup({ sck: p.spi.sck, mosi: p.spi.mosi, baud: p.spi.baud, mode: 0, order: "msb" });
  driver = new Ssd1681({ spi: spi, cs: p.cs, dc: p.dc, rst: p.rst, busy: p.busy, width: p.width, height: p.height, state: state });
  card = new Card({
    store: flashStore,
    hashes: boardHashes(board.hashes),
    clock: clock,
    display: createDisplay({
      width: p.width,
      height: p.height,
      createSurface: createSurface,
      panel: { show: show },
      fullRefreshEvery: p.fullRefreshEvery,
      decode: atob,
      state: state,
    }),
    profileFile: board.storage.profile,
    counterPrefix: board.storage.counter,
    wipeAfterMs: p.wipeAfterMs,
    state: state,
  });
  boardName = board.board;
  lockFile = lockName(board.storage.profile);
  return { card: card, button: board.button, lockFile: lockFile, identify: identify, profileHex: profileHex };
}

INKCARD_ENGINE_OUT = make(readBoard());
