/**
 * The simulator's speed, each figure against a baseline measured in the same run:
 *   - presses per second with the firmware on the virtual clock (what tests and
 *     POST /api/button do: press, then run until the panel refresh has landed),
 *     against a bare board running an empty program pressed the same way, and
 *     the same presses through the HTTP API;
 *   - start-up time of `inkcard sim --headless --json` (build up to date, demo
 *     card issued), against `inkcard --help` (Node, tsx and the CLI loading).
 * Run: node --import tsx bench/sim.ts [presses]
 */
import { spawn } from "node:child_process";
import { pathToFileURL } from "node:url";
import { loadBoardConfig } from "../host-tools/config.ts";
import { Board } from "../sim/board/board.ts";
import { BoardCard } from "../sim/server/card.ts";
import { startSim } from "../sim/server/start.ts";

const ROOT = new URL("../", import.meta.url).pathname;

export interface SimMeasure {
  presses: number;
  firmwarePerSecond: number;
  barePerSecond: number;
  httpPerSecond: number;
  /** Virtual time one firmware press takes (press, debounce, panel refresh). */
  virtualMsPerPress: number;
  startupMs: number;
  helpMs: number;
}

function rate(n: number, run: () => void): number {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) run();
  return n / ((performance.now() - t0) / 1000);
}

/** Wall time until the command prints its first stdout line (then it is stopped). */
function timeToFirstLine(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ["bin/inkcard.js", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "ignore"] });
    let done = false;
    child.stdout.on("data", () => {
      if (done) return;
      done = true;
      const ms = performance.now() - t0;
      child.once("exit", () => resolve(ms));
      child.kill("SIGTERM");
    });
    child.on("exit", (code) => {
      if (!done) reject(new Error(`inkcard ${args.join(" ")} exited (${code}) without output`));
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function measureSim(presses = 500): Promise<SimMeasure> {
  // Firmware presses, in process (the sim's own BoardCard, as the API uses it).
  const sim = await startSim({ liveClock: false });
  let firmwarePerSecond: number;
  let httpPerSecond: number;
  let virtualMsPerPress: number;
  try {
    sim.card.press(); // warm up: first full refresh after boot, JIT
    const v0 = sim.board.now();
    firmwarePerSecond = rate(presses, () => sim.card.press());
    virtualMsPerPress = (sim.board.now() - v0) / presses;
    const url = new URL("api/button", sim.addresses.web);
    const token = ((await (await fetch(new URL("api/session", sim.addresses.web))).json()) as { token: string }).token;
    const httpN = Math.min(presses, 200);
    const t0 = performance.now();
    for (let i = 0; i < httpN; i++) {
      const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", "x-inkcard-sim": token }, body: '{"action":"press"}' });
      if (!res.ok) throw new Error(`POST /api/button: ${res.status}`);
      await res.arrayBuffer();
    }
    httpPerSecond = httpN / ((performance.now() - t0) / 1000);
    if (sim.console.includes("Uncaught")) throw new Error("Uncaught error in the card's console during the benchmark");
  } finally {
    await sim.close();
  }

  // Baseline: the same board running an empty program.
  const bare = new Board({ config: await loadBoardConfig(), unpowered: true });
  bare.storage.write(".bootcde", ";");
  bare.restorePower();
  const bareCard = new BoardCard(bare);
  bareCard.press();
  const barePerSecond = rate(presses, () => bareCard.press());

  // Start-up, three times each, median.
  const startups: number[] = [];
  const helps: number[] = [];
  for (let i = 0; i < 3; i++) {
    helps.push(await timeToFirstLine(["--help"]));
    startups.push(await timeToFirstLine(["sim", "--headless", "--json", "--manual-clock"]));
  }
  return {
    presses,
    firmwarePerSecond,
    barePerSecond,
    httpPerSecond,
    virtualMsPerPress,
    startupMs: median(startups),
    helpMs: median(helps),
  };
}

export function report(m: SimMeasure): string {
  const f = (n: number) => n.toFixed(0).padStart(7);
  return [
    `presses/s firmware  ${f(m.firmwarePerSecond)}   (${m.presses} presses, ${m.virtualMsPerPress.toFixed(0)} ms of virtual time each)`,
    `presses/s bare      ${f(m.barePerSecond)}   baseline: the board running an empty program; a firmware press costs ${(m.barePerSecond / m.firmwarePerSecond).toFixed(0)} x a bare one`,
    `                               (${(1e6 / m.firmwarePerSecond).toFixed(0)} us vs ${(1e6 / m.barePerSecond).toFixed(2)} us: the cost is the firmware and the hardware models it drives)`,
    `presses/s HTTP API  ${f(m.httpPerSecond)}   POST /api/button one after another = ${(m.httpPerSecond / m.firmwarePerSecond).toFixed(3)} x in-process`,
    `virtual/real        ${f((m.firmwarePerSecond * m.virtualMsPerPress) / 1000)}   card seconds per wall-clock second while pressing`,
    `start-up ms sim     ${f(m.startupMs)}   inkcard sim --headless --json (median of 3) = ${(m.startupMs / m.helpMs).toFixed(2)} x inkcard --help`,
    `start-up ms --help  ${f(m.helpMs)}   baseline: Node + tsx + the CLI`,
  ].join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const n = process.argv[2] ? Number(process.argv[2]) : undefined;
  console.log(report(await measureSim(n)));
}
