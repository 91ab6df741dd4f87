/**
 * Nobody but the person who started the simulator runs code on its console
 * (sim/console/server.ts), and no other web page drives its HTTP API
 * (sim/server/http.ts RequestGuard). The payload is the real attack: the vm
 * realm is not a sandbox, so a line on the console reaches the host's
 * `process` and writes a file; that file (and a global in the card's realm)
 * is what "it ran" means here. Each refusal is paired with a control that
 * delivers the same payload the same way to a path that does run it, so a
 * refusal the test cannot observe (a payload that never arrives) fails.
 */
import { expect } from "chai";
import { existsSync, lstatSync, mkdtempSync, readlinkSync, rmSync, statSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { checkPrivateTerminal, tokenMatches } from "../../sim/console/server.ts";
import type { VmSim } from "../../sim/server/start.ts";
import { getJson, pageToken, postJson, simulator } from "./support.ts";

const CHROMIUM = "/usr/bin/chromium";

/** One console line that, if it runs, escapes the realm and writes `file` on the host (and sets a global in the realm). */
const payload = (file: string, global: string) =>
  `var ${global} = 1; require.constructor("return process")().getBuiltinModule("fs").writeFileSync(${JSON.stringify(file)}, "ran")`;

async function until(what: string, test: () => boolean, ms = 15_000): Promise<void> {
  const by = Date.now() + ms;
  while (!test()) {
    if (Date.now() > by) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Connect, send `first`, and collect what comes back until the server closes, `enough` shows in it, or `ms` runs out. */
function exchange(port: number, first: string, enough?: string, ms = 15_000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let text = "";
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => done(false), ms);
    socket.on("data", (d) => {
      text += d.toString("latin1");
      if (enough !== undefined && text.includes(enough)) done(false);
    });
    socket.on("close", () => done(true));
    socket.on("error", () => {});
    socket.on("connect", () => socket.write(first));
  });
}

