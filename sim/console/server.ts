/**
 * The card's console where host tools can reach it: a TCP port on 127.0.0.1,
 * and a real pseudo-terminal linked to it by Debian's `socat`, for tools that
 * open a serial port by path. Every connection sees the same serial line:
 * what one sends, all read.
 *
 * The console runs code, and on the vm engine that code can reach the host
 * (node:vm is not a sandbox), so nobody but the person who started the
 * simulator may use it. Loopback is not enough: every local user, and every
 * web page in a browser on this machine (a no-cors POST whose body holds a
 * line of JavaScript), can open a TCP connection to 127.0.0.1. So:
 * - TCP: the first line a client sends must be the console token (a random
 *   secret per server, compared in constant time). Until then nothing it sent
 *   reaches the card and it hears nothing from it; any other first line, more
 *   than MAX_TOKEN_LINE bytes without one, or AUTH_MS of silence, and it is
 *   told so and closed. A browser's first line is "POST / HTTP/1.1": it never
 *   authenticates. Clients: host-tools/serial/tcp-console.ts.
 * - socat reaches the line over a Unix socket in a directory of mode 0700
 *   (the file system is its authentication), and makes the pseudo-terminal
 *   mode 0600, in the same private directory unless a path is given; the mode
 *   is checked before the terminal is handed out.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, existsSync, lstatSync, mkdtempSync, rmSync, statSync, unlinkSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CONSOLE_REFUSAL } from "../../host-tools/serial/tcp-console.ts";

/** A serial line to a card: the simulated REPL (repl.ts), or the real interpreter's console (sim/espruino/card.ts). */
export interface ConsoleLine {
  /** Bytes from the terminal. */
  write(data: string | Uint8Array): void;
  /** Listen to what the card sends (a string of byte-characters); returns the function that stops listening. */
  onData(listener: (bytes: string) => void): () => void;
}

export interface ConsoleServerOptions {
  /** TCP port (default 0: any free port). */
  port?: number;
  /** Also make a pseudo-terminal: true for one in a fresh temporary directory, or the path of the link to create. */
  pty?: boolean | string;
  /** The token TCP clients must send first (default: 32 random bytes, hex). */
  token?: string;
}

export interface ConsoleServer {
  port: number;
  /** "tcp://127.0.0.1:N" (without the token). */
  url: string;
  /** What a TCP client must send as its first line (a secret: never log it). */
  token: string;
  /** Path of the pseudo-terminal (a symlink to /dev/pts/N), when asked for. */
  ptyPath: string | undefined;
  close(): Promise<void>;
}

/** Bytes queued for a client that does not read before more output to it is dropped. */
const MAX_QUEUED = 256 * 1024;
/** How long socat may take to make the pseudo-terminal. */
const PTY_TIMEOUT_MS = 5000;

/** How long a TCP client has to send the token. */
const AUTH_MS = 10_000;
/** A token line is 64 hex digits (and a CR); a client that sends more without a newline is not sending one. */
const MAX_TOKEN_LINE = 256;
/** What a refused client is told: the tools recognise CONSOLE_REFUSAL. No secret in it. */
const REFUSAL = `${CONSOLE_REFUSAL} (consoleToken in \`inkcard sim --json\`)\r\n`;

const digest = (s: string | Buffer) => createHash("sha256").update(s).digest();

/** Constant-time comparison of a candidate line with the token (hashed first, so lengths do not leak either). */
export function tokenMatches(candidate: string | Buffer, token: string): boolean {
  return timingSafeEqual(digest(candidate), digest(token));
}

