/**
 * The few HTTP helpers the simulator's server needs: JSON bodies with a size
 * limit, JSON answers, and errors that carry their status. node:http only, so
 * the server stays a small file a reader can hold in their head.
 */
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
