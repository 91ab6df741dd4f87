/**
 * The flashed bundle (dist/firmware.js, `npm run build`) on the emulated
 * board: it boots clean, takes a profile over its console as the
 * provisioning tool gives it, and shows the codes RFC 4226 and RFC 6238
 * predict, read from what it drew; a power cut in a press never shows a code
 * twice.
 */
import { expect } from "chai";
import { existsSync, readFileSync } from "node:fs";
import { drawCodeScreen } from "../../firmware/core/screens.ts";
import { pngToFrame } from "../screens/png.ts";
import { decode, render } from "../screens/render.ts";
import { DEFAULT_STEPS } from "../../firmware/core/counter.ts";
import { hotp } from "../../firmware/core/otp.ts";
import { encodeProfile, stagingName, type Profile } from "../../firmware/core/profile.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import type { Board } from "../../sim/board/board.ts";
import { Flash } from "../../sim/board/flash.ts";
import { flashedBoard, newBoard, out } from "./helpers.ts";
import { RFC4226, RFC4226_KEY, RFC6238, RFC6238_KEYS } from "../vectors.ts";

const BUNDLE = new URL("../../dist/firmware.js", import.meta.url);

const HOTP = RFC4226.map((row) => row[2]);

/** A reference image of test/screens/ref as a 1 bpp frame. */
function refFrame(name: string): Uint8Array {
  return pngToFrame(readFileSync(new URL(`../screens/ref/${name}`, import.meta.url))).frame;
}

