/**
 * Issuance over serial: bytes on the wire and time per card for `flash` and
 * `provision`, on a link throttled to 9600 and 115200 baud, against the same
 * run unthrottled (the baseline, measured first in this run).
 * Run: node --import tsx bench/provision.ts [--cards N]   (default 2 cards per setting)
 *
 * The link: the simulated board's console on loopback TCP, a pacing proxy
 * (each byte costs 10 bit times: 8N1 framing, as a UART sends it), and a
 * pseudo-terminal (socat) in front, which the tools open with serialport as
 * they would a USB adapter. Bytes are counted at the proxy, both directions.
 *
 * Then the same two steps on the real Espruino interpreter (qemu, near a
 * card's speed; skipped without it), its console on a pseudo-terminal (not
 * paced): how long a card's own work (boots, flash writes) makes them, against
 * the unpaced simulated board. The tools wait for the card (polling with
 * deadlines), so these times are the card's, not pauses of the tool's.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { loadBoardConfig } from "../host-tools/config.ts";
import { flashCard } from "../host-tools/flash/flash.ts";
import { startIssuer } from "../host-tools/issuer/index.ts";
import { issueCard } from "../host-tools/provision/index.ts";
import { Board } from "../sim/board/board.ts";
import type { Repl } from "../sim/console/repl.ts";
import { serveConsole } from "../sim/console/server.ts";
import { BoardCard } from "../sim/server/card.ts";
import { VERSION } from "../host-tools/lib/version.ts";
import { haveEspruino } from "../host-tools/lib/interpreter.ts";
import { interpreterCard } from "../test/provision/rig.ts";

interface Wire {
  toCard: number;
  fromCard: number;
}

/** A TCP proxy that paces both directions at baud (0: unpaced) and counts the bytes. */
async function pacedProxy(target: number, token: string, baud: number): Promise<{ port: number; wire: Wire; close(): Promise<void> }> {
  const wire: Wire = { toCard: 0, fromCard: 0 };
  const sockets = new Set<net.Socket>();
  const pace = (from: net.Socket, to: net.Socket, count: (n: number) => void) => {
    let free = 0;
    let chain = Promise.resolve();
    from.on("data", (d: Buffer) => {
      count(d.length);
      chain = chain.then(async () => {
        for (let i = 0; i < d.length; i += 32) {
          const piece = d.subarray(i, i + 32);
          if (baud) {
            free = Math.max(free, performance.now()) + (piece.length * 10 * 1000) / baud;
            const wait = free - performance.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          }
          if (!to.destroyed) to.write(piece);
        }
      });
    });
  };
  const server = net.createServer((client) => {
    const card = net.connect(target, "127.0.0.1");
    card.write(`${token}\n`); // the console's token first (sim/console/server.ts); not counted as wire bytes
    sockets.add(client).add(card);
    pace(client, card, (n) => (wire.toCard += n));
    pace(card, client, (n) => (wire.fromCard += n));
    const end = () => {
      client.destroy();
      card.destroy();
    };
    client.on("close", end).on("error", end);
    card.on("close", end).on("error", end);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    wire,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

async function pty(path: string, port: number): Promise<ChildProcess> {
  const child = spawn("socat", [`pty,rawer,echo=0,link=${path}`, `tcp:127.0.0.1:${port}`], { stdio: "ignore" });
  for (let i = 0; i < 250 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 20));
  return child;
}

export interface Measure {
  baud: number;
  cards: number;
  flash: { seconds: number; toCard: number; fromCard: number };
  provision: { seconds: number; toCard: number; fromCard: number };
}

/** Flash and provision `cards` blank boards through a link paced at baud (0: unpaced); per-card averages. */
export async function measure(baud: number, cards: number): Promise<Measure> {
  const config = await loadBoardConfig();
  const dir = mkdtempSync(join(tmpdir(), "inkcard-bench-"));
  const issuer = await startIssuer({ db: join(dir, "issuer.sqlite"), port: 0, masterKey: new Uint8Array(32).fill(9), logLevel: "silent" });
  const token = await issuer.createToken("bench");
  const sum = { flash: { seconds: 0, toCard: 0, fromCard: 0 }, provision: { seconds: 0, toCard: 0, fromCard: 0 } };
  try {
    for (let i = 0; i < cards; i++) {
      const board = new Board({ config });
      const clock = new BoardCard(board);
      clock.startLiveClock();
      const con = await serveConsole(board.console as Repl, {});
      const proxy = await pacedProxy(con.port, con.token, baud);
      const path = join(dir, `tty${i}`);
      const socat = await pty(path, proxy.port);
      try {
        for (const step of ["flash", "provision"] as const) {
          const before = { ...proxy.wire };
          const t0 = performance.now();
          if (step === "flash") await flashCard({ port: path, baud: baud || 115200, firmware: VERSION, log: () => {} });
          else await issueCard({ port: path, baud: baud || 115200, issuer: issuer.url, token, profileFile: config.storage.profile, request: { mode: "counter" } });
          sum[step].seconds += (performance.now() - t0) / 1000;
          sum[step].toCard += proxy.wire.toCard - before.toCard;
          sum[step].fromCard += proxy.wire.fromCard - before.fromCard;
        }
      } finally {
        socat.kill();
        await proxy.close();
        await con.close();
        clock.stopLiveClock();
      }
    }
  } finally {
    await issuer.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const avg = (s: { seconds: number; toCard: number; fromCard: number }) => ({
    seconds: s.seconds / cards,
    toCard: Math.round(s.toCard / cards),
    fromCard: Math.round(s.fromCard / cards),
  });
  return { baud, cards, flash: avg(sum.flash), provision: avg(sum.provision) };
}

export interface InterpreterMeasure {
  cards: number;
  flash: number;
  provision: number;
}

/** Flash and provision `cards` blank cards on the interpreter; per-card seconds. */
export async function measureInterpreter(cards: number): Promise<InterpreterMeasure> {
  const config = await loadBoardConfig();
  const sum = { flash: 0, provision: 0 };
  for (let i = 0; i < cards; i++) {
    const dir = mkdtempSync(join(tmpdir(), "inkcard-bench-"));
    // Its own issuer: every interpreter has the same chip serial.
    const issuer = await startIssuer({ db: join(dir, "issuer.sqlite"), port: 0, masterKey: new Uint8Array(32).fill(9), logLevel: "silent" });
    const card = await interpreterCard();
    try {
      const token = await issuer.createToken("bench");
      let t0 = performance.now();
      await flashCard({ port: card.port, baud: 115200, firmware: VERSION, log: () => {} });
      sum.flash += (performance.now() - t0) / 1000;
      t0 = performance.now();
      await issueCard({ port: card.port, baud: 115200, issuer: issuer.url, token, profileFile: config.storage.profile, request: { mode: "counter" } });
      sum.provision += (performance.now() - t0) / 1000;
    } finally {
      await card.close();
      await issuer.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return { cards, flash: sum.flash / cards, provision: sum.provision / cards };
}

export function report(baseline: Measure, runs: Measure[], interpreter?: InterpreterMeasure): string {
  const lines = [`per card, averaged over ${baseline.cards} card(s); wire time = bytes x 10 bits / baud (8N1)`];
  for (const m of [baseline, ...runs]) {
    for (const step of ["flash", "provision"] as const) {
      const s = m[step];
      const wire = m.baud ? ((s.toCard + s.fromCard) * 10) / m.baud : 0;
      const vsBase = s.seconds / baseline[step].seconds;
      lines.push(
        `${(m.baud ? `${m.baud} baud` : "unpaced").padEnd(12)} ${step.padEnd(9)} ${s.seconds.toFixed(2).padStart(7)} s` +
          `  ${String(s.toCard).padStart(6)} B to card ${String(s.fromCard).padStart(5)} B back` +
          (m.baud ? `  ${vsBase.toFixed(1).padStart(5)} x unpaced  wire time ${wire.toFixed(2)} s (${(s.seconds / wire).toFixed(2)} x)` : "  (baseline)"),
      );
    }
  }
  if (interpreter) {
    for (const step of ["flash", "provision"] as const) {
      lines.push(
        `${"interpreter".padEnd(12)} ${step.padEnd(9)} ${interpreter[step].toFixed(2).padStart(7)} s` +
          `  ${(interpreter[step] / baseline[step].seconds).toFixed(1).padStart(5)} x unpaced (qemu, pseudo-terminal, ${interpreter.cards} card(s))`,
      );
    }
  } else lines.push("interpreter  skipped: no Espruino interpreter (set ESPRUINO)");
  return lines.join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf("--cards");
  const cards = i > 0 ? Number(process.argv[i + 1]) : 2;
  if (!Number.isInteger(cards) || cards < 1) {
    console.error("bench/provision: --cards must be a positive integer");
    process.exit(2);
  }
  const baseline = await measure(0, cards);
  const runs = [await measure(115200, cards), await measure(9600, cards)];
  console.log(report(baseline, runs, haveEspruino() ? await measureInterpreter(cards) : undefined));
  process.exit(0);
}
