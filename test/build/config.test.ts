// espruino.config.js validation: every wrong, missing or unknown value names its key.
import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadBoardConfig, validateBoardConfig } from "../../host-tools/config.ts";
import type { BoardConfig } from "../../firmware/board-config.ts";

/** The repository's config, deep-copied, with `edit` applied. */
async function failureOf(edit: (c: Record<string, any>) => void): Promise<string> {
  const c = structuredClone(await loadBoardConfig()) as unknown as Record<string, any>;
  edit(c);
  try {
    validateBoardConfig(c);
  } catch (e) {
    expect(e).to.be.instanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("expected the config to be rejected");
}

describe("board config", () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), "inkcard-config-"))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("accepts the repository's espruino.config.js", async () => {
    const c: BoardConfig = await loadBoardConfig();
    expect(c.panel).to.include({ model: "SSD1681", width: 200, height: 200 });
    expect(c.hashes).to.include("SHA256");
  });

  it("a missing key fails naming it", async () => {
    expect(await failureOf((c) => delete c.panel.busy)).to.equal(
      'espruino.config.js: panel.busy: missing, expected a pin name like "D31" (D0..D47)');
    expect(await failureOf((c) => delete c.storage)).to.equal("espruino.config.js: storage: missing, expected an object");
  });

  it("a wrong value fails naming the key and the value", async () => {
    expect(await failureOf((c) => (c.panel.busy = 42))).to.equal(
      'espruino.config.js: panel.busy: expected a pin name like "D31" (D0..D47), got 42');
    expect(await failureOf((c) => (c.button.pin = "D48"))).to.equal(
      'espruino.config.js: button.pin: expected a pin name like "D31" (D0..D47), got "D48"');
    expect(await failureOf((c) => (c.serial.baud = -9600))).to.equal(
      "espruino.config.js: serial.baud: expected a positive whole baud rate, got -9600");
    expect(await failureOf((c) => (c.hashes = ["SHA1", "MD5"]))).to.equal(
      'espruino.config.js: hashes[1]: expected one of SHA1, SHA256, SHA512, got "MD5"');
    expect(await failureOf((c) => (c.storage.profile = "a-name-longer-than-24-chars"))).to.match(/^espruino\.config\.js: storage\.profile: expected a Storage file name/);
    expect(await failureOf((c) => (c.panel.wipeAfterMs = 999))).to.match(/^espruino\.config\.js: panel\.wipeAfterMs: expected whole milliseconds, at least 1000, got 999$/);
    expect(await failureOf((c) => (c.panel.fullRefreshEvery = 0))).to.match(/^espruino\.config\.js: panel\.fullRefreshEvery: .* got 0$/);
  });

  it("an unknown key (a typo) fails naming it", async () => {
    expect(await failureOf((c) => (c.panel.bussy = "D31"))).to.equal("espruino.config.js: panel.bussy: unknown key (a typo?)");
  });

  it("checks values against each other", async () => {
    expect(await failureOf((c) => (c.panel.width = 250))).to.equal("espruino.config.js: panel.width: the SSD1681 is 200x200, got 250");
    expect(await failureOf((c) => (c.hashes = ["SHA1"]))).to.equal(
      'espruino.config.js: hashes: must include "SHA256" (the profile integrity check uses it)');
    expect(await failureOf((c) => (c.hashes = ["SHA256", "SHA256"]))).to.equal("espruino.config.js: hashes: lists a hash twice");
    expect(await failureOf((c) => (c.panel.dc = c.panel.cs))).to.equal("espruino.config.js: panel.dc: D28 is already used by panel.cs");
    expect(await failureOf((c) => (c.button.debounceMs = c.button.longPressMs = 500))).to.equal(
      "espruino.config.js: button.longPressMs: must be longer than button.debounceMs");
  });

  it("loads another file, naming it in errors; a missing file or export fails clearly", async () => {
    const good = structuredClone(await loadBoardConfig());
    const file = join(dir, "board.mjs");
    writeFileSync(file, `export default ${JSON.stringify({ ...good, board: "PUCKJS" })};`);
    expect((await loadBoardConfig(file)).board).to.equal("PUCKJS");

    const bad = join(dir, "bad.mjs");
    writeFileSync(bad, `export default ${JSON.stringify({ ...good, serial: { port: "/dev/ttyACM0" } })};`);
    const message = await loadBoardConfig(bad).then(() => "", (e: Error) => e.message);
    expect(message).to.match(/bad\.mjs: serial\.baud: missing, expected a positive whole baud rate$/);

    const none = join(dir, "none.mjs");
    writeFileSync(none, "export const board = 1;");
    expect(await loadBoardConfig(none).then(() => "", (e: Error) => e.message)).to.match(/none\.mjs: no default export/);
    expect(await loadBoardConfig(join(dir, "absent.js")).then(() => "", (e: Error) => e.message)).to.match(/absent\.js: board config not found$/);
  });
});