function equalFrames(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function profile(fields: Partial<Profile>): Profile {
  return { mode: "counter", algorithm: "SHA1", digits: 6, stepSeconds: 30, startCounter: 0, cardId: "TEST 0001", key: new Uint8Array(RFC4226_KEY), ...fields };
}

async function bootFirmware(): Promise<Board> {
  if (!existsSync(BUNDLE)) throw new Error("dist/firmware.js is missing: run `npm run build` first");
  const board = await flashedBoard(readFileSync(BUNDLE, "latin1"));
  board.advance(5000); // the first (full) refresh
  return board;
}

/**
 * Provision over the console as the provisioning tool does: write the
 * profile record to the staging file, then ask the card to install it.
 */
function provision(board: Board, p: Profile): void {
  const record = encodeProfile(p, nodeHash("SHA256"));
  const b64 = Buffer.from(record).toString("base64");
  board.console.write(`\x10require("Storage").write(${JSON.stringify(stagingName(board.config.storage.profile))}, atob("${b64}"))\n`);
  board.console.write(`\x10E.emit("ink-install")\n`);
  const reply = /\[inkcard (\{.*?\}) [0-9a-f]+\]/.exec(out(board));
  expect(reply, "the card's answer to ink-install").to.not.equal(null);
  expect(JSON.parse(reply![1]).installed).to.equal(true);
  board.advance(5000);
}

/** The code the firmware drew for the last press: its digit-only text runs, in order. */
function shownCode(board: Board): string {
  return board
    .textRuns()
    .filter((r) => /^\d+$/.test(r.text))
    .map((r) => r.text)
    .join("");
}

/**
 * Press, and return the counter of the code shown ([] if none), after
 * checking the code is HOTP of that counter (the caption says "<id> #<counter>").
 */
function pressAndReadCounter(board: Board): number[] {
  const r = board.panel.refreshes;
  board.press();
  board.advance(3000);
  const now = board.panel.refreshes;
  if (!board.powered || now.full + now.partial === r.full + r.partial) return [];
  const caption = board.textRuns().find((t) => /#\d+$/.test(t.text));
  if (!caption) return [];
  const counter = Number(/#(\d+)$/.exec(caption.text)![1]);
  expect(shownCode(board), `code of counter ${counter}`).to.equal(hotp(nodeHash("SHA1"), RFC4226_KEY, counter, 6));
  return [counter];
}

function pressAndRead(board: Board): string {
  board.press();
  board.advance(3000); // the refresh
  return shownCode(board);
}

describe("firmware bundle on the emulated board", function () {
  this.timeout(60000);
  let board: Board | undefined;
  afterEach(() => {
    if (board) expect(out(board)).to.not.contain("Uncaught");
    board = undefined;
  });

  it("boots from .bootcde with no error and shows the not-issued screen on the glass", async () => {
    board = await bootFirmware();
    expect(board.textRuns().map((r) => r.text)).to.include("NOT ISSUED");
    expect(board.panel.refreshes.full).to.equal(1);
    expect(board.panel.unknown).to.deep.equal([]);
    expect(board.panel.faults).to.deep.equal([]);
    // The glass shows black pixels, not the blank white of a panel never refreshed.
    expect(board.panel.display.some((b) => b !== 0xff)).to.equal(true);
  });

  it("puts on the glass, pixel for pixel, the reference screens: not issued, a code, blank after the wipe", async () => {
    board = await bootFirmware();
    expect(equalFrames(board.panel.display, refFrame("not-issued.png"))).to.equal(true);
    provision(board, profile({}));
    board.press();
    board.advance(3000);
    expect(equalFrames(board.panel.display, render((s) => drawCodeScreen(s, decode, "755224", "TEST 0001 #0")).frame)).to.equal(true);
    board.advance(board.config.panel.wipeAfterMs + 3000);
    expect(shownCode(board)).to.equal("");
    expect(equalFrames(board.panel.display, refFrame("blank.png"))).to.equal(true);
  });

  it("shows the RFC 4226 codes for counters 0 to 9 in counter mode", async () => {
    board = await bootFirmware();
    provision(board, profile({}));
    const codes = HOTP.map(() => pressAndRead(board!));
    expect(codes).to.deep.equal(HOTP);
    expect(board.panel.faults).to.deep.equal([]);
  });

  // The board (MDBT42Q) has SHA-1 and SHA-256; SHA-512 is checked on the source only.
  for (const algorithm of ["SHA1", "SHA256"] as const) {
    it(`shows the RFC 6238 ${algorithm} codes in time mode at the card's clock`, async () => {
      board = await bootFirmware();
      provision(board, profile({ mode: "time", algorithm, digits: 8, key: new Uint8Array(RFC6238_KEYS[algorithm]) }));
      for (const [time, , codes] of RFC6238) {
        board.setTime(time);
        expect(pressAndRead(board), `T = ${time}`).to.equal(codes[algorithm]);
      }
    });
  }

  /**
   * Cut the power at each flash operation in turn, from `start` presses on:
   * press until the card dies, power it up, press on. Every code shown must
   * be HOTP of the counter in its caption, and counters only go up.
   */
  async function sweepCuts(start: number, ops: number): Promise<void> {
    board = await bootFirmware();
    provision(board, profile({}));
    for (let i = 0; i < start; i++) board.press();
    board.advance(5000);
    const image = board.flash.read(0, board.flash.size);
    for (let op = 1; op <= ops; op++) {
      const flash = new Flash({ size: image.length });
      flash.write(0, image);
      board = await newBoard({ flash }); // the same card: firmware, profile and counter in its flash
      board.advance(5000);
      board.cutPower({ atFlashOp: op });
      const shown: number[] = [];
      let presses = 0;
      for (; board.powered; presses++) {
        expect(presses, `cut at flash operation ${op} never came`).to.be.below(20);
        shown.push(...pressAndReadCounter(board));
      }
      board.restorePower();
      board.advance(5000);
      for (let i = 0; i < 3; i++) shown.push(...pressAndReadCounter(board));
      const label = `cut at flash operation ${op} after ${start} presses: counters ${shown.join(" ")}`;
      expect(shown.every((c, k) => k === 0 || c > shown[k - 1]), label).to.equal(true);
      expect(shown.length, label).to.be.at.least(3);
      expect(out(board)).to.not.contain("Uncaught");
    }
  }

  it("never shows a code twice when the power is cut at any flash operation of the first presses", async () => {
    await sweepCuts(0, 8);
  });

  it("never shows a code twice when the power is cut while the counter moves to its next file", async () => {
    await sweepCuts(DEFAULT_STEPS - 2, 10);
  });
});
