/**
 * The phone page's personalisation (docs/phone.md, "Using it" 4 and 5) in
 * headless Chromium, served by the simulator, against the firmware as
 * flashed and the simulator's embedded issuer: pair, "Apply for a card on
 * this card" for slot 1, "Verify a card"; then a clone (a second simulated
 * card booted from a copy of the first's flash, claiming its chip serial),
 * the card rewritten from the page, and the page at the clone finding it not
 * genuine. The page shows outcomes only: the security code it keeps in
 * localStorage is nowhere on the page.
 */
import { expect } from "chai";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { startClone } from "../../sim/server/clone.ts";
import type { RunningSim, VmSim } from "../../sim/server/start.ts";
import { expectNoUncaught, getJson, simulator } from "../sim-server/support.ts";

const CHROMIUM = "/usr/bin/chromium";

declare const localStorage: { getItem(k: string): string | null };
declare const document: { getElementById(id: string): any };

type Stored = { deviceId: string; cards: Record<string, { codes?: Record<string, { generation: number; code: string }[]> }> };
const stored = async (page: Page): Promise<Stored> => JSON.parse((await page.evaluate(() => localStorage.getItem("inkcard.phone.v1")))!) as Stored;
const outcome = (page: Page) => page.evaluate(() => document.getElementById("status").dataset.outcome as string | undefined);
const pageText = (page: Page) =>
  page.evaluate(() => ["log", "device", "status", "error", "hello-result"].map((id) => document.getElementById(id).textContent as string).join("\n"));

