/**
 * The card's console where host tools can reach it: a TCP port on 127.0.0.1
 * (the `espruino` CLI's `-p tcp://127.0.0.1:N`), and a real pseudo-terminal
 * linked to it by Debian's `socat`, for tools that open a serial port by
 * path. Every connection sees the same serial line: what one sends, all read.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, lstatSync, mkdtempSync, rmSync, unlinkSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

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
}

export interface ConsoleServer {
  port: number;
  /** "tcp://127.0.0.1:N", as the espruino CLI takes it. */
  url: string;
  /** Path of the pseudo-terminal (a symlink to /dev/pts/N), when asked for. */
  ptyPath: string | undefined;
  close(): Promise<void>;
}

/** Bytes queued for a client that does not read before more output to it is dropped. */
const MAX_QUEUED = 256 * 1024;
/** How long socat may take to make the pseudo-terminal. */
const PTY_TIMEOUT_MS = 5000;

export async function serveConsole(repl: ConsoleLine, options: ConsoleServerOptions = {}): Promise<ConsoleServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    // Like a serial line nobody reads, output a client does not take is lost, not queued without end.
    const stop = repl.onData((bytes) => {
      if (socket.writableLength < MAX_QUEUED) socket.write(Buffer.from(bytes, "latin1"));
    });
    socket.on("data", (data) => repl.write(data));
    socket.on("close", () => {
      stop();
      sockets.delete(socket);
    });
    socket.on("error", () => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  let pty: { path: string; child: ChildProcess; dir: string | undefined } | undefined;
  if (options.pty) {
    try {
      pty = await startPty(port, typeof options.pty === "string" ? options.pty : undefined);
    } catch (e) {
      server.close();
      throw e;
    }
  }

  return {
    port,
    url: `tcp://127.0.0.1:${port}`,
    ptyPath: pty?.path,
    async close() {
      if (pty) {
        pty.child.kill();
        if (pty.dir) rmSync(pty.dir, { recursive: true, force: true });
      }
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * socat links a new pseudo-terminal to the TCP console and stays connected
 * (programs may open and close the terminal as often as they like).
 */
async function startPty(port: number, path: string | undefined): Promise<{ path: string; child: ChildProcess; dir: string | undefined }> {
  const dir = path ? undefined : mkdtempSync(join(tmpdir(), "inkcard-console-"));
  const link = path ?? join(dir!, "tty");
  // A link left by an earlier run that died would look like ours before socat makes it.
  const old = lstatSync(link, { throwIfNoEntry: false });
  if (old?.isSymbolicLink()) unlinkSync(link);
  else if (old) throw new Error(`cannot make the console's pseudo-terminal at ${link}: something else is there`);
  const child = spawn("socat", [`pty,rawer,echo=0,link=${link}`, `tcp:127.0.0.1:${port}`], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  let failure: string | undefined;
  child.on("error", (e) => (failure = `cannot run socat (${e.message}): install Debian's socat (apt-get install socat)`));
  child.on("exit", (code) => (failure ??= `socat exited (${code}): ${stderr.trim()}`));
  const deadline = Date.now() + PTY_TIMEOUT_MS;
  while (!existsSync(link)) {
    if (failure || Date.now() > deadline) {
      child.kill();
      if (dir) rmSync(dir, { recursive: true, force: true });
      throw new Error(failure ?? `socat made no pseudo-terminal at ${link} within ${PTY_TIMEOUT_MS} ms`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return { path: link, child, dir };
}
