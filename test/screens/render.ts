/**
 * The screens rendered through the Graphics emulation, as the card draws
 * them: the reference images in ref/ are these frames.
 */
import { createGraphicsClass, type ArrayBufferGraphics } from "../../sim/board/graphics.ts";
import { drawBlankScreen, drawCodeScreen, drawNotIssuedScreen, type Surface } from "../../firmware/core/screens.ts";

export const WIDTH = 200;
export const HEIGHT = 200;

export interface TextRun {
  x: number;
  y: number;
  text: string;
  /** The run's box, measured with the font it was drawn in. */
  width: number;
  height: number;
}

/** Base64 to a byte string: the card's atob. */
export const decode = (b64: string): string => atob(b64);

/** Renders one screen on a fresh 1 bpp surface; returns its frame and the text drawn. */
export function render(draw: (s: Surface) => void, width = WIDTH, height = HEIGHT): { frame: Uint8Array; runs: TextRun[] } {
  const runs: TextRun[] = [];
  const Graphics = createGraphicsClass({
    onDrawString(g: ArrayBufferGraphics, text, x, y) {
      runs.push({ x, y, text, width: g.stringWidth(text), height: g.getFontHeight() });
    },
  });
  const g = Graphics.createArrayBuffer(width, height, 1, { msb: true });
  draw(g);
  return { frame: new Uint8Array(g.buffer), runs };
}

export const CAPTION = "SECURITY CODE";

/** The reference screens: name (ref/<name>.png) and how to draw it. Together the codes use every digit. */
export const SCREENS: Record<string, (s: Surface) => void> = {
  blank: (s) => drawBlankScreen(s),
  "not-issued": (s) => drawNotIssuedScreen(s, decode),
  "code-3": (s) => drawCodeScreen(s, decode, "507", CAPTION),
  "code-6": (s) => drawCodeScreen(s, decode, "314159", CAPTION),
  "code-8": (s) => drawCodeScreen(s, decode, "26535897", CAPTION),
  "code-10": (s) => drawCodeScreen(s, decode, "9323846264", CAPTION),
};
