/**
 * A card's console over TCP: `tcp://host:port`, optionally with the console
 * token the simulator requires (`inkcard sim --json` prints it as
 * `consoleToken`). The token's first line on the connection is what the
 * simulator checks before anything reaches the card (sim/console/server.ts);
 * a serial server without a token (ser2net, a WiFi board) gets nothing extra.
 *
 * Where the token comes from, first match:
 *   1. `tcp://127.0.0.1:N?token=T` (for programs: a command line is visible
 *      to every user of the machine in /proc, so tools take it from 2.);
 *   2. the environment variable INKCARD_CONSOLE_TOKEN.
 * The token never appears in messages: every tool names the port by
 * `redactPort()`.
 */
import net from "node:net";
import { ToolError } from "../lib/errors.ts";

export const CONSOLE_TOKEN_ENV = "INKCARD_CONSOLE_TOKEN";

/** The simulator's answer to a connection that did not start with its token (sim/console/server.ts sends it, then closes). */
export const CONSOLE_REFUSAL = "inkcard console: refused, the first line must be the console token";

export interface TcpConsole {
  host: string;
  port: number;
  token: string | undefined;
  /** The address without its token, for messages. */
  display: string;
}

/** The port as it may be shown: a tcp:// address loses its query (the token). */
export function redactPort(port: string): string {
  return port.startsWith("tcp://") ? port.replace(/[?#].*$/s, "") : port;
}

/** A tcp:// address taken apart, or undefined for anything else (a serial path). */
export function parseTcpConsole(port: string, env: NodeJS.ProcessEnv = process.env): TcpConsole | undefined {
  if (!port.startsWith("tcp://")) return undefined;
  const display = redactPort(port);
  const m = /^tcp:\/\/([^:/?#]+):(\d{1,5})(?:\?token=([A-Za-z0-9_-]+))?$/.exec(port);
  if (!m || Number(m[2]) > 65535) {
    throw new ToolError(`${display} is not a tcp://host:port address`, "give it as tcp://127.0.0.1:PORT (the token in INKCARD_CONSOLE_TOKEN)");
  }
  return { host: m[1]!, port: Number(m[2]), token: m[3] ?? (env[CONSOLE_TOKEN_ENV] || undefined), display };
}

/** Connect, and send the token as the first line when there is one. */
export function connectTcpConsole(c: TcpConsole): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: c.host, port: c.port });
    socket.setNoDelay(true);
    socket.once("connect", () => {
      if (c.token !== undefined) socket.write(`${c.token}\n`);
      resolve(socket);
    });
    socket.once("error", (e: NodeJS.ErrnoException) => {
      reject(
        e.code === "ECONNREFUSED"
          ? new ToolError(`nothing listens at ${c.display}`, "start the card's console server (e.g. inkcard sim) or check the port")
          : new ToolError(`cannot connect to ${c.display} (${e.code ?? e.message})`, "check the address"),
      );
    });
  });
}

/** The error for a console that refused us for want of its token. */
export function refusedError(display: string): ToolError {
  return new ToolError(
    `the console at ${display} refused the connection: it needs its token`,
    `set ${CONSOLE_TOKEN_ENV} to consoleToken from \`inkcard sim --json\``,
  );
}
