/**
 * Interruption at every stage of provisioning one card: the cable pulled as
 * each line goes out or just after it ran, the card's power cut after each
 * line and at each flash operation, the issuer unreachable or its answer
 * lost at each call. After each, nothing is half-written: the card holds no
 * profile, or one the issuer knows for its chip (pending or issued), and the
 * issuer calls nothing issued that the card does not hold. Then a rerun
 * completes: the console is locked, a press verifies, and every other card
 * made for the chip on the way is blocked.
 */
import { expect } from "chai";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bytesToHex } from "../../firmware/core/bytes.ts";
import { decodeProfile, profileDigest, stagingName } from "../../firmware/core/profile.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { CardConsole } from "../../host-tools/serial/card-console.ts";
import { ToolError } from "../../host-tools/lib/errors.ts";
import { IssuanceClient } from "../../host-tools/provision/issuer.ts";
import { Journal } from "../../host-tools/provision/journal.ts";
import { Link } from "../../host-tools/serial/link.ts";
import { provisionCard, type Provisioned } from "../../host-tools/provision/provision.ts";
import type { Board } from "../../sim/board/board.ts";
import { bench, pressForCode, type Bench } from "./rig.ts";
import { VERSION as FIRMWARE } from "../../host-tools/lib/version.ts";

const sha256 = nodeHash("SHA256");

type Fault =
  | { kind: "link-before" | "link-after" | "power-after"; line: number }
  | { kind: "power-flash"; op: number; bytes?: number }
  | { kind: "issuer-down" | "issuer-lost"; call: number };

