/**
 * Every bad input the issue lists, through the real command line: one clear
 * message naming the problem and what to do, a non-zero exit, and nothing
 * written to the card or the issuer. Nothing secret in any output.
 */
import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SerialPort } from "serialport";
import { tokenise, untokenise } from "../../host-tools/build/tokens.ts";
import { ensureFirmwareBuilt } from "../../host-tools/build/ensure.ts";
import type { Board } from "../../sim/board/board.ts";
import { bench, type Bench } from "./rig.ts";

const CLI = new URL("../../bin/inkcard.js", import.meta.url).pathname;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function inkcard(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env, NO_COLOR: "1" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** A pseudo-terminal with a program of our choosing behind it (not a card). */
async function fakePort(dir: string, name: string, program: string): Promise<{ path: string; child: ChildProcess }> {
  const path = join(dir, name);
  const child = spawn("socat", [`pty,rawer,echo=0,link=${path}`, `SYSTEM:${program}`], { stdio: "ignore" });
  for (let i = 0; i < 250 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 20));
  return { path, child };
}

describe("provision and flash refuse bad input with one clear message", function () {
  this.timeout(60_000);
  let b: Bench;
  let dir: string;
  let board: Board;
  const fakes: ChildProcess[] = [];
  before(async () => {
    b = await bench();
    dir = mkdtempSync(join(tmpdir(), "inkcard-errors-"));
    board = b.board();
    b.slot.insert(board);
  });
  after(async () => {
    for (const f of fakes) f.kill();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const provision = (port: string, extra: string[] = [], token?: string) =>
    inkcard(["provision", "--port", port, "--issuer", b.issuer.url, "--journal", join(dir, "j"), ...extra], { INKCARD_ISSUER_TOKEN: token ?? b.token });

  /** One message: the problem, then what to do; exit 1; the card untouched; no card at the issuer. */
  async function refused(run: Run, problem: RegExp, todo: RegExp): Promise<void> {
    expect(run.code, run.stderr).to.equal(1);
    expect(run.stdout).to.equal("");
    const lines = run.stderr.trim().split("\n");
    expect(lines[0]).to.match(/^provision failed: /);
    expect(lines[0]).to.match(problem);
    expect(lines[1]).to.match(todo);
    expect(run.stderr).to.not.include(b.token);
    expect(run.stderr).to.not.match(/Error:|at .*\.ts:\d+/); // no stack traces
    expect(board.storage.list(/^ink\./), "nothing written to the card").to.deep.equal([]);
    expect(await b.client.audit({ limit: 10 }), "nothing at the issuer").to.deep.equal([]);
  }

  it("port missing", async () => {
    await refused(await provision(join(dir, "no-such-tty")), /port .* does not exist/, /check the cable/);
  });

  it("port busy", async () => {
    const holder = new SerialPort({ path: b.pty(), baudRate: 9600, lock: true, autoOpen: false });
    await new Promise<void>((r, j) => holder.open((e) => (e ? j(e) : r())));
    try {
      await refused(await provision(b.pty()), /is busy/, /close it/);
    } finally {
      await new Promise((r) => holder.close(r));
    }
  });

  it("not a card, and no answer", async () => {
    const noisy = await fakePort(dir, "noisy", "yes hello");
    const silent = await fakePort(dir, "silent", "sleep 60");
    fakes.push(noisy.child, silent.child);
    await refused(await provision(noisy.path, ["--boot-timeout", "2"]), /is not an Espruino console/, /check that the port is the card's/);
    // A silent port may be a card still booting: the tool waits the boot deadline before it gives up (here 2 s).
    await refused(await provision(silent.path, ["--boot-timeout", "2"]), /did not answer while probing/, /plugged in and powered/);
  });

  it("garbled and truncated replies", async () => {
    b.slot.mangle = (s) => s.replace(/"fw":"/, '"fw":"x');
    try {
      await refused(await provision(b.pty()), /answer was garbled while asking who it is/, /check the cable and the baud rate/);
      b.slot.mangle = (s) => s.replace(/(\[inkcard .{10})[^\r\n]*/, "$1"); // the line's end lost
      await refused(await provision(b.pty()), /answer was cut off while asking who it is/, /check the cable and the baud rate/);
    } finally {
      b.slot.mangle = undefined;
    }
  });

  it("issuer down, wrong token, issuer refusing", async () => {
    await refused(await inkcard(["provision", "--port", b.pty(), "--issuer", "http://127.0.0.1:9", "--journal", join(dir, "j")], { INKCARD_ISSUER_TOKEN: b.token }),
      /cannot reach the issuer at http:\/\/127\.0\.0\.1:9/, /check that it runs/);
    await refused(await provision(b.pty(), [], "ink_wrongtoken"), /the issuer refused the token/, /check --token/);
    await refused(await provision(b.pty(), ["--card", "x"]), /--card is for reissuing a locked card/, /add --force/);
  });

  it("a blank board and another firmware version", async () => {
    const blank = b.board({ blank: true });
    b.slot.insert(blank);
    try {
      const run = await provision(b.pty());
      expect(run.code).to.equal(1);
      expect(run.stderr).to.match(/runs no inkcard firmware\n  flash it first: inkcard flash --port /);
      const other = b.board({ blank: true });
      const bundle = readFileSync((await ensureFirmwareBuilt()).file, "latin1");
      other.storage.write(".bootcde", tokenise(untokenise(bundle).replace(/"0\.1\.0"/g, '"0.0.9"'))); // the bundle is pretokenised
      other.reboot();
      b.slot.insert(other);
      const again = await provision(b.pty());
      expect(again.code).to.equal(1);
      expect(again.stderr).to.match(/runs inkcard firmware 0\.0\.9, this tool issues for 0\.1\.0\n  flash it: inkcard flash/);
      expect(other.storage.list(/^ink\./)).to.deep.equal([]);
    } finally {
      b.slot.insert(board);
    }
  });

  it("flash refuses a card whose Espruino is older than the pretokenised bundle needs, and writes nothing", async () => {
    const old = b.board({ blank: true, espruinoVersion: "2v25.396" });
    b.slot.insert(old);
    try {
      const run = await inkcard(["flash", "--port", b.pty()]);
      expect(run.code).to.equal(1);
      expect(run.stderr).to.match(/^flash failed: the card runs Espruino 2v25\.396; this firmware needs 2v26 or later\n  update the card's Espruino/m);
      expect(old.storage.list()).to.deep.equal([]);
    } finally {
      b.slot.insert(board);
    }
  });

  it("--json gives the same message as JSON, and flash refuses a port that is not a card", async () => {
    const run = await inkcard(["provision", "--port", join(dir, "nope"), "--issuer", b.issuer.url, "--json"], { INKCARD_ISSUER_TOKEN: b.token });
    expect(run.code).to.equal(1);
    expect(JSON.parse(run.stdout)).to.deep.equal({ ok: false, error: `port ${join(dir, "nope")} does not exist`, todo: "check the cable and the port name (ls /dev/tty*)" });
    const silent = await fakePort(dir, "silent2", "sleep 60");
    fakes.push(silent.child);
    const f = await inkcard(["flash", "--port", silent.path, "--boot-timeout", "2"]);
    expect(f.code).to.equal(1);
    expect(f.stderr).to.match(/^flash failed: the card on .* did not answer while probing its console\n  check that it is plugged in/m);
  });

  it("and a good run: --json prints the result, nothing secret, exit 0", async () => {
    const fresh = b.board();
    b.slot.insert(fresh);
    try {
      const run = await provision(b.pty(), ["--json", "--verbose", "--digits", "6"]);
      expect(run.code, run.stderr).to.equal(0);
      const out = JSON.parse(run.stdout);
      expect(out).to.deep.include({ ok: true });
      expect(out.cards).to.have.length(1);
      expect(out.cards[0]).to.include({ chipSerial: fresh.serial, outcome: "issued" });
      expect(run.stderr).to.match(/writing its profile/);
      expect(run.stdout + run.stderr).to.not.include(b.token);
      expect(run.stdout + run.stderr).to.not.match(/[0-9a-f]{20}/);
      expect(fresh.console.isLocked).to.equal(true);
    } finally {
      b.slot.insert(board);
    }
  });
});
