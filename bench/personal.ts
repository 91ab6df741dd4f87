/**
 * Personalisation's cost on the card (document A, docs/personalisation.md):
 *
 * 1. Over Bluetooth, on the real interpreter (test/card/press-rig.ts: the
 *    bundle as flashed, NRF stubbed, writes in on the console): the card's
 *    part of a full personalisation (READ_SERIAL, SECURITY_CHALLENGE,
 *    PROFILE_WRITE, the confirming SECURITY_CHALLENGE) at ATT MTU 23 (20-byte
 *    writes) and 53 (50-byte writes): bytes each way, writes and
 *    notifications, wall time, and the peak of Espruino variables. The
 *    baseline, measured in the same run on the same card at the same MTU, is
 *    a document C payment up to its ACK: the personalisation is reported as a
 *    ratio to it. (The issuer's HTTP round trips are not Bluetooth and are
 *    left out.)
 * 2. Flash: how many profiles the card holds. The Storage model of the
 *    simulator (sim/board/storage.ts: Espruino's layout, headers and
 *    compaction) sized as the MDBT42Q's 40 KB, holding the bundle, slot 0's
 *    profile and counter, the link records and the console lock, takes slot
 *    writes (core/personal.ts writeSlot, as the card runs it) and, for counter
 *    mode, each slot's counter, until one fails; time-mode slots have no
 *    counter. RAM does not grow with N: a long press reads one profile at a
 *    time and nothing of a slot stays in RAM (measured by
 *    test/card/personal-espruino.test.ts).
 *
 * Run: npx tsx bench/personal.ts
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { ensureFirmwareBuilt } from "../host-tools/build/ensure.ts";
import { loadBoardConfig } from "../host-tools/config.ts";
import { nodeHash } from "../host-tools/lib/hash.ts";
import { MonotonicCounter } from "../firmware/core/counter.ts";
import * as F from "../firmware/core/frames.ts";
import { RECORD_BYTES } from "../firmware/core/link.ts";
import * as S from "../firmware/core/personal.ts";
import { encodeProfile, lockName, type Profile } from "../firmware/core/profile.ts";
import { referenceAead } from "../test/core/etm-reference.ts";
import { LinkDriver, header } from "../test/card/link-driver.ts";
import { PEAK_BOUND, PressRig } from "../test/card/press-rig.ts";
import { storeOver } from "../test/support/card-rig.ts";
import { Flash } from "../sim/board/flash.ts";
import { Storage } from "../sim/board/storage.ts";

const SHA = nodeHash("SHA256");

interface Exchange {
  ms: number;
  up: number;
  down: number;
  writes: number;
  notes: number;
}

function profile(label: string, mode: "counter" | "time"): Profile {
  return { mode, algorithm: "SHA256", digits: 6, stepSeconds: 30, startCounter: 0, cardId: label, key: new Uint8Array(randomBytes(32)) };
}

/** One request in writes of `size`, timed to its answers; counts what crossed the air. */
async function exchange(phone: LinkDriver, frame: Uint8Array, size: number, fid: number, into: Exchange): Promise<Uint8Array[]> {
  const writes = F.fragmentFrame(frame, size, fid & 3);
  const r = phone.rig.interpreter;
  await phone.answers(); // anything notified before (a decline's ANSWER) is not this request's
  const t0 = performance.now();
  for (const w of writes) r.send(`\x10WRITE(${JSON.stringify(Buffer.from(w).toString("base64"))})`);
  const answers = await phone.answers();
  into.ms += performance.now() - t0;
  into.up += writes.reduce((n, w) => n + w.length, 0);
  into.writes += writes.length;
  for (const a of answers) {
    into.down += a.length + F.fragmentCount(a.length, size);
    into.notes += F.fragmentCount(a.length, size);
  }
  return answers;
}

