/**
 * The firmware's RAM on the real interpreter: Espruino variables in use at idle
 * and during a press, against the card's 2,630 and the target of a fifth (526).
 *
 * Run: npx tsx bench/memory.ts [bundle.js]
 * on the Espruino interpreter of host-tools/lib/interpreter.ts ($ESPRUINO, else
 * ../shared/espruino/espruino-2630: the card's 2,630 variables and memory-mapped
 * Storage). Without it this says so and measures nothing.
 *
 * Run the way the card runs it: dist/firmware.js (built first if stale) goes into
 * Storage as `.bootcde`, with a test profile (counter mode, a random key that is
 * never printed), and the interpreter boots from Storage; commands then go in on
 * its console. Function code stays in flash there, as on the card (a function
 * holds a reference to its text, not a copy).
 *   baseline  the interpreter with an empty program: not the firmware's doing
 *   idle      after boot, once the boot refresh has finished: main.ts's shell only,
 *             since each engine (firmware/main.ts) is built when needed and dropped after
 *   press     E.emit("ink-code"), main.ts's press for the provisioning tool (Linux
 *             has no pins to press): the peak sampled while the screen is drawn
 *             and sent (after each font is decoded and at every panel pin write),
 *             and what stays once the refresh is done (code shown, wipe timer set;
 *             process.memory() collects garbage first, as the shell does before
 *             building the next engine)
 * Pins are not emulated: BUSY reads low, so a refresh finishes at once. `NRF` does
 * not exist on Linux: a stub (test/support/nrf-stub.ts) is put in `.boot0`. The press is
 * sampled through hooks, also in `.boot0`; their own variables are measured (idle
 * with and without them) and taken off. Nothing the card prints is echoed: its
 * answer to ink-code holds a code.
 *
 * Then the press sequences of issue 9 (test/card/press-rig.ts SEQUENCES: double,
 * triple and ten quick presses, long presses, presses during the boot refresh,
 * a press after a power cut), each from a fresh boot of the same flash, on the
 * rig whose panel keeps BUSY high through each refresh and whose button
 * presses: the peak (sampled as above) and the idle after it (garbage
 * collected), against PEAK_BOUND (the card's 2,630 less a fixed headroom).
 * A sequence that runs the interpreter out of memory is reported as such.
 *
 * Then the Bluetooth link (document C) on that rig: pairing, a payment in
 * 20-byte writes shown, a press that confirms it and the answer notified
 * (test/card/link-driver.ts plays the phone and the issuer): the peak of each
 * step and the idle between.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ensureFirmwareBuilt } from "../host-tools/build/ensure.ts";
import { loadBoardConfig } from "../host-tools/config.ts";
import { nodeHash } from "../host-tools/lib/hash.ts";
import { ESPRUINO, Interpreter, bootFromStorage, sleep, textBytes as text, writeStorage } from "../host-tools/lib/interpreter.ts";
import * as F from "../firmware/core/frames.ts";
import { encodeProfile } from "../firmware/core/profile.ts";
import { PEAK_BOUND, PressRig, SEQUENCES } from "../test/card/press-rig.ts";
import { LinkDriver, header } from "../test/card/link-driver.ts";
import { NRF_STUB } from "../test/support/nrf-stub.ts";

/** Espruino variables on the card (nRF52832, as Puck.js). */
export const CARD_VARIABLES = 2630;
/** Issue 2: less than a fifth of them at idle. */
export const IDLE_TARGET = 526;

export interface MemoryMeasure {
  /** process.memory().total of the interpreter used. */
  total: number;
  baseline: number;
  idle: number;
  pressPeak: number;
  afterPress: number;
}

/**
 * Samples usage (no garbage collection) after each font decode, at each pin write of the panel and
 * at each SHA-1 and SHA-256 call (the code's HMAC, the profile's check): the card's engine computes
 * the code and is dropped before the panel's draws it (firmware/main.ts), so each has its own peak.
 */
const PRESS_HOOKS =
  "var PEAK=0;function SAMPLE(){var u=process.memory(false).usage;if(u>PEAK)PEAK=u;}" +
  "var ATOB=atob;global.atob=function(s){var r=ATOB(s);SAMPLE();return r;};" +
  "var DW=digitalWrite;global.digitalWrite=function(p,v){SAMPLE();DW(p,v);};" +
  'var CR=require("crypto"),S1=CR.SHA1,S2=CR.SHA256;CR.SHA1=function(d){SAMPLE();return S1(d);};CR.SHA256=function(d){SAMPLE();return S2(d);};';

