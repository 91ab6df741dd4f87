/**
 * Uploading boot code with the `espruino` package (EspruinoTools, the code
 * behind the Web IDE and the espruino CLI), through its Node API: it turns
 * the code into `require("Storage").write(".bootcde", ...)` chunks and sends
 * them, pacing Storage writes the way Espruino needs. We only configure it:
 *
 * - offline: board JSON from host-tools/flash/boards/ (not espruino.com),
 *   no module look-ups (the firmware needs only built-in modules, which the
 *   board reports in process.env.MODULES), no online minifier or compiler;
 * - the code stored exactly as given: no minification, pretokenising, or
 *   setTime() line, so the hash read back can be compared with the file's;
 * - the port: through a transport we add to its device list, the interface
 *   it defines for that: tcp://host:port over node:net, sending the
 *   simulator's console token first (host-tools/serial/tcp-console.ts; the
 *   package's own socket transport cannot), or a serial path (a
 *   pseudo-terminal included, which serialport.list() does not report) over
 *   the `serialport` package.
 *
 * EspruinoTools is a set of browser scripts loaded into Node's global scope
 * (global `Espruino`), logging with console.log: its chatter goes to our
 * log sink while it runs, and one upload runs at a time.
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { SerialPort } from "serialport";
import type net from "node:net";
import { ToolError } from "../lib/errors.ts";
import { connectTcpConsole, parseTcpConsole, type TcpConsole } from "../serial/tcp-console.ts";

/** The slice of EspruinoTools we use. */
interface EspruinoGlobal {
  Config: Record<string, unknown>;
  Core: {
    Serial: {
      devices: EspruinoDevice[];
      open(port: string, onOpen: (status: unknown) => void, onDisconnect: () => void): void;
      close(): void;
      startListening(fn: (data: ArrayBuffer) => void): unknown;
    };
    CodeWriter: { writeToEspruino(code: string, done: () => void): void };
    Status: { setStatus(text: string, max?: number): void; hasProgress(): boolean; incrementProgress(n: number): void };
    Notifications: Record<"success" | "error" | "warning" | "info", (text: string) => void>;
  };
  callProcessor(name: string, data: unknown, done: (result: string) => void): void;
}

interface EspruinoDevice {
  name: string;
  getPorts(cb: (ports: Array<{ path: string; description: string; type: string }>, instant: boolean) => void): void;
  open(path: string, onOpen: (info: unknown) => void, onData: (data: ArrayBuffer) => void, onClose: () => void): void;
  write(data: string, done: () => void): void;
  close(): void;
}

export const BOARDS_DIR = fileURLToPath(new URL("./boards", import.meta.url));

export interface UploadOptions {
  port: string;
  baud: number;
  code: string;
  /** Bytes of the upload sent so far, of total (the progress bar). */
  progress?: (sent: number, total: number) => void;
  /** EspruinoTools' own log lines (--verbose). */
  log?: (line: string) => void;
}

let loaded: Promise<EspruinoGlobal> | undefined;

/** Load EspruinoTools once, quietly, and configure it for offline, verbatim uploads. */
function espruino(log: (line: string) => void): Promise<EspruinoGlobal> {
  loaded ??= quietly(log, () => new Promise<EspruinoGlobal>((resolve) => {
    const tools = createRequire(import.meta.url)("espruino") as { init(cb: () => void): void };
    tools.init(() => {
      const E = (globalThis as unknown as { Espruino: EspruinoGlobal }).Espruino;
      Object.assign(E.Config, {
        BOARD_JSON_URL: BOARDS_DIR, // read with fs: not a URL
        MODULE_URL: "",
        MODULE_MINIFICATION_LEVEL: "",
        MINIFICATION_LEVEL: "",
        PRETOKENISE: 0,
        COMPILATION: false,
        SET_TIME_ON_WRITE: false,
        SAVE_ON_SEND: 1, // direct to flash: .bootcde, run at power-up
        LOAD_STORAGE_FILE: 0, // we restart the card ourselves, after checking what was stored
        RESET_BEFORE_SEND: true, // a clean interpreter, so the upload does not race running code
        STORE_LINE_NUMBERS: false,
        SERIAL_AUDIO: 0,
        BLUETOOTH_LOW_ENERGY: false,
        BLUETOOTH_LOW_ENERGY_DBUS: false,
        WEB_BLUETOOTH: false,
      });
      resolve(E);
    });
  }));
  return loaded;
}

