/**
 * The panel engine: draws the screen an engine asked for (state.show,
 * core/screen-kinds.ts) with the board's panel: display, SSD1681 driver,
 * screens and fonts. Built by main.ts (the shell) once the engine that
 * asked is gone, and kept until the panel sleeps again (state.idle). Like
 * engine.ts this file is the body of a function (INKCARD_PANEL,
 * host-tools/build/build.ts): it reads INKCARD_STATE and hands the engine
 * back in INKCARD_ENGINE_OUT.
 */
import { readBoard } from "./board";
import { createDisplay } from "./core/display";
import { drawLinkScreen } from "./core/screens";
import { SCREEN_BLANK, SCREEN_CODE, SCREEN_NOT_ISSUED } from "./core/screen-kinds";
import type { CodeScreen, ScreenRequest } from "./core/screen-kinds";
import type { Display } from "./core/types";
import { Ssd1681 } from "./hal/ssd1681";
import type { EngineState, PanelEngine } from "./engine-api";

declare const INKCARD_STATE: EngineState;
declare let INKCARD_ENGINE_OUT: PanelEngine;

const state = INKCARD_STATE;
/** Set by make(); module-level so that the functions below do not keep make()'s scope, and the board with it. */
let driver: Ssd1681 | undefined;
let display: Display | undefined;

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
 * after its garbage collection, before anything of this engine: so it takes
 * the lowest free run, the same place every time, and the few variables
 * that outlive an update (a timer, a string of the shell), made while frame
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

function draw(s: ScreenRequest): void {
  const d = display as Display;
  if (s.kind === SCREEN_CODE) {
    const c = s.value as CodeScreen;
    d.showCode(c.code, c.caption);
    return;
  }
  state.showing = false; // whatever code was on the panel is drawn over
  if (s.kind === SCREEN_BLANK) d.wipe();
  else if (s.kind === SCREEN_NOT_ISSUED) d.showNotIssued();
  else (d.showScreen as NonNullable<Display["showScreen"]>)(drawLinkScreen, s);
}

function make(): PanelEngine {
  const p = readBoard().panel;
  const spi = new SPI();
  spi.setup({ sck: p.spi.sck, mosi: p.spi.mosi, baud: p.spi.baud, mode: 0, order: "msb" });
  driver = new Ssd1681({ spi: spi, cs: p.cs, dc: p.dc, rst: p.rst, busy: p.busy, width: p.width, height: p.height, state: state });
  display = createDisplay({
    width: p.width,
    height: p.height,
    createSurface: createSurface,
    panel: { show: show },
    fullRefreshEvery: p.fullRefreshEvery,
    decode: atob,
    state: state,
  });
  return { draw: draw };
}

INKCARD_ENGINE_OUT = make();
