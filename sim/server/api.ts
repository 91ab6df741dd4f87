/**
 * The simulator's HTTP/JSON API (documented in docs/simulator.md). Each route
 * checks its input with a schema and answers 400 with the reason when it is
 * wrong. On the vm engine actions are synchronous (the board runs in this
 * thread on a virtual clock), so requests never interleave on its one
 * timeline; the espruino engine's card (sim/espruino/card.ts) queues them.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import type { ConsoleLog } from "./console-log.ts";
import type { StateStream } from "./events.ts";
import { HttpError, readJson, sendBytes, sendJson } from "./http.ts";
import { encodePng } from "./png.ts";
import { PHONE_PATH, PHONE_SCRIPT_PATH, phoneHeaders, phoneHtml, phoneScript } from "../../host-tools/phone/web/bundle.ts";

export interface TextRun {
  x: number;
  y: number;
  text: string;
}

/**
 * What the server needs from the emulated card: card.ts builds it from a
 * Board (vm engine), sim/espruino/card.ts from the real interpreter. Actions
 * return (or resolve) once the card has settled.
 */
export interface SimCard {
  press(): void | Promise<void>;
  hold(ms: number): void | Promise<void>;
  advance(ms: number): void | Promise<void>;
  cutPower(): void | Promise<void>;
  restorePower(): void | Promise<void>;
  powered(): boolean;
  /** Virtual time, ms since the board was made. */
  timeMs(): number;
  /** The panel's displayed frame (never the firmware's framebuffer) and the text drawn for it. */
  screen(): {
    width: number;
    height: number;
    text: TextRun[];
    refreshes: { full: number; partial: number };
    isWhite(x: number, y: number): boolean;
  };
}

/** Checks a code against the embedded issuer with the run's token; undefined when no card was issued. */
export type Verify = (code: string) => Promise<{ status: number; body: unknown }>;

export interface ApiDeps {
  card: SimCard;
  console: ConsoleLog;
  verify: Verify | undefined;
  /** Facts the page shows: card id, mode, digits (no secrets). */
  info: () => unknown;
  events: StateStream<unknown>;
}

/** A long press is 1.5 s on this board; a minute covers any gesture and keeps a typo from hanging the clock. */
const MAX_HOLD_MS = 60_000;
/** The clock moves at most a year per call: time-mode codes can be tried across days, months and a year. */
const MAX_ADVANCE_MS = 366 * 24 * 3600 * 1000;

const ButtonBody = z.discriminatedUnion(
  "action",
  [
    z.object({ action: z.literal("press") }).strict(),
    z.object({ action: z.literal("hold"), ms: z.number().int().min(1).max(MAX_HOLD_MS) }).strict(),
  ],
  { error: 'action must be "press" or "hold" (hold needs "ms", an integer 1..60000)' },
);
const ClockBody = z.object({ advanceMs: z.number().int().min(1).max(MAX_ADVANCE_MS) }).strict();
const PowerBody = z.object({ action: z.enum(["cut", "restore"]) }).strict();
const VerifyBody = z.object({ code: z.string().regex(/^[0-9]{3,10}$/, "code must be 3 to 10 digits") }).strict();

/** The state the page follows (also the answer to every action): small, so it can be polled and compared. */
export function cardState(card: SimCard, log: ConsoleLog) {
  return {
    /** Virtual time, ms since the board was made. */
    timeMs: card.timeMs(),
    powered: card.powered(),
    refreshes: card.screen().refreshes,
    /** Length of the console output so far (GET /api/console?from=N reads on from N). */
    console: log.end,
  };
}

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;

export function apiRoutes(deps: ApiDeps): Map<string, Handler> {
  const { card } = deps;
  /** Do something to the card, then tell the page at once. */
  const act = async (action: () => void | Promise<void>): Promise<void> => {
    try {
      await action();
    } finally {
      deps.events.poll();
    }
  };
  const state = () => cardState(card, deps.console);
  const needPower = () => {
    if (!card.powered()) throw new HttpError(409, 'the card has no power: POST /api/power {"action":"restore"} first');
  };

  const routes = new Map<string, Handler>();
  routes.set("POST /api/button", async (req, res) => {
    const body = await readJson(req, ButtonBody);
    await act(() => {
      needPower();
      return body.action === "press" ? card.press() : card.hold(body.ms);
    });
    sendJson(res, 200, state());
  });
  routes.set("POST /api/clock", async (req, res) => {
    const body = await readJson(req, ClockBody);
    await act(() => card.advance(body.advanceMs));
    sendJson(res, 200, state());
  });
  routes.set("POST /api/power", async (req, res) => {
    const body = await readJson(req, PowerBody);
    await act(() => (body.action === "cut" ? card.cutPower() : card.restorePower()));
    sendJson(res, 200, state());
  });
  routes.set("GET /api/screen", async (_req, res) => {
    const { width, height, text, refreshes } = card.screen();
    sendJson(res, 200, { width, height, text, refreshes });
  });
  routes.set("GET /api/screen.png", async (_req, res) => {
    const s = card.screen();
    sendBytes(res, "image/png", encodePng(s.width, s.height, s.isWhite));
  });
  routes.set("GET /api/console", async (_req, res, url) => {
    const raw = url.searchParams.get("from") ?? "0";
    if (!/^[0-9]{1,15}$/.test(raw)) throw new HttpError(400, "from must be a non-negative integer offset");
    sendJson(res, 200, deps.console.read(Number(raw)));
  });
  routes.set("GET /api/state", async (_req, res) => sendJson(res, 200, state()));
  routes.set("GET /api/info", async (_req, res) => sendJson(res, 200, deps.info()));
  routes.set("GET /api/events", async (_req, res) => deps.events.attach(res));
  routes.set("POST /api/verify", async (req, res) => {
    const body = await readJson(req, VerifyBody);
    if (!deps.verify) throw new HttpError(409, "no card was issued in this run (started with --blank?)");
    const answer = await deps.verify(body.code);
    sendJson(res, answer.status, answer.body);
  });
  // The phone page (docs/phone.md), its Bluetooth the bridge at /ble: GETs, which change nothing; the
  // bridge it opens is guarded as every upgrade is (page token, same origin, loopback Host).
  routes.set(`GET ${PHONE_PATH}`, async (_req, res) => {
    const body = phoneHtml("sim");
    res.writeHead(200, { ...phoneHeaders("sim"), "content-type": "text/html; charset=utf-8", "content-length": body.length });
    res.end(body);
  });
  routes.set(`GET ${PHONE_SCRIPT_PATH}`, async (_req, res) => {
    const body = await phoneScript();
    res.writeHead(200, { ...phoneHeaders("sim"), "content-type": "text/javascript; charset=utf-8", "content-length": body.length });
    res.end(body);
  });
  return routes;
}