/** Upload code as the card's boot code. Resolves once all of it was sent. */
export async function uploadBootCode(o: UploadOptions): Promise<void> {
  const log = o.log ?? (() => {});
  const E = await espruino(log);
  E.Config.BAUD_RATE = o.baud;
  // Only the one transport this port needs: the others scan USB and Bluetooth (over D-Bus), which we never want.
  const tcp = parseTcpConsole(o.port);
  const shown = tcp ? tcp.display : o.port; // never the token
  E.Config.SERIAL_TCPIP = [];
  E.Core.Serial.devices.length = 0;
  /** Why the port closed under us, as the serial layer said (e.g. an I/O error when the device went away). */
  let why = "";
  E.Core.Serial.devices.push(tcp ? tcpDevice(tcp) : serialPortDevice(o.port, o.baud, (w) => (why = w)));

  let total = 0;
  let sent = 0;
  E.Core.Status = {
    setStatus: (_text, max) => {
      if (max) total = max;
    },
    hasProgress: () => total > 0,
    incrementProgress: (n) => {
      sent = Math.min(total, sent + n);
      o.progress?.(sent, total);
    },
  };

  await quietly(log, async () => {
    let finished = false;
    let disconnected = () => {};
    const gone = new Promise<void>((r) => (disconnected = r));
    try {
      await new Promise<void>((resolve, reject) => {
        let opened = false;
        E.Core.Serial.startListening(() => {});
        E.Core.Serial.open(
          shown,
          (status) => {
            if (status === undefined) return reject(new ToolError(`the espruino package could not open ${shown}`, "check the port (see --verbose for its log)"));
            opened = true;
            E.callProcessor("transformForEspruino", o.code, (code) => {
              E.Core.CodeWriter.writeToEspruino(code, () => {
                finished = true;
                if (total) o.progress?.(total, total);
                resolve();
              });
            });
          },
          () => {
            disconnected();
            if (!opened) reject(new ToolError(`the espruino package could not open ${shown}`, "check the port (see --verbose for its log)"));
            else if (!finished) reject(new ToolError(`the link to ${shown} went away during the upload${why ? ` (${why})` : ""}`, "plug the card in again and flash it again"));
          },
        );
      });
    } finally {
      E.Core.Serial.close();
      // Its "Disconnected" line is still ours to catch: wait for the close callback (a deadline, not a
      // pause: a port whose device went away may never call it).
      await Promise.race([gone, new Promise((r) => setTimeout(r, 1000))]);
    }
  });
}

const PTY_DEVICE = "inkcard serialport";

/** A transport for the package's device list: the one serial path given, over our serialport; `gone` hears why it closed unasked. */
function serialPortDevice(path: string, baud: number, gone: (why: string) => void): EspruinoDevice {
  let port: SerialPort | undefined;
  return {
    name: PTY_DEVICE,
    getPorts: (cb) => cb([{ path, description: "inkcard card", type: "usb" }], true),
    open(p, onOpen, onData, onClose) {
      const sp = new SerialPort({ path: p, baudRate: baud, autoOpen: false, lock: true });
      port = sp;
      sp.on("data", (d: Buffer) => onData(d.buffer.slice(d.byteOffset, d.byteOffset + d.length) as ArrayBuffer));
      sp.on("close", (err: Error | null) => {
        if (err) gone(err.message);
        onClose();
      });
      sp.open((e) => onOpen(e ? undefined : "Ok"));
    },
    write(data, done) {
      if (!port?.isOpen) return done();
      port.write(Buffer.from(data, "latin1"), () => done());
    },
    close() {
      if (port?.isOpen) port.close();
    },
  };
}

/** A transport for the package's device list: tcp://host:port, the token (if any) sent as the first line. */
function tcpDevice(c: TcpConsole): EspruinoDevice {
  let socket: net.Socket | undefined;
  return {
    name: "inkcard tcp",
    getPorts: (cb) => cb([{ path: c.display, description: "inkcard card", type: "socket" }], true),
    open(_p, onOpen, onData, onClose) {
      connectTcpConsole(c).then(
        (s) => {
          socket = s;
          s.on("data", (d: Buffer) => onData(d.buffer.slice(d.byteOffset, d.byteOffset + d.length) as ArrayBuffer));
          s.on("close", () => onClose());
          s.on("error", () => s.destroy());
          onOpen("Ok");
        },
        () => onOpen(undefined),
      );
    },
    write(data, done) {
      if (!socket || socket.destroyed) return done();
      socket.write(Buffer.from(data, "latin1"), () => done());
    },
    close() {
      socket?.end();
    },
  };
}

/** Run fn with console.log/info/warn/error going to log: EspruinoTools talks a lot. */
async function quietly<T>(log: (line: string) => void, fn: () => Promise<T>): Promise<T> {
  const saved = { log: console.log, info: console.info, warn: console.warn, error: console.error };
  const sink = (...a: unknown[]) => log(a.map((x) => (typeof x === "string" ? x : JSON.stringify(x))).join(" "));
  Object.assign(console, { log: sink, info: sink, warn: sink, error: sink });
  try {
    return await fn();
  } finally {
    Object.assign(console, saved);
  }
}
