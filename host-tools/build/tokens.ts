/**
 * Espruino's pretokenised form of the bundle, made by EspruinoTools' own
 * tokeniser (the `espruino` package, plugins/pretokenise.js): each keyword and
 * operator one byte, strings and integers as raw bytes with a length. Espruino's
 * lexer reads this form as it reads source (jslex.c), from flash, with the same
 * RAM for each function; the file is about a fifth smaller, which is what the
 * card's 40 KB of Storage needs. Raw integers need Espruino 2v26 or later
 * (ESPRUINO_MIN), raw strings 2v20.48.
 *
 * The plugin is written for EspruinoTools' page: it registers itself on a global
 * `Espruino` and reads the global `acorn`. It is run here in a context of its own
 * with just those, so nothing of it leaks into the build's process.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { runInNewContext } from "node:vm";

/** The oldest Espruino that reads every token this build writes. */
export const ESPRUINO_MIN = "2v26";

interface Pretokenise {
  tokenise(code: string): string;
  untokenise(code: string): string;
}

let plugin: Pretokenise | undefined;

function load(): Pretokenise {
  if (plugin) return plugin;
  const require = createRequire(import.meta.url);
  const source = readFileSync(require.resolve("espruino/plugins/pretokenise.js"), "utf8");
  const Espruino = {
    Config: { PRETOKENISE: 1, SAVE_ON_SEND: 1 },
    Core: {
      Config: { add() {} },
      Env: { getBoardData: () => ({ VERSION: ESPRUINO_MIN }) },
      Utils: {
        atob: (s: string) => Buffer.from(s, "base64").toString("latin1"),
        toJSONishString: quote,
      },
    },
    Plugins: {} as { Pretokenise?: Pretokenise },
    addProcessor() {},
  };
  // Its console says only what the Espruino IDE would show (an unknown byte, a missing acorn): nothing for us.
  const quiet = { log() {}, warn() {} };
  runInNewContext(source, { Espruino, acorn: require("acorn"), console: quiet }, { filename: "espruino/plugins/pretokenise.js" });
  if (!Espruino.Plugins.Pretokenise) throw new Error("the espruino package's pretokenise plugin did not load");
  plugin = Espruino.Plugins.Pretokenise;
  return plugin;
}

/** ES5 source (ASCII) to Espruino's tokens: one byte per character of the result (latin1). */
export function tokenise(code: string): string {
  return load().tokenise(code);
}

/** Bytes that introduce a raw string (8- or 16-bit length) or a raw integer (0, 8 or 16 bits, signed) in jslex.c. */
const RAW_STRING8 = 0xd1;
const RAW_STRING16 = 0xd2;
const RAW_INT0 = 0xd3;
const RAW_INT8 = 0xd4;
const RAW_INT16 = 0xd5;
const WORD = /[A-Za-z0-9_$]/;

let table: string[] | undefined;

/**
 * Tokens back to source, as Espruino's lexer reads them: for a host that runs the
 * bundle (the simulator, tests). The keywords and operators are the package's (its
 * untokenise, one byte at a time); raw values are read here, since the package's
 * reads a negative raw integer as positive (-1 as 255), which Espruino does not.
 */
export function untokenise(code: string): string {
  if (!table) {
    const p = load();
    table = [];
    for (let b = 0x8a; b < RAW_STRING8; b++) {
      const c = String.fromCharCode(b);
      const text = p.untokenise(c);
      if (text !== c) table[b] = text;
    }
  }
  let out = "";
  /** Whether the last thing put was a token: a word beside it needs a space, as in `return a`. */
  let token = false;
  const put = (text: string, isToken = true) => {
    if ((token || isToken) && out && WORD.test(out[out.length - 1]) && WORD.test(text[0])) out += " ";
    out += text;
    token = isToken;
  };
  for (let i = 0; i < code.length; i++) {
    const b = code.charCodeAt(i);
    const at = (k: number) => code.charCodeAt(i + k);
    if (b === RAW_STRING8 || b === RAW_STRING16) {
      const n = b === RAW_STRING8 ? at(1) : at(1) | (at(2) << 8);
      const from = i + (b === RAW_STRING8 ? 2 : 3);
      put(quote(code.slice(from, from + n)));
      i = from + n - 1;
    } else if (b >= RAW_INT0 && b <= RAW_INT16) {
      const v = b === RAW_INT0 ? 0 : b === RAW_INT8 ? (at(1) << 24) >> 24 : ((at(1) | (at(2) << 8)) << 16) >> 16;
      i += b - RAW_INT0;
      put(String(v));
      if (code[i + 1] === ".") out += " "; // 5 .toString(), not 5.toString()
    } else if (table[b] !== undefined) {
      put(table[b]);
    } else {
      put(code[i], false);
    }
  }
  return out;
}

/** A string literal for untokenise(), as esbuild writes one: ASCII, in the quotes that need fewer escapes. */
function quote(s: string): string {
  const single = s.includes('"') && !s.includes("'");
  let body = JSON.stringify(s).slice(1, -1);
  if (single) body = body.replace(/\\"/g, '"');
  body = body.replace(/[\x7f-\xff]/g, (c) => "\\x" + c.charCodeAt(0).toString(16).padStart(2, "0"));
  return single ? `'${body}'` : `"${body}"`;
}
