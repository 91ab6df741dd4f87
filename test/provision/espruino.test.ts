/**
 * `inkcard flash` and `inkcard provision` end to end on the real Espruino
 * interpreter (host-tools/lib/interpreter.ts ESPRUINO: the i386 build under
 * qemu, near a card's speed), its console on a pseudo-terminal (socat), with
 * the real `espruino` and `serialport` packages and an embedded issuer:
 * flash dist/firmware.js onto a blank interpreter, provision it, then check
 * that a stranger's line is refused (the console is locked) and, logged in
 * with the card's password, that it holds the issued profile and its next
 * press verifies.
 *
 * The tools must wait for the card, not for a time sized for a fast host:
 * the second run slows every boot of the firmware (after flashing, and after
 * locking) by SLOW_BOOT_S seconds of busy loop in `.boot0`: more than a
 * request's answer time (ANSWER_MS) and than the fixed pauses the tools used
 * to make (1.5 s after flashing, then 4 s for an answer; 0.3 s after locking).
 * `.boot0` also holds a stand-in for the board's Bluetooth stack (test/support/nrf-stub.ts;
 * Linux has no NRF): not part of the product.
 */
import { expect } from "chai";
import { ensureFirmwareBuilt } from "../../host-tools/build/ensure.ts";
import { flashCard } from "../../host-tools/flash/flash.ts";
import { VERSION as FIRMWARE } from "../../host-tools/lib/version.ts";
import { CardConsole } from "../../host-tools/serial/card-console.ts";
import { IssuanceClient } from "../../host-tools/provision/issuer.ts";
import { Journal } from "../../host-tools/provision/journal.ts";
import { ANSWER_MS, Link } from "../../host-tools/serial/link.ts";
import { provisionCard } from "../../host-tools/provision/provision.ts";
import { requireEspruino } from "../build/espruino.ts";
import { bench, interpreterCard, type Bench } from "./rig.ts";

/** Wait until the card has sent nothing for ms (at most 20 tries). */
async function quiet(link: Link, ms: number): Promise<void> {
  for (let i = 0; i < 20; i++) {
    link.mark();
    await new Promise((r) => setTimeout(r, ms));
    if (link.received() === "") return;
  }
  throw new Error("the card never went quiet");
}

/** What InterpreterCard.fate() says once the interpreter's process has ended. */
const INTERPRETER_GONE = "socat ended";

/** Seconds each boot of the slowed card takes on top of the interpreter's own. */
const SLOW_BOOT_S = 8;

describe("flash and provision on the Espruino interpreter (pseudo-terminal, espruino and serialport packages)", function () {
  this.timeout(240_000);
  let b: Bench;
  before(function (this: Mocha.Context) {
    requireEspruino(this);
  });
  // A new issuer for each card: every interpreter has the same chip serial (getSerial()).
  beforeEach(async () => {
    b = await bench();
  });
  afterEach(async () => {
    await b?.close();
  });

  for (const slow of [0, SLOW_BOOT_S]) {
    const how = slow ? `with every boot slowed by ${slow} s` : "as fast as qemu makes it";
    it(`flashes a blank card, provisions it, locks its console, and a press verifies (${how})`, async () => {
      try {
        await flashAndProvision(slow);
      } catch (e) {
        // Once in CI the interpreter's process (qemu, under socat) went away during the upload: the card
        // itself was gone, not the tools' doing. Only then, and said in the log, once more on a new card.
        if (!(e instanceof Error) || !e.message.includes(INTERPRETER_GONE)) throw e;
        console.log(`      (the interpreter ended under the test: ${e.message.split("\n")[0]}; once more, on a new card and issuer)`);
        await b.close();
        b = await bench();
        await flashAndProvision(slow);
      }
    });
  }

  async function flashAndProvision(slow: number): Promise<void> {
    expect(slow * 1000).to.satisfy((ms: number) => !slow || ms > ANSWER_MS + 1500);
    // Only a boot that runs the firmware is slowed: reset() (which the espruino package sends before an
    // upload) runs .boot0 too on this build, but never the firmware, and is quick on a card.
    const card = await interpreterCard(
      slow ? `if(require("Storage").read(".bootcde")!==undefined)(function(){var t=getTime();while(getTime()-t<${slow});})();` : "",
    );
    const lines: string[] = [];
    const log = (l: string) => lines.push(l);
    let link: Link | undefined;
    try {
      const built = await ensureFirmwareBuilt();
      let t0 = performance.now();
      const flashed = await flashCard({ port: card.port, baud: 115200, firmware: FIRMWARE, log });
      const flashS = (performance.now() - t0) / 1000;
      expect(flashed).to.include({ sha256: built.sha256, firmware: FIRMWARE, board: "MDBT42Q" });
      // It restarted (a slow boot is waited for) and answered with the firmware just flashed.
      expect(flashS).to.be.greaterThan(slow);

      link = await Link.open({ port: card.port, baud: 115200 });
      const con = new CardConsole(link);
      const issuer = new IssuanceClient(b.issuer.url, b.token);
      t0 = performance.now();
      const done = await provisionCard({
        con,
        issuer,
        firmware: FIRMWARE,
        profileFile: b.config.storage.profile,
        request: { mode: "counter", digits: 6 },
        force: false,
        journal: new Journal(undefined),
        log,
      });
      const provisionS = (performance.now() - t0) / 1000;
      expect(done).to.include({ chipSerial: flashed.chipSerial, outcome: "issued" });
      // The issuer verified the card's first code (confirm), and only then called it issued.
      expect(await b.client.getCard(done.cardId)).to.include({ status: "active", counter: 1 });
      const issued = (await issuer.status(flashed.chipSerial)).issued;
      expect(issued?.cardId).to.equal(done.cardId);

      // Locked: a stranger's line asking for the profile runs nothing; the console asks for its password.
      // Whatever the card still had to say (a prompt from the tool's own lock check) goes first, so that
      // the answer waited for below is the answer to this line.
      await quiet(link, 1000);
      link.mark();
      await link.write('\x10print("PROFILE:"+btoa(require("Storage").read("ink.prof")))\n');
      await link.until((s) => (/Invalid password[\s\S]*password>/.test(s) ? true : undefined), "trying the locked console");
      expect(link.received()).to.not.include("PROFILE:");

      // With its password: it is the issued card (ink-id), and its next press verifies.
      await con.unlock((await issuer.password(done.cardId)).consolePassword);
      const id = await con.identify();
      expect(id).to.include({ fw: FIRMWARE, serial: flashed.chipSerial, profile: issued!.digest, staged: false, locked: true });
      const code = await con.code();
      expect(code).to.match(/^\d{6}$/);
      expect(await b.client.verify(done.cardId, code)).to.deep.include({ ok: true });

      const said = lines.join("\n");
      expect(said).to.not.include(b.token);
      expect(said).to.not.match(/[0-9a-f]{20}/); // no key, password or full digest
      console.log(`      (flash ${flashS.toFixed(1)} s, provision ${provisionS.toFixed(1)} s)`);
    } catch (e) {
      // Say whether the card itself (the interpreter under qemu) went away, and how.
      if (e instanceof Error) e.message += `\n      the card: ${(await card.fate()).replace(/\n/g, "\n        ")}`;
      throw e;
    } finally {
      await link?.close();
      await card.close();
    }
  }
});
