/**
 * Helpers shared by the issuer's tests: a fixed test master key, throwaway
 * databases (SQLite files, fresh PostgreSQL databases), an injected clock,
 * embedded issuers and issuer child processes.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { hotp } from "../../firmware/core/otp.ts";
import { hexToBytes } from "../../firmware/core/bytes.ts";
import type { HashName } from "../../firmware/core/types.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { IssuerClient } from "../../host-tools/issuer/client.ts";
import type { CardRecord, ProvisioningPackage } from "../../host-tools/issuer/card.ts";
import { startIssuer, type RunningIssuer, type StartOptions } from "../../host-tools/issuer/server.ts";

/** A test master key (never a real one): bytes 0x00..0x1f. */
export const TEST_MASTER_KEY = Uint8Array.from({ length: 32 }, (_, i) => i);
export const TEST_MASTER_KEY_HEX = Buffer.from(TEST_MASTER_KEY).toString("hex");

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const CLI = join(ROOT, "bin/inkcard.js");

/** A temporary directory removed by the returned cleanup. */
export function tempDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), "inkcard-issuer-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

let warnedNoPg = false;

/**
 * The PostgreSQL server for tests (INKCARD_TEST_PG_URL, started by scripts/postgres.sh).
 * In CI a missing server fails the test; locally it skips with a loud notice.
 */
export function pgServerUrl(ctx: Mocha.Context): string {
  const url = process.env.INKCARD_TEST_PG_URL;
  if (url) return url;
  if (process.env.CI === "true") {
    throw new Error("INKCARD_TEST_PG_URL is not set: CI must run the PostgreSQL tests (eval \"$(bash scripts/postgres.sh)\")");
  }
  if (!warnedNoPg) console.warn("\n  !!! SKIPPING PostgreSQL tests: INKCARD_TEST_PG_URL is not set. Run: eval \"$(bash scripts/postgres.sh)\" !!!\n");
  warnedNoPg = true;
  ctx.skip();
}

/** A fresh, empty database on the test server; drop() removes it. */
export async function freshPgDatabase(serverUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `inkcard_t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** A database of each kind for suites that run on both: SQLite always, PostgreSQL when available. */
export interface TestDb {
  kind: "sqlite" | "postgres";
  /** Makes a fresh database and returns its --db value. */
  create(ctx: Mocha.Context): Promise<string>;
  /** Removes every database this object made. */
  cleanup(): Promise<void>;
}

export function sqliteDb(): TestDb {
  const dirs: (() => void)[] = [];
  return {
    kind: "sqlite",
    async create() {
      const t = tempDir();
      dirs.push(t.cleanup);
      return join(t.dir, "issuer.sqlite");
    },
    async cleanup() {
      dirs.splice(0).forEach((f) => f());
    },
  };
}

export function postgresDb(): TestDb {
  const drops: (() => Promise<void>)[] = [];
  return {
    kind: "postgres",
    async create(ctx) {
      const db = await freshPgDatabase(pgServerUrl(ctx));
      drops.push(db.drop);
      return db.url;
    },
    async cleanup() {
      for (const d of drops.splice(0)) await d();
    },
  };
}

let panSeq = 0;

/** A card record as the stores keep it, with a PAN of its own (no key: stores never hold one); `over` replaces fields. */
export function newCard(over: Partial<CardRecord> = {}): CardRecord {
  const body = "424242" + String(++panSeq).padStart(9, "0");
  return {
    id: randomUUID(), pan: body + "0", expiry: "3001", psn: "00", mode: "counter", digits: 3, algorithm: "SHA1",
    step: 300, startCounter: 0, createdAt: 1_700_000_000_000, version: 0, blocked: false, nextCounter: 0, lastStep: -1,
    drift: 0, failures: 0, lastFailureAt: 0, resyncFailures: 0, lastResyncFailureAt: 0, ...over,
  };
}

/** A clock the test moves by hand (milliseconds since 1970). */
export class FakeClock {
  constructor(public ms = Date.UTC(2026, 0, 1)) {}
  readonly now = (): number => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

/** An embedded issuer with a token and a client, logging nothing. */
export interface TestIssuer extends RunningIssuer {
  token: string;
  client: IssuerClient;
}

export async function startTestIssuer(o: Partial<StartOptions> & { db: string }): Promise<TestIssuer> {
  const running = await startIssuer({ port: 0, masterKey: TEST_MASTER_KEY, logLevel: "silent", ...o });
  const token = await running.createToken("test");
  return { ...running, token, client: new IssuerClient(running.url, token) };
}

/** The code a provisioned card shows at a counter or time step. */
export function codeOf(pkg: ProvisioningPackage, counter: number): string {
  return hotp(nodeHash(pkg.algorithm as HashName), hexToBytes(pkg.key), counter, pkg.digits);
}

/** A code of the card's length that is none of its codes for counters 0..upTo: a guess sure to fail. */
export function wrongCode(pkg: ProvisioningPackage, upTo = 100): string {
  const codes = new Set(Array.from({ length: upTo + 1 }, (_, c) => codeOf(pkg, c)));
  for (let n = 0; ; n++) {
    const guess = String(n).padStart(pkg.digits, "0");
    if (!codes.has(guess)) return guess;
  }
}

/** A raw HTTP request, for the cases the client refuses to make. */
export async function raw(
  url: string,
  method: string,
  path: string,
  o: { token?: string; body?: string; type?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; text: string; json: unknown; headers: Headers }> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
  if (o.type !== undefined) headers["content-type"] = o.type;
  else if (o.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(url + path, { method, headers, ...(o.body === undefined ? {} : { body: o.body }) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, headers: res.headers };
}

/** An `inkcard issuer` child process. Its output is kept, never printed. */
export interface IssuerProcess {
  url: string;
  child: ChildProcess;
  output: string[];
  /** Resolves with the exit code or signal. */
  exited: Promise<string>;
}

export function spawnIssuer(args: string[], env: Record<string, string> = {}): Promise<IssuerProcess> {
  const child = spawn(process.execPath, [CLI, "issuer", "--port", "0", ...args], {
    env: { ...process.env, INKCARD_MASTER_KEY: TEST_MASTER_KEY_HEX, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  const exited = new Promise<string>((resolve) => child.on("exit", (code, signal) => resolve(signal ?? String(code))));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error("issuer process did not start within 20 s"));
    }, 20_000);
    createInterface({ input: child.stderr! }).on("line", (l) => output.push(l));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      output.push(line);
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], child, output, exited });
      }
    });
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`issuer process exited (${how}) before listening`));
    });
  });
}

/** SIGTERM, and SIGKILL if the process has not exited after 10 s. */
export async function stopIssuer(p: IssuerProcess): Promise<void> {
  p.child.kill("SIGTERM");
  const timer = setTimeout(() => p.child.kill("SIGKILL"), 10_000);
  await p.exited;
  clearTimeout(timer);
}

/** Runs the CLI to completion; output is returned, not printed. */
export function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr })));
}
