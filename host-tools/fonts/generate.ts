/**
 * Turns the text-art fonts in firmware/fonts/ into data for Espruino's
 * Graphics.setFontCustom and writes them as firmware/core/font.ts.
 *
 *   npx tsx host-tools/fonts/generate.ts          write firmware/core/font.ts
 *   npx tsx host-tools/fonts/generate.ts --check  exit 1 if it is not current
 *
 * setFontCustom's bitmap (Espruino libs/graphics/jswrap_graphics.c, drawString):
 * the glyphs one after another from the first character on, each glyph column
 * by column from the left, each column pixel by pixel from the top, one bit a
 * pixel, most significant bit first, with no padding anywhere; a glyph starts
 * at bit (sum of the widths before it) * height. `widths` has one byte per
 * character, the advance including its blank spacing columns.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** A font as drawn in its text-art file. */
export interface FontArt {
  name: string;
  /** Rows per glyph. */
  height: number;
  /** Blank columns around each glyph: half before it, the rest after. */
  spacing: number;
  /** Code of the first glyph; the rest follow without a gap. */
  first: number;
  /** Per glyph, `height` rows of '#' (ink) and '.' (paper). */
  glyphs: string[][];
}

/** A font as setFontCustom takes it. */
export interface PackedFont {
  name: string;
  first: number;
  height: number;
  widths: Uint8Array;
  bitmap: Uint8Array;
}

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The fonts, in the order font.ts exports them. */
export const FONT_FILES = ["firmware/fonts/digits.txt", "firmware/fonts/small.txt"];
export const FONT_MODULE = "firmware/core/font.ts";

/** Parses a text-art font; every mistake is reported with file and line. */
export function parseFontArt(text: string, file: string): FontArt {
  const lines = text.split(/\r?\n/);
  const header: Record<string, string> = {};
  const glyphs: string[][] = [];
  let first = -1;
  const fail = (i: number, msg: string): never => {
    throw new Error(`${file}:${i + 1}: ${msg}`);
  };
  const num = (key: string, min: number, max: number): number => {
    const v = Number(header[key]);
    if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${file}: header "${key}" must be an integer ${min}..${max}`);
    return v;
  };
  let height = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === "" || line.startsWith("#")) continue; // comments only outside glyph blocks
    const h = /^(name|height|spacing) (\S+)$/.exec(line);
    if (h) {
      if (glyphs.length > 0) fail(i, `header "${h[1]}" after the first glyph`);
      header[h[1]] = h[2];
      continue;
    }
    const c = /^char (\d+)( .*)?$/.exec(line);
    if (!c) fail(i, `expected "char <code>", a header or a comment, got ${JSON.stringify(line)}`);
    if (height === 0) height = num("height", 1, 255);
    const code = Number(c![1]);
    if (code > 255) fail(i, `char code ${code} is over 255`);
    if (first < 0) first = code;
    else if (code !== first + glyphs.length) fail(i, `char ${code} out of order: expected ${first + glyphs.length}`);
    const rows: string[] = [];
    for (let r = i + 1; r <= i + height; r++) {
      const row = lines[r];
      if (row === undefined || row === "" || row.startsWith("char ")) break;
      if (!/^[.#]+$/.test(row)) fail(r, `char ${code}: a row is only '#' and '.', got ${JSON.stringify(row)}`);
      if (row.length !== (rows[0] ?? row).length) fail(r, `char ${code}: rows differ in width`);
      rows.push(row);
    }
    if (rows.length < height) fail(i, `char ${code} has ${rows.length} rows, expected ${height}`);
    glyphs.push(rows);
    i += height;
  }
  if (!/^[a-z][a-zA-Z0-9]*$/.test(header.name ?? "")) throw new Error(`${file}: header "name" must be an identifier`);
  if (glyphs.length === 0) throw new Error(`${file}: no glyphs`);
  return { name: header.name, height: num("height", 1, 255), spacing: num("spacing", 0, 8), first, glyphs };
}

/** Packs a font into setFontCustom's bitmap and widths. */
export function packFont(art: FontArt): PackedFont {
  const before = art.spacing >> 1;
  const widths = art.glyphs.map((rows) => rows[0].length + art.spacing);
  const over = widths.findIndex((w) => w > 255);
  if (over >= 0) throw new Error(`font ${art.name}: char ${art.first + over} is wider than 255`);
  const bitmap = new Uint8Array(Math.ceil((widths.reduce((a, b) => a + b, 0) * art.height) / 8));
  let bit = 0;
  art.glyphs.forEach((rows, g) => {
    for (let x = 0; x < widths[g]; x++) {
      for (let y = 0; y < art.height; y++, bit++) {
        if (rows[y][x - before] === "#") bitmap[bit >> 3] |= 0x80 >> (bit & 7);
      }
    }
  });
  return { name: art.name, first: art.first, height: art.height, widths: Uint8Array.from(widths), bitmap };
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64");

/** The source of firmware/core/font.ts for these fonts. */
export function renderFontModule(fonts: PackedFont[], sources: string[]): string {
  const parts = fonts.map((f, i) => {
    const last = f.first + f.widths.length - 1;
    const range = `${JSON.stringify(String.fromCharCode(f.first))}..${JSON.stringify(String.fromCharCode(last))}`;
    return `
/** ${sources[i]}: ${range}, ${f.height} rows, ${f.bitmap.length} + ${f.widths.length} bytes. */
export function ${f.name}Font(): CustomFont {
  return {
    bitmap: "${b64(f.bitmap)}",
    widths: "${b64(f.widths)}",
    first: ${f.first},
    height: ${f.height},
  };
}
`;
  });
  return `// Generated by host-tools/fonts/generate.ts from firmware/fonts/: do not edit.
// Regenerate with \`npx tsx host-tools/fonts/generate.ts\`; test/screens/font.test.ts checks it is current.

/**
 * A font for Espruino's Graphics.setFontCustom, each string base64 (decode
 * with atob). bitmap: the glyphs from \`first\` on, each column by column from
 * the left and each column from the top, 1 bit a pixel, most significant bit
 * first, no padding. widths: one byte per glyph, its advance in pixels.
 * Each font is returned by a function, so that on the card its data stays in
 * the code (flash) and takes RAM only while a screen is being drawn.
 */
export interface CustomFont {
  bitmap: string;
  widths: string;
  first: number;
  height: number;
}
${parts.join("")}`;
}

/** Reads the font files and renders font.ts, plus the fonts' total size in bytes. */
export function generateFontModule(root = REPO): { source: string; bytes: number } {
  const fonts = FONT_FILES.map((f) => packFont(parseFontArt(readFileSync(join(root, f), "utf8"), f)));
  const bytes = fonts.reduce((n, f) => n + f.bitmap.length + f.widths.length, 0);
  return { source: renderFontModule(fonts, FONT_FILES), bytes };
}

function main(argv: string[]): number {
  const { source, bytes } = generateFontModule();
  const target = join(REPO, FONT_MODULE);
  if (argv.includes("--check")) {
    let current = "";
    try {
      current = readFileSync(target, "utf8");
    } catch {
      // a missing file is simply not current
    }
    if (current !== source) {
      console.error(`${FONT_MODULE} is not current: run npx tsx host-tools/fonts/generate.ts`);
      return 1;
    }
    console.log(`${FONT_MODULE} is current (${bytes} bytes of font data)`);
    return 0;
  }
  writeFileSync(target, source);
  console.log(`wrote ${FONT_MODULE}: ${bytes} bytes of font data (${source.length} bytes of source)`);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main(process.argv.slice(2));
