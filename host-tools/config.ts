/**
 * Loads and validates espruino.config.js, the one description of the board.
 * A wrong, missing or unknown key fails with a message that names its path, e.g.
 *   espruino.config.js: panel.busy: expected a pin name like "D31" (D0..D47), got 42
 * The validated value is what the build injects into the firmware (INKCARD_BOARD).
 */
import { statSync } from "node:fs";
import { relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { z } from "zod";
import type { BoardConfig } from "../firmware/board-config.ts";

export const DEFAULT_CONFIG = fileURLToPath(new URL("../espruino.config.js", import.meta.url));

/** Each leaf says what it expects; the formatter adds the path and the value found. */
const PIN = 'a pin name like "D31" (D0..D47)';
const pin = () => z.string(PIN).regex(/^D([0-9]|[1-3][0-9]|4[0-7])$/, PIN);
const int = (min: number, max: number, what: string) =>
  z.number(what).int(what).min(min, what).max(max, what);
const text = (what: string) => z.string(what).min(1, what);
const bool = () => z.boolean("true or false");
// Espruino Storage names may be up to 28 bytes; 24 leaves room for the counter's suffixes.
const STORAGE_NAME = "a Storage file name of 1 to 24 printable ASCII characters";
const storageName = () => z.string(STORAGE_NAME).regex(/^[!-~]{1,24}$/, STORAGE_NAME);
const object = <T extends z.core.$ZodLooseShape>(shape: T) => z.strictObject(shape, "an object");

/** Panel models the firmware has a driver for, with their fixed resolution. */
const PANELS = { SSD1681: { width: 200, height: 200 } } as const;
const HASHES = ["SHA1", "SHA256", "SHA512"] as const;

const boardSchema = object({
  board: text("an Espruino board name such as \"MDBT42Q\""),
  hashes: z
    .array(z.enum(HASHES, `one of ${HASHES.join(", ")}`), "a list of hash names")
    .refine((h) => new Set(h).size === h.length, "lists a hash twice")
    // The profile's integrity check is SHA-256, so every board must offer it.
    .refine((h) => h.includes("SHA256"), 'must include "SHA256" (the profile integrity check uses it)'),
  serial: object({
    port: text("a serial port path such as \"/dev/ttyUSB0\""),
    baud: int(1, 10_000_000, "a positive whole baud rate"),
  }),
  button: object({
    pin: pin(),
    activeLow: bool(),
    debounceMs: int(1, 1000, "whole milliseconds from 1 to 1000"),
    longPressMs: int(100, 60_000, "whole milliseconds from 100 to 60000"),
  }),
  panel: object({
    model: z.enum(Object.keys(PANELS) as [keyof typeof PANELS], `a supported panel model (${Object.keys(PANELS).join(", ")})`),
    width: int(1, 1000, "a width in pixels"),
    height: int(1, 1000, "a height in pixels"),
    spi: object({
      sck: pin(),
      mosi: pin(),
      // The SSD1681 accepts at most 20 MHz on writes.
      baud: int(1, 20_000_000, "a whole SPI clock rate from 1 to 20000000 Hz"),
    }),
    cs: pin(),
    dc: pin(),
    rst: pin(),
    busy: pin(),
    fullRefreshEvery: int(1, 1000, "a whole number of updates from 1 to 1000"),
    wipeAfterMs: int(1000, 86_400_000, "whole milliseconds, at least 1000"),
  }),
  storage: object({
    profile: storageName(),
    counter: storageName(),
    link: storageName(),
  }),
}).superRefine((c, ctx) => {
  const size = PANELS[c.panel.model];
  for (const side of ["width", "height"] as const) {
    if (c.panel[side] !== size[side]) {
      ctx.addIssue({ code: "custom", path: ["panel", side], message: `the ${c.panel.model} is ${size.width}x${size.height}, got ${c.panel[side]}` });
    }
  }
  if (c.button.longPressMs <= c.button.debounceMs) {
    ctx.addIssue({ code: "custom", path: ["button", "longPressMs"], message: "must be longer than button.debounceMs" });
  }
  // The link's record is two files named by prefix (+ "0", + "1"): none may be another's.
  const names: Array<[string, string]> = [["profile", c.storage.profile], ["counter", c.storage.counter], ["link", c.storage.link]];
  for (const [key, name] of names) {
    for (const [other, prefix] of names) {
      if (key !== other && other !== "profile" && name.startsWith(prefix)) {
        ctx.addIssue({ code: "custom", path: ["storage", key], message: `must not start with storage.${other} (its files' prefix)` });
      }
    }
  }
  const pins: Array<[string, string]> = [
    ["button.pin", c.button.pin], ["panel.spi.sck", c.panel.spi.sck], ["panel.spi.mosi", c.panel.spi.mosi],
    ["panel.cs", c.panel.cs], ["panel.dc", c.panel.dc], ["panel.rst", c.panel.rst], ["panel.busy", c.panel.busy],
  ];
  const seen = new Map<string, string>();
  for (const [key, p] of pins) {
    const other = seen.get(p);
    if (other) ctx.addIssue({ code: "custom", path: key.split("."), message: `${p} is already used by ${other}` });
    else seen.set(p, key);
  }
});

// Compile-time proof that the schema and the BoardConfig type describe the same shape.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesType: Same<z.infer<typeof boardSchema>, BoardConfig> = true;
void schemaMatchesType;

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Validate a parsed config; `label` prefixes every message (the file name). */
export function validateBoardConfig(raw: unknown, label = "espruino.config.js"): BoardConfig {
  const result = boardSchema.safeParse(raw);
  if (result.success) return result.data;
  const lines = result.error.issues.flatMap((issue) => describe(issue, raw).map((l) => `${label}: ${l}`));
  throw new ConfigError([...new Set(lines)].join("\n"));
}

function describe(issue: z.core.$ZodIssue, raw: unknown): string[] {
  const path = (p: readonly PropertyKey[]) => p.map((k, i) => (typeof k === "number" ? `[${k}]` : i ? `.${String(k)}` : String(k))).join("") || "(top level)";
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => `${path([...issue.path, k])}: unknown key (a typo?)`);
  }
  if (issue.code === "custom") return [`${path(issue.path)}: ${issue.message}`];
  const value = issue.path.reduce<unknown>((v, k) => (v !== null && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[k] : undefined), raw);
  if (value === undefined) return [`${path(issue.path)}: missing, expected ${issue.message}`];
  return [`${path(issue.path)}: expected ${issue.message}, got ${show(value)}`];
}

function show(v: unknown): string {
  const s = typeof v === "string" ? JSON.stringify(v) : typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** Import espruino.config.js (its default export) and validate it. */
export async function loadBoardConfig(path: string = DEFAULT_CONFIG): Promise<BoardConfig> {
  const file = resolve(path);
  const label = relative(process.cwd(), file) || file;
  let mtime: number;
  try {
    mtime = statSync(file).mtimeMs;
  } catch {
    throw new ConfigError(`${label}: board config not found`);
  }
  let mod: { default?: unknown };
  try {
    // The query makes a changed file load anew instead of from the module cache.
    mod = (await import(`${pathToFileURL(file).href}?mtime=${mtime}`)) as { default?: unknown };
  } catch (e) {
    throw new ConfigError(`${label}: cannot be loaded: ${(e as Error).message}`);
  }
  if (mod.default === undefined) throw new ConfigError(`${label}: no default export (expected \`export default { board: ..., ... }\`)`);
  return validateBoardConfig(mod.default, label);
}