async function waitOutcome(page: Page, want: string, ms = 30_000): Promise<void> {
  const by = Date.now() + ms;
  for (;;) {
    const o = await outcome(page);
    if (o === want) return;
    if (o === "failed" && want !== "failed") {
      const log = await page.evaluate(() => document.getElementById("log").textContent as string);
      throw new Error(`the page failed: ${await page.evaluate(() => document.getElementById("error").textContent as string)}\n${log.split("\n").slice(-8).join("\n")}`);
    }
    if (Date.now() > by) throw new Error(`timed out waiting for the outcome ${want} (now ${o}): ${(await page.evaluate(() => document.getElementById("log").textContent as string)).split("\n").slice(-6).join(" | ")}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("phone page: apply for a card on this card, and verify it (headless Chromium, the simulator)", function () {
  this.timeout(120_000);
  let sim: RunningSim;
  let context: BrowserContext;
  let profile: string;
  let page: Page;
  let typing = true;
  const pageErrors: string[] = [];

  before(async function () {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/setup.sh (installs Debian's chromium)`);
    profile = mkdtempSync(join(tmpdir(), "inkcard-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (e) => pageErrors.push(e.message));
    sim = await simulator({ liveClock: true });
    await page.goto(`${sim.addresses.web}phone`);
    await page.waitForSelector("#status[data-ready]");
    // The holder types the passkey the card shows whenever the page asks for it.
    void (async () => {
      while (typing) {
        await new Promise((r) => setTimeout(r, 100));
        const asked = await page.evaluate(() => !document.getElementById("passkey-form").hidden).catch(() => false);
        if (!asked || !typing) continue;
        const runs = (await getJson<{ text: { text: string }[] }>(sim.addresses.web, "api/screen")).body.text.map((r) => r.text);
        if (!runs.includes("PAIRING")) continue;
        await page.fill("#passkey", runs.filter((t) => /^\d+$/.test(t)).join(""));
        await page.evaluate(() => document.getElementById("passkey-form").requestSubmit());
      }
    })();
  });

  after(async () => {
    typing = false;
    await context?.close();
    await sim?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  afterEach(() => {
    expect(pageErrors, "uncaught errors in the page").to.deep.equal([]);
    if (sim) expectNoUncaught(sim.console.read(0).text);
  });

  it("pairs, and writes slot 1 from the form, keeping its code out of sight", async () => {
    await page.fill("#issuer", sim.addresses.issuer);
    await page.fill("#token", sim.addresses.token);
    await page.fill("#card", sim.addresses.card!);
    await page.click("#pair");
    await waitOutcome(page, "paired");

    await page.selectOption("#apply-slot", "1");
    await page.selectOption("#apply-mode", "time");
    await page.fill("#apply-label", "Library");
    await page.click("#apply");
    await waitOutcome(page, "written");
    expect(await page.evaluate(() => document.getElementById("status").textContent as string)).to.match(/^profile \S+ written to slot 1 \(generation 1\)$/);
    const codes = Object.values((await stored(page)).cards).flatMap((c) => c.codes?.["1"] ?? []);
    expect(codes.map((c) => c.generation)).to.deep.equal([1]);
    const shown = await pageText(page);
    for (const c of codes) expect(shown, "the security code is never shown").to.not.include(c.code);
  });

  it("verifies the card: slot 1 genuine, slot 2 (never written) not genuine", async () => {
    const codes = Object.values((await stored(page)).cards).flatMap((c) => c.codes?.["1"] ?? []);
    await page.selectOption("#verify-slot", "1");
    await page.click("#verify");
    await waitOutcome(page, "genuine");
    await page.selectOption("#verify-slot", "2");
    await page.click("#verify");
    await waitOutcome(page, "not-genuine");
    const shown = await pageText(page);
    for (const c of codes) expect(shown, "the security code is never shown").to.not.include(c.code);
  });

  it("catches a clone: a copy of the card's flash taken before a rewrite is not genuine once the card is rewritten", async () => {
    // The clone: the card's flash as it is now (slot 1 at generation 1), in a chip that claims the card's serial.
    const vm = sim as VmSim;
    const clone = await startClone(vm, { serial: vm.board.serial });
    try {
      await page.selectOption("#apply-slot", "1");
      await page.selectOption("#apply-mode", "time");
      await page.fill("#apply-label", "Library 2");
      await page.click("#apply");
      await waitOutcome(page, "written");
      expect(await page.evaluate(() => document.getElementById("status").textContent as string)).to.match(/\(generation 2\)$/);
      await page.selectOption("#verify-slot", "1");
      await page.click("#verify");
      await waitOutcome(page, "genuine");
      // A verification device at the clone: the same page, served beside the clone's Bluetooth.
      const at = await context.newPage();
      at.on("pageerror", (e) => pageErrors.push(e.message));
      await at.goto(`${clone.web}phone`);
      await at.waitForSelector("#status[data-ready]");
      await at.fill("#issuer", sim.addresses.issuer);
      await at.fill("#token", sim.addresses.token);
      await at.selectOption("#verify-slot", "1");
      await at.click("#verify");
      // Bluetooth bonding with the clone: the holder types the passkey the clone shows.
      await at.waitForSelector("#passkey-form:not([hidden])");
      let runs: string[] = [];
      for (let i = 0; i < 100 && !runs.includes("PAIRING"); i++) {
        await new Promise((r) => setTimeout(r, 100));
        runs = (await getJson<{ text: { text: string }[] }>(clone.web, "api/screen")).body.text.map((r) => r.text);
      }
      await at.fill("#passkey", runs.filter((t) => /^\d+$/.test(t)).join(""));
      await at.evaluate(() => document.getElementById("passkey-form").requestSubmit());
      await waitOutcome(at, "not-genuine");
      await at.close();
      expectNoUncaught(clone.console.read(0).text);
    } finally {
      await clone.close();
    }
  });

  it("a label the card cannot show gets a sentence and sends nothing", async () => {
    const writes = Object.values((await stored(page)).cards)[0];
    const errors = () => page.evaluate(() => Number(document.getElementById("error").dataset.count ?? "0"));
    const before = await errors();
    // Not ASCII: the card's font has no é (a label too long the field's maxlength cuts already).
    await page.fill("#apply-label", "Café");
    await page.click("#apply");
    await waitOutcome(page, "failed");
    expect(await errors()).to.equal(before + 1);
    expect(await page.evaluate(() => document.getElementById("error").textContent as string)).to.match(/^the label must be 1\.\.12 printable ASCII/);
    expect(Object.values((await stored(page)).cards)[0]).to.deep.equal(writes);
  });
});
