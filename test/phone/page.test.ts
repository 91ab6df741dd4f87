/**
 * The phone page (host-tools/phone/web/, docs/phone.md) in headless Chromium
 * (Debian's chromium, driven by playwright-core), served by the simulator:
 * its navigator.bluetooth stand-in reaches the simulator's Bluetooth model
 * over the bridge WebSocket, and the relay above it (relay.ts, unchanged)
 * runs HELLO, PAIR and a payment against a card, with the issuer over HTTP
 * (CORS from the simulator's origin). Hostile bridges (garbage, an oversized
 * message) make the page say so, never crash it. And the issuer serves the
 * same page without a token, and nothing else.
 *
 * The card is the firmware as flashed, on the simulator's demo card: the
 * test plays the holder, typing the passkey the card shows into the page
 * when the page asks for it, pressing the button to confirm and holding it
 * to decline.
 */
import { expect } from "chai";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import type { RunningSim, VmSim } from "../../sim/server/start.ts";
import { expectNoUncaught, getJson, postJson, simulator } from "../sim-server/support.ts";

const CHROMIUM = "/usr/bin/chromium";

// What the functions given to page.evaluate use in the page (the Node tsconfig has no DOM types).
declare const localStorage: { getItem(k: string): string | null };
declare const document: { getElementById(id: string): any };

/** The holder's view of the card and hand on its button (the simulator's API). */
interface TestCard {
  /** The issuer's id of the card. */
  cardId: string;
  /** Whether the card shows a payment now. */
  showsPayment(): Promise<boolean>;
  /** Press the button: confirms the payment shown. */
  confirm(): Promise<void>;
  /** Hold it: declines. */
  decline(): Promise<void>;
}

/** The simulator's demo card, running the firmware as flashed. */
function demoCard(sim: RunningSim): TestCard {
  const screenText = async () => (await getJson<{ text: { text: string }[] }>(sim.addresses.web, "api/screen")).body.text.map((r) => r.text).join("\n");
  return {
    cardId: sim.addresses.card!,
    showsPayment: async () => /Press: confirm/.test(await screenText()),
    confirm: async () => void (await postJson(sim.addresses.web, "api/button", { action: "press" })),
    decline: async () => void (await postJson(sim.addresses.web, "api/button", { action: "hold", ms: 2000 })),
  };
}

/**
 * The holder's eyes and thumbs for the passkey: while it runs, whenever the page asks for the
 * passkey, the digits the card's screen shows under "PAIRING" are typed in and sent.
 */
function typePasskeys(page: Page, web: string): { stop(): void; typed(): number } {
  let on = true;
  let typed = 0;
  void (async () => {
    while (on) {
      await new Promise((r) => setTimeout(r, 100));
      const asked = await page.evaluate(() => !document.getElementById("passkey-form").hidden).catch(() => false);
      if (!asked || !on) continue;
      const runs = (await getJson<{ text: { text: string }[] }>(web, "api/screen")).body.text.map((r) => r.text);
      if (!runs.includes("PAIRING")) continue;
      await page.fill("#passkey", runs.filter((t) => /^\d+$/.test(t)).join(""));
      await page.evaluate(() => document.getElementById("passkey-form").requestSubmit());
      typed++;
    }
  })();
  return { stop: () => void (on = false), typed: () => typed };
}

async function until<T>(what: string, f: () => Promise<T | undefined | false> | T | undefined | false, ms = 20_000): Promise<T> {
  const by = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > by) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

type Stored = { deviceId: string; cards: Record<string, { linkId: number; epoch: number; pairKey: string; seq: number }> };
const stored = async (page: Page): Promise<Stored> => JSON.parse((await page.evaluate(() => localStorage.getItem("inkcard.phone.v1")))!) as Stored;
const outcome = (page: Page) => page.evaluate(() => document.getElementById("status").dataset.outcome as string | undefined);
const errorText = (page: Page) => page.evaluate(() => document.getElementById("error").textContent as string);

async function waitOutcome(page: Page, want: string | RegExp, ms = 30_000): Promise<void> {
  await until(`the page's outcome ${want}`, async () => {
    const o = await outcome(page);
    if (o === "failed" && want !== "failed") {
      const log = await page.evaluate(() => document.getElementById("log").textContent as string);
      throw new Error(`the page failed: ${await errorText(page)}\n${log.split("\n").slice(-8).join("\n")}`);
    }
    return typeof want === "string" ? o === want : want.test(o ?? "");
  }, ms);
}

