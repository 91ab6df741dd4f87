/**
 * Personalisation interrupted at every step (issue 12): the firmware as
 * flashed on the simulator, its embedded issuer over HTTP, and the phone's
 * flow (host-tools/phone/flow.ts) in this process on a state of its own.
 * Each case cuts one step: the phone dies right after an issuer call
 * answered (or before it reaches the issuer), the Bluetooth link drops at a
 * given request (before the card has it, or after the card took it and
 * before its answer came back), or the card loses power at its n-th flash
 * operation while it writes the profile. Then the holder simply runs the
 * same errand again, and the three parties must agree:
 *
 * - the card proves, to a verification device, the generation the phone
 *   holds, and the issuer says genuine;
 * - the phone holds exactly one code for the slot, that generation's;
 * - every code the phone held before (an older generation) is refused by the
 *   issuer: a copy of the card taken before this write would be caught.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { bytesToHex, hexToBytes } from "../../firmware/core/bytes.ts";
import { CTL_LAST, T_PROFILE_WRITE, T_READ_SERIAL, T_SECURITY_CHALLENGE } from "../../firmware/core/frames.ts";
import { PURPOSE_VERIFY, securityProof } from "../../firmware/core/personal.ts";
import { IssuerClient } from "../../host-tools/issuer/client.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { pairCard, personaliseCard, verifyCard } from "../../host-tools/phone/flow.ts";
import { personalApi, type PersonalApi } from "../../host-tools/phone/personal-client.ts";
import type { PhoneState, PhoneStore } from "../../host-tools/phone/relay.ts";
import { connectSim } from "../../host-tools/phone/sim-transport.ts";
import type { CardTransport } from "../../host-tools/phone/transport.ts";
import type { VmSim } from "../../sim/server/start.ts";
import { expectNoUncaught, simulator } from "./support.ts";

const SHA = nodeHash("SHA256");
const SLOT = 1;

class MemoryStore implements PhoneStore {
  state: PhoneState = { deviceId: bytesToHex(randomBytes(16)), cards: {} };
  load(): PhoneState {
    return structuredClone(this.state);
  }
  save(s: PhoneState): void {
    this.state = structuredClone(s);
  }
  codes(): { generation: number; code: string }[] {
    return Object.values(this.state.cards).flatMap((c) => c.codes?.[String(SLOT)] ?? []);
  }
}

/** Where a run is cut. */
type Cut =
  | { issuer: keyof PersonalApi; when: "before" | "after" }
  | { link: number; nth: number; when: "before" | "after" }
  | { powerAtFlashOp: number };

const CASES: Array<[string, Cut]> = [
  ["the phone dies as it applies (the issuer never hears)", { issuer: "createPersonalisation", when: "before" }],
  ["the phone dies once the issuer opened the session", { issuer: "createPersonalisation", when: "after" }],
  ["the phone dies once the issuer took its response to the one-time password", { issuer: "personalisationOtp", when: "after" }],
  ["the link drops as the phone reads the chip serial", { link: T_READ_SERIAL, nth: 1, when: "before" }],
  ["the link drops before the card proves its current code", { link: T_SECURITY_CHALLENGE, nth: 1, when: "before" }],
  ["the issuer is unreachable when the phone sends the card's proof", { issuer: "personalisationAuth", when: "before" }],
  ["the phone dies once the issuer released the profile (pending code)", { issuer: "personalisationAuth", when: "after" }],
  ["the link drops before the card has the profile", { link: T_PROFILE_WRITE, nth: 1, when: "before" }],
  ["the link drops after the card took the profile, before its ACK", { link: T_PROFILE_WRITE, nth: 1, when: "after" }],
  ["the card loses power at its first flash operation of the write", { powerAtFlashOp: 1 }],
  ["the card loses power at its third flash operation of the write", { powerAtFlashOp: 3 }],
  ["the card loses power at its sixth flash operation of the write", { powerAtFlashOp: 6 }],
  ["the link drops before the card proves its new code", { link: T_SECURITY_CHALLENGE, nth: 2, when: "before" }],
  ["the issuer is unreachable for the confirmation", { issuer: "confirmPersonalisation", when: "before" }],
  ["the phone dies once the issuer confirmed (and rolled)", { issuer: "confirmPersonalisation", when: "after" }],
];

