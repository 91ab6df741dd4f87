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

export async function startWebServer(deps: ApiDeps & { ble: BleBridgeDeps }, port = 0): Promise<WebServer> {
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

  const bridge = attachBleBridge(server, deps.ble, (req) => guard.refusal(req));

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
