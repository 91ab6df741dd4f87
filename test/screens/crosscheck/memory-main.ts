/**
 * What drawing a screen costs in Espruino variables (memory.ts runs it): the
 * frame, the fonts while they are set, and what is left once it is dropped.
 */
import { drawCodeScreen, drawNotIssuedScreen, type Surface } from "../../../firmware/core/screens.ts";

declare const Graphics: { createArrayBuffer(w: number, h: number, bpp: number, o: { msb: boolean }): Surface };
declare const process: { memory(): { usage: number; total: number } };
declare function print(text: string): void;

const usage = () => process.memory().usage;
const before = usage();
let g: Surface | undefined = Graphics.createArrayBuffer(200, 200, 1, { msb: true });
const frame = usage() - before;
drawCodeScreen(g, atob, "9323846264", "SECURITY CODE");
const drawn = usage() - before;
g = undefined;
const dropped = usage() - before;
g = Graphics.createArrayBuffer(200, 200, 1, { msb: true });
drawNotIssuedScreen(g, atob);
g = undefined;
print("frame " + frame + ", frame and fonts after a code screen " + drawn + ", after dropping it " + dropped +
  ", after a not-issued screen " + (usage() - before) + " (variables of " + process.memory().total + ")");
