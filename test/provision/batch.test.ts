/**
 * Batch mode: 20 simulated cards through one slot, the operator swapping
 * boards when asked (each new board goes in a moment after the prompt, so
 * the tool first sees the card it just locked and must wait). A rerun of a
 * finished batch issues nothing; a batch cut off mid-card resumes without
 * issuing any chip twice.
 */
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { provisionBatch } from "../../host-tools/provision/batch.ts";
import { ToolError } from "../../host-tools/lib/errors.ts";
import { IssuanceClient } from "../../host-tools/provision/issuer.ts";
import { Journal } from "../../host-tools/provision/journal.ts";
import type { Board } from "../../sim/board/board.ts";
import { bench, pressForCode, type Bench } from "./rig.ts";
import { VERSION as FIRMWARE } from "../../host-tools/lib/version.ts";

describe("batch provisioning", function () {
  this.timeout(120_000);
  let b: Bench;
  let dir: string;
  before(async () => {
    b = await bench();
    dir = mkdtempSync(join(tmpdir(), "inkcard-batch-"));
  });
  after(async () => {
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function run(boards: Board[], journal: Journal, count = boards.length) {
    return provisionBatch({
      issuer: new IssuanceClient(b.issuer.url, b.token),
      firmware: FIRMWARE,
      profileFile: b.config.storage.profile,
      request: { mode: "counter", digits: 3 },
      force: false,
      journal,
      log: () => {},
      count,
      port: b.pty(),
      baud: 115200,
      pollMs: 50,
      answerMs: 800,
      // The operator: puts the k-th board in a moment after being asked.
      prompt: (line) => {
        const k = Number(/card (\d+) of/.exec(line)![1]);
        setTimeout(() => b.slot.insert(boards[k - 1]), 150);
      },
    });
  }

  async function issues(): Promise<number> {
    return (await b.client.audit({ limit: 1000 })).filter((e) => e.event === "issue").length;
  }

  it("provisions 20 cards in one run; each verifies; running it again issues none", async () => {
    const boards = Array.from({ length: 20 }, () => b.board());
    b.slot.insert(undefined);
    const journal = new Journal(join(dir, "twenty.journal"));
    const done = await run(boards, journal);
    expect(done.map((d) => d.chipSerial)).to.deep.equal(boards.map((x) => x.serial));
    expect(done.every((d) => d.outcome === "issued")).to.equal(true);
    const issuance = new IssuanceClient(b.issuer.url, b.token);
    for (const [i, board] of boards.entries()) {
      expect(board.console.isLocked, `card ${i + 1} locked`).to.equal(true);
      expect((await issuance.status(board.serial)).issued?.cardId).to.equal(done[i].cardId);
      const code = pressForCode(board);
      expect(await b.client.verify(done[i].cardId, code!), `card ${i + 1} verifies`).to.include({ ok: true });
    }
    expect(await issues()).to.equal(20);

    const again = await run(boards, new Journal(join(dir, "twenty.journal")));
    expect(again).to.deep.equal([]);
    expect(await issues()).to.equal(20);
  });

  it("resumes a batch cut off while writing card 3, issuing no chip twice", async () => {
    const before = await issues();
    const boards = Array.from({ length: 5 }, () => b.board());
    b.slot.insert(undefined);
    const file = join(dir, "five.journal");
    // The cable fails as card 3's profile goes out.
    let cut: Promise<void> | undefined;
    b.slot.tap = (bytes) => {
      if (!cut && b.slot.board === boards[2] && bytes.includes(".new")) {
        cut = b.cutLink();
        return "";
      }
      return bytes;
    };
    try {
      await run(boards, new Journal(file)).then(
        () => expect.fail("the batch went on without its cable"),
        (e) => expect(e).to.be.instanceOf(ToolError).with.property("problem").match(/went away while writing the profile/),
      );
    } finally {
      b.slot.tap = undefined;
      await cut; // the cable is back (at a new port)
    }
    const journal = new Journal(file);
    expect(journal.done()).to.deep.equal([boards[0].serial, boards[1].serial]);
    b.slot.insert(undefined);
    const rest = await run(boards, journal);
    expect(rest.map((d) => d.chipSerial)).to.deep.equal(boards.slice(2).map((x) => x.serial));
    const issuance = new IssuanceClient(b.issuer.url, b.token);
    for (const board of boards) {
      const s = await issuance.status(board.serial);
      expect(s.pending).to.equal(undefined);
      expect(s.issued).to.be.an("object");
    }
    // Card 3's first attempt was abandoned (its card blocked for good): one extra card made, none issued twice.
    expect((await issues()) - before).to.equal(6);
  });
});
