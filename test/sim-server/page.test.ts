/**
 * The simulator's page in headless Chromium (Debian's chromium, driven by
 * playwright-core), on each engine: clicking the card's button changes the
 * screen, and the page's canvas holds exactly the panel model's displayed pixels.
 */
import { expect } from "chai";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import type { RunningSim } from "../../sim/server/start.ts";
import { ENGINES, codeOn, expectNoUncaught, getJson, requireEngine, screenPixels, simulator, slow, typeAtConsole, type Screen } from "./support.ts";

const CHROMIUM = "/usr/bin/chromium";

// What the functions given to page.evaluate use in the page (the Node tsconfig has no DOM types).
declare const document: { getElementById(id: string): any };

/** The canvas's pixels in the page: 1 white, 0 black (anything grey fails). */
async function canvasPixels(page: Page): Promise<{ width: number; height: number; white: number[] }> {
  return page.evaluate(() => {
    const c = document.getElementById("screen");
    const data: Uint8ClampedArray = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    const white: number[] = [];
    for (let i = 0; i < data.length; i += 4) white.push(data[i] === 255 && data[i + 1] === 255 && data[i + 2] === 255 ? 1 : data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 0 ? 0 : -1);
    return { width: c.width, height: c.height, white };
  });
}

/** Wait until the canvas shows the frame with these refresh counts. */
async function waitForFrame(page: Page, r: { full: number; partial: number }): Promise<void> {
  await page.waitForSelector(`#screen[data-frame="${r.full}/${r.partial}"]`, { timeout: 10_000 });
}

async function expectCanvasEqualsPanel(page: Page, web: string): Promise<void> {
  const model = await screenPixels(web);
  const shown = await canvasPixels(page);
  expect([shown.width, shown.height]).to.deep.equal([model.width, model.height]);
  const diff = shown.white.findIndex((v, i) => v !== model.white[i]);
  expect(diff, diff < 0 ? "" : `first differing pixel (${diff % model.width}, ${Math.floor(diff / model.width)})`).to.equal(-1);
}

for (const engine of ENGINES) {
  describe(`sim page in headless Chromium (${engine} engine)`, function () {
    this.timeout(slow(engine, 90_000));
    let sim: RunningSim;
    let context: BrowserContext;
    let profile: string;
    let page: Page;
    const pageErrors: string[] = [];

    before(async function (this: Mocha.Context) {
      requireEngine(this, engine);
      if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/setup.sh (installs Debian's chromium)`);
      sim = await simulator({ digits: 6, engine });
      profile = mkdtempSync(join(tmpdir(), "inkcard-chromium-"));
      context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: [
          "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
        ],
      });
      page = context.pages()[0] ?? (await context.newPage());
      page.on("pageerror", (e) => pageErrors.push(e.message));
      page.on("console", (m) => {
        if (m.type() === "error") pageErrors.push(m.text());
      });
      await page.goto(sim.addresses.web);
    });

    after(async () => {
      await context?.close();
      await sim?.close();
      if (profile) rmSync(profile, { recursive: true, force: true });
    });

    afterEach(() => {
      expect(pageErrors, "errors in the page").to.deep.equal([]);
      if (sim) expectNoUncaught(sim.console.read(0).text);
    });

    it("shows the card at true size and the panel's pixels on its canvas", async () => {
      const box = await page.evaluate(() => {
        const r = document.getElementById("card").getBoundingClientRect();
        return { w: r.width, h: r.height };
      });
      const mm = 96 / 25.4; // CSS pixels per CSS millimetre
      expect(box.w / mm).to.be.closeTo(85.6, 0.1);
      expect(box.h / mm).to.be.closeTo(54, 0.1);
      await waitForFrame(page, (await getJson<Screen>(sim.addresses.web, "api/screen")).body.refreshes);
      await expectCanvasEqualsPanel(page, sim.addresses.web);
    });

    it("a click on the button shows a code, pixel for pixel as the panel shows it", async () => {
      const web = sim.addresses.web;
      const before = (await getJson<Screen>(web, "api/screen")).body;
      const pixelsBefore = await canvasPixels(page);
      await page.click("#button");
      await page.waitForFunction((frame) => document.getElementById("screen").dataset.frame !== frame, `${before.refreshes.full}/${before.refreshes.partial}`);
      const after = (await getJson<Screen>(web, "api/screen")).body;
      await waitForFrame(page, after.refreshes);
      expect(codeOn(after), JSON.stringify(after.text)).to.match(/^\d{6}$/);
      expect((await canvasPixels(page)).white, "the screen changed").to.not.deep.equal(pixelsBefore.white);
      await expectCanvasEqualsPanel(page, web);

      // The code on the screen passes the page's verify field.
      await page.fill("#code", codeOn(after)!);
      await page.click("#verify-form button[type=submit]");
      await page.waitForSelector("#verify-result.ok", { timeout: 10_000 });
    });

    it("holding the mouse down is a long press: no new code", async () => {
      const web = sim.addresses.web;
      const before = (await getJson<Screen>(web, "api/screen")).body;
      const t0 = (await getJson(web, "api/state")).body.timeMs as number;
      const b = (await page.locator("#button").boundingBox())!;
      await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2);
      await page.mouse.down();
      await page.waitForTimeout(sim.config.button.longPressMs + 300);
      await page.mouse.up();
      await page.waitForFunction((t) => Number(document.getElementById("clock").dataset.ms) > t + 1500, t0);
      const after = (await getJson<Screen>(web, "api/screen")).body;
      expect(after.refreshes).to.deep.equal(before.refreshes);
      expect(codeOn(after)).to.equal(codeOn(before));
    });

    it("the clock control, the power switch and the console follow the card", async () => {
      const web = sim.addresses.web;
      const t0 = (await getJson(web, "api/state")).body.timeMs as number;
      await page.click('[data-advance="60000"]');
      await page.waitForFunction((t) => Number(document.getElementById("clock").dataset.ms) >= t + 60000, t0);

      await page.uncheck("#power");
      await page.waitForFunction(() => document.getElementById("card").classList.contains("unpowered"));
      expect((await getJson(web, "api/state")).body.powered).to.equal(false);
      await page.check("#power");
      await page.waitForFunction(() => !document.getElementById("card").classList.contains("unpowered"));
      expect((await getJson(web, "api/state")).body.powered).to.equal(true);

      await typeAtConsole(sim, 'print("seen on the page")', /seen on the page/);
      await page.waitForFunction(() => document.getElementById("console").textContent.includes("seen on the page"));
    });
  });
}