export async function serveConsole(repl: ConsoleLine, options: ConsoleServerOptions = {}): Promise<ConsoleServer> {
  const token = options.token ?? randomBytes(32).toString("hex");
  const sockets = new Set<net.Socket>();
  /** Attach an authenticated client to the line; `first` is what it sent after its token line. */
  const attach = (socket: net.Socket, first?: Buffer) => {
    // Like a serial line nobody reads, output a client does not take is lost, not queued without end.
    const stop = repl.onData((bytes) => {
      if (socket.writableLength < MAX_QUEUED) socket.write(Buffer.from(bytes, "latin1"));
    });
    socket.on("data", (data) => repl.write(data));
    socket.on("close", stop);
    if (first?.length) repl.write(first);
  };
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.setNoDelay?.(true);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
  };

  const server = net.createServer((socket) => {
    track(socket);
    let buffered = Buffer.alloc(0);
    const refuse = () => {
      socket.removeListener("data", onData);
      clearTimeout(timer);
      socket.end(REFUSAL, () => socket.destroy());
    };
    const timer = setTimeout(refuse, AUTH_MS);
    const onData = (data: Buffer) => {
      buffered = Buffer.concat([buffered, data]);
      const nl = buffered.indexOf(0x0a);
      if (nl < 0) {
        if (buffered.length > MAX_TOKEN_LINE) refuse();
        return;
      }
      let line = buffered.subarray(0, nl);
      if (line.at(-1) === 0x0d) line = line.subarray(0, -1);
      if (!tokenMatches(line, token)) return refuse();
      socket.removeListener("data", onData);
      clearTimeout(timer);
      attach(socket, buffered.subarray(nl + 1));
    };
    socket.on("data", onData);
    socket.on("close", () => clearTimeout(timer));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  let local: { server: net.Server; path: string; dir: string } | undefined;
  let pty: { path: string; child: ChildProcess } | undefined;
  if (options.pty) {
    try {
      // The private directory holds socat's Unix socket (and the terminal's link, unless a path was given).
      const dir = mkdtempSync(join(tmpdir(), "inkcard-console-"));
      const path = join(dir, "console.sock");
      const unix = net.createServer((socket) => {
        track(socket);
        attach(socket);
      });
      local = { server: unix, path, dir };
      await new Promise<void>((resolve, reject) => {
        unix.once("error", reject);
        unix.listen(path, () => resolve());
      });
      chmodSync(path, 0o600);
      pty = await startPty(path, typeof options.pty === "string" ? options.pty : join(dir, "tty"));
    } catch (e) {
      server.close();
      local?.server.close();
      if (local) rmSync(local.dir, { recursive: true, force: true });
      throw e;
    }
  }

  return {
    port,
    url: `tcp://127.0.0.1:${port}`,
    token,
    ptyPath: pty?.path,
    async close() {
      pty?.child.kill();
      for (const s of sockets) s.destroy();
      await Promise.all(
        [server, local?.server].map((s) => s && new Promise<void>((resolve) => s.close(() => resolve()))),
      );
      if (local) rmSync(local.dir, { recursive: true, force: true });
    },
  };
}

/** Throws unless the pseudo-terminal at path (after its link) is a character device only its owner can open. */
export function checkPrivateTerminal(path: string): void {
  const st = statSync(path);
  if (!st.isCharacterDevice()) throw new Error(`${path} is not a terminal`);
  if ((st.mode & 0o077) !== 0) throw new Error(`the console's pseudo-terminal ${path} is mode ${(st.mode & 0o777).toString(8)}, not 0600: others could type at the card`);
}

/**
 * socat links a new pseudo-terminal (mode 0600) to the console's Unix socket
 * and stays connected (programs may open and close the terminal as often as
 * they like).
 */
async function startPty(socket: string, link: string): Promise<{ path: string; child: ChildProcess }> {
  // A link left by an earlier run that died would look like ours before socat makes it.
  const old = lstatSync(link, { throwIfNoEntry: false });
  if (old?.isSymbolicLink()) unlinkSync(link);
  else if (old) throw new Error(`cannot make the console's pseudo-terminal at ${link}: something else is there`);
  const child = spawn("socat", [`pty,rawer,echo=0,perm=0600,link=${link}`, `unix-connect:${socket}`], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  let failure: string | undefined;
  child.on("error", (e) => (failure = `cannot run socat (${e.message}): install Debian's socat (apt-get install socat)`));
  child.on("exit", (code) => (failure ??= `socat exited (${code}): ${stderr.trim()}`));
  const deadline = Date.now() + PTY_TIMEOUT_MS;
  while (!existsSync(link)) {
    if (failure || Date.now() > deadline) {
      child.kill();
      throw new Error(failure ?? `socat made no pseudo-terminal at ${link} within ${PTY_TIMEOUT_MS} ms`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  try {
    checkPrivateTerminal(link);
  } catch (e) {
    child.kill();
    throw e;
  }
  return { path: link, child };
}
