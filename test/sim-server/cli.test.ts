/**
 * `inkcard sim --headless --json` as a user's script runs it, on each engine
 * (`--engine espruino`: the real interpreter): a child process that prints
 * one JSON line whose addresses all answer, keeps a card across restarts
 * with --state, starts blank with --blank, and leaves no process behind on SIGTERM.
 */
import { expect } from "chai";
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, lstatSync, mkdtempSync, readlinkSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SerialPort } from "serialport";
import type { SimAddresses } from "../../sim/server/start.ts";
import { ENGINES, expectNoUncaught, getJson, pressForCode, requireEngine, slow, type Engine } from "./support.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

interface Child {
  proc: ChildProcess;
  addresses: SimAddresses;
  /** Everything the child wrote to stdout so far. */
  stdout(): string;
  stop(): Promise<number | null>;
}

async function startCli(engine: Engine, args: string[]): Promise<Child> {
  const clock = engine === "vm" ? ["--manual-clock"] : ["--engine", "espruino"];
  const proc = spawn(process.execPath, ["bin/inkcard.js", "sim", "--headless", "--json", ...clock, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (err += d));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no JSON line within ${slow(engine, 60)} s; stderr: ${err}`)), slow(engine, 60_000));
    const check = () => {
      const nl = out.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, nl));
      }
    };
    proc.stdout!.on("data", check);
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`inkcard sim exited (${code}) before printing; stderr: ${err}`));
    });
  });
  const addresses = JSON.parse(line) as SimAddresses;
  return {
    proc,
    addresses,
    stdout: () => out,
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve(proc.exitCode);
        proc.once("exit", (code) => resolve(code));
        proc.kill("SIGTERM");
      }),
  };
}

function socatFor(link: string): string[] {
  const ps = execFileSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" });
  return ps.split("\n").filter((l) => l.includes("socat") && l.includes(link));
}

async function issuerCall(a: SimAddresses, method: string, path: string, body?: unknown, token = a.token) {
  const res = await fetch(a.issuer + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Send a no-echo line to the console over TCP and wait for pattern in the answer. */
async function askTcp(url: string, token: string, line: string, pattern: RegExp): Promise<string> {
  const port = Number(/^tcp:\/\/127\.0\.0\.1:(\d+)$/.exec(url)![1]);
  const socket = net.connect(port, "127.0.0.1");
  try {
    return await new Promise((resolve, reject) => {
      let seen = "";
      const timer = setTimeout(() => reject(new Error(`no ${pattern} in ${JSON.stringify(seen)}`)), 5000);
      socket.on("data", (d) => {
        seen += d.toString("latin1");
        if (pattern.test(seen)) {
          clearTimeout(timer);
          resolve(seen);
        }
      });
      socket.on("error", reject);
      socket.on("connect", () => socket.write(`${token}\n\x10${line}\n`));
    });
  } finally {
    socket.destroy();
  }
}

/** The same through the pseudo-terminal, opened as a serial port with the real serialport package. */
async function askPty(path: string, line: string, pattern: RegExp): Promise<string> {
  const port = new SerialPort({ path, baudRate: 9600, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  try {
    return await new Promise((resolve, reject) => {
      let seen = "";
      const timer = setTimeout(() => reject(new Error(`no ${pattern} in ${JSON.stringify(seen)}`)), 5000);
      port.on("data", (d: Buffer) => {
        seen += d.toString("latin1");
        if (pattern.test(seen)) {
          clearTimeout(timer);
          resolve(seen);
        }
      });
      port.write(`\x10${line}\n`);
    });
  } finally {
    await new Promise<void>((resolve) => port.close(() => resolve()));
  }
}

for (const engine of ENGINES) {
  describe(`inkcard sim --headless --json (child process, ${engine} engine)`, function () {
    this.timeout(slow(engine, 120_000));
    before(function (this: Mocha.Context) {
      requireEngine(this, engine);
    });

    it("prints one JSON line whose addresses answer, and stops cleanly on SIGTERM", async () => {
      const sim = await startCli(engine, ["--digits", "6"]);
      const a = sim.addresses;
      try {
        expect(Object.keys(a).sort()).to.deep.equal(["api", "card", "console", "consoleTcp", "consoleToken", "issuer", "token", "web"]);
        expect(a.web).to.match(/^http:\/\/127\.0\.0\.1:\d+\/$/);
        expect(a.api).to.equal(`${a.web}api`);
        expect(a.consoleTcp).to.match(/^tcp:\/\/127\.0\.0\.1:\d+$/);

        const page = await fetch(a.web);
        expect(page.status).to.equal(200);
        expect(await page.text()).to.include("<canvas");
        expect((await getJson(a.api + "/", "screen")).status).to.equal(200);

        // The issuer knows the demo card, with the run's token and only with it.
        const card = await issuerCall(a, "GET", `/v1/cards/${a.card}`);
        expect(card.status).to.equal(200);
        expect(card.body).to.include({ id: a.card, mode: "counter", digits: 6 });
        expect((await issuerCall(a, "GET", `/v1/cards/${a.card}`, undefined, "ink_wrong")).status).to.equal(401);

        // Both consoles reach the card's REPL.
        expect(await askTcp(a.consoleTcp, a.consoleToken, "print('tcp'+(6*7))", /tcp42/)).to.match(/tcp42/);
        expect(a.console, "a pseudo-terminal: the tests run with socat installed").to.be.a("string");
        expect(readlinkSync(a.console!)).to.match(/^\/dev\/pts\/\d+$/);
        expect(await askPty(a.console!, "print('pty'+(6*7))", /pty42/)).to.match(/pty42/);

        // A press through the API shows a code the issuer's own API accepts.
        const code = await pressForCode(a.web);
        expect(code).to.match(/^\d{6}$/);
        const verified = await issuerCall(a, "POST", `/v1/cards/${a.card}/verify`, { code });
        expect(verified.body).to.include({ ok: true });

        expectNoUncaught((await getJson(a.web, "api/console")).body.text);
        expect(sim.stdout().trim().split("\n"), "exactly one line on stdout").to.have.length(1);
        expect(sim.stdout()).to.not.include(code);
      } finally {
        const code = await sim.stop();
        expect(code).to.equal(0);
      }
      expect(existsSync(a.console!), "the pseudo-terminal is gone").to.equal(false);
      expect(socatFor(a.console!), "no socat left").to.deep.equal([]);
    });

    it("--state DIR: the card, its counter and its issuer record survive a restart", async () => {
      const dir = mkdtempSync(join(tmpdir(), "inkcard-sim-state-"));
      try {
        const first = await startCli(engine, ["--state", dir]);
        let code1: string;
        try {
          code1 = await pressForCode(first.addresses.web);
          expect((await issuerCall(first.addresses, "POST", `/v1/cards/${first.addresses.card}/verify`, { code: code1 })).body).to.include({ ok: true, counter: 1 }); // counter 0: issuance's own first code
        } finally {
          expect(await first.stop()).to.equal(0);
        }
        expect((lstatSync(join(dir, "master.key")).mode & 0o777).toString(8)).to.equal("600");

        const second = await startCli(engine, ["--state", dir]);
        try {
          expect(second.addresses.card).to.equal(first.addresses.card);
          const code2 = await pressForCode(second.addresses.web);
          const v = await issuerCall(second.addresses, "POST", `/v1/cards/${second.addresses.card}/verify`, { code: code2 });
          expect(v.body, "the card went on from the next counter").to.include({ ok: true, counter: 2 });
          expectNoUncaught((await getJson(second.addresses.web, "api/console")).body.text);
        } finally {
          expect(await second.stop()).to.equal(0);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("--blank: no firmware, no profile, no card; the console shows Espruino's banner", async () => {
      const sim = await startCli(engine, ["--blank"]);
      try {
        const a = sim.addresses;
        expect(a.card).to.equal(undefined);
        expect(a.token).to.match(/\S{16,}/);
        expect((await getJson(a.web, "api/console")).body.text).to.include("espruino.com");
        const files = await askTcp(a.consoleTcp, a.consoleToken, "print(JSON.stringify(require('Storage').list()))", /\[[^\]]*\]/);
        // The espruino engine's card holds its pins' shim (sim/espruino/shim.ts) and nothing else.
        expect(files).to.include(engine === "espruino" ? '[".boot0"]' : "[]");
        expect((await getJson(a.web, "api/screen")).body.refreshes).to.deep.equal({ full: 0, partial: 0 });
        expectNoUncaught((await getJson(a.web, "api/console")).body.text);
      } finally {
        expect(await sim.stop()).to.equal(0);
      }
    });
  });
}
