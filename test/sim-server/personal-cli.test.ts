/**
 * `inkcard phone apply` and `inkcard verify-card` (host-tools/phone/command.ts)
 * run as a holder and a verification device run them, against the firmware
 * as flashed on the simulator and its embedded issuer, and against clones:
 * second simulated cards booted from a copy of the first card's flash
 * (sim/server/clone.ts), one on a chip of its own, one on a chip that gives
 * the first card's serial. docs/personalisation.md, "What a copy can and
 * cannot do": a copy taken before the genuine card's rewrite of a slot fails
 * every verification of that slot, and a rewrite through it is refused.
 * Nothing printed may hold a security code or a one-time password.
 */
import { expect } from "chai";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { VmSim } from "../../sim/server/start.ts";
import { startClone, type CloneSim } from "../../sim/server/clone.ts";
import type { Board } from "../../sim/board/board.ts";
import { ROOT } from "../../host-tools/build/paths.ts";
import { CTL_LAST, T_PROFILE_WRITE } from "../../firmware/core/frames.ts";
import { IssuerClient } from "../../host-tools/issuer/client.ts";
import { NOT_MY_CODE, personaliseCard } from "../../host-tools/phone/flow.ts";
import { personalApi } from "../../host-tools/phone/personal-client.ts";
import { connectSim } from "../../host-tools/phone/sim-transport.ts";
import { FileStore } from "../../host-tools/phone/state.ts";
import type { CardTransport } from "../../host-tools/phone/transport.ts";
import { expectNoUncaught, simulator } from "./support.ts";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe("inkcard phone apply and verify-card against the firmware on the simulator, a genuine card and two clones", function () {
  this.timeout(300_000);
  let sim: VmSim;
  let dir: string;
  let tokenFile: string;
  const clones: CloneSim[] = [];

  before(async () => {
    sim = (await simulator({ liveClock: true })) as VmSim;
    dir = mkdtempSync(join(tmpdir(), "inkcard-personal-cli-"));
    tokenFile = join(dir, "token");
    writeFileSync(tokenFile, sim.addresses.token + "\n", { mode: 0o600 });
  });
  after(async () => {
    for (const c of clones) await c.close();
    await sim?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  afterEach(() => {
    if (sim) expectNoUncaught(sim.console.read(0).text);
    for (const c of clones) expectNoUncaught(c.console.read(0).text);
  });

  const texts = (b: Board) => b.textRuns().map((r) => r.text);

  /** Wait until the board's screen shows `text`, then do `then` once. */
  async function whenShown(b: Board, text: string, then: () => void, ms = 60_000): Promise<void> {
    const by = Date.now() + ms;
    while (!texts(b).includes(text)) {
      if (Date.now() > by) throw new Error(`the card never showed ${JSON.stringify(text)}: ${JSON.stringify(texts(b))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    then();
  }

  /**
   * Run `inkcard ...args` against the card on `web` (the simulator's or a
   * clone's); when that card asks for a passkey, the test reads it off
   * `board`'s screen and types it, as the holder does.
   */
  function inkcard(args: string[], web: string, board: Board): Promise<Run> {
    const common = ["--issuer", sim.addresses.issuer, "--token-file", tokenFile, "--sim", web];
    const child = spawn(process.execPath, ["bin/inkcard.js", ...args, ...common], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let typed = false;
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => {
      stderr += d;
      if (typed || !/passkey shown on the card/.test(stderr)) return;
      typed = true;
      void whenShown(board, "PAIRING", () => child.stdin.write(texts(board).filter((t) => /^\d+$/.test(t)).join("") + "\n"));
    });
    return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
  }
  const phone = (args: string[], web = sim.addresses.web, board: Board = sim.board) =>
    inkcard(["phone", ...args, "--card", sim.addresses.card!, "--state", join(dir, "phone.json")], web, board);
  const verify = (slot: number, web = sim.addresses.web, board: Board = sim.board) => inkcard(["verify-card", "--slot", String(slot), "--json"], web, board);

  /** The security codes the phone holds, to look for in what it prints. */
  function heldCodes(): string[] {
    const s = JSON.parse(readFileSync(join(dir, "phone.json"), "utf8")) as { cards: Record<string, { codes?: Record<string, { code: string }[]> }> };
    return Object.values(s.cards).flatMap((c) => Object.values(c.codes ?? {}).flatMap((l) => l.map((x) => x.code)));
  }

  it("pairs, then writes slot 1: the issuer's two-way check, the card's proof, the profile, the new code confirmed", async () => {
    const paired = await phone(["pair"]);
    expect(paired.code, paired.stderr).to.equal(0);
    const run = await phone(["apply", "--slot", "1", "--label", "Gym", "--mode", "counter", "--verbose"]);
    expect(run.stderr + run.stdout).to.not.match(/Error:|at .*\.ts:/);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.match(/^profile \S+ written to slot 1 \(generation 1\)\n$/);
    const codes = heldCodes();
    expect(codes).to.have.length(1);
    for (const c of codes) expect(run.stdout + run.stderr, "the security code is never printed").to.not.include(c);
    const v = await verify(1);
    expect(v.code, v.stderr).to.equal(0);
    expect(JSON.parse(v.stdout)).to.include({ ok: true, genuine: true, slot: 1, generation: 1, chipSerial: sim.board.serial });
  });

  it("a copy taken before the rewrite: verify-card says genuine for the card and not genuine for both clones; a rewrite through the same-serial clone is refused", async () => {
    // Two clones of the flash as it is now: slot 1 at generation 1.
    const ownChip = await startClone(sim);
    clones.push(ownChip);
    const sameChip = await startClone(sim, { serial: sim.board.serial });
    clones.push(sameChip);
    expect(ownChip.board.serial).to.not.equal(sim.board.serial);

    const again = await phone(["apply", "--slot", "1", "--label", "Gym 2", "--mode", "time", "--json"]);
    expect(again.code, again.stderr).to.equal(0);
    expect(JSON.parse(again.stdout)).to.include({ ok: true, slot: 1, generation: 2 });

    const genuine = await verify(1);
    expect(genuine.code, genuine.stderr).to.equal(0);
    expect(JSON.parse(genuine.stdout)).to.include({ genuine: true, generation: 2 });

    const own = await verify(1, ownChip.web, ownChip.board);
    expect(own.code, own.stderr).to.equal(6);
    expect(JSON.parse(own.stdout)).to.include({ ok: true, genuine: false, chipSerial: ownChip.board.serial });

    const same = await verify(1, sameChip.web, sameChip.board);
    expect(same.code, same.stderr).to.equal(6);
    expect(JSON.parse(same.stdout)).to.include({ ok: true, genuine: false, generation: 1, chipSerial: sim.board.serial });

    // The phone holds generation 2's code: the clone's proof of generation 1 stops it before the issuer is asked to release anything.
    const rewrite = await phone(["apply", "--slot", "1", "--label", "Gym 3", "--mode", "counter"], sameChip.web, sameChip.board);
    expect(rewrite.code, rewrite.stderr).to.equal(6);
    expect(rewrite.stderr).to.include(NOT_MY_CODE);

    // And the genuine card is still genuine, at the same generation.
    const still = await verify(1);
    expect(JSON.parse(still.stdout)).to.include({ genuine: true, generation: 2 });
    for (const c of heldCodes()) for (const r of [again, genuine, own, same, rewrite, still]) expect(r.stdout + r.stderr).to.not.include(c);
  });

  it("a link lost after the card took a rewrite, before its ACK: the run fails, the same command again converges", async () => {
    const before = JSON.parse((await verify(1)).stdout) as { generation: number };
    // The phone in this process, on the CLI's state file: the link drops as the PROFILE_WRITE's last fragment goes
    // out, its ACK never reaches the phone, and the card is out of range from then on.
    let links = 0;
    const connect = async (): Promise<CardTransport> => {
      if (links++ > 0) throw new Error("the card is out of range");
      const inner = await connectSim(sim.addresses.web, { mtu: 53, passkey: async () => texts(sim.board).filter((t) => /^\d+$/.test(t)).join("") });
      let type = 0;
      let deaf = false;
      let listener: (f: Uint8Array) => void = () => {};
      inner.onNotify((f) => {
        if (!deaf) listener(f);
      });
      return {
        maxWrite: inner.maxWrite,
        async write(fragment) {
          if ((fragment[0] & 0x1f) === 0) type = fragment[2];
          const last = (fragment[0] & CTL_LAST) !== 0 && type === T_PROFILE_WRITE;
          if (last) deaf = true;
          await inner.write(fragment);
          if (last) await inner.close();
        },
        onNotify: (l) => (listener = l),
        onDisconnect: (l) => inner.onDisconnect(l),
        close: () => inner.close(),
      };
    };
    const store = new FileStore(join(dir, "phone.json"));
    const issuer = personalApi(new IssuerClient(sim.addresses.issuer, sim.addresses.token));
    const cut = await personaliseCard({ issuer, store, connect }, sim.addresses.card!, { slot: 1, application: { label: "Gym", mode: "counter" } }).catch((e: unknown) => e as Error);
    expect(cut).to.be.instanceOf(Error);
    expect((cut as Error).message).to.match(/out of range/);
    const held = store.load().cards;
    const kept = Object.values(held)[0].codes!["1"].map((c) => c.generation);
    expect(kept, "the pending code is kept before the write").to.deep.equal([before.generation, before.generation + 1]);
    // The card took it: it proves the pending generation.
    expect(JSON.parse((await verify(1)).stdout)).to.include({ generation: before.generation + 1 });

    const again = await phone(["apply", "--slot", "1", "--label", "Gym", "--mode", "counter", "--json"]);
    expect(again.code, again.stderr).to.equal(0);
    expect(JSON.parse(again.stdout)).to.include({ ok: true, slot: 1, generation: before.generation + 2 });
    expect(Object.values(store.load().cards)[0].codes!["1"].map((c) => c.generation)).to.deep.equal([before.generation + 2]);
    expect(JSON.parse((await verify(1)).stdout)).to.include({ genuine: true, generation: before.generation + 2 });
  });

  it("refuses bad input with a sentence and exit 1, before anything is sent", async () => {
    const r = await phone(["apply", "--slot", "1", "--label", "A label far too long", "--mode", "counter"]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/^phone: the label must be 1\.\.12 printable ASCII characters/m);
    const m = await phone(["apply", "--slot", "1", "--label", "Gym", "--mode", "hotp"]);
    expect(m.code).to.equal(1);
    expect(m.stderr).to.match(/--mode must be counter or time/);
    const s = await verify(0);
    expect(s.code).to.equal(1);
    expect(s.stderr).to.match(/--slot.*expected an integer 1\.\.3/);
  });
});