describe("phone page in headless Chromium, served by the simulator", function () {
  this.timeout(120_000);
  let sim: RunningSim;
  let card: TestCard;
  let context: BrowserContext;
  let profile: string;
  let page: Page;
  let web: string;
  let passkeys: ReturnType<typeof typePasskeys> | undefined;
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
    // The phone is made first: its device id, in the page's storage (per origin, so per simulator).
    sim = await simulator({ digits: 6, liveClock: true });
    web = sim.addresses.web;
    await page.goto(`${web}phone`);
    await page.waitForSelector("#status[data-ready]");
    const deviceId = (await stored(page)).deviceId;
    expect(deviceId).to.match(/^[0-9a-f]{32}$/);
    card = demoCard(sim);
    passkeys = typePasskeys(page, web);
  });

  after(async () => {
    passkeys?.stop();
    await context?.close();
    await sim?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  afterEach(() => {
    expect(pageErrors, "uncaught errors in the page").to.deep.equal([]);
    if (card) expectNoUncaught(sim.console.read(0).text);
  });

  it("is served at /phone with a strict policy, and the simulator's page shows it beside the card", async () => {
    const res = await fetch(new URL("phone", web));
    expect(res.status).to.equal(200);
    expect(res.headers.get("content-security-policy")).to.match(/script-src 'self'/).and.match(/frame-ancestors 'self'/);
    expect(res.headers.get("x-frame-options")).to.equal("SAMEORIGIN");
    expect(await res.text()).to.include('content="sim"');
    const js = await fetch(new URL("phone/page.js", web));
    expect(js.headers.get("content-type")).to.match(/javascript/);
    expect(await js.text()).to.not.match(/node:|require\("ws"\)/);

    const main = await context.newPage();
    try {
      main.on("pageerror", (e) => pageErrors.push(e.message));
      await main.goto(web);
      const frame = await until("the phone's frame", () => main.frame({ url: /\/phone$/ }) ?? undefined);
      await frame.waitForSelector("#status[data-ready]");
      expect(await frame.evaluate(() => document.getElementById("mode").textContent)).to.match(/simulator/);
    } finally {
      await main.close();
    }
  });

  it("finds the card: its navigator.bluetooth stand-in connects to the simulator's Bluetooth model and the relay runs HELLO", async () => {
    await page.click("#hello");
    await waitOutcome(page, "ok");
    const linkId = await page.evaluate(() => document.getElementById("hello-result").dataset.linkId as string);
    const epoch = await page.evaluate(() => document.getElementById("hello-result").dataset.epoch as string);
    expect(linkId).to.match(/^[0-9a-f]{8}$/);
    expect(epoch).to.equal("0");
    expect(passkeys!.typed(), "the card asked for the passkey on its screen, and got it").to.equal(1);
    // The link is released: the board takes another central.
    await until("the link to be released", () => !(sim as VmSim).board.ble.connected);
  });

  it("pairs through the issuer, pays, and the issuer accepts the card's answer; the seq is stored", async () => {
    await page.fill("#issuer", sim.addresses.issuer);
    await page.fill("#token", sim.addresses.token);
    await page.fill("#card", card.cardId);
    await page.click("#pair");
    await waitOutcome(page, "paired");
    let s = await stored(page);
    const mine = Object.values(s.cards);
    expect(mine.map((c) => [c.epoch, c.seq])).to.deep.equal([[1, 0]]);
    expect(mine[0].pairKey).to.match(/^[0-9a-f]{64}$/);
    // Nothing secret on the page: not the pair key, not the token.
    const shown = await page.evaluate(() => document.getElementById("log").textContent + document.getElementById("device").textContent + document.getElementById("status").textContent);
    expect(shown).to.not.include(mine[0].pairKey).and.not.include(sim.addresses.token);

    await page.click("#pay");
    await waitOutcome(page, "waiting");
    await until("the card to show the payment", () => card.showsPayment());
    // Persisted before the frame went out: the card has it, so the page's storage already says seq 1.
    s = await stored(page);
    expect(Object.values(s.cards)[0].seq).to.equal(1);
    const paymentId = await page.evaluate(() => document.getElementById("status").dataset.payment as string);
    await card.confirm();
    await waitOutcome(page, "accepted");
    expect((await sim.issuer.issuer.store.getPayment(paymentId))?.status).to.equal("accepted");
  });

  it("a payment declined on the card is shown declined, and the issuer is not asked", async () => {
    await page.click("#pay");
    await waitOutcome(page, "waiting");
    await until("the card to show the payment", () => card.showsPayment());
    const paymentId = await page.evaluate(() => document.getElementById("status").dataset.payment as string);
    await card.decline();
    await waitOutcome(page, "declined");
    expect((await sim.issuer.issuer.store.getPayment(paymentId))?.status).to.equal("pending");
    expect(Object.values((await stored(page)).cards)[0].seq).to.equal(2);
  });

  it("garbage from the bridge is reported and dropped; HELLO still works", async () => {
    let injected = 0;
    let on = true;
    await page.routeWebSocket(/\/ble\?/, (ws) => {
      const server = ws.connectToServer();
      if (!on) return; // playwright keeps a WebSocket route (unrouteAll leaves it): a plain relay from now on
      ws.onMessage((m) => server.send(m));
      server.onMessage((m) => {
        if (injected++ === 0) {
          ws.send("not json {");
          ws.send("[1,2]");
          ws.send(Buffer.from([1, 2, 3]));
          ws.send(JSON.stringify({ ev: "notify", uuid: "5d7f0003-6e6b-4b1a-9c2d-1a7e0c4f3b21", data: "zz" }));
          ws.send(JSON.stringify({ ev: "notify", uuid: "5d7f0003-6e6b-4b1a-9c2d-1a7e0c4f3b21", data: "00".repeat(51) }));
          ws.send(JSON.stringify({ ev: "notify", uuid: "5d7f0003-6e6b-4b1a-9c2d-1a7e0c4f3b21", data: "8001" })); // a fragment that is no frame
        }
        ws.send(m);
      });
    });
    try {
      await page.click("#hello");
      await waitOutcome(page, "ok");
      expect(injected).to.be.greaterThan(0);
      expect(Number(await page.evaluate(() => document.getElementById("error").dataset.count))).to.be.at.least(4);
      const log = await page.evaluate(() => document.getElementById("log").textContent as string);
      expect(log).to.match(/not JSON/).and.match(/not a JSON object/).and.match(/binary/).and.match(/bytes of hex/);
    } finally {
      on = false;
      await page.unrouteAll();
    }
  });

  it("an oversized message from the bridge ends the link with an error; the page goes on", async () => {
    let on = true;
    await page.routeWebSocket(/\/ble\?/, (ws) => {
      const server = ws.connectToServer();
      if (!on) return;
      ws.onMessage((m) => server.send(m));
      server.onMessage((m) => {
        ws.send("x".repeat(64 * 1024));
        ws.send(m);
      });
    });
    try {
      await page.click("#hello");
      await waitOutcome(page, "failed");
      expect(await errorText(page)).to.match(/closed|characters/);
      const log = await page.evaluate(() => document.getElementById("log").textContent as string);
      expect(log).to.match(/65536 characters \(at most 16384\): link closed/);
    } finally {
      on = false;
      await page.unrouteAll();
    }
    await until("the link to be released", () => !(sim as VmSim).board.ble.connected);
    await page.click("#hello");
    await waitOutcome(page, "ok");
  });

  it("bad input on the page gets a clear error and sends nothing", async () => {
    const before = await stored(page);
    await page.fill("#amount", "12.345");
    await page.click("#pay");
    await waitOutcome(page, "failed");
    expect(await errorText(page)).to.match(/3 decimals; the currency has 2/);
    await page.fill("#amount", "1");
    await page.fill("#token", "");
    await page.click("#pay");
    await waitOutcome(page, "failed");
    expect(await errorText(page)).to.match(/token/);
    expect(await stored(page)).to.deep.equal(before);
  });
});

