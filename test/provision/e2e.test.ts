/**
 * End to end through the simulator's pseudo-terminal, with the real
 * `espruino` and `serialport` packages: flash a blank board, provision it
 * with a running issuer, press its button, verify the code, and show that
 * its console no longer runs anything.
 */
import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureFirmwareBuilt } from "../../host-tools/build/ensure.ts";
import { flashCard } from "../../host-tools/flash/flash.ts";
import { CardConsole } from "../../host-tools/serial/card-console.ts";
import { issueCard } from "../../host-tools/provision/index.ts";
import { IssuanceClient } from "../../host-tools/provision/issuer.ts";
import { Journal } from "../../host-tools/provision/journal.ts";
import { Link } from "../../host-tools/serial/link.ts";
import { provisionCard } from "../../host-tools/provision/provision.ts";
import { bench, pressForCode, type Bench } from "./rig.ts";
import { VERSION as FIRMWARE } from "../../host-tools/lib/version.ts";

describe("issuance end to end on a simulated card (pseudo-terminal, espruino and serialport packages)", function () {
  this.timeout(60_000);
  let b: Bench;
  let dir: string;
  before(async () => {
    b = await bench();
    dir = mkdtempSync(join(tmpdir(), "inkcard-e2e-"));
  });
  after(async () => {
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("flashes a blank board, provisions it, its first press verifies, and its console is locked", async () => {
    const board = b.board({ blank: true });
    b.slot.insert(board);
    const lines: string[] = [];
    let uploaded = 0;
    const flashed = await flashCard({ port: b.pty(), baud: 9600, firmware: FIRMWARE, log: (l) => lines.push(l), progress: (s) => (uploaded = s) });
    const built = await ensureFirmwareBuilt();
    expect(flashed).to.include({ sha256: built.sha256, firmware: FIRMWARE, board: "MDBT42Q", chipSerial: board.serial });
    expect(board.storage.read(".bootcde")).to.equal(readFileSync(built.file, "latin1"));
    expect(uploaded, "the progress reached the end").to.be.greaterThan(built.bytes);
    expect(board.console.transcript()).to.not.match(/Uncaught/);

    const link = await Link.open({ port: b.pty(), baud: 9600 });
    const journal = new Journal(join(dir, "one.journal"));
    let done;
    try {
      done = await provisionCard({
        con: new CardConsole(link),
        issuer: new IssuanceClient(b.issuer.url, b.token),
        firmware: FIRMWARE,
        profileFile: b.config.storage.profile,
        request: { mode: "counter", digits: 6 },
        force: false,
        journal,
        log: (l) => lines.push(l),
      });
    } finally {
      await link.close();
    }
    expect(done).to.include({ chipSerial: board.serial, outcome: "issued" });
    expect(journal.done()).to.deep.equal([board.serial]);

    // The card is issued: the issuer says so, and the next press verifies (the first code was spent proving it).
    expect(await b.client.getCard(done.cardId)).to.include({ status: "active", counter: 1 });
    expect((await new IssuanceClient(b.issuer.url, b.token).status(board.serial)).issued?.cardId).to.equal(done.cardId);
    const code = pressForCode(board);
    expect(code).to.match(/^\d{6}$/);
    expect(await b.client.verify(done.cardId, code!)).to.deep.include({ ok: true, counter: 1 });

    // Locked: a line asking for the profile file runs nothing, over the same pseudo-terminal.
    expect(board.console.isLocked).to.equal(true);
    const probe = await Link.open({ port: b.pty(), baud: 9600 });
    try {
      probe.mark();
      await probe.write('\x10print("PROFILE:"+btoa(require("Storage").read("ink.prof")))\n');
      await probe.until((s) => (/Invalid password/.test(s) ? true : undefined), "trying the locked console");
      expect(probe.received()).to.not.include("PROFILE:");
    } finally {
      await probe.close();
    }
    expect(board.nrf.servicesOptions, "no console over Bluetooth").to.deep.equal({ uart: false });
    // A power cycle keeps it locked.
    board.reboot();
    expect(board.console.isLocked).to.equal(true);

    const said = lines.join("\n");
    expect(said).to.not.include(b.token);
    expect(said).to.not.include(code!);
    expect(said).to.not.match(/[0-9a-f]{20}/); // no key, password or full digest
  });

  it("issueCard(), the path for the simulator's demo card: over tcp://, the console left open when asked", async () => {
    const board = b.board();
    b.slot.insert(board);
    const done = await issueCard({ port: b.tcp(), issuer: b.issuer.url, token: b.token, profileFile: b.config.storage.profile, request: { mode: "counter", digits: 3 }, lock: false });
    expect(done).to.include({ chipSerial: board.serial, outcome: "issued" });
    expect(board.console.isLocked).to.equal(false);
    expect(await b.client.verify(done.cardId, pressForCode(board)!)).to.include({ ok: true, counter: 1 });
    // Run again: the card is recognised as issued, nothing new is made.
    const again = await issueCard({ port: b.tcp(), issuer: b.issuer.url, token: b.token, profileFile: b.config.storage.profile, request: { mode: "counter" }, lock: false });
    expect(again).to.deep.equal({ chipSerial: board.serial, cardId: done.cardId, outcome: "already issued" });
  });
});
