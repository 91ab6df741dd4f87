/**
 * The simulator's HTTP/JSON API against a running simulator, on each engine
 * (vm: manual clock; espruino: the real interpreter, in real time): round
 * trips, codes the issuer accepts, the screen PNG equal to the panel model,
 * power cut and restore, the console, and bad input answered 400 with a reason.
 */
import { expect } from "chai";
import http from "node:http";
import { DEFAULT_POLICY } from "../../host-tools/issuer/index.ts";
import type { RunningSim } from "../../sim/server/start.ts";
import {
  ENGINES, codeOn, expectNoUncaught, getJson, pageToken, postJson, pressForCode, requireEngine, screenPixels, simulator, slow, stateWithoutTime, typeAtConsole,
  type Screen,
} from "./support.ts";

for (const engine of ENGINES) {
  describe(`sim server: HTTP API (${engine} engine)`, function () {
    this.timeout(slow(engine, 60_000));
    let sim: RunningSim;
    let web: string;

    before(async function (this: Mocha.Context) {
      requireEngine(this, engine);
      sim = await simulator({ digits: 6, engine });
      web = sim.addresses.web;
    });
    after(async () => {
      await sim?.close();
    });
    afterEach(() => {
      if (sim) expectNoUncaught(sim.console.read(0).text);
    });

    it("reports the screen: size, text runs of the displayed frame, refresh counts", async () => {
      const { status, body } = await getJson<Screen>(web, "api/screen");
      expect(status).to.equal(200);
      expect(body.width).to.equal(sim.config.panel.width);
      expect(body.height).to.equal(sim.config.panel.height);
      expect(body.text).to.be.an("array");
      expect(body.refreshes).to.deep.equal({ ...sim.panel.refreshes });
      expect(body.refreshes.full + body.refreshes.partial, "the card drew at boot").to.be.greaterThan(0);
      // Issuance ends with the card showing its first code, which the issuer checked (verify after burn).
      expect(codeOn(body), "issuance's first code, until the wipe").to.match(/^[0-9]{6}$/);
    });

    it("a press shows a code the issuer accepts, once", async () => {
      const before = (await getJson<Screen>(web, "api/screen")).body.refreshes;
      const code = await pressForCode(web);
      expect(code).to.match(/^[0-9]{6}$/);
      const after = (await getJson<Screen>(web, "api/screen")).body.refreshes;
      expect(after.full + after.partial).to.equal(before.full + before.partial + 1);

      const ok = await postJson(web, "api/verify", { code });
      expect(ok.status).to.equal(200);
      expect(ok.body).to.include({ ok: true });
      const replay = await postJson(web, "api/verify", { code });
      expect(replay.status).to.equal(200);
      expect(replay.body).to.include({ ok: false, reason: "replay" });
      // The issuer backs off after a failure (its policy, in real time): wait it out for the next tests.
      await new Promise((r) => setTimeout(r, DEFAULT_POLICY.backoffBaseSeconds * 1000 + 100));
    });

    it("successive presses show successive codes, each accepted in turn", async () => {
      const codes: string[] = [];
      for (let i = 0; i < 5; i++) codes.push(await pressForCode(web));
      for (const code of codes) {
        const r = await postJson(web, "api/verify", { code });
        expect(r.body, `code ${code}: ${JSON.stringify(r.body)}`).to.include({ ok: true });
      }
    });

    it("the PNG is the panel model's displayed pixels, not a redraw", async () => {
      await pressForCode(web);
      const png = await screenPixels(web);
      const panel = sim.panel;
      expect([png.width, png.height]).to.deep.equal([panel.width, panel.height]);
      let black = 0;
      for (let y = 0; y < panel.height; y++) {
        for (let x = 0; x < panel.width; x++) {
          const w = png.white[y * panel.width + x];
          if (w !== panel.pixel(x, y)) expect.fail(`pixel (${x}, ${y}): PNG ${w}, panel ${panel.pixel(x, y)}`);
          black += 1 - w;
        }
      }
      expect(black, "a code screen has ink on it").to.be.greaterThan(100);
    });

    it("a long press makes no code; the clock wipes the code", async () => {
      await pressForCode(web);
      const held = await postJson(web, "api/button", { action: "hold", ms: sim.config.button.longPressMs + 500 });
      expect(held.status).to.equal(200);
      const t0 = held.body.timeMs as number;
      const wipe = sim.config.panel.wipeAfterMs;
      const moved = await postJson(web, "api/clock", { advanceMs: wipe });
      expect(moved.status).to.equal(200);
      expect(moved.body.timeMs).to.be.at.least(t0 + wipe);
      const screen = (await getJson<Screen>(web, "api/screen")).body;
      expect(codeOn(screen), JSON.stringify(screen.text)).to.equal(undefined);
    });

    it("power: a card without power refuses presses and keeps its image; it boots again on restore", async () => {
      const code = await pressForCode(web);
      const image = await screenPixels(web);
      const cut = await postJson(web, "api/power", { action: "cut" });
      expect(cut.body).to.include({ powered: false });
      const press = await postJson(web, "api/button", { action: "press" });
      expect(press.status).to.equal(409);
      expect(press.body.error).to.match(/no power/);
      expect((await screenPixels(web)).white, "e-ink keeps its image without power").to.deep.equal(image.white);

      const restored = await postJson(web, "api/power", { action: "restore" });
      expect(restored.body).to.include({ powered: true });
      const next = await pressForCode(web);
      expect(next).to.not.equal(code);
      expect((await postJson(web, "api/verify", { code: next })).body).to.include({ ok: true });
    });

    it("console: the output so far, and from an offset on", async () => {
      const all = await getJson(web, "api/console");
      expect(all.status).to.equal(200);
      expect(all.body.from).to.equal(0);
      expect(all.body.end).to.equal(sim.console.end);
      expect(all.body.text).to.have.length(all.body.end);
      await typeAtConsole(sim, 'print("hello from the card")', /hello from the card/);
      const tail = await getJson(web, `api/console?from=${all.body.end}`);
      expect(tail.body.from).to.equal(all.body.end);
      expect(tail.body.text).to.include("hello from the card");
    });

    it("live state over Server-Sent Events changes after a press", async () => {
      const ac = new AbortController();
      const res = await fetch(new URL("api/events", web), { signal: ac.signal });
      expect(res.headers.get("content-type")).to.match(/^text\/event-stream/);
      const reader = res.body!.getReader();
      let buffer = "";
      const nextState = async () => {
        for (;;) {
          const end = buffer.indexOf("\n\n");
          if (end >= 0) {
            const event = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = /^data: (.*)$/m.exec(event);
            if (/^event: state$/m.test(event) && data) return JSON.parse(data[1]);
            continue;
          }
          const { value, done } = await reader.read();
          if (done) throw new Error("event stream ended");
          buffer += new TextDecoder().decode(value);
        }
      };
      try {
        const first = await nextState();
        const drawn = (state: { refreshes: Screen["refreshes"] }) => state.refreshes.full + state.refreshes.partial;
        await postJson(web, "api/button", { action: "press" });
        // On the espruino engine time moves with the wall clock, and each tick is a change of state too.
        let next = await nextState();
        while (drawn(next) === drawn(first)) next = await nextState();
        expect(drawn(next)).to.be.greaterThan(drawn(first));
      } finally {
        ac.abort();
      }
    });

    describe("bad input gets a 4xx with a reason, and changes nothing", () => {
      const cases: Array<[string, string, unknown, number, RegExp]> = [
        ["button", "no action", {}, 400, /action/],
        ["button", "unknown action", { action: "smash" }, 400, /action/],
        ["button", "hold without ms", { action: "hold" }, 400, /ms/],
        ["button", "hold of 0 ms", { action: "hold", ms: 0 }, 400, /ms/],
        ["button", "hold of a fraction", { action: "hold", ms: 1.5 }, 400, /ms/],
        ["button", "hold for an hour", { action: "hold", ms: 3_600_000 }, 400, /ms/],
        ["button", "ms as a string", { action: "hold", ms: "100" }, 400, /ms/],
        ["button", "extra field", { action: "press", twice: true }, 400, /twice|unrecognized/i],
        ["button", "not an object", [1, 2], 400, /./],
        ["button", "invalid JSON", "{action:", 400, /JSON/],
        ["clock", "negative", { advanceMs: -5 }, 400, /advanceMs/],
        ["clock", "not a number", { advanceMs: "soon" }, 400, /advanceMs/],
        ["clock", "infinite", "{\"advanceMs\": 1e999}", 400, /advanceMs/],
        ["clock", "more than a year", { advanceMs: 400 * 86_400_000 }, 400, /advanceMs/],
        ["power", "unknown action", { action: "toggle" }, 400, /action|cut|restore/],
        ["verify", "letters", { code: "12a456" }, 400, /digits/],
        ["verify", "too long", { code: "12345678901" }, 400, /digits/],
        ["verify", "a number", { code: 123456 }, 400, /code/],
      ];
      for (const [route, what, body, status, message] of cases) {
        it(`${route}: ${what}`, async () => {
          const before = (await getJson(web, "api/state")).body;
          const r = await postJson(web, `api/${route}`, body);
          expect(r.status).to.equal(status);
          expect(r.body.error).to.match(message);
          expect(stateWithoutTime((await getJson(web, "api/state")).body)).to.deep.equal(stateWithoutTime(before));
        });
      }

      it("a body that is not JSON by its content type: 415", async () => {
        const res = await fetch(new URL("api/button", web), { method: "POST", headers: { "x-inkcard-sim": await pageToken(web) }, body: '{"action":"press"}' });
        expect(res.status).to.equal(415);
      });

      it("a huge body: 413", async () => {
        const r = await postJson(web, "api/button", { action: "press", pad: "x".repeat(100_000) });
        expect(r.status).to.equal(413);
      });

      it("console offset that is not a number: 400", async () => {
        const r = await getJson(web, "api/console?from=-1");
        expect(r.status).to.equal(400);
      });

      it("a request naming another host (DNS rebinding): 421", async () => {
        const status = await new Promise<number>((resolve, reject) => {
          const req = http.request(new URL("api/state", web), { headers: { host: "attacker.example" } }, (res) => {
            res.resume();
            resolve(res.statusCode!);
          });
          req.on("error", reject);
          req.end();
        });
        expect(status).to.equal(421);
      });

      it("unknown resource: 404; wrong method: 405", async () => {
        expect((await getJson(web, "api/nothing")).status).to.equal(404);
        expect((await fetch(new URL("api/screen", web), { method: "DELETE", headers: { "x-inkcard-sim": await pageToken(web) } })).status).to.equal(405);
      });
    });
  });

  describe(`sim server: blank board (${engine} engine)`, function () {
    this.timeout(slow(engine, 30_000));
    before(function (this: Mocha.Context) {
      requireEngine(this, engine);
    });
    it("has no firmware, no profile and no card to verify", async () => {
      const sim = await simulator({ blank: true, engine });
      try {
        const { web } = sim.addresses;
        expect(sim.addresses.card).to.equal(undefined);
        // The espruino engine's card holds its pins' shim (sim/espruino/shim.ts) and nothing else.
        expect(sim.storage().list()).to.deep.equal(engine === "espruino" ? [".boot0"] : []);
        const screen = (await getJson<Screen>(web, "api/screen")).body;
        expect(screen.refreshes).to.deep.equal({ full: 0, partial: 0 });
        expect((await getJson(web, "api/console")).body.text).to.include("espruino.com");
        const v = await postJson(web, "api/verify", { code: "123" });
        expect(v.status).to.equal(409);
        expect((await postJson(web, "api/button", { action: "press" })).status).to.equal(200);
        expectNoUncaught(sim.console.read(0).text);
      } finally {
        await sim.close();
      }
    });
  });
}
