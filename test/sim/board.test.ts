import { expect } from "chai";
import { createHash } from "node:crypto";
import { flashedBoard, newBoard, out } from "./helpers.ts";

describe("sim board: the interpreter", () => {
  it("offers the card's globals and makes anything else a ReferenceError", async () => {
    const board = await newBoard();
    const kinds = board.evaluate(
      `[typeof setWatch, typeof clearWatch, typeof digitalWrite, typeof digitalRead, typeof pinMode, typeof SPI,
        typeof Graphics, typeof require, typeof E, typeof NRF, typeof getTime, typeof setTime, typeof setTimeout,
        typeof setInterval, typeof clearTimeout, typeof clearInterval, typeof getSerial, typeof process,
        typeof print, typeof console, typeof reset, typeof load, typeof save].join()`,
    );
    expect(String(kinds).split(",").every((k) => k === "function" || k === "object")).to.equal(true);
    for (const name of ["window", "Buffer", "fetch", "queueMicrotask", "setImmediate", "Map", "Set", "Symbol", "Proxy", "Reflect", "BigInt", "Intl", "WebAssembly"]) {
      board.console.clearTranscript();
      board.evaluate(name);
      expect(out(board), name).to.contain(`Uncaught ReferenceError: "${name}" is not defined`);
    }
    // Standard methods Espruino lacks are missing here too.
    expect(board.evaluate("[typeof Array.from, typeof Object.freeze, typeof Number.isInteger, typeof Math.imul, typeof ''.replaceAll].join()")).to.equal(
      "undefined,undefined,undefined,undefined,undefined",
    );
  });

  it("hands the firmware objects of its own realm", async () => {
    const board = await newBoard();
    expect(board.evaluate(`require("crypto").SHA1("abc") instanceof ArrayBuffer`)).to.equal(true);
    expect(board.evaluate(`E.toUint8Array("ab", [1, 2], 3) instanceof Uint8Array`)).to.equal(true);
    expect(board.evaluate(`require("Storage").list() instanceof Array`)).to.equal(true);
    expect(board.evaluate(`(function(){ try { require("nope") } catch (e) { return e instanceof Error && e.message } })()`)).to.equal('Module "nope" not found');
    const sha = board.evaluate(`E.toString(require("crypto").SHA256("abc"))`) as string;
    expect(Buffer.from(sha, "latin1").toString("hex")).to.equal(createHash("sha256").update("abc").digest("hex"));
    expect(board.evaluate(`typeof require("crypto").SHA512`)).to.equal("undefined"); // not in the board config
    expect(board.evaluate(`E.CRC32("123456789")`)).to.equal(0xcbf43926);
    expect(board.evaluate(`getSerial() === process.env.SERIAL && process.env.BOARD`)).to.equal("MDBT42Q");
    const mem = board.evaluate("process.memory()") as { free: number; usage: number; total: number };
    expect(mem.free + mem.usage).to.equal(mem.total);
  });

  it("prints Uncaught for an exception in a callback and keeps running", async () => {
    const board = await flashedBoard(`
      var n = 0;
      setInterval(function () { n++; if (n === 2) throw new Error("boom"); }, 100);
    `);
    board.advance(500);
    expect(out(board)).to.contain("Uncaught Error: boom");
    expect(board.evaluate("n")).to.equal(5);
  });
});

describe("sim board: runaway code", () => {
  it("stops a loop that never ends, as Ctrl-C would, and keeps running", async () => {
    const board = await newBoard({ scriptTimeoutMs: 200 });
    board.evaluate(`var after = 0; setTimeout(function () { while (true) {} }, 10); setTimeout(function () { after++; }, 20);`);
    board.advance(30);
    expect(out(board)).to.contain("Execution Interrupted");
    expect(board.evaluate("after")).to.equal(1);
  });
});