/** The issuer behind a proxy that can refuse a call, or make it and lose the answer. */
async function issuerProxy(target: string) {
  const fault = { down: 0, lost: 0, calls: 0 };
  const server = http.createServer(async (req, res) => {
    const n = ++fault.calls;
    if (n === fault.down) {
      req.socket.destroy();
      return;
    }
    const body = await new Promise<Buffer>((r) => {
      const parts: Buffer[] = [];
      req.on("data", (d) => parts.push(d));
      req.on("end", () => r(Buffer.concat(parts)));
    });
    const up = await fetch(new URL(req.url!, target), {
      method: req.method,
      headers: { authorization: req.headers.authorization ?? "", ...(body.length ? { "content-type": "application/json" } : {}) },
      body: body.length ? body : undefined,
    });
    const text = await up.text();
    if (n === fault.lost) {
      req.socket.destroy(); // done at the issuer, the answer lost
      return;
    }
    res.writeHead(up.status, { "content-type": "application/json" }).end(text);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, fault, close: () => new Promise((r) => server.close(r)) };
}

describe("provisioning cut off at every stage ends clean, and a rerun completes", function () {
  this.timeout(600_000);
  let b: Bench;
  let dir: string;
  let proxy: Awaited<ReturnType<typeof issuerProxy>>;
  before(async () => {
    b = await bench();
    dir = mkdtempSync(join(tmpdir(), "inkcard-interrupt-"));
    proxy = await issuerProxy(b.issuer.url);
  });
  after(async () => {
    await proxy.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  });

  let runs = 0;
  async function provision(journal: Journal): Promise<Provisioned> {
    // Short deadlines keep the many lost answers quick; the simulated card needs no more (a press that waits
    // for the boot refresh after a power cut answers within the boot deadline, as on a card).
    const link = await Link.open({ port: b.pty(), baud: 9600, answerMs: 400, bootMs: 4000 });
    try {
      return await provisionCard({
        con: new CardConsole(link),
        issuer: new IssuanceClient(proxy.url, b.token),
        firmware: FIRMWARE,
        profileFile: b.config.storage.profile,
        request: { mode: "counter", digits: 4 },
        force: false,
        journal,
        log: () => {},
      });
    } finally {
      await link.close();
    }
  }

  /** Arm the fault on the board in the slot; returns what heals it. */
  function arm(board: Board, f: Fault): () => Promise<void> {
    let lines = 0;
    let cut: Promise<void> | undefined;
    if (f.kind === "power-flash") board.cutPower({ atFlashOp: f.op, bytes: f.bytes });
    if (f.kind === "issuer-down") proxy.fault.down = proxy.fault.calls + f.call;
    if (f.kind === "issuer-lost") proxy.fault.lost = proxy.fault.calls + f.call;
    if (f.kind === "link-before" || f.kind === "link-after" || f.kind === "power-after") {
      b.slot.tap = (bytes) => {
        if (cut || b.slot.mangle) return "";
        for (let i = 0; i < bytes.length; i++) {
          if (bytes[i] !== "\n" || ++lines < f.line) continue;
          if (f.kind === "link-before") {
            cut = b.cutLink();
            return bytes.slice(0, i); // the line never ends: it never runs
          }
          b.slot.mangle = () => ""; // the line runs; its answer is lost
          board.console.write(bytes.slice(0, i + 1));
          if (f.kind === "link-after") cut = b.cutLink();
          else board.cutPower();
          return "";
        }
        return bytes;
      };
    }
    return async () => {
      b.slot.tap = undefined;
      b.slot.mangle = undefined;
      proxy.fault.down = proxy.fault.lost = 0;
      await cut;
      if (!board.powered) board.restorePower();
    };
  }

  /** What the card holds, as it would boot: the live profile's digest, or that of a complete staged one. */
  function held(board: Board): { live: string; staged: string } {
    const hex = (d: Uint8Array | null) => (d ? bytesToHex(d) : "");
    const staged = board.storage.readBytes(stagingName(b.config.storage.profile));
    const s = decodeProfile(staged, sha256);
    return { live: hex(profileDigest(board.storage.readBytes(b.config.storage.profile), sha256)), staged: s && !s.activated ? hex(profileDigest(staged, sha256)) : "" };
  }

  async function scenario(f: Fault): Promise<void> {
    const where = JSON.stringify(f);
    const board = b.board();
    b.slot.insert(board);
    const journal = new Journal(join(dir, `run-${++runs}.journal`));
    const issuance = new IssuanceClient(b.issuer.url, b.token);
    const madeBefore = new Set((await b.client.audit({ limit: 1000 })).filter((e) => e.event === "issue").map((e) => e.cardId));

    const heal = arm(board, f);
    let failure: unknown;
    try {
      await provision(journal);
    } catch (e) {
      failure = e;
    }
    await heal();
    expect(failure, `${where}: the run failed with a clear error`).to.be.instanceOf(ToolError);

    // Clean: the card holds nothing the issuer does not know for this chip, and the issuer claims nothing the card lacks.
    const status = await issuance.status(board.serial);
    const known = ["", status.pending?.digest, status.issued?.digest];
    const card = held(board);
    expect(known, `${where}: the card's live profile`).to.include(card.live);
    expect(known, `${where}: the card's staged profile`).to.include(card.staged);
    if (status.issued) expect([card.live, card.staged], `${where}: issued but not on the card`).to.include(status.issued.digest);

    const done = await provision(journal);
    expect(board.console.isLocked, `${where}: locked after the rerun`).to.equal(true);
    const after = await issuance.status(board.serial);
    expect(after.pending, where).to.equal(undefined);
    expect(after.issued?.cardId, where).to.equal(done.cardId);
    const code = pressForCode(board);
    expect(await b.client.verify(done.cardId, code!), `${where}: a press verifies`).to.include({ ok: true });
    const made = (await b.client.audit({ limit: 1000 })).filter((e) => e.event === "issue" && !madeBefore.has(e.cardId)).map((e) => e.cardId);
    for (const id of made) {
      if (id !== done.cardId) expect((await b.client.getCard(id)).status, `${where}: abandoned card ${id}`).to.equal("blocked");
    }
  }

  /** A clean run: how many lines, flash operations and issuer calls it takes. */
  async function measure(): Promise<{ lines: number; flashOps: number; calls: number }> {
    const board = b.board();
    b.slot.insert(board);
    let lines = 0;
    b.slot.tap = (bytes) => {
      lines += bytes.split("\n").length - 1;
      return bytes;
    };
    board.flash.trace = [];
    const calls = proxy.fault.calls;
    try {
      await provision(new Journal(join(dir, "measure.journal")));
    } finally {
      b.slot.tap = undefined;
    }
    const flashOps = board.flash.trace.length;
    board.flash.trace = undefined;
    return { lines, flashOps, calls: proxy.fault.calls - calls };
  }

  let size: { lines: number; flashOps: number; calls: number };
  before(async () => {
    size = await measure();
  });

  it("the cable pulled as each line goes out, or just after it ran", async () => {
    expect(size.lines).to.be.within(6, 20);
    for (let line = 1; line <= size.lines; line++) {
      await scenario({ kind: "link-before", line });
      await scenario({ kind: "link-after", line });
    }
  });

  it("the card's power cut after each line, and at each flash operation (whole or torn)", async () => {
    expect(size.flashOps).to.be.greaterThan(5);
    for (let line = 1; line <= size.lines; line++) await scenario({ kind: "power-after", line });
    for (let op = 1; op <= size.flashOps; op++) {
      await scenario({ kind: "power-flash", op });
      await scenario({ kind: "power-flash", op, bytes: 2 });
    }
  });

  it("the issuer unreachable at each call, or its answer lost", async () => {
    expect(size.calls).to.equal(3); // status, begin, confirm
    for (let call = 1; call <= size.calls; call++) {
      await scenario({ kind: "issuer-down", call });
      await scenario({ kind: "issuer-lost", call });
    }
  });
});