describe("phone page served by the issuer", function () {
  this.timeout(60_000);
  let sim: RunningSim;
  before(async () => {
    sim = await simulator({ blank: true });
  });
  after(async () => {
    await sim?.close();
  });

  it("serves /phone and its script without a token, and nothing else without one", async () => {
    const base = sim.issuer.url;
    const html = await fetch(`${base}/phone`);
    expect(html.status).to.equal(200);
    expect(html.headers.get("content-security-policy")).to.match(/connect-src 'self';/);
    expect(await html.text()).to.include('content="issuer"');
    expect((await fetch(`${base}/phone/page.js`)).status).to.equal(200);
    expect((await fetch(`${base}/phone/other`)).status).to.equal(401);
    expect((await fetch(`${base}/v1/audit`)).status).to.equal(401);
  });

  it("answers CORS on the phone's routes to loopback origins only", async () => {
    const base = sim.issuer.url;
    const id = "00000000-0000-4000-8000-000000000000";
    const pre = (path: string, origin: string) => fetch(`${base}${path}`, { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST" } });
    const ok = await pre(`/v1/cards/${id}/payments`, "http://127.0.0.1:5555");
    expect(ok.status).to.equal(204);
    expect(ok.headers.get("access-control-allow-origin")).to.equal("http://127.0.0.1:5555");
    expect(ok.headers.get("access-control-allow-headers")).to.match(/authorization/);
    const evil = await pre(`/v1/cards/${id}/payments`, "http://evil.example");
    expect(evil.status).to.equal(403);
    expect(evil.headers.get("access-control-allow-origin")).to.equal(null);
    // Other routes: no preflight, no CORS.
    expect((await pre(`/v1/cards/${id}/verify`, "http://127.0.0.1:5555")).status).to.equal(401);
    const noToken = await fetch(`${base}/v1/cards/${id}/payments`, { method: "POST", headers: { origin: "http://127.0.0.1:5555", "content-type": "application/json" }, body: "{}" });
    expect(noToken.status).to.equal(401);
  });

  it("in a browser without Web Bluetooth, says so instead of failing silently", async () => {
    const profile = mkdtempSync(join(tmpdir(), "inkcard-chromium-"));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-features=WebBluetooth"],
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${sim.issuer.url}/phone`);
      await page.waitForSelector("#status[data-ready]");
      expect(await page.evaluate(() => document.getElementById("issuer").value)).to.equal(sim.issuer.url);
      await page.click("#hello");
      await waitOutcome(page, "failed");
      expect(await errorText(page)).to.match(/Web Bluetooth|no card found|Bluetooth/);
      expect(errors).to.deep.equal([]);
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
