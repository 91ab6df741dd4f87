/**
 * HTTP verifications per second: `inkcard issuer` in one process (SQLite,
 * synchronous=FULL, logging to a file), autocannon in another
 * (bench/issuer/load.ts) on loopback, for a bounded time.
 *
 *   node --import tsx bench/issuer/http.ts [--seconds 10] [--connections 64] [--cards 1024] [--log-level info]
 */
import { spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { hexToBytes } from "../../firmware/core/bytes.ts";
import { hotp } from "../../firmware/core/otp.ts";
import { IssuerClient } from "../../host-tools/issuer/client.ts";
import { fastHash } from "../../host-tools/issuer/fast-hash.ts";
import type { LoadPlan, LoadResult } from "./load.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = join(ROOT, "bin/inkcard.js");

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

function run(args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`${args.join(" ")} exited ${code}`))));
  });
}

export interface HttpBenchOptions {
  seconds: number;
  connections: number;
  cards: number;
  logLevel: string;
}

export async function benchHttp(o: HttpBenchOptions): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), "inkcard-bench-http-"));
  const db = join(dir, "issuer.sqlite");
  const masterKey = Buffer.from(Uint8Array.from({ length: 32 }, (_, i) => i)).toString("hex"); // a bench key, not a real one
  const env = { INKCARD_MASTER_KEY: masterKey };
  const token = (await run([CLI, "issuer", "token", "create", "--db", db, "--create", "--role", "admin"])).trim();
  const port = await freePort();
  const log = createWriteStream(join(dir, "issuer.log"));
  const server = spawn(process.execPath, [CLI, "issuer", "--db", db, "--port", String(port), "--log-level", o.logLevel], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.stdout.pipe(log);
  server.stderr.pipe(log);
  try {
    const url = `http://127.0.0.1:${port}`;
    const client = new IssuerClient(url, token);
    for (let i = 0; ; i++) {
      if (await fetch(url).then(() => true, () => false)) break;
      if (i > 200) throw new Error("the issuer did not start");
      await new Promise((r) => setTimeout(r, 100));
    }
    // Enough presses for every connection to keep going for the whole run at up to 100k verifications/s.
    const presses = Math.ceil((100_000 * o.seconds) / o.cards);
    const cards: LoadPlan["cards"] = [];
    for (let i = 0; i < o.cards; i++) {
      const { package: p } = await client.createCard({ mode: "counter", digits: 6 });
      const key = hexToBytes(p.key);
      cards.push({ id: p.cardId, codes: Array.from({ length: presses }, (_, k) => hotp(fastHash(p.algorithm), key, p.counter + k, p.digits)) });
    }
    const planFile = join(dir, "plan.json");
    writeFileSync(planFile, JSON.stringify({ url, token, connections: o.connections, seconds: o.seconds, cards } satisfies LoadPlan), { mode: 0o600 });
    const out = await run(["--import", "tsx", join(ROOT, "bench/issuer/load.ts"), planFile]);
    return JSON.parse(out) as LoadResult;
  } finally {
    server.kill("SIGTERM");
    await new Promise((r) => server.on("close", r));
    rmSync(dir, { recursive: true, force: true });
  }
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const o = {
    seconds: Number(arg("seconds", "10")),
    connections: Number(arg("connections", "64")),
    cards: Number(arg("cards", "1024")),
    logLevel: arg("log-level", "info"),
  };
  const r = await benchHttp(o);
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  console.log(`issuer HTTP bench: autocannon in a second process, ${o.connections} connections, ${o.seconds} s, ${o.cards} cards, SQLite synchronous=FULL, log level ${o.logLevel}`);
  console.log(`  verifications     ${fmt(r.perSecond)} /s  (${fmt(r.requests)} requests, ${fmt(r.accepted)} accepted, ${r.non2xx} non-2xx, ${r.errors} errors)`);
  console.log(`  latency           p50 ${r.latencyP50ms} ms, p99 ${r.latencyP99ms} ms`);
  if (r.accepted !== r.requests) console.log("  NOTE: not every request was an accepted verification");
}
