// The console lock on the real interpreter: a card whose lock file holds a
// console password boots with its console locked (a stranger's line does not
// run; the password typed at the prompt unlocks it), and a card whose lock file
// is malformed (a cut-off or foreign write) boots unlocked, as the firmware
// intends: the tool then locks it again (docs/provisioning.md).
//
// The card runs dist/firmware.js from Storage, as bench/memory.ts does: `.boot0`
// stubs NRF (Linux has no Bluetooth). The test profile's key and the password
// are random, exist only in this run and are never printed: on failure only the
// interpreter's error lines are shown, and the password prompt does not echo.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lockName, encodeProfile } from "../../firmware/core/profile.ts";
import { ensureFirmwareBuilt } from "../../host-tools/build/ensure.ts";
import { loadBoardConfig } from "../../host-tools/config.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { Interpreter, bootFromStorage, failureLines, sleep, textBytes, writeStorage } from "../../host-tools/lib/interpreter.ts";
import { requireEspruino } from "../build/espruino.ts";
import { NRF_STUB } from "../support/nrf-stub.ts";

/** A line anyone on the serial line could type: prints @x42 only if it runs. */
const STRANGER = 'print("@x"+(6*7))';
const RAN = /@x42/;

/** Occurrences of re (global) in s. */
const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;

describe("the console lock on the Espruino interpreter", function () {
  this.timeout(300_000);
  let dir = "";
  let bundle: Uint8Array;
  let profile: Uint8Array;
  let lockFile = "";
  let profileFile = "";
  let card: Interpreter | undefined;

  before(async function (this: Mocha.Context) {
    requireEspruino(this);
    const board = await loadBoardConfig();
    profileFile = board.storage.profile;
    lockFile = lockName(profileFile);
    bundle = readFileSync((await ensureFirmwareBuilt()).file);
    const key = randomBytes(20); // a test card: this key exists only in this run and is never printed
    profile = encodeProfile(
      { mode: "counter", algorithm: "SHA1", digits: 6, stepSeconds: 30, startCounter: 0, cardId: "LOCKTEST", key },
      nodeHash("SHA256"),
    );
    key.fill(0);
    dir = mkdtempSync(join(tmpdir(), "inkcard-lock-"));
  });

  afterEach(async () => {
    await card?.kill();
    card = undefined;
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Storage as a provisioned card has it, with this lock file content. */
  const store = (lock: string) =>
    writeStorage(dir, [[".boot0", textBytes(NRF_STUB)], [".bootcde", bundle], [profileFile, profile], [lockFile, textBytes(lock)]]);

  it("locks the console when the lock file holds a password: a stranger's line does not run, the password unlocks it", async () => {
    const password = randomBytes(10).toString("hex"); // 20 lowercase hex digits, as the tool writes
    await store(password);
    card = new Interpreter({ dir }); // not bootFromStorage: it waits for a console answer, which a locked one never gives
    const c = card;
    // Boot has run once a prompt shows: "password>" when locked, ">" when not.
    await c.waitFor(/password>|(?:^|\n)>/, 60_000);

    // The stranger's line. A locked console takes each line as a password attempt and answers
    // "Invalid password" (the harness also sends an empty line every 20 ms): once three more answers
    // came after it, the line has been consumed without running. Unlocked, it prints @x42.
    const from = c.output.length;
    c.send(STRANGER);
    const end = Date.now() + 60_000;
    for (;;) {
      const after = c.output.slice(from);
      expect(RAN.test(after), "a stranger's line ran on a card with a console password: the console is not locked").to.equal(false);
      if (count(after, /Invalid password/g) >= 3) break;
      expect(Date.now() < end, "the locked console did not answer within 60 s").to.equal(true);
      expect(failureLines(c.output), "the interpreter reported").to.equal("");
      await sleep(50);
    }
    await sleep(2000); // a generous margin for anything the line might still print
    expect(RAN.test(c.output.slice(from)), "a stranger's line ran on a locked card").to.equal(false);

    // The card is alive and booted: its password at the prompt logs in, then the same line runs
    // and the firmware answers ink-id, saying it is locked and holds the test profile.
    const login = c.output.length;
    c.send(password);
    await c.waitFor(/Logged in/, 60_000, login);
    expect(await c.value("x", "6*7", 60_000)).to.equal(42);
    const idFrom = c.output.length;
    c.send('E.emit("ink-id")');
    const id = await c.waitFor(/\[inkcard (\{.*\}) [0-9a-f]+\]/, 60_000, idFrom);
    const fields = JSON.parse(id[1] as string) as { locked: boolean; profile: string };
    expect(fields.locked).to.equal(true);
    expect(fields.profile).to.match(/^[0-9a-f]{64}$/);
    c.check("running the locked card");
  });

  // A lock file that is not 20 lowercase hex digits was not written whole by the tool
  // (host-tools/serial/card-console.ts lock()): the card ignores it and boots unlocked,
  // and the tool, finding the console open, locks it again on its next run.
  const malformed: Array<[string, () => string]> = [
    ["19 hex digits (a cut-off write)", () => randomBytes(10).toString("hex").slice(0, 19)],
    ["20 characters, not all hex", () => randomBytes(10).toString("hex").slice(0, 19) + "g"],
    ["20 uppercase hex digits", () => randomBytes(10).toString("hex").toUpperCase().replace(/^[0-9]/, "A")],
  ];
  for (const [what, content] of malformed) {
    it(`boots unlocked when the lock file holds ${what}`, async () => {
      await store(content());
      card = await bootFromStorage(dir); // the console answers: not locked
      expect(await card.value("x", "6*7", 60_000)).to.equal(42);
      const from = card.output.length;
      card.send('E.emit("ink-id")');
      const id = await card.waitFor(/\[inkcard (\{.*\}) [0-9a-f]+\]/, 60_000, from);
      expect((JSON.parse(id[1] as string) as { profile: string }).profile).to.match(/^[0-9a-f]{64}$/);
      expect(/password>|Invalid password/.test(card.output), "the console asked for a password").to.equal(false);
      card.check("running the card");
    });
  }
});
