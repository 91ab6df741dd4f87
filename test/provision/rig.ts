/**
 * A provisioning bench for the tests: simulated boards (sim/board) behind one
 * card slot whose console is served on a real pseudo-terminal (socat) and on
 * loopback TCP, as a USB serial adapter with a socket for the card; an
 * embedded issuer (startIssuer, SQLite) with an API token. Boards are put in
 * the slot one after another, as an operator swaps them.
 *
 * interpreterCard(): a blank card on the real Espruino interpreter instead,
 * its console on a pseudo-terminal.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BoardConfig } from "../../firmware/board-config.ts";
import { ensureFirmwareBuilt } from "../../host-tools/build/ensure.ts";
import { loadBoardConfig } from "../../host-tools/config.ts";
import { ESPRUINO, textBytes, writeStorage } from "../../host-tools/lib/interpreter.ts";
import { Link } from "../../host-tools/serial/link.ts";
import { IssuerClient, startIssuer, type RunningIssuer } from "../../host-tools/issuer/index.ts";
import { Board } from "../../sim/board/board.ts";
import type { Repl } from "../../sim/console/repl.ts";
import { serveConsole, type ConsoleServer } from "../../sim/console/server.ts";
import { BoardCard } from "../../sim/server/card.ts";
import { NRF_STUB } from "../support/nrf-stub.ts";

/** Fixed test master key (never a real one). */
const MASTER_KEY = Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + i);

/** The card slot: the console of whichever board is in it. */
export class Slot {
  board: Board | undefined;
  /** A faulty line: what the card sends passes through this (garbling, truncating). */
  mangle: ((bytes: string) => string) | undefined;
  private readonly listeners = new Set<(bytes: string) => void>();
  private readonly wired = new WeakSet<Board>();

  insert(board: Board | undefined): void {
    this.board = board;
    if (!board || this.wired.has(board)) return;
    this.wired.add(board);
    board.console.onData((bytes) => {
      if (this.board !== board) return;
      const out = this.mangle ? this.mangle(bytes) : bytes;
      for (const l of this.listeners) l(out);
    });
  }

  /** What the tool sends passes through this first (a cable that fails mid-line); return what reaches the card. */
  tap: ((bytes: string) => string) | undefined;

  /** Repl's two methods the console server uses. */
  write(data: string | Uint8Array): void {
    const bytes = typeof data === "string" ? data : Buffer.from(data).toString("latin1");
    this.board?.console.write(this.tap ? this.tap(bytes) : bytes);
  }

