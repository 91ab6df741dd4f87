import { expect } from "chai";
import { createDisplay, type DisplayOptions } from "../../firmware/core/display.ts";
import { drawBlankScreen, drawCodeScreen, drawNotIssuedScreen } from "../../firmware/core/screens.ts";
import type { Panel } from "../../firmware/core/types.ts";
import { createGraphicsClass } from "../../sim/board/graphics.ts";
import { CAPTION, decode, HEIGHT, render, WIDTH } from "./render.ts";

/** A panel that refreshes only when the test says so. */
class FakePanel implements Panel {
  shows: Array<{ frame: Uint8Array; full: boolean }> = [];
  dones: Array<() => void> = [];
  #done: (() => void) | undefined;
  get busy(): boolean {
    return this.#done !== undefined;
  }
  show(frame: Uint8Array, full: boolean, done: () => void): void {
    if (this.busy) throw new Error("show() while busy");
    this.shows.push({ frame: frame.slice(), full });
    this.#done = done;
    this.dones.push(done);
  }
  finish(): void {
    const done = this.#done;
    this.#done = undefined;
    done?.();
  }
}

function setup(fullRefreshEvery: number, extra: Partial<DisplayOptions> = {}) {
  const panel = new FakePanel();
  const Graphics = createGraphicsClass();
  let surfaces = 0;
  const display = createDisplay({
    width: WIDTH,
    height: HEIGHT,
    createSurface: (w, h) => {
      surfaces++;
      return Graphics.createArrayBuffer(w, h, 1, { msb: true });
    },
    panel,
    fullRefreshEvery,
    decode,
    ...extra,
  });
  return { panel, display, surfaces: () => surfaces };
}

const codeFrame = (code: string) => render((s) => drawCodeScreen(s, decode, code, CAPTION)).frame;

describe("display (firmware/core/display.ts)", () => {
  it("sends each screen as drawn, on a new surface each time", () => {
    const { panel, display, surfaces } = setup(10);
    display.showCode("123456", CAPTION);
    panel.finish();
    display.showNotIssued();
    panel.finish();
    display.wipe();
    panel.finish();
    expect(panel.shows.map((s) => s.frame)).to.deep.equal([
      codeFrame("123456"),
      render((s) => drawNotIssuedScreen(s, decode)).frame,
      render(drawBlankScreen).frame,
    ]);
    expect(surfaces()).to.equal(3);
  });

  for (const every of [1, 3, 10]) {
    it(`makes the first update and then one in every ${every} a full refresh`, () => {
      const { panel, display } = setup(every);
      for (let i = 0; i < 25; i++) {
        if (i % 2) display.wipe();
        else display.showCode("123", CAPTION);
        panel.finish();
      }
      expect(panel.shows.map((s) => s.full)).to.deep.equal(Array.from({ length: 25 }, (_, i) => i % every === 0));
    });
  }

  it("keeps the refresh count in a shared state, so a new display goes on where the last stopped", () => {
    const state = { sinceFull: 0 };
    const fulls: boolean[] = [];
    for (let i = 0; i < 7; i++) {
      const { panel, display } = setup(3, { state }); // a display per update, as main.ts makes an engine per event
      display.showCode("123", CAPTION);
      panel.finish();
      fulls.push(panel.shows[0].full);
    }
    expect(fulls).to.deep.equal([true, false, false, true, false, false, true]);
    expect(state.sinceFull).to.equal(1);
    expect(() => setup(3, { state: { sinceFull: 3 } })).to.throw("sinceFull");
  });

  it("while the panel is busy keeps only the latest request, and sends it when done", () => {
    const { panel, display, surfaces } = setup(10);
    display.showCode("111111", CAPTION);
    display.showCode("222222", CAPTION);
    display.wipe();
    display.showNotIssued();
    display.showCode("333333", CAPTION);
    expect(panel.shows.length).to.equal(1);
    expect(surfaces(), "nothing drawn for a waiting request").to.equal(1);
    panel.finish();
    expect(panel.shows.map((s) => s.frame)).to.deep.equal([codeFrame("111111"), codeFrame("333333")]);
    expect(panel.shows.map((s) => s.full)).to.deep.equal([true, false]);
    panel.finish();
    panel.finish();
    expect(panel.shows.length).to.equal(2);
  });

  it("ignores a done() that comes when nothing is being shown", () => {
    const { panel, display } = setup(10);
    display.wipe();
    panel.finish();
    panel.dones[0](); // again, with the panel idle
    display.showCode("123", CAPTION);
    display.wipe();
    expect(panel.shows.length, "the second request waits for the panel").to.equal(2);
  });

  it("checks a request before it is queued, and never puts a code in an error", () => {
    const { panel, display } = setup(10);
    display.wipe();
    expect(() => display.showCode("98765432101", CAPTION)).to.throw().with.property("message").that.does.not.include("9876");
    expect(() => display.showCode("12a", CAPTION)).to.throw(/^code must be/);
    expect(() => display.showCode("123", "")).to.throw(/^caption must be/);
    panel.finish();
    expect(panel.shows.length, "nothing was left pending").to.equal(1);
  });

  it("recovers from an update that failed to draw", () => {
    let fail = true;
    const Graphics = createGraphicsClass();
    const { panel, display } = setup(10, {
      createSurface: (w, h) => {
        if (fail) throw new Error("out of memory");
        return Graphics.createArrayBuffer(w, h, 1, { msb: true });
      },
    });
    expect(() => display.showCode("123", CAPTION)).to.throw("out of memory");
    fail = false;
    display.showCode("123", CAPTION);
    expect(panel.shows.map((s) => s.full)).to.deep.equal([true]);
  });

  it("rejects options it cannot work with", () => {
    const { panel } = setup(10);
    const ok: DisplayOptions = { width: 200, height: 200, createSurface: () => createGraphicsClass().createArrayBuffer(1, 1, 1), panel, fullRefreshEvery: 10, decode };
    expect(() => createDisplay({ ...ok, fullRefreshEvery: 0 })).to.throw("fullRefreshEvery");
    expect(() => createDisplay({ ...ok, fullRefreshEvery: 2.5 })).to.throw("fullRefreshEvery");
    expect(() => createDisplay({ ...ok, width: 0 })).to.throw("width and height");
    expect(() => createDisplay({ ...ok, panel: {} as Panel })).to.throw("panel");
    expect(() => createDisplay({ ...ok, decode: undefined as unknown as DisplayOptions["decode"] })).to.throw("decode");
  });
});
