/**
 * The phone's relay (host-tools/phone/relay.ts) against a card on the
 * simulator's board, through the board's Bluetooth model: the relay writes
 * through a Central, the card's onWrite runs when the board's virtual clock
 * moves, and its notifications come back through updateServices. The relay's
 * clock and timers are the board's, so the 3 s and 10 s resends cost no real
 * time and every run is the same.
 *
 * The card is test/phone/stub-card.ts (the firmware's core functions, bundled
 * as the card bundles them) until the firmware carries its link service.
 * The issuer's side is written here on the AEAD's reference (node:crypto, test/core/etm-reference.ts), independent of the
 * card's and the relay's AEAD (firmware/core/aead.ts).
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import * as F from "../../firmware/core/frames.ts";
import * as P from "../../firmware/core/pairing.ts";
import { encodePayment } from "../../firmware/core/payment.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { PhoneRelay, RelayError, linkKey, type RelayClock } from "../../host-tools/phone/relay.ts";
import type { Board } from "../../sim/board/board.ts";
import type { ClockTask } from "../../sim/board/clock.ts";
import { bundleForCard } from "../card/bundle.ts";
import { referenceAead as issuerAead } from "../core/link-vectors.ts";
import { flashedBoard } from "../sim/helpers.ts";
import { CentralTransport, MemoryStore, drive } from "./central.ts";

const SHA = nodeHash("SHA256");
const T0 = 1_800_000_000;
const ANSWER = "73019264";
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

interface Rig {
  board: Board;
  cardId: number;
  seal: Uint8Array;
  deviceId: Uint8Array;
  pairKeys: Uint8Array[];
  store: MemoryStore;
  events: string[];
  clock: RelayClock;
  issuerSeq: number;
}

let program: string | undefined;
let cardKey: Uint8Array;
let deviceId: Uint8Array;

async function rig(): Promise<Rig> {
  const seal = P.deriveSealKey(SHA, cardKey);
  const cardId = P.deriveCardId(SHA, cardKey);
  const pairKeys = [1, 2].map((e) => P.derivePairKey(SHA, cardKey, deviceId, e));
  program ??= await bundleForCard("test/phone/stub-card.ts", {
    STUB_CARD_ID: String(cardId),
    STUB_SEAL: JSON.stringify(hex(seal)),
    STUB_PAIRS: JSON.stringify(pairKeys.map(hex).join(",")),
    STUB_ANSWER: JSON.stringify(ANSWER),
  });
  const board = await flashedBoard(program);
  board.advance(100);
  board.setTime(T0);
  const clock: RelayClock = {
    now: () => board.getTime() * 1000,
    setTimeout: (fn, ms) => board.clock.schedule(board.now() + ms, fn),
    clearTimeout: (h) => board.clock.cancel(h as ClockTask),
  };
  const events: string[] = [];
  const store = new MemoryStore({ deviceId: hex(deviceId), cards: {} }, events);
  return { board, cardId, seal, deviceId, pairKeys, store, events, clock, issuerSeq: 0 };
}

function connect(r: Rig, mtu: number): CentralTransport {
  const c = r.board.ble.connect({ mtu });
  r.board.advance(0);
  return new CentralTransport(c, r.events);
}

function grant(r: Rig, epoch: number): Uint8Array {
  return F.sealFrame(issuerAead, r.seal, { type: F.T_GRANT, cardId: r.cardId, seq: ++r.issuerSeq, expiry: T0 + 3600 }, P.encodeGrant(r.deviceId, epoch));
}

function payment(r: Rig, expiry = T0 + 120): Uint8Array {
  const body = encodePayment({ code: "428913", amount: 12345, currency: "EUR", exponent: 2, payee: "Cafe du Parc", details: "Table 4, 2 covers", expiry, txId: randomBytes(16) });
  return F.sealFrame(issuerAead, r.seal, { type: F.T_PAYMENT_DATA, cardId: r.cardId, seq: ++r.issuerSeq, expiry }, body);
}

type StubInfo = { epoch: number; lastSeq: number; lastIssuerSeq: number; shownSeq: number; answered: boolean; log: string[] };
const info = (r: Rig): StubInfo => JSON.parse(r.board.evaluate("stub.info()") as string) as StubInfo;

/** Confirm on the card once it shows payment `seq` (as a press would). */
function confirmWhenShown(r: Rig, seq: number, then: () => void = () => {}): () => void {
  let done = false;
  return () => {
    if (done || info(r).shownSeq !== seq) return;
    done = true;
    then();
    r.board.evaluate("stub.confirm()");
  };
}