describe("sim console and API: only the person who started the simulator", function () {
  this.timeout(120_000);
  let sim: VmSim;
  let dir: string;
  const consolePort = () => Number(/:(\d+)$/.exec(sim.addresses.consoleTcp)![1]);
  const ran = (name: string) => existsSync(join(dir, name));
  const realmHas = (global: string) => sim.board.evaluate(`typeof ${global}`) !== "undefined";

  before(async () => {
    // A blank board: the console and the realm are what is under test, not the firmware.
    sim = (await simulator({ blank: true })) as VmSim;
    dir = mkdtempSync(join(tmpdir(), "inkcard-attack-"));
  });
  after(async () => {
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe("the TCP console", () => {
    it("runs nothing sent without the token, answers the refusal, and closes", async () => {
      const r = await exchange(consolePort(), `\x03\n${payload(join(dir, "plain"), "plainRan")}\n`);
      expect(r.closed, "the server closed the connection").to.equal(true);
      expect(r.text).to.match(/^inkcard console: refused/);
      expect(r.text, "nothing of the card's output reached the client").to.not.match(/>/);
      // A connection with the token, made after, runs in order behind anything the first had delivered.
      const ok = await exchange(consolePort(), `${sim.addresses.consoleToken}\n\x10print("after", 6*7)\n`, "after 42");
      expect(ok.text).to.include("after 42");
      expect(ran("plain"), "a file written by the payload").to.equal(false);
      expect(realmHas("plainRan"), "a global set by the payload").to.equal(false);
    });

    it("refuses a wrong token, a token with more on its line, and a line that never ends", async () => {
      const t = sim.addresses.consoleToken;
      const wrong = t.slice(0, -1) + (t.endsWith("0") ? "1" : "0");
      for (const first of [`${wrong}\n`, `${t}x\n`, `x${t}\n`, `${t} ${payload(join(dir, "prefix"), "prefixRan")}\n`, "a".repeat(100_000)]) {
        const r = await exchange(consolePort(), first + `${payload(join(dir, "wrong"), "wrongRan")}\n`);
        expect(r.closed).to.equal(true);
        expect(r.text).to.match(/^inkcard console: refused/);
        expect(r.text, "the refusal never echoes what was sent").to.not.include(t.slice(0, 16));
      }
      expect(ran("wrong") || ran("prefix") || realmHas("wrongRan") || realmHas("prefixRan")).to.equal(false);
    });

    it("with the token as the first line (CRLF too), the same payload runs: the realm is no sandbox", async () => {
      const r = await exchange(consolePort(), `${sim.addresses.consoleToken}\r\n\x10${payload(join(dir, "owner"), "ownerRan")}\n\x10print("done")\n`, "done");
      expect(r.text).to.include("done");
      expect(ran("owner")).to.equal(true);
      expect(realmHas("ownerRan")).to.equal(true);
    });

    it("compares the token whole", () => {
      expect(tokenMatches("abc", "abc")).to.equal(true);
      expect(tokenMatches("abd", "abc")).to.equal(false);
      expect(tokenMatches("ab", "abc")).to.equal(false);
      expect(tokenMatches("", "abc")).to.equal(false);
    });
  });

  describe("the pseudo-terminal", () => {
    it("is mode 0600, owned by us, linked from a directory only we can enter", () => {
      const link = sim.addresses.console;
      expect(link, "the tests run with socat installed").to.be.a("string");
      const target = readlinkSync(link!);
      expect(target).to.match(/^\/dev\/pts\/\d+$/);
      const st = statSync(target);
      expect(st.isCharacterDevice()).to.equal(true);
      expect((st.mode & 0o777).toString(8)).to.equal("600");
      expect(st.uid).to.equal(process.getuid!());
      const parent = lstatSync(join(link!, ".."));
      expect((parent.mode & 0o777).toString(8)).to.equal("700");
      expect(() => checkPrivateTerminal(link!)).to.not.throw();
    });

    it("is refused by the check when others may open it", () => {
      // The check that guards socat's perm=0600, on something with the wrong mode (a terminal made by
      // this test is not possible without a helper; /dev/null is a character device of mode 0666).
      expect(() => checkPrivateTerminal("/dev/null")).to.throw(/mode 666, not 0600/);
    });
  });

  describe("the HTTP API", () => {
    it("refuses an action without the page token, with another origin's Origin, or with a rebound Host; takes it with the token", async () => {
      const web = sim.addresses.web;
      const before = (await getJson(web, "api/state")).body;
      const press = (headers: Record<string, string>) =>
        fetch(new URL("api/power", web), { method: "POST", headers: { "content-type": "application/json", ...headers }, body: '{"action":"cut"}' });
      const token = await pageToken(web);
      expect((await press({})).status).to.equal(403);
      expect((await press({ "x-inkcard-sim": "0".repeat(64) })).status).to.equal(403);
      expect((await press({ "x-inkcard-sim": token, origin: "http://127.0.0.1:1" })).status).to.equal(403);
      expect((await getJson(web, "api/state")).body).to.deep.equal(before);
      // A rebinding page's Host (node's fetch will not set Host: a raw request does).
      const rebound = await new Promise<number>((resolve, reject) => {
        const req = http.request(new URL("api/session", web), { headers: { host: `evil.example:${new URL(web).port}` } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on("error", reject);
        req.end();
      });
      expect(rebound).to.equal(421);
      // The page's own way: token from GET /api/session, same origin.
      const own = await press({ "x-inkcard-sim": token, origin: new URL(web).origin });
      expect(own.status).to.equal(200);
      expect(((await own.json()) as { powered: boolean }).powered).to.equal(false);
      expect((await postJson(web, "api/power", { action: "restore" })).status).to.equal(200);
    });
  });

  describe("a hostile page in Chromium, on another origin", () => {
    let context: BrowserContext;
    let profile: string;
    let hostile: http.Server;
    let relay: net.Server;
    let relayed = 0;

    before(async () => {
      if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/setup.sh (installs Debian's chromium)`);
      // The control: the console as it was before the token, a relay that authenticates every connection it takes.
      relay = net.createServer((client) => {
        relayed++;
        const card = net.connect(consolePort(), "127.0.0.1");
        card.write(`${sim.addresses.consoleToken}\n`);
        client.pipe(card).pipe(client);
        client.on("error", () => card.destroy());
        card.on("error", () => client.destroy());
        client.on("close", () => card.destroy());
      });
      await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
      hostile = http.createServer((_req, res) => {
        res.writeHead(200, { "content-type": "text/html" });
        res.end("<!doctype html><title>hostile</title>");
      });
      await new Promise<void>((r) => hostile.listen(0, "127.0.0.1", r));
      profile = mkdtempSync(join(tmpdir(), "inkcard-chromium-"));
      context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      });
    });
    after(async () => {
      await context?.close();
      hostile?.close();
      relay?.close();
      if (profile) rmSync(profile, { recursive: true, force: true });
    });

    it("posts JavaScript to the console port (no-cors) and to the API: nothing runs, nothing changes; the same post to an open console runs", async () => {
      const page = context.pages()[0] ?? (await context.newPage());
      const origin = `http://127.0.0.1:${(hostile.address() as net.AddressInfo).port}`;
      await page.goto(origin + "/");
      const web = sim.addresses.web;
      // The console's length is left out: the control's echo grows it.
      const card = async () => {
        const { timeMs, powered, refreshes } = (await getJson(web, "api/state")).body;
        return { timeMs, powered, refreshes };
      };
      const before = await card();
      const refreshesBefore = sim.panel.refreshes;

      // Plain page JavaScript, as a string: what a hostile page would run (and nothing the test runner transpiles).
      const attack = `(async (a) => {
        const settle = (p) => p.then(() => "answered", (e) => "failed: " + e.message);
        fetch(a.relay, { method: "POST", mode: "no-cors", body: "\\x03\\n" + a.control + "\\n" }).catch(() => {}); // the open console never answers HTTP
        const out = {};
        out.console = await settle(fetch(a.console, { method: "POST", mode: "no-cors", body: "\\x03\\n" + a.direct + "\\n" }));
        out.consoleText = await settle(fetch(a.console, { method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" }, body: a.direct + "\\n" }));
        out.ws = await new Promise((resolve) => {
          const ws = new WebSocket(a.console.replace("http:", "ws:"));
          ws.onopen = () => { ws.send(a.wsRan); resolve("open"); };
          ws.onerror = () => resolve("error");
        });
        for (const [path, body] of [["api/power", '{"action":"cut"}'], ["api/button", '{"action":"press"}'], ["api/clock", '{"advanceMs":100000}'], ["api/verify", '{"code":"123"}']]) {
          out[path + " text/plain"] = await settle(fetch(a.web + path, { method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" }, body }));
          out[path + " form"] = await settle(fetch(a.web + path, { method: "POST", mode: "no-cors", body: new URLSearchParams({ [body]: "" }) }));
          // A CORS request with JSON needs a preflight, which gets no allowance.
          out[path + " cors json"] = await settle(fetch(a.web + path, { method: "POST", headers: { "content-type": "application/json", "x-inkcard-sim": "guess" }, body }));
        }
        out.session = await settle(fetch(a.web + "api/session").then((r) => r.json()));
        return out;
      })`;
      const args = {
          console: `http://127.0.0.1:${consolePort()}/`,
          relay: `http://127.0.0.1:${(relay.address() as net.AddressInfo).port}/`,
          web,
          direct: payload(join(dir, "page-direct"), "pageDirectRan"),
          control: payload(join(dir, "page-control"), "pageControlRan"),
          wsRan: payload(join(dir, "page-ws"), "pageWsRan"),
        };
      const results = (await page.evaluate(`${attack}(${JSON.stringify(args)})`)) as Record<string, string>;

      // The control: the page's no-cors POST does deliver its body line to a console that takes it.
      await until("the control payload to run through the open relay", () => ran("page-control"));
      expect(relayed).to.be.greaterThan(0);
      expect(realmHas("pageControlRan")).to.equal(true);

      // The console closed the page's connections (the fetch failed) having run nothing.
      expect(results.console).to.match(/^failed/);
      expect(results.consoleText).to.match(/^failed/);
      expect(results.ws).to.equal("error");
      expect(ran("page-direct") || ran("page-ws"), "a file written by the page's payload").to.equal(false);
      expect(realmHas("pageDirectRan") || realmHas("pageWsRan"), "a global set by the page's payload").to.equal(false);

      // The API: a no-cors request is answered opaquely (refused), a CORS one never sent; nothing changed.
      for (const [k, v] of Object.entries(results)) if (k.endsWith("cors json")) expect(v, k).to.match(/^failed/);
      expect(results.session, "the page token is not readable from another origin").to.match(/^failed/);
      expect(await card()).to.deep.equal(before);
      expect(sim.panel.refreshes).to.deep.equal(refreshesBefore);
      expect(sim.card.powered()).to.equal(true);
    });
  });
});
