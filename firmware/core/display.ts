/**
 * The Display (types.ts) over a Panel. Each update draws its screen into a
 * fresh surface, hands the frame to the panel and keeps nothing: a 200x200
 * frame is 5,000 bytes, about a fifth of the card's RAM, so at idle the card
 * holds no frame and no code.
 *
 * Refresh policy: one update in every `fullRefreshEvery` is a full refresh
 * against ghosting, the first after boot among them; the others are partial.
 * The count lives in `state`, which may outlive the display: main.ts builds
 * a display per event and keeps only that object between them.
 * The panel takes seconds per refresh: a request that arrives meanwhile waits,
 * and only the latest one waits (a newer request replaces an older one), so
 * requests never build a queue and the screen ends on what was asked last.
 * (Presses do not get here during a refresh: main.ts holds them back. The
 * wipe timer may.) The frame of the refresh that ended is released before
 * the waiting one is drawn (hal/ssd1681.ts, engine.ts): never two at once.
 */
import type { Display, Panel } from "./types";
import type { Decode, Surface } from "./screens";
import { checkCode, checkText, drawBlankScreen, drawCodeScreen, drawNotIssuedScreen } from "./screens";
import { isIntIn } from "./bytes";

/** What the refresh policy remembers between updates (and between displays sharing it). */
export interface DisplayState {
  /** Updates since the last full refresh; 0 makes the next one full. */
  sinceFull: number;
}

export interface DisplayOptions {
  width: number;
  height: number;
  /** A new 1 bpp surface, MSB-first rows: Graphics.createArrayBuffer(w, h, 1, {msb: true}) on the card. */
  createSurface(width: number, height: number): Surface & { buffer: ArrayBuffer };
  panel: Panel;
  /** One update in this many is a full refresh (1: all of them). */
  fullRefreshEvery: number;
  /** Base64 to a string of bytes, for the fonts: Espruino's atob. */
  decode: Decode;
  /** Where the refresh count is kept (default: a new one, so the first update is full). */
  state?: DisplayState;
}

// What a pending request draws. Numbers and two strings rather than a closure:
// no allocation per request.
const NONE = 0;
const CODE = 1;
const NOT_ISSUED = 2;
const BLANK = 3;
const OTHER = 4;

export function createDisplay(opts: DisplayOptions): Display {
  if (!opts || !isIntIn(opts.width, 1, 4096) || !isIntIn(opts.height, 1, 4096)) {
    throw new Error("display width and height must be integers 1..4096");
  }
  if (!isIntIn(opts.fullRefreshEvery, 1, 1000000)) throw new Error("fullRefreshEvery must be an integer >= 1");
  if (typeof opts.createSurface !== "function" || typeof opts.decode !== "function") {
    throw new Error("display needs createSurface and decode functions");
  }
  if (!opts.panel || typeof opts.panel.show !== "function") throw new Error("display needs a panel");
  if (opts.state && !isIntIn(opts.state.sinceFull, 0, opts.fullRefreshEvery - 1)) throw new Error("display state.sinceFull must be an integer 0..fullRefreshEvery-1");
  const panel = opts.panel;
  const every = opts.fullRefreshEvery;
  const state = opts.state || { sinceFull: 0 };

  let busy = false;
  let pending = NONE;
  let pendingCode = "";
  let pendingCaption = "";
  /** The OTHER screen's drawing function and its argument (module-level functions: no closure per request). */
  let draw: ((s: Surface, decode: Decode, arg: unknown) => void) | undefined;
  let drawArg: unknown;

  function send(kind: number, code: string, caption: string): void {
    busy = true;
    try {
      const s = opts.createSurface(opts.width, opts.height);
      if (kind === CODE) drawCodeScreen(s, opts.decode, code, caption);
      else if (kind === NOT_ISSUED) drawNotIssuedScreen(s, opts.decode);
      else if (kind === OTHER) {
        const arg = drawArg;
        drawArg = undefined; // what the screen shows is not kept once drawn
        (draw as (s: Surface, decode: Decode, arg: unknown) => void)(s, opts.decode, arg);
      }
      else drawBlankScreen(s);
      const full = state.sinceFull === 0;
      state.sinceFull = (state.sinceFull + 1) % every;
      // The surface goes out of scope here; the panel holds the frame only until it is sent.
      panel.show(new Uint8Array(s.buffer), full, done);
    } catch (e) {
      busy = false; // a failed update must not leave the display waiting for a done() that never comes
      throw e;
    }
  }

  function done(): void {
    if (!busy) return;
    busy = false;
    if (pending === NONE) return;
    const kind = pending;
    const code = pendingCode;
    const caption = pendingCaption;
    pending = NONE;
    pendingCode = ""; // the code is not kept once drawn
    pendingCaption = "";
    send(kind, code, caption);
  }

  function request(kind: number, code: string, caption: string): void {
    if (!busy) return send(kind, code, caption);
    pending = kind;
    pendingCode = code;
    pendingCaption = caption;
  }

  return {
    showCode(code: string, caption: string): void {
      checkCode(code);
      checkText(caption, "caption");
      request(CODE, code, caption);
    },
    showNotIssued(): void {
      request(NOT_ISSUED, "", "");
    },
    wipe(): void {
      request(BLANK, "", "");
    },
    showScreen(fn: (s: Surface, decode: Decode, arg: unknown) => void, arg: unknown): void {
      draw = fn;
      drawArg = arg;
      request(OTHER, "", "");
    },
  };
}