describe("sim board: promises", () => {
  it("runs promise jobs before the next timer and reports an unhandled rejection as Espruino does", async () => {
    const board = await newBoard();
    board.evaluate(`
      var order = [];
      setTimeout(function () { Promise.resolve().then(function () { order.push("job"); }); order.push("timer"); }, 10);
      setTimeout(function () { order.push("next timer"); }, 12);
      new Promise(function (res) { setTimeout(res, 20); }).then(function () { throw new Error("in then"); });
    `);
    board.advance(30);
    expect(board.evaluate("order.join()")).to.equal("timer,job,next timer");
    await new Promise((r) => setTimeout(r, 10)); // Node reports unhandled rejections after the current task
    expect(out(board)).to.contain("Uncaught Error: Unhandled promise rejection: Error: in then");
  });
});

describe("sim board: virtual time", () => {
  it("runs timers in order of their due time, at that time", async () => {
    const board = await newBoard();
    board.setTime(1000);
    board.evaluate(`
      var log = [];
      function at(tag) { return function () { log.push(tag + "@" + Math.round((getTime() - 1000) * 1000)); }; }
      setTimeout(at("a"), 30);
      setTimeout(at("b"), 10);
      var iv = setInterval(at("i"), 15);
      setTimeout(function () { clearInterval(iv); }, 50);
      setTimeout(at("z"), 0);
    `);
    board.advance(100);
    expect(board.evaluate("log.join()")).to.equal("z@0,b@10,i@15,a@30,i@30,i@45");
  });

  it("clears every timer with clearTimeout() but refuses clearTimeout(undefined)", async () => {
    const board = await newBoard();
    board.evaluate(`var hits = 0; setTimeout(function () { hits++; }, 10); setInterval(function () { hits++; }, 10); clearTimeout();`);
    board.advance(100);
    expect(board.evaluate("hits")).to.equal(0);
    board.evaluate("clearTimeout(undefined)");
    expect(out(board)).to.contain("Uncaught Error: clearTimeout(undefined) not allowed");
  });

  it("counts ten thousand debounced presses", async () => {
    const board = await flashedBoard(`
      var presses = 0;
      pinMode("D17", "input_pullup");
      setWatch(function () { presses++; }, "D17", { edge: "falling", repeat: true, debounce: 25 });
    `);
    for (let i = 0; i < 10000; i++) board.press(50);
    expect(board.evaluate("presses")).to.equal(10000);
  });
});

describe("sim board: pins and setWatch", () => {
  it("debounces: one event per settled edge, stamped with the last bounce", async () => {
    const board = await newBoard();
    board.evaluate(`
      var events = [];
      pinMode("D17", "input_pullup");
      setWatch(function (e) { events.push([e.state, Math.round(e.time * 1000), e.lastTime === undefined ? -1 : Math.round(e.lastTime * 1000)]); },
        "D17", { edge: "both", repeat: true, debounce: 25 });
    `);
    const t0 = Math.round(board.getTime() * 1000);
    const drive = (level: 0 | 1 | undefined) => board.pins.drive(17, level);
    drive(0); // press, bouncing
    board.advance(3);
    drive(undefined);
    board.advance(3);
    drive(0);
    board.advance(100); // settled low
    drive(undefined);
    board.advance(2);
    drive(0); // a bounce back to the stable state: no event
    board.advance(100);
    drive(undefined);
    board.advance(100);
    const events = board.evaluate("JSON.stringify(events)") as string;
    expect(JSON.parse(events)).to.deep.equal([
      [false, t0 + 6, -1],
      [true, t0 + 208, t0 + 6],
    ]);
  });

  it("fires a watch without repeat once, on the asked edge only", async () => {
    const board = await newBoard();
    board.evaluate(`var hits = []; pinMode("D17", "input_pullup"); setWatch(function (e) { hits.push(e.state); }, "D17", { edge: "rising" });`);
    board.press();
    board.press();
    expect(board.evaluate("JSON.stringify(hits)")).to.equal("[true]");
  });

  it("reads the button through its pull-up: released 1, pressed 0", async () => {
    const board = await newBoard();
    board.evaluate(`pinMode("D17", "input_pullup")`);
    expect(board.evaluate(`digitalRead("D17")`)).to.equal(1);
    board.setButton(true);
    expect(board.evaluate(`digitalRead("D17")`)).to.equal(0);
    board.setButton(false);
    expect(board.evaluate(`digitalRead(17)`)).to.equal(1);
  });

  it("rejects a pin the chip does not have", async () => {
    const board = await newBoard();
    board.evaluate(`digitalWrite("D99", 1)`);
    expect(out(board)).to.contain("Uncaught Error: Invalid pin!");
  });
});

