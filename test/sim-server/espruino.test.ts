/**
 * What only the espruino engine has to show (the API, page and CLI suites run
 * on both engines): `inkcard flash` onto a blank card through its console
 * (reset(), upload, load(): the shim in `.boot0` comes back each time), the
 * pins keep working when the firmware has locked its console (an issued
 * card), and what the shim costs in the card's 2,630 variables.
 */
import { expect } from "chai";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { lockName } from "../../firmware/core/profile.ts";
import { loadBoardConfig } from "../../host-tools/config.ts";
import { bootFromStorage, sleep, textBytes, writeStorage } from "../../host-tools/lib/interpreter.ts";
import { EspruinoCard } from "../../sim/espruino/card.ts";
import { shimSource } from "../../sim/espruino/shim.ts";
import { startSim } from "../../sim/server/start.ts";
import { expectNoUncaught, postJson, pressForCode, requireEngine, typeAtConsole } from "./support.ts";

describe("sim server: espruino engine only", function () {
  this.timeout(240_000);
  before(function (this: Mocha.Context) {
    requireEngine(this, "espruino");
  });

  it("inkcard flash --port tcp://... puts the firmware on a blank card, which then boots and answers its button", async () => {
    const sim = await startSim({ engine: "espruino", blank: true });
    try {
      const { stdout } = await promisify(execFile)(process.execPath, ["bin/inkcard.js", "flash", "--port", sim.addresses.consoleTcp, "--json"], {
        cwd: new URL("../../", import.meta.url).pathname,
        env: { ...process.env, INKCARD_CONSOLE_TOKEN: sim.addresses.consoleToken },
        encoding: "utf8",
      }).catch((e: Error & { stderr?: string }) => {
        throw new Error(`${e.message}\n${(e as { stdout?: string }).stdout ?? ""}${e.stderr ?? ""}`); // what the tool said, not only that it failed
      });
      expect(JSON.parse(stdout)).to.include({ ok: true });
      await sim.card.settled();
      expect(sim.storage().read(".bootcde")).to.equal(readFileSync(new URL("../../dist/firmware.js", import.meta.url), "latin1"));
      const drawn = sim.panel.refreshes.full + sim.panel.refreshes.partial;
      expect(drawn, "the flashed firmware drew its screen as it booted").to.be.greaterThan(0);
      expect(sim.card.screen().text.map((r) => r.text)).to.include("NOT ISSUED");
      await sim.card.press();
      expect(sim.panel.refreshes.full + sim.panel.refreshes.partial, "a press on a card with no profile redraws").to.be.greaterThan(drawn);
      expectNoUncaught(sim.console.read(0).text);
    } finally {
      await sim.close();
    }
  });

  it("an issued card with its console locked still shows codes the issuer accepts, and runs nothing typed at it", async () => {
    const sim = await startSim({ engine: "espruino", digits: 6 });
    try {
      const web = sim.addresses.web;
      // Lock it as `inkcard provision` does last: the password in the lock file, the console locked at every boot.
      await sim.card.cutPower();
      const password = randomBytes(10).toString("hex"); // never printed
      sim.card.install([[lockName(sim.config.storage.profile), password]]);
      await sim.card.restorePower();
      await typeAtConsole(sim, 'print("sum"+(40+2))', /password/);
      await sleep(1000);
      expect(sim.console.read(0).text).to.not.include("sum42");

      const code = await pressForCode(web);
      expect((await postJson(web, "api/verify", { code })).body).to.include({ ok: true });
      expect(sim.console.read(0).text).to.not.include(password);
      expectNoUncaught(sim.console.read(0).text);
    } finally {
      await sim.close();
    }
  });

  it("the shim's own cost in the card's variables: measured on an empty program, against a .boot0 with only an NRF stub", async () => {
    const config = await loadBoardConfig();
    const usage = /@u (\d+)/;
    // Baseline: the bench's way (bench/memory.ts), an NRF stub and nothing else.
    const dirA = mkdtempSync(join(tmpdir(), "inkcard-shim-a-"));
    const dirB = mkdtempSync(join(tmpdir(), "inkcard-shim-b-"));
    try {
      await writeStorage(dirA, [[".boot0", textBytes("global.NRF={setServices:function(){}};")], [".bootcde", textBytes("0;")]]);
      const plain = await bootFromStorage(dirA);
      const without = await plain.value("u", "process.memory().usage");
      await plain.kill();

      const card = new EspruinoCard({ config, dir: dirB });
      let out = "";
      card.onData((d) => (out += d));
      card.install([[".boot0", shimSource(config)], [".bootcde", "0;"]]);
      await card.restorePower();
      card.write('print("@u",process.memory().usage)\n');
      const by = Date.now() + 30_000;
      while (!usage.test(out) && Date.now() < by) await sleep(50);
      await card.close();
      const withShim = Number(usage.exec(out)?.[1]);
      const cost = withShim - without;
      console.log(`      the shim costs ${cost} of the card's 2,630 variables at idle (${without} without it, ${withShim} with it)`);
      expect(cost).to.be.greaterThan(0);
      expect(cost, "the shim must stay small: it is taken from the firmware's share").to.be.below(260);
    } finally {
      rmSync(dirA, { recursive: true, force: true });
      rmSync(dirB, { recursive: true, force: true });
    }
  });
});