describe("personalisation interrupted at each step ends consistent on card, phone and issuer (the simulator)", function () {
  this.timeout(600_000);
  let sim: VmSim;
  let client: IssuerClient;
  const store = new MemoryStore();

  const texts = () => sim.board.textRuns().map((r) => r.text);
  async function passkey(): Promise<string> {
    for (let i = 0; i < 600 && !texts().includes("PAIRING"); i++) await new Promise((r) => setTimeout(r, 50));
    return texts().filter((t) => /^\d+$/.test(t)).join("");
  }
  const plainConnect = () => connectSim(sim.addresses.web, { mtu: 53, passkey });

  before(async () => {
    sim = (await simulator({ liveClock: true })) as VmSim;
    client = new IssuerClient(sim.addresses.issuer, sim.addresses.token);
    await pairCard({ issuer: client, store, connect: plainConnect }, sim.addresses.card!);
    // A first write: every case below is a rewrite (the first write's own steps are those of a rewrite with generation 0).
    await personaliseCard({ issuer: personalApi(client), store, connect: plainConnect }, sim.addresses.card!, { slot: SLOT, application: { label: "Gym", mode: "counter" } });
  });
  after(async () => {
    await sim?.close();
  });
  afterEach(() => {
    if (sim) expectNoUncaught(sim.console.read(0).text);
  });

  /** The issuer's API, dying around one call. */
  function cutIssuer(cut: Cut): PersonalApi {
    const real = personalApi(client);
    if (!("issuer" in cut)) return real;
    const api = { ...real } as Record<keyof PersonalApi, (...a: unknown[]) => Promise<unknown>>;
    const call = real[cut.issuer] as (...a: unknown[]) => Promise<unknown>;
    api[cut.issuer] = async (...a: unknown[]) => {
      if (cut.when === "before") throw new Error("cut: the issuer is unreachable");
      await call(...a);
      throw new Error("cut: the phone died");
    };
    return api as unknown as PersonalApi;
  }

  /** The link, dropping around the nth frame of a type; the card is out of range after. Or a power cut at a flash op as the PROFILE_WRITE lands. */
  function cutLink(cut: Cut): () => Promise<CardTransport> {
    if (!("link" in cut) && !("powerAtFlashOp" in cut)) return plainConnect;
    let dead = false;
    let seen = 0;
    return async () => {
      if (dead) throw new Error("cut: the card is out of range");
      const inner = await plainConnect();
      let type = 0;
      let deaf = false;
      let listener: (f: Uint8Array) => void = () => {};
      inner.onNotify((f) => {
        if (!deaf) listener(f);
      });
      return {
        maxWrite: inner.maxWrite,
        async write(fragment) {
          if (dead) throw new Error("cut: the card is out of range");
          if ((fragment[0] & 0x1f) === 0) {
            type = fragment[2];
            if ("link" in cut && type === cut.link) seen++;
            if ("link" in cut && type === cut.link && seen === cut.nth && cut.when === "before") {
              dead = true;
              await inner.close();
              throw new Error("cut: the link dropped");
            }
            if ("powerAtFlashOp" in cut && type === T_PROFILE_WRITE) sim.board.cutPower({ atFlashOp: cut.powerAtFlashOp });
          }
          const last = (fragment[0] & CTL_LAST) !== 0;
          const after = last && "link" in cut && type === cut.link && seen === cut.nth && cut.when === "after";
          if (after) deaf = true;
          await inner.write(fragment);
          if (after || ("powerAtFlashOp" in cut && last && type === T_PROFILE_WRITE)) {
            dead = true;
            await inner.close();
          }
        },
        onNotify: (l) => (listener = l),
        onDisconnect: (l) => inner.onDisconnect(l),
        close: () => inner.close(),
      };
    };
  }

  /** A verification device's proof made with a code the phone held, for a fresh challenge: the issuer must refuse an old one. */
  async function verifyWith(code: { generation: number; code: string }): Promise<boolean> {
    const v = await client.createVerification(sim.board.serial, SLOT);
    const proof = securityProof(SHA, hexToBytes(code.code), PURPOSE_VERIFY, SLOT, code.generation, sim.board.serial, hexToBytes(v.nonce));
    return (await client.verifyCard(v.id, { generation: code.generation, proof: bytesToHex(proof) })).genuine;
  }

  /** What the card held after each power cut: 0 the old slot, 1 the new one. */
  const landed = new Set<number>();
  after(() => {
    expect([...landed].sort(), "the power cuts fell before and after the write's commit").to.deep.equal([0, 1]);
  });

  for (const [name, cut] of CASES) {
    it(name, async () => {
      const before = store.codes();
      expect(before, "the phone holds the slot's code").to.have.length(1);
      const run = (connect: () => Promise<CardTransport>, issuer: PersonalApi) =>
        personaliseCard({ issuer, store, connect }, sim.addresses.card!, { slot: SLOT, application: { label: "Gym", mode: "counter" } });

      const failed = await run(cutLink(cut), cutIssuer(cut)).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      if ("powerAtFlashOp" in cut) {
        // The card died mid-write; power comes back, and the card holds the old slot or the new one, whole.
        expect(sim.board.powered, "the cut reached the card").to.equal(false);
        sim.board.restorePower();
        await new Promise((r) => setTimeout(r, 500));
        const v = await verifyCard({ issuer: personalApi(client), connect: plainConnect }, SLOT);
        expect(v.generation - before[0].generation).to.be.oneOf([0, 1]);
        landed.add(v.generation - before[0].generation);
      }
      expect(failed, "the cut run fails").to.be.instanceOf(Error);
      const heldBetween = store.codes();

      // The holder runs the errand again, and it converges.
      const again = await run(plainConnect, personalApi(client));
      const after = store.codes();
      expect(after.map((c) => c.generation), "the phone holds one code, the card's").to.deep.equal([again.generation]);
      const v = await verifyCard({ issuer: personalApi(client), connect: plainConnect }, SLOT);
      expect([v.genuine, v.generation], "the card proves the phone's generation and the issuer takes it").to.deep.equal([true, again.generation]);
      for (const old of [...before, ...heldBetween].filter((c) => c.generation !== again.generation)) {
        expect(await verifyWith(old), `generation ${old.generation} (held before) is refused`).to.equal(false);
      }
      expect(await verifyWith(after[0]), "the current code is taken").to.equal(true);
    });
  }
});
