/**
 * The few HTTP helpers the simulator's server needs: JSON bodies with a size
 * limit, JSON answers, and errors that carry their status. node:http only, so
 * the server stays a small file a reader can hold in their head.
 */
import { randomBytes } from "node:crypto";
import { tokenMatches } from "../console/server.ts";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ZodType } from "zod";

/** An error whose message is safe to show the caller, with the status to send. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Bodies are a few dozen bytes; anything bigger is a mistake or an attack. */
const MAX_BODY = 16 * 1024;

export async function readJson<T>(req: IncomingMessage, schema: ZodType<T>): Promise<T> {
  const type = req.headers["content-type"] ?? "";
  if (!/^application\/json\b/i.test(type)) throw new HttpError(415, "send the body as application/json");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, `body larger than ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new HttpError(400, "body is not valid JSON");
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? `${issue.path.join(".")}: ` : "";
    throw new HttpError(400, `${where}${issue.message}`);
  }
  return parsed.data;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
  });
  res.end(text);
}

export function sendBytes(res: ServerResponse, type: string, bytes: Uint8Array): void {
  res.writeHead(200, { "content-type": type, "content-length": bytes.length, "cache-control": "no-store" });
  res.end(bytes);
}

export function sendError(res: ServerResponse, err: unknown): void {
  if (err instanceof HttpError) return sendJson(res, err.status, { error: err.message });
  // Anything else is our bug: say so without leaking internals to the caller.
  console.error("sim server:", err);
  sendJson(res, 500, { error: "internal error in the simulator (see its log)" });
}

/** The Host names the simulator answers to: a page elsewhere that rebinds its DNS name to 127.0.0.1 sends its own name. */
export const LOOPBACK_HOST = /^(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/i;
/** The header that carries the page token on every request that changes something. */
export const TOKEN_HEADER = "x-inkcard-sim";
/** GET here answers {"token"}: how the simulator's own pages learn it. */
export const SESSION_PATH = "/api/session";

/**
 * Who may drive the simulator over HTTP (and WebSocket). The threat is a web
 * page in a browser on this machine, which can send requests to loopback:
 * - every request must name this machine in Host (DNS rebinding);
 * - a request that changes something (any method but GET and HEAD, and any
 *   upgrade) must carry the page token in TOKEN_HEADER (a no-cors request
 *   cannot set a header, and a CORS preflight gets no allowance), and a
 *   browser's Origin, when sent, must be this server's own;
 * - the token is served at SESSION_PATH to same-origin pages: another origin
 *   cannot read the answer (no CORS headers, Host checked).
 * Any local user can fetch the token as the page does: the API only moves the
 * card's button, clock and power and verifies codes; it never reaches the
 * console, which has its own token (sim/console/server.ts).
 * A WebSocket cannot carry a header from a browser: an upgrade may carry the
 * token as `?token=` in its URL instead.
 */
export class RequestGuard {
  /** A secret of this server's run. */
  readonly token = randomBytes(32).toString("hex");

  /** Why req may not be served (a 421 or 403 to send), or undefined when it may. */
  refusal(req: IncomingMessage): HttpError | undefined {
    const host = req.headers.host ?? "";
    if (!LOOPBACK_HOST.test(host)) return new HttpError(421, "this server answers only to 127.0.0.1 and localhost");
    const upgrade = req.headers.upgrade !== undefined;
    if (!upgrade && (req.method === "GET" || req.method === "HEAD")) return undefined;
    const origin = req.headers.origin;
    if (origin !== undefined && origin.toLowerCase() !== `http://${host.toLowerCase()}`) return new HttpError(403, "requests from other origins are refused");
    let given = req.headers[TOKEN_HEADER];
    if (given === undefined && upgrade) given = new URL(req.url ?? "/", "http://127.0.0.1").searchParams.get("token") ?? undefined;
    if (typeof given !== "string" || !tokenMatches(given, this.token)) {
      return new HttpError(403, `send the page token in ${TOKEN_HEADER} (GET ${SESSION_PATH} from the simulator's own page)`);
    }
    return undefined;
  }

  /**
   * For the web server's request handler, before anything else: answers a
   * refused request, or the session request, and says whether it did.
   */
  intercept(req: IncomingMessage, res: ServerResponse): boolean {
    const refused = this.refusal(req);
    if (refused) {
      sendError(res, refused);
      return true;
    }
    if (req.method === "GET" && new URL(req.url ?? "/", "http://127.0.0.1").pathname === SESSION_PATH) {
      sendJson(res, 200, { token: this.token });
      return true;
    }
    return false;
  }
}
