/** Helpers for the simulator server's tests: a running simulator and small HTTP calls against it. */
import { expect } from "chai";
import { PNG } from "pngjs";
import { ESPRUINO, cleanOutput, failureLines, haveEspruino } from "../../host-tools/lib/interpreter.ts";
import { ENGINES, startSim, type Engine, type RunningSim, type SimOptions } from "../../sim/server/start.ts";

export { ENGINES, type Engine };

export interface Screen {
  width: number;
  height: number;
  text: Array<{ x: number; y: number; text: string }>;
  refreshes: { full: number; partial: number };
}

/** A simulator on a manual clock (deterministic; the espruino engine's is always live), with a demo card unless opts say otherwise. */
export function simulator(opts: SimOptions = {}): Promise<RunningSim> {
  return startSim({ liveClock: false, ...opts });
}

/**
 * For an engine suite's before(): the espruino engine needs the interpreter
 * beside the repository; where there is none the suite is pending, saying why in one line.
 */
export function requireEngine(ctx: Mocha.Context, engine: Engine): void {
  if (engine !== "espruino" || haveEspruino()) return;
  console.log(`      (pending: no Espruino interpreter at ${ESPRUINO}; set ESPRUINO=path/to/espruino-2630)`);
  ctx.skip();
}

/** Deadlines per engine: the real interpreter runs about 10x slower than V8 and takes about a second to boot. */
export function slow(engine: Engine, ms: number): number {
  return engine === "espruino" ? ms * 4 : ms;
}

/** Type a line at the card's console (as a console client does) and wait until the console output holds pattern. */
export async function typeAtConsole(sim: RunningSim, line: string, pattern: RegExp, ms = 20_000): Promise<string> {
  const from = sim.console.end;
  sim.line.write(line + "\n");
  const by = Date.now() + ms;
  for (;;) {
    const text = sim.console.read(from).text;
    if (pattern.test(text)) return text;
    if (Date.now() > by) throw new Error(`no ${pattern} on the console within ${ms} ms: ${JSON.stringify(text.slice(-300))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The state an action answers with, without the clock (the espruino engine's moves with the wall clock between two calls). */
export function stateWithoutTime(state: { timeMs: number }): unknown {
  const { timeMs: _, ...rest } = state;
  return rest;
}

export async function getJson<T = any>(base: string, path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(new URL(path, base));
  return { status: res.status, body: (await res.json()) as T };
}

/** The page token (sim/server/http.ts RequestGuard), learnt as the page learns it. */
export async function pageToken(base: string): Promise<string> {
  return (await getJson<{ token: string }>(base, "/api/session")).body.token;
}

export async function postJson<T = any>(base: string, path: string, body: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(new URL(path, base), {
    method: "POST",
    headers: { "content-type": "application/json", "x-inkcard-sim": await pageToken(base) },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

/** The code on the screen: the runs made only of digits, top to bottom (a long code takes two lines), or undefined. */
export function codeOn(screen: Screen): string | undefined {
  const runs = screen.text.filter((r) => /^[0-9]+$/.test(r.text)).sort((a, b) => a.y - b.y || a.x - b.x);
  if (runs.length === 0) return undefined;
  expect(runs.length, `too many digit runs: ${JSON.stringify(screen.text)}`).to.be.at.most(2);
  return runs.map((r) => r.text).join("");
}

/** Press through the API and return the code the screen then shows. */
export async function pressForCode(web: string): Promise<string> {
  const r = await postJson(web, "api/button", { action: "press" });
  expect(r.status, JSON.stringify(r.body)).to.equal(200);
  const screen = (await getJson<Screen>(web, "api/screen")).body;
  const code = codeOn(screen);
  expect(code, `no code after a press: ${JSON.stringify(screen.text)}`).to.be.a("string");
  return code!;
}

/** GET /api/screen.png decoded: 1 for a white pixel, 0 for black, row by row. */
export async function screenPixels(web: string): Promise<{ width: number; height: number; white: Uint8Array }> {
  const res = await fetch(new URL("api/screen.png", web));
  expect(res.headers.get("content-type")).to.equal("image/png");
  const png = PNG.sync.read(Buffer.from(await res.arrayBuffer()));
  const white = new Uint8Array(png.width * png.height);
  for (let i = 0; i < white.length; i++) {
    const v = png.data[i * 4];
    expect(v === 0 || v === 255, `pixel ${i} is grey (${v})`).to.equal(true);
    white[i] = v === 255 ? 1 : 0;
  }
  return { width: png.width, height: png.height, white };
}

/** No test may pass with an exception in the card's console, nor (on the real interpreter) running out of memory or an interpreter error. */
export function expectNoUncaught(text: string): void {
  const at = text.indexOf("Uncaught");
  expect(at, `card console: ${text.slice(Math.max(0, at - 200), at + 300)}`).to.equal(-1);
  expect(failureLines(cleanOutput(text)), "card console").to.equal("");
}