async function overBluetooth(): Promise<void> {
  const rig = await PressRig.start();
  try {
    const phone = await LinkDriver.start(rig);
    await phone.pair();
    const exp = phone.issuer.t0 + 3600;
    const seal = phone.issuer.derive("seal", 32);
    let fid = 0;
    const [s] = await phone.send(phone.fragments(F.encodeFrame({ type: F.T_READ_SERIAL, cardId: 0, seq: 0, expiry: exp }, new Uint8Array(0))));
    const serial = S.readSerial(header(s).body) as string;
    const gens = [0, 0, 0, 0];
    console.log("Over Bluetooth, on the interpreter (the card's part; the issuer's HTTP calls left out)");
    console.log("  MTU  what                    bytes up  down  writes  notes      ms   x payment  peak vars");
    for (const size of [F.DEFAULT_WRITE, F.MAX_WRITE]) {
      await rig.settle();
      // Baseline: a payment to its ACK, then wiped by a decline so the next step starts idle.
      const pay: Exchange = { ms: 0, up: 0, down: 0, writes: 0, notes: 0 };
      await exchange(phone, phone.paymentFrame(phone.payment()), size, fid++, pay);
      await rig.settle();
      rig.press(1700);
      await rig.settle();

      await rig.resetPeak();
      const per: Exchange = { ms: 0, up: 0, down: 0, writes: 0, notes: 0 };
      const slot = size === F.DEFAULT_WRITE ? 1 : 2;
      await exchange(phone, F.encodeFrame({ type: F.T_READ_SERIAL, cardId: 0, seq: 0, expiry: exp }, new Uint8Array(0)), size, fid++, per);
      const challenge = () => F.sealFrame(referenceAead, phone.pairKey, { type: F.T_SECURITY_CHALLENGE, cardId: phone.issuer.cardId, seq: ++phone.seq, expiry: exp }, S.encodeChallenge(slot, new Uint8Array(randomBytes(16))));
      await exchange(phone, challenge(), size, fid++, per);
      const body = S.encodeProfileData(SHA, { slot, previous: gens[slot], generation: gens[slot] + 1, code: new Uint8Array(randomBytes(32)), serial, record: encodeProfile(profile("BENCH" + slot, "counter"), SHA) });
      gens[slot]++;
      const env = F.sealFrame(referenceAead, seal, { type: F.T_PROFILE_DATA, cardId: phone.issuer.cardId, seq: ++phone.issuer.seq, expiry: exp }, body);
      const acks = await exchange(phone, F.sealFrame(referenceAead, phone.pairKey, { type: F.T_PROFILE_WRITE, cardId: phone.issuer.cardId, seq: ++phone.seq, expiry: exp }, env), size, fid++, per);
      if (acks.length !== 1 || header(acks[0]).type !== F.T_ACK) throw new Error("the card did not take the profile");
      await exchange(phone, challenge(), size, fid++, per);
      await rig.settle();
      const peak = await rig.peak();
      const mtu = size + 3;
      const row = (what: string, e: Exchange, ratio: string, pk: string) =>
        console.log(`  ${String(mtu).padStart(3)}  ${what.padEnd(22)} ${String(e.up).padStart(9)} ${String(e.down).padStart(5)} ${String(e.writes).padStart(7)} ${String(e.notes).padStart(6)} ${e.ms.toFixed(0).padStart(7)} ${ratio.padStart(11)} ${pk.padStart(10)}`);
      row("payment (baseline)", pay, "1.00", "");
      row("personalisation", per, (per.ms / pay.ms).toFixed(2), `${peak}`);
      if (peak > PEAK_BOUND) console.log(`  peak over the bound ${PEAK_BOUND}!`);
      if (rig.failures().length) throw new Error(`the card failed: ${rig.failures().join("; ")}`);
    }
  } finally {
    await rig.close();
  }
}

async function inFlash(): Promise<void> {
  const board = await loadBoardConfig();
  const bundle = readFileSync((await ensureFirmwareBuilt()).file);
  const base = board.storage.profile;
  console.log(`\nFlash: profiles the MDBT42Q's 40 KB of Storage holds beside the ${bundle.length}-byte bundle (Storage model)`);
  for (const mode of ["counter", "time"] as const) {
    const storage = new Storage(new Flash());
    const store = storeOver(storage);
    store.write(".bootcde", bundle, 0, bundle.length);
    store.write(base, encodeProfile(profile("BASE", "counter"), SHA), 0);
    store.write(lockName(base), new Uint8Array(20).fill(0x30), 0);
    for (const i of [0, 1]) store.write(board.storage.link + i, new Uint8Array(RECORD_BYTES), 0);
    new MonotonicCounter(store, board.storage.counter, 1, 256).init(0);
    const free0 = storage.getFree();
    let n = 0;
    for (let slot = 1; slot < 64; slot++) {
      let ok = false;
      try {
        const body = S.encodeProfileData(SHA, { slot: 1, previous: 0, generation: 1, code: new Uint8Array(32), serial: "f1e2d3c4-a5b6c7d8", record: encodeProfile(profile("P" + slot, mode), SHA) });
        // Storage names of slot k, whatever SLOTS allows: writeSlot runs on slot 1's names, then they are renamed by copy.
        ok = S.writeSlot(store, SHA, base, body);
        if (ok) {
          for (const [from, to] of [[S.slotProfile(base, 1), "p" + slot], [S.securityFile(base, 1), "s" + slot]]) {
            const b = store.read(from) as Uint8Array;
            ok = ok && store.write(to, b.slice(), 0, b.length);
            store.erase(from);
          }
        }
        if (ok && mode === "counter") new MonotonicCounter(store, "c" + slot + ".", 1, 256).init(0);
      } catch {
        ok = false;
      }
      if (!ok) break;
      n = slot;
    }
    console.log(`  ${mode.padEnd(7)} mode: ${n} personalised profiles beside slot 0 (free before: ${free0} bytes; ${((free0 - storage.getFree()) / Math.max(1, n)).toFixed(0)} bytes each)`);
  }
  console.log(`  The firmware has SLOTS = ${S.SLOTS} (slot 0 and ${S.SLOTS - 1} personalised).`);
}

await inFlash();
await overBluetooth();