describe("sim board: power and flash", () => {
  it("boots .bootcde on power-up, and a blank board shows the banner", async () => {
    const blank = await newBoard();
    expect(out(blank)).to.contain("espruino.com");
    const flashed = await flashedBoard(`var booted = 1; E.on("init", function () { booted++; print("init ran"); });`);
    expect(flashed.evaluate("booted")).to.equal(2);
    expect(out(flashed)).to.contain("init ran").and.not.contain("espruino.com");
  });

  it("keeps Storage across a power cut and loses RAM and timers", async () => {
    const board = await flashedBoard(`
      var s = require("Storage");
      var boots = (s.readJSON("boots", true) || 0) + 1;
      s.writeJSON("boots", boots);
      var ticks = 0;
      setInterval(function () { ticks++; }, 100);
    `);
    board.advance(1000);
    expect(board.evaluate("ticks")).to.equal(10);
    board.cutPower();
    expect(board.powered).to.equal(false);
    board.advance(1000);
    board.restorePower();
    expect(board.evaluate("boots")).to.equal(2);
    expect(board.evaluate("ticks")).to.equal(0);
    expect(board.getTime()).to.be.below(1); // the RTC restarted
  });

  it("stops the card dead at a flash write when the power is cut there", async () => {
    const board = await flashedBoard(`
      var s = require("Storage");
      function step(i) {
        try { s.write("log" + i, "entry " + i); } catch (e) { print("caught " + e); }
        print("wrote " + i);
        if (i < 5) setTimeout(function () { step(i + 1); }, 10);
      }
      setTimeout(function () { step(0); }, 10);
    `);
    board.cutPower({ atFlashOp: 4 }); // header and data of log0, header of log1, then log1's data: torn
    board.advance(1000);
    expect(board.powered).to.equal(false);
    const text = out(board);
    expect(text).to.contain("wrote 0").and.not.contain("wrote 1").and.not.contain("caught");
    board.restorePower();
    expect(board.storage.list()).to.include("log0");
    expect(board.evaluate(`require("Storage").read("log0")`)).to.equal("entry 0");
    board.advance(1000);
    expect(board.storage.list()).to.include.members(["log0", "log1", "log2", "log3", "log4", "log5"]);
  });

  it("runs reset() and load() as Espruino does: reset forgets .bootcde, load runs it again", async () => {
    const board = await flashedBoard(`var app = "running";`);
    expect(board.evaluate("app")).to.equal("running");
    board.console.write("reset()\n");
    board.console.clearTranscript();
    board.evaluate("app");
    expect(out(board)).to.contain('"app" is not defined');
    board.console.write("load()\n");
    expect(board.evaluate("app")).to.equal("running");
  });

  it("E.setBootCode and save() put code where the next boot finds it", async () => {
    const board = await newBoard();
    board.evaluate(`E.setBootCode("var fromBoot = 42;")`);
    board.reboot();
    expect(board.evaluate("fromBoot")).to.equal(42);
    board.evaluate(`save()`);
    expect(out(board)).to.contain("Cannot save: .bootcde file already exists");
    board.evaluate(`require("Storage").erase(".bootcde")`);
    board.console.write("reset()\n");
    board.console.write("var saved = 'yes'; function f() { return saved + '!'; }\n");
    board.console.write("save()\n");
    board.reboot();
    expect(board.evaluate("f()")).to.equal("yes!");
  });
});