async function paired(r: Rig, mtu = 23): Promise<{ relay: PhoneRelay; t: CentralTransport }> {
  const t = connect(r, mtu);
  const relay = new PhoneRelay(t, { store: r.store, clock: r.clock });
  await drive(r, relay.hello());
  await drive(r, relay.pair(grant(r, 1), r.pairKeys[0], 1, r.deviceId));
  return { relay, t };
}

describe("phone relay against a card on the simulator's board", function () {
  this.timeout(120_000);

  before(() => {
    cardKey = randomBytes(20);
    deviceId = randomBytes(16);
  });

  for (const mtu of [23, 53]) {
    const w = mtu - 3;
    it(`pairs and pays at ${w}-byte writes, the payment frame sealed under K_pair with seq 1`, async () => {
      const r = await rig();
      const t = connect(r, mtu);
      const relay = new PhoneRelay(t, { store: r.store, clock: r.clock });
      const h = await drive(r, relay.hello());
      expect(h).to.deep.equal({ linkId: r.cardId, maxWrite: w, epoch: 0 });
      await drive(r, relay.pair(grant(r, 1), r.pairKeys[0], 1, r.deviceId));
      expect(info(r).epoch).to.equal(1);
      expect(r.store.state.cards[linkKey(r.cardId)]).to.deep.equal({ linkId: r.cardId, epoch: 1, pairKey: hex(r.pairKeys[0]), seq: 0 });
      expect((await drive(r, relay.hello())).epoch).to.equal(1);

      const env = payment(r);
      const from = t.writes.length;
      const answer = await drive(r, relay.pay(env), confirmWhenShown(r, 1));
      expect(answer).to.equal(ANSWER);
      expect(info(r)).to.include({ lastSeq: 1, shownSeq: 1, answered: true });
      expect(r.store.state.cards[linkKey(r.cardId)].seq).to.equal(1);

      // What went on the air: the fragments of one frame, at most w bytes each, the full size used,
      // and that frame is the envelope sealed under K_pair with seq 1 (opened by the reference).
      const writes = t.writes.slice(from);
      expect(Math.max(...writes.map((f) => f.length))).to.equal(w);
      expect(writes.map((f) => f[0] & 31)).to.deep.equal(writes.map((_, i) => i));
      expect(writes.at(-1)![0] & F.CTL_LAST).to.equal(F.CTL_LAST);
      const frame = Buffer.concat(writes.map((f) => f.subarray(1)));
      const out = F.newFrame();
      expect(F.openFrame(issuerAead, r.pairKeys[0], frame, F.T_PAYMENT, r.cardId, 0, T0, out)).to.equal(F.OK);
      expect([out.seq, hex(out.body)]).to.deep.equal([1, hex(env)]);
      // Frame ids: HELLO 0, PAIR 1, HELLO 2, PAYMENT 3.
      expect((writes[0][0] >> 5) & 3).to.equal(3);
    });
  }

  it("returns 'declined' when the holder declines, and 'expired' when nobody decides before the expiry", async () => {
    const r = await rig();
    const { relay } = await paired(r);
    let declined = false;
    const d = await drive(r, relay.pay(payment(r)), () => {
      if (!declined && info(r).shownSeq === 1) {
        declined = true;
        r.board.evaluate("stub.decline()");
      }
    });
    expect(d).to.equal("declined");
    const start = r.board.now();
    const e = await drive(r, relay.pay(payment(r, T0 + 45)));
    expect(e).to.equal("expired");
    // Asked again every 10 s until the expiry: duplicates of seq 2, never a new seq.
    expect(info(r).log.filter((l) => l === "duplicate 2").length).to.be.within(3, 5);
    expect(r.board.now() - start).to.be.within(40_000, 60_000);
  });

  it("recovers a lost ACK by resending the same bytes after 3 s, and a lost ANSWER by asking again after 10 s", async () => {
    const r = await rig();
    const { relay, t } = await paired(r);
    r.board.ble.loseNotifications(1); // the payment's ACK
    const from = t.writes.length;
    let confirmedAt = 0;
    const answer = await drive(
      r,
      relay.pay(payment(r)),
      () => {
        // Once the resend has been acknowledged, the holder confirms and the answer is lost.
        if (confirmedAt || !info(r).log.includes("duplicate 1")) return;
        confirmedAt = r.board.now();
        r.board.ble.loseNotifications(2); // both fragments of the 38-byte ANSWER
        r.board.evaluate("stub.confirm()");
      },
    );
    expect(answer).to.equal(ANSWER);
    const writes = t.writes.slice(from).map(hex);
    const n = writes.length / 3;
    // Sent, resent after the lost ACK, then resent once more to ask for the lost answer: the same bytes each time.
    expect(n).to.be.greaterThan(1);
    expect(writes.slice(n, 2 * n)).to.deep.equal(writes.slice(0, n));
    expect(writes.slice(2 * n)).to.deep.equal(writes.slice(0, n));
    expect(info(r).log.filter((l) => /^(payment|duplicate)/.test(l))).to.deep.equal(["payment 1", "duplicate 1", "duplicate 1"]);
    expect(r.board.now() - confirmedAt).to.be.at.least(9_000);
  });

  it("survives a dropped link: a new link, HELLO, the same frame again, and the answer", async () => {
    const r = await rig();
    const t = connect(r, 53);
    const relay = new PhoneRelay(t, { store: r.store, clock: r.clock, reconnect: async () => connect(r, 53) });
    await drive(r, relay.hello());
    await drive(r, relay.pair(grant(r, 1), r.pairKeys[0], 1, r.deviceId));
    let dropped = false;
    const answer = await drive(r, relay.pay(payment(r)), () => {
      const i = info(r);
      if (!dropped && i.shownSeq === 1) {
        dropped = true;
        r.board.ble.dropLink();
      } else if (dropped && !i.answered && i.log.includes("duplicate 1")) r.board.evaluate("stub.confirm()");
    });
    expect(answer).to.equal(ANSWER);
    expect(info(r).log.filter((l) => /^(payment|duplicate)/.test(l))).to.deep.equal(["payment 1", "duplicate 1"]);
    expect(r.board.ble.connected).to.equal(true);

    // Without a way to reconnect, a dropped link is a clear error.
    const r2 = await rig();
    const { relay: lone } = await paired(r2);
    const err = await drive(r2, lone.pay(payment(r2)), () => {
      if (info(r2).shownSeq === 1 && r2.board.ble.connected) r2.board.ble.dropLink();
    }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(RelayError);
    expect((err as RelayError).code).to.equal("LINK_LOST");
  });

  it("resends from the index the card asks for on E_ORDER", async () => {
    const r = await rig();
    const { relay, t } = await paired(r);
    const from = t.writes.length;
    let dropped = -1;
    t.drop = (f, n) => {
      if (dropped < 0 && n >= from && (f[0] & 31) === 2) {
        dropped = n;
        return true;
      }
      return false;
    };
    const answer = await drive(r, relay.pay(payment(r)), confirmWhenShown(r, 1));
    expect(answer).to.equal(ANSWER);
    const idx = t.writes.slice(from).map((f) => f[0] & 31);
    const count = idx.indexOf(2, 3); // where the resend begins: the first pass was 0..count-1
    expect(count).to.be.greaterThan(3);
    // 0..n-1 once (2 lost on the air), then 2..n-1 again: never from 0.
    const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
    expect(idx).to.deep.equal([...range(0, count), ...range(2, count)]);
    expect(info(r).log.filter((l) => l === "E3").length).to.be.greaterThan(0);
    expect(info(r).log.filter((l) => /^(payment|duplicate)/.test(l))).to.deep.equal(["payment 1"]);
  });

  it("persists the seq before the first write: a relay that dies after saving never reuses that seq", async () => {
    const r = await rig();
    const { t } = await paired(r);
    const key = linkKey(r.cardId);
    r.events.length = 0;
    t.failWrites = true;
    const dying = new PhoneRelay(t, { store: r.store, clock: r.clock });
    const err = await drive(r, dying.pay(payment(r))).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(RelayError);
    expect(r.events).to.deep.equal(["save seq 1"]); // saved, and nothing reached the card
    expect(r.store.state.cards[key].seq).to.equal(1);
    expect(info(r).lastSeq).to.equal(0);

    // The phone starts again from its store: the next frame takes seq 2, which the card accepts.
    t.failWrites = false;
    r.events.length = 0;
    const again = new PhoneRelay(t, { store: r.store, clock: r.clock });
    const answer = await drive(r, again.pay(payment(r)), confirmWhenShown(r, 2));
    expect(answer).to.equal(ANSWER);
    expect(r.events[0]).to.equal("save seq 2");
    expect(r.events.slice(1).every((e) => e === "write")).to.equal(true);
    expect(info(r).lastSeq).to.equal(2);
  });

  it("never accepts hostile notifications: garbage, a forged ANSWER, an ANSWER for another seq, stray ACKs and ERRORs", async () => {
    const r = await rig();
    const { relay, t } = await paired(r);
    const forged = (key: Uint8Array, seq: number, body: string) =>
      F.fragmentFrame(F.sealFrame(issuerAead, key, { type: F.T_ANSWER, cardId: r.cardId, seq, expiry: 0 }, Buffer.from(body)), 20, 1);
    let injected = false;
    const answer = await drive(
      r,
      relay.pay(payment(r)),
      confirmWhenShown(r, 1, () => {
        injected = true;
        for (let i = 0; i < 200; i++) t.inject(randomBytes(1 + (i % 50)));
        for (const f of forged(randomBytes(32), 1, "99999999")) t.inject(f); // under a key that is not K_pair
        for (const f of forged(r.pairKeys[1], 1, "99999998")) t.inject(f); // a key of another pairing
        for (const f of forged(r.pairKeys[0], 7, "99999997")) t.inject(f); // K_pair, another seq
        for (const f of forged(r.pairKeys[0], 1, "9999")) t.inject(f); // K_pair, our seq, not an answer's body
        const stray = F.encodeError(r.cardId, 9, 9, F.E_BAD_TAG, 0); // an ERROR about another frame
        for (const f of F.fragmentFrame(stray, 20, 2)) t.inject(f);
        const ack = F.encodeFrame({ type: F.T_ACK, cardId: r.cardId, seq: 5, expiry: 1 }, new Uint8Array(0));
        for (const f of F.fragmentFrame(ack, 20, 3)) t.inject(f);
      }),
    );
    expect(injected).to.equal(true);
    // The last forged one was sealed under K_pair (which only the test, the card and the phone hold) with a bad body: refused too.
    expect(answer).to.equal(ANSWER);
  });

  it("stops on a final refusal with the card's code, naming no key", async () => {
    const r = await rig();
    const { relay } = await paired(r);
    // An old grant (epoch 1 again): the card refuses it as a replay.
    const err = await drive(r, relay.pair(grant(r, 1), r.pairKeys[0], 1, r.deviceId)).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(RelayError);
    expect((err as RelayError).code).to.equal("E_OLD_SEQ");
    expect(String((err as Error).message)).to.not.include(hex(r.pairKeys[0]));
    // A payment for a card this phone is not paired with.
    const other = F.sealFrame(issuerAead, r.seal, { type: F.T_PAYMENT_DATA, cardId: (r.cardId ^ 1) >>> 0, seq: 99, expiry: T0 + 60 }, new Uint8Array(40));
    const e2 = await drive(r, relay.pay(other)).catch((e: unknown) => e);
    expect((e2 as RelayError).code).to.equal("NOT_PAIRED");
  });
});
