/**
 * `inkcard phone pair` and `inkcard phone pay` (host-tools/phone/command.ts),
 * run as a holder runs them, against the firmware as flashed on the
 * simulator (its Bluetooth bridge) and the simulator's embedded issuer: the
 * whole of document C's flow across three processes' worth of parts. The
 * test plays the holder: it reads the passkey off the card's screen and types
 * it into the phone, and presses (or holds) the card's button once the
 * payment is on the screen. Nothing the phone prints may hold the payment's
 * one-time code or the card's answer.
 */
import { expect } from "chai";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { VmSim } from "../../sim/server/start.ts";
import { ROOT } from "../../host-tools/build/paths.ts";
import { IssuerClient, IssuerHttpError } from "../../host-tools/issuer/client.ts";
import { expectNoUncaught, simulator } from "./support.ts";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe("inkcard phone pair and pay against the firmware on the simulator and its embedded issuer", function () {
  this.timeout(180_000);
  let sim: VmSim;
  let dir: string;
  let tokenFile: string;

  before(async () => {
    sim = (await simulator({ liveClock: true })) as VmSim;
    dir = mkdtempSync(join(tmpdir(), "inkcard-phone-cli-"));
    tokenFile = join(dir, "token");
    writeFileSync(tokenFile, sim.addresses.token + "\n", { mode: 0o600 });
  });
  after(async () => {
    await sim?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  afterEach(() => {
    if (sim) expectNoUncaught(sim.console.read(0).text);
  });

  const texts = () => sim.board.textRuns().map((r) => r.text);
  const digitsOnScreen = () => texts().filter((t) => /^\d+$/.test(t)).join("");

  /** Run `inkcard phone ...args`; `holder` sees each chunk of stderr and may type on stdin. */
  function phone(args: string[], holder: (stderr: string, type: (line: string) => void) => void = () => {}): Promise<Run> {
    const common = ["--card", sim.addresses.card!, "--issuer", sim.addresses.issuer, "--token-file", tokenFile, "--sim", sim.addresses.web, "--state", join(dir, "phone.json")];
    const child = spawn(process.execPath, ["bin/inkcard.js", "phone", ...args, ...common], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => {
      stderr += d;
      holder(stderr, (line) => child.stdin.write(line + "\n"));
    });
    return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
  }

  /** Wait until the card's screen shows `text`, then do `then` once. */
  async function whenShown(text: string, then: () => void, ms = 60_000): Promise<void> {
    const by = Date.now() + ms;
    while (!texts().includes(text)) {
      if (Date.now() > by) throw new Error(`the card never showed ${JSON.stringify(text)}: ${JSON.stringify(texts())}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    then();
  }

  it("pairs: the holder types the passkey the card shows", async () => {
    let typed = false;
    let passkey = "";
    const run = await phone(["pair"], (stderr, type) => {
      if (typed || !/passkey shown on the card/.test(stderr)) return;
      typed = true;
      void whenShown("PAIRING", () => {
        passkey = digitsOnScreen();
        type(passkey);
      });
    });
    expect(run.stderr + run.stdout).to.not.match(/Error:|at .*\.ts:/);
    expect(run.code, run.stderr).to.equal(0);
    expect(passkey).to.match(/^\d{6}$/);
    expect(run.stdout).to.equal(`paired with card ${sim.addresses.card} (epoch 1)\n`);
  });

  it("pays: the card shows the payment, a press confirms it, the issuer accepts the card's answer", async () => {
    let answer = "";
    const run = await phone(["pay", "--amount", "12.34", "--currency", "EUR", "--payee", "Corner Books", "--details", "Order 1187"], (stderr) => {
      if (!/confirm the payment on the card/.test(stderr) || answer) return;
      answer = "pending";
      void whenShown("Press: confirm  Hold: decline", () => {
        expect(texts()).to.include.members(["12.34 EUR", "Corner Books", "Order 1187"]);
        sim.card.press();
        void whenShown("CONFIRMED", () => (answer = digitsOnScreen()));
      });
    });
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.match(/^payment [0-9a-f-]{36} confirmed and accepted\n$/);
    await whenShown("CONFIRMED", () => (answer = digitsOnScreen()));
    expect(answer).to.match(/^\d{8}$/);
    expect(run.stdout + run.stderr, "the card's answer is never printed").to.not.include(answer);
    // The issuer takes an answer once: the same answer again is refused.
    const id = /^payment (\S+) /.exec(run.stdout)![1];
    const again = await new IssuerClient(sim.addresses.issuer, sim.addresses.token).confirmPayment(id, answer).catch((e: unknown) => e);
    expect(again).to.be.instanceOf(IssuerHttpError);
    expect((again as IssuerHttpError).status).to.equal(409);
    expect((again as Error).message).to.match(/already confirmed/);
  });

  it("a long press declines: exit 3, the payment declined on the card", async () => {
    let held = false;
    const run = await phone(["pay", "--amount", "5", "--currency", "JPY", "--payee", "Kiosk"], (stderr) => {
      if (held || !/confirm the payment on the card/.test(stderr)) return;
      held = true;
      void whenShown("Press: confirm  Hold: decline", () => sim.card.hold(2500));
    });
    expect(run.code, run.stderr).to.equal(3);
    expect(run.stdout).to.match(/^payment [0-9a-f-]{36} declined on the card\n$/);
  });
});
