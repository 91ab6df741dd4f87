/**
 * The phone page's two files, for the servers that serve it (the simulator
 * at /phone, sim/server/api.ts; the issuer at /phone, host-tools/issuer/http.ts):
 * the HTML with its mode, and page.ts bundled by esbuild for the browser.
 * Built once per process, on the first request, in memory. Node only.
 */
import { readFileSync } from "node:fs";
import * as esbuild from "esbuild";

export const PHONE_PATH = "/phone";
export const PHONE_SCRIPT_PATH = "/phone/page.js";

/** sim: Bluetooth is the simulator's bridge (same origin) and the issuer is elsewhere on loopback; issuer: the browser's Bluetooth and the issuer's own origin. */
export type PhoneMode = "sim" | "issuer";

let script: Promise<Uint8Array> | undefined;

/** page.ts and what it imports (relay, frames, the AEAD, the issuer client) as one browser ES module. */
export function phoneScript(): Promise<Uint8Array> {
  script ??= esbuild
    .build({
      entryPoints: [new URL("./page.ts", import.meta.url).pathname],
      bundle: true,
      write: false,
      format: "esm",
      platform: "browser",
      target: "es2022",
      minify: true,
      legalComments: "none",
      logLevel: "silent",
    })
    .then((r) => r.outputFiles[0]!.contents)
    .catch((e: unknown) => {
      script = undefined; // a later request tries again
      throw e;
    });
  return script;
}

export function phoneHtml(mode: PhoneMode): Uint8Array {
  const text = readFileSync(new URL("./index.html", import.meta.url), "utf8").replace("{{MODE}}", mode);
  return new TextEncoder().encode(text);
}

/**
 * Headers for both files: no framing by other origins (the simulator's own
 * page frames it), scripts from this origin only, and connections to this
 * origin (the issuer's API, or the simulator's session and bridge) and, from
 * the simulator, to the issuer on loopback.
 */
export function phoneHeaders(mode: PhoneMode): Record<string, string> {
  const connect = mode === "sim" ? "'self' ws://127.0.0.1:* ws://localhost:* http://127.0.0.1:* http://localhost:*" : "'self'";
  return {
    "content-security-policy": `default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src data:; connect-src ${connect}; form-action 'none'; base-uri 'none'; frame-ancestors 'self'`,
    "x-frame-options": "SAMEORIGIN",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
  };
}