  onData(listener: (bytes: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export interface Bench {
  config: BoardConfig;
  /** The issuer's SQLite file, and its master key as hex (for `inkcard issuer export`). */
  db: string;
  masterKeyHex: string;
  issuer: RunningIssuer;
  token: string;
  client: IssuerClient;
  slot: Slot;
  /** The slot's pseudo-terminal and TCP console (new ones after cutLink()). */
  pty(): string;
  tcp(): string;
  /** A new board (its own chip serial), flashed with dist/firmware.js unless blank, powered, on a live clock. */
  board(o?: { blank?: boolean; espruinoVersion?: string }): Board;
  /** Pull the cable: the console server and its pseudo-terminal go away, and come back at a new path. */
  cutLink(): Promise<void>;
  close(): Promise<void>;
}

export async function bench(): Promise<Bench> {
  const config = await loadBoardConfig();
  const bundle = readFileSync((await ensureFirmwareBuilt()).file, "latin1");
  const dir = mkdtempSync(join(tmpdir(), "inkcard-provision-"));
  const db = join(dir, "issuer.sqlite");
  const issuer = await startIssuer({ db, port: 0, masterKey: MASTER_KEY, logLevel: "silent", policy: { backoffBaseSeconds: 0 } });
  const token = await issuer.createToken("provision tests");
  const slot = new Slot();
  let server: ConsoleServer = await serveConsole(slot as unknown as Repl, { pty: true });
  const cards: BoardCard[] = [];
  return {
    config,
    db,
    masterKeyHex: Buffer.from(MASTER_KEY).toString("hex"),
    issuer,
    token,
    client: new IssuerClient(issuer.url, token),
    slot,
    pty: () => server.ptyPath!,
    tcp: () => `${server.url}?token=${server.token}`,
    board(o = {}) {
      const board = new Board({ config, serial: `${randomBytes(4).toString("hex")}-${randomBytes(4).toString("hex")}`, unpowered: true, espruinoVersion: o.espruinoVersion });
      if (!o.blank) board.storage.write(".bootcde", bundle);
      board.restorePower();
      const card = new BoardCard(board);
      card.settle();
      card.startLiveClock();
      cards.push(card);
      return board;
    },
    async cutLink() {
      await server.close();
      server = await serveConsole(slot as unknown as Repl, { pty: true });
    },
    async close() {
      for (const c of cards) c.stopLiveClock();
      await server.close();
      await issuer.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Press the board's button once its panel is idle (a press during a refresh
 * that shows a code is answered by that code: a holder presses later); the
 * code it then shows (digits only), or undefined.
 */
export function pressForCode(board: Board): string | undefined {
  const card = new BoardCard(board);
  card.settle();
  card.press();
  const digits = board.textRuns().filter((r) => /^[0-9]+$/.test(r.text)).sort((a, b) => a.y - b.y || a.x - b.x);
  return digits.length ? digits.map((r) => r.text).join("") : undefined;
}

export interface InterpreterCard {
  /** The card's serial port: a pseudo-terminal. */
  port: string;
  /** Whether the interpreter still runs, and what socat saw of it: for a failure's message. */
  fate(): Promise<string>;
  close(): Promise<void>;
}

/**
 * A blank card on the real interpreter (host-tools/lib/interpreter.ts
 * ESPRUINO): Storage (espruino.flash in a fresh directory) holds only
 * `.boot0` (the NRF stand-in, then `boot0`, e.g. a slower boot), and socat
 * puts its console on a pseudo-terminal, which the tools open with
 * serialport as they would a USB adapter. Under a pseudo-terminal the
 * interpreter's input never reaches end of file. Resolves once it answers,
 * as a card powered up a while ago does.
 */
export async function interpreterCard(boot0 = ""): Promise<InterpreterCard> {
  const dir = mkdtempSync(join(tmpdir(), "inkcard-card-"));
  await writeStorage(dir, [[".boot0", textBytes(NRF_STUB + boot0)]]);
  const port = join(dir, "card");
  // Its own process group: the interpreter ignores the SIGTERM socat passes on, so close() kills the group.
  // Its notices (-d -d) name how the interpreter ended, if it did: a failure's message gives them (fate()).
  const log = join(dir, "socat.log");
  const socat = spawn("socat", ["-d", "-d", "-lf", log, `PTY,link=${port},rawer,echo=0`, `EXEC:${ESPRUINO},pty,rawer`], { cwd: dir, detached: true, stdio: "ignore" });
  const fate = async () => {
    // The process may be ending still (its pseudo-terminal closed first): give its exit a moment to show.
    for (let i = 0; i < 10 && socat.exitCode === null && socat.signalCode === null; i++) await new Promise((r) => setTimeout(r, 100));
    let said = "";
    try {
      said = readFileSync(log, "utf8").trim().split("\n").slice(-6).join("\n");
    } catch {
      /* no log yet */
    }
    const state = socat.exitCode === null && socat.signalCode === null ? "socat still runs" : `socat ended (${socat.exitCode ?? socat.signalCode})`;
    return `${state}; its last notices:\n${said}`;
  };
  const close = async () => {
    try {
      process.kill(-socat.pid!, "SIGKILL");
    } catch {
      /* already gone */
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const by = Date.now() + 60_000;
    while (!existsSync(port)) {
      if (Date.now() > by || socat.exitCode !== null) throw new Error("socat made no pseudo-terminal for the interpreter");
      await new Promise((r) => setTimeout(r, 20));
    }
    // Up once a line answers (sent again if one went in before the interpreter read its input).
    const link = await Link.open({ port, baud: 115200, answerMs: 2000 });
    try {
      for (;;) {
        link.mark();
        await link.write('\x10print("<<"+"up>>")\n');
        try {
          await link.until((s) => (s.includes("<<up>>") ? true : undefined), "starting the interpreter");
          break;
        } catch (e) {
          if (Date.now() > by) throw e;
        }
      }
    } finally {
      await link.close();
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { port, fate, close };
}