/** Boot from Storage in dir and let the boot refresh finish. */
async function boot(bin: string, dir: string): Promise<Interpreter> {
  const repl = await bootFromStorage(dir, bin);
  await sleep(1500); // the boot refresh: BUSY reads low on Linux, so a few 10 ms reset timers
  repl.check("booting the firmware");
  return repl;
}

/** bundleFile: another bundle to measure (default: dist/firmware.js, built first if stale). */
export async function measureMemory(bin: string, bundleFile?: string): Promise<MemoryMeasure> {
  const board = await loadBoardConfig();
  const bundle = readFileSync(bundleFile ?? (await ensureFirmwareBuilt()).file);
  const key = randomBytes(20); // a test card: this key exists only in this run and is never printed
  const profile = encodeProfile(
    { mode: "counter", algorithm: "SHA1", digits: 6, stepSeconds: 30, startCounter: 0, cardId: "BENCH", key },
    nodeHash("SHA256"),
  );
  key.fill(0);
  const dir = mkdtempSync(join(tmpdir(), "inkcard-memory-"));
  let repl: Interpreter | undefined;
  const session = async (boot0: string, bootcde: Uint8Array, withProfile: boolean) => {
    await repl?.kill();
    const files: Array<[string, Uint8Array]> = [[".boot0", text(boot0)], [".bootcde", bootcde]];
    if (withProfile) files.push([board.storage.profile, profile]);
    await writeStorage(dir, files, bin);
    repl = await boot(bin, dir);
    return repl;
  };
  try {
    let r = await session(NRF_STUB, text("0;"), false);
    const total = await r.value("total", "process.memory().total");
    const baseline = await r.value("base", "process.memory().usage");

    r = await session(NRF_STUB, bundle, true);
    const idle = await r.value("idle", "process.memory().usage");

    r = await session(NRF_STUB + PRESS_HOOKS, bundle, true);
    const hooks = (await r.value("hidle", "process.memory().usage")) - idle;
    const from = r.output.length;
    r.send('E.emit("ink-code")');
    const answer = await r.waitFor(/\[inkcard \{"code":"(\d*)"\}/, 10_000, from);
    if (!answer[1]) throw new Error("the press made no code (the card did not take the test profile)");
    await sleep(1000); // the refresh
    const pressPeak = (await r.value("peak", "PEAK")) - hooks;
    const afterPress = (await r.value("after", "process.memory().usage")) - hooks;
    return { total, baseline, idle, pressPeak, afterPress };
  } finally {
    await repl?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface SequenceMeasure {
  label: string;
  /** Peak variables, or NaN when the sequence ran the interpreter out of memory. */
  peak: number;
  /** Idle variables after it (garbage collected), NaN after out of memory. */
  idle: number;
  /** What went wrong, if anything: the interpreter's first error line. */
  error?: string;
}

/** The press sequences, each from a fresh boot of the same flash (bundleFile as in measureMemory). */
export async function measurePresses(bin: string, bundleFile?: string): Promise<SequenceMeasure[]> {
  const rig = await PressRig.start({ bin, bundle: bundleFile ? readFileSync(bundleFile) : undefined });
  const rows: SequenceMeasure[] = [];
  try {
    for (const s of Object.values(SEQUENCES)) {
      await rig.reboot();
      rig.accept();
      await rig.resetPeak();
      let row: SequenceMeasure;
      try {
        await s.run(rig);
        await rig.settle();
        row = { label: s.label, peak: await rig.peak(), idle: await rig.idle() };
      } catch (e) {
        row = { label: s.label, peak: NaN, idle: NaN, error: (e as Error).message };
      }
      const failed = rig.failures();
      if (failed.length) row = { label: s.label, peak: NaN, idle: NaN, error: failed[0].replace(/^>/, "").trim() };
      rows.push(row);
    }
    return rows;
  } finally {
    await rig.close();
  }
}

export interface LinkMeasure {
  /** Peak while pairing (HELLO, PAIR: the link engine built, the grant opened, the record written). */
  pairPeak: number;
  /** Idle with the link engine kept while the phone writes, garbage collected. */
  linkIdle: number;
  /** Peak from the first write of a PAYMENT in 20-byte writes to its screen drawn. */
  paymentPeak: number;
  /** Peak from the press that confirms it to its answer notified and drawn. */
  answerPeak: number;
  /** Idle after it all, the link engine dropped for the panel's. */
  after: number;
}

/**
 * The Bluetooth link (document C) on the press rig: pairing, a payment (the largest frame the
 * phone sends for it) shown, confirmed by a press, its answer notified; the peaks sampled at every
 * SHA-256 call, write and notification besides the panel's samples (press-rig.ts).
 */
export async function measureLink(bin: string, bundleFile?: string): Promise<LinkMeasure> {
  const rig = await PressRig.start({ bin, bundle: bundleFile ? readFileSync(bundleFile) : undefined });
  try {
    const phone = await LinkDriver.start(rig);
    await rig.resetPeak();
    await phone.pair();
    const pairPeak = await rig.peak();
    const linkIdle = await rig.idle();
    await rig.settle();
    await rig.resetPeak();
    const acks = await phone.send(phone.fragments(phone.paymentFrame(phone.payment())));
    if (acks.length !== 1 || header(acks[0]).type !== F.T_ACK) throw new Error("the card did not take the payment");
    await rig.settle();
    const paymentPeak = await rig.peak();
    await rig.resetPeak();
    rig.press();
    await rig.settle();
    let answered = false;
    for (let i = 0; i < 50 && !answered; i++) {
      answered = (await phone.answers()).some((f) => header(f).type === F.T_ANSWER);
      if (!answered) await sleep(100);
    }
    if (!answered) throw new Error("the card did not answer the press");
    const answerPeak = await rig.peak();
    const failed = rig.failures();
    if (failed.length) throw new Error(failed[0]);
    return { pairPeak, linkIdle, paymentPeak, answerPeak, after: await rig.idle() };
  } finally {
    await rig.close();
  }
}

export function reportLink(m: LinkMeasure): string {
  const row = (what: string, vars: number, peak: boolean) =>
    `  ${what.padEnd(36)}${String(vars).padStart(5)}${peak ? ` (${vars <= PEAK_BOUND ? "within" : "OVER"} ${PEAK_BOUND})` : ""}`;
  return [
    "link      variables during a payment over Bluetooth (press rig, 20-byte writes)",
    row("pairing (HELLO, PAIR): peak", m.pairPeak, true),
    row("link engine kept between writes", m.linkIdle, false),
    row("payment frame, then drawn: peak", m.paymentPeak, true),
    row("press, answer notified, drawn: peak", m.answerPeak, true),
    row("idle after", m.after, false),
  ].join("\n");
}

export function reportPresses(rows: SequenceMeasure[]): string {
  const width = Math.max(...rows.map((r) => r.label.length));
  return [
    `presses   peak and idle variables per sequence (bound ${PEAK_BOUND}; refreshes of the rig's panel, press-rig.ts)`,
    ...rows.map((r) =>
      r.error
        ? `  ${r.label.padEnd(width)}  FAILED: ${r.error}`
        : `  ${r.label.padEnd(width)}  peak ${String(r.peak).padStart(4)} (${r.peak <= PEAK_BOUND ? "within" : "OVER"})  idle after ${String(r.idle).padStart(4)}`,
    ),
  ].join("\n");
}

export function report(m: MemoryMeasure, bin: string): string {
  const line = (what: string, vars: number) =>
    `${what.padEnd(10)}${String(vars).padStart(5)} variables = ${(vars / CARD_VARIABLES).toFixed(3)} x the card's ${CARD_VARIABLES}` +
    `, ${(vars / IDLE_TARGET).toFixed(2)} x the idle target of ${IDLE_TARGET}`;
  return [
    `memory    Espruino variables on ${bin} (total ${m.total}${m.total === CARD_VARIABLES ? "" : `, NOT the card's ${CARD_VARIABLES}`})`,
    line("baseline", m.baseline) + "  (empty program: the interpreter's own)",
    line("idle", m.idle) + `  (${m.idle < IDLE_TARGET ? "within" : "OVER"} the target)`,
    line("press", m.pressPeak) + "  (peak while drawing and sending the screen)",
    line("after", m.afterPress) + "  (code on screen, wipe timer set)",
  ].join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const bin = ESPRUINO;
  if (!existsSync(bin)) {
    console.error(`bench/memory: no Espruino interpreter at ${bin} (set ESPRUINO): RAM use can only be measured on the interpreter itself`);
    process.exitCode = 1;
  } else {
    try {
      console.log(report(await measureMemory(bin, process.argv[2]), bin));
      console.log(reportPresses(await measurePresses(bin, process.argv[2])));
      console.log(reportLink(await measureLink(bin, process.argv[2])));
    } catch (e) {
      console.error(`bench/memory: ${(e as Error).message}`);
      process.exitCode = 1;
    }
  }
}
