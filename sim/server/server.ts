/**
 * The simulator's web server on loopback: the API (api.ts) under /api/ and
 * the page (sim/web/) at /, and the card's Bluetooth as a WebSocket at
 * /ble (ble-bridge.ts).
 * Static files are read from a fixed list, so no request path ever reaches
 * the file system.
 */
import { createServer, type Server } from "node:http";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { apiRoutes, type ApiDeps } from "./api.ts";
import { attachBleBridge, type BleBridgeDeps } from "./ble-bridge.ts";
import { Ble } from "../board/ble.ts";
import { BoardCard } from "./card.ts";
import { HttpError, RequestGuard, sendError } from "./http.ts";

const WEB = new URL("../web/", import.meta.url);
const PAGES: Record<string, [file: string, type: string]> = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/index.html": ["index.html", "text/html; charset=utf-8"],
  "/app.js": ["app.js", "text/javascript; charset=utf-8"],
  "/style.css": ["style.css", "text/css; charset=utf-8"],
};

export interface WebServer {
  /** http://127.0.0.1:PORT/ */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * The card's radio for the bridge. The vm engine's board runs on a virtual
 * clock: the bridge settles it after each op, as the HTTP actions do. The
 * espruino engine's card (sim/espruino/card.ts) takes the radio's events on
 * its own, in real time, so there is nothing to settle.
 */
function bleOf(deps: ApiDeps & { ble?: BleBridgeDeps }): BleBridgeDeps {
  if (deps.ble) return deps.ble;
  const card = deps.card;
  if (card instanceof BoardCard) return { ble: card.board.ble, settle: () => card.settle() };
  const own = (card as { ble?: unknown }).ble;
  if (own instanceof Ble) return { ble: own, settle: () => {} };
  return { ble: undefined, settle: () => {} };
}

export async function startWebServer(deps: ApiDeps & { ble?: BleBridgeDeps }, port = 0): Promise<WebServer> {
  const routes = apiRoutes(deps);
  const guard = new RequestGuard();
  const files = new Map(Object.entries(PAGES).map(([path, [file, type]]) => [path, { body: readFileSync(new URL(file, WEB)), type }]));

  const server: Server = createServer((req, res) => {
    // Only names of this machine (DNS rebinding), and the page token on anything that changes something (http.ts RequestGuard).
    if (guard.intercept(req, res)) return;
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const page = req.method === "GET" ? files.get(url.pathname) : undefined;
    if (page) {
      res.writeHead(200, { "content-type": page.type, "content-length": page.body.length, "cache-control": "no-cache" });
      res.end(page.body);
      return;
    }
    const handler = routes.get(`${req.method} ${url.pathname}`);
    const run = handler
      ? handler(req, res, url)
      : Promise.reject(
          [...routes.keys()].some((k) => k.endsWith(` ${url.pathname}`))
            ? new HttpError(405, `${req.method} is not allowed on ${url.pathname}`)
            : new HttpError(404, `no such resource: ${url.pathname}`),
        );
    run.catch((err: unknown) => {
      if (res.headersSent) res.destroy();
      else sendError(res, err);
    });
  });

  const bridge = attachBleBridge(server, bleOf(deps), (req) => guard.refusal(req));

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}/`,
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        deps.events.close();
        bridge.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
