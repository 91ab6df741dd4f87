/**
 * Backup and restore (issue 10, item 5; docs/issuer-api.md "Backup and
 * restore"): `inkcard issuer backup` copies a serving SQLite issuer
 * consistently, and a restored backup never accepts a code the live issuer
 * accepted, before the backup or after it. Without the restore rule the
 * restored issuer would accept every code the live one accepted after the
 * backup (the first assertions after the restore fail).
 */
import { expect } from "chai";
import { copyFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_POLICY } from "../../host-tools/issuer/policy.ts";
import { codeOf, FakeClock, postgresDb, runCli, sqliteDb, startTestIssuer, tempDir, type TestDb } from "./support.ts";

const STEP = 60;

for (const make of [sqliteDb, postgresDb]) {
  const db: TestDb = make();
  describe(`issuer backup and restore on ${db.kind}`, function () {
    this.timeout(60_000);
    let tmp: ReturnType<typeof tempDir>;
    beforeEach(() => (tmp = tempDir()));
    afterEach(async function () {
      await (this.currentTest?.ctx?.closing as { close(): Promise<void> } | undefined)?.close().catch(() => {});
      tmp.cleanup();
    });
    after(() => db.cleanup());

    it("a restored backup refuses every code the live issuer accepted, and the holder gets back in", async function () {
      const clock = new FakeClock();
      const live = await db.create(this);
      const iss = await startTestIssuer({ db: live, now: clock.now });
      this.test!.ctx!.closing = iss; // closed by afterEach if an assertion fails first
      const { card: cc, package: cp } = await iss.client.createCard({ mode: "counter", digits: 6 });
      const { card: tc, package: tp } = await iss.client.createCard({ mode: "time", digits: 6, step: STEP });
      const stepNow = () => Math.floor(clock.ms / 1000 / STEP);
      expect((await iss.client.verify(cc.id, codeOf(cp, 0))).ok).to.equal(true);
      expect((await iss.client.verify(tc.id, codeOf(tp, stepNow()))).ok).to.equal(true);
      const device = "a0".repeat(16);
      expect((await iss.client.createPairing(cc.id, device)).epoch).to.equal(1);

      // The backup, taken while the issuer serves.
      let restored: string;
      if (db.kind === "sqlite") {
        const out = join(tmp.dir, "backup.sqlite");
        const b = await runCli(["issuer", "backup", "--db", live, "--out", out]);
        expect(b.code, b.stderr).to.equal(0);
        expect(statSync(out).mode & 0o777).to.equal(0o600);
        expect((await runCli(["issuer", "backup", "--db", live, "--out", out])).stderr).to.match(/exists: choose a new --out file/);
        restored = join(tmp.dir, "restored.sqlite");
        copyFileSync(out, restored); // a backup is a closed file: copying it is fine (never the live one)
      } else {
        const b = await runCli(["issuer", "backup", "--db", live, "--out", join(tmp.dir, "x")]);
        expect(b.code).to.equal(2);
        expect(b.stderr).to.match(/pg_dump.*inkcard issuer restored --db URL/);
        restored = "";
      }

      // After the backup the live issuer accepts more codes, then is lost.
      clock.advance(STEP);
      const after = { counter: [1, 2, 3].map((c) => codeOf(cp, c)), time: codeOf(tp, stepNow()) };
      for (const code of after.counter) expect((await iss.client.verify(cc.id, code)).ok).to.equal(true);
      expect((await iss.client.verify(tc.id, after.time)).ok).to.equal(true);
      const liveEpoch = (await iss.client.createPairing(cc.id, device)).epoch; // a phone paired after the backup
      await iss.close();
      this.test!.ctx!.closing = undefined;

      if (db.kind === "postgres") {
        // pg_dump/pg_restore stand-in: the live database is the restored one, marked as such.
        restored = live;
        const m = await runCli(["issuer", "restored", "--db", restored]);
        expect(m.code, m.stderr).to.equal(0);
      }
      clock.advance(1);
      const back = await startTestIssuer({ db: restored, now: clock.now });
      try {
        // Nothing the live issuer accepted is accepted again: not before the backup, not after it.
        expect(await back.client.verify(cc.id, codeOf(cp, 0)), "counter 0").to.deep.include({ ok: false });
        for (const code of after.counter) expect(await back.client.verify(cc.id, code), "after the backup").to.deep.include({ ok: false });
        expect(await back.client.verify(tc.id, after.time)).to.deep.include({ ok: false });
        expect((await back.client.getCard(cc.id)).status).to.equal("locked");
        // A card took the live issuer's last grant: the restored issuer's next one is above it (else the card refuses it).
        expect((await back.client.createPairing(tc.id, device)).epoch).to.be.above(liveEpoch);
        const trail = await back.client.audit({ card: cc.id, limit: 10 });
        expect(trail.some((e) => e.event === "restore" && /locked until a resync/.test(e.detail ?? ""))).to.equal(true);

        // The holder: a counter card resyncs with codes pressed now (4, 5, 6) and is back.
        expect(await back.client.resync(cc.id, [4, 5, 6].map((c) => codeOf(cp, c)))).to.deep.equal({ ok: true, counter: 6 });
        expect(await back.client.verify(cc.id, codeOf(cp, 7))).to.deep.equal({ ok: true, counter: 7 });
        // A time card is accepted again once its code is past the steps the live issuer could have accepted.
        const wait = DEFAULT_POLICY.maxDriftSteps + DEFAULT_POLICY.timeSkewSteps + 1;
        clock.advance(STEP * (wait - 1));
        expect(await back.client.verify(tc.id, codeOf(tp, stepNow())), "still within the live issuer's reach").to.deep.include({ ok: false });
        clock.advance(STEP);
        expect(await back.client.verify(tc.id, codeOf(tp, stepNow()))).to.deep.include({ ok: true, step: stepNow() });
      } finally {
        await back.close();
      }
      // Once applied, the rule is not applied again at the next start.
      const third = await startTestIssuer({ db: restored, now: clock.now });
      try {
        expect((await third.client.getCard(cc.id)).status).to.equal("active");
      } finally {
        await third.close();
      }
    });
  });
}

describe("issuer backup: the online copy holds what the WAL holds", function () {
  this.timeout(60_000);
  it("a code accepted before the backup (still only in the WAL) is refused by the restored copy", async function () {
    const tmp = tempDir();
    try {
      const live = join(tmp.dir, "live.sqlite");
      const iss = await startTestIssuer({ db: live });
      const { card, package: pkg } = await iss.client.createCard({ mode: "counter", digits: 6 });
      expect((await iss.client.verify(card.id, codeOf(pkg, 0))).ok).to.equal(true);
      const out = join(tmp.dir, "b.sqlite");
      expect((await runCli(["issuer", "backup", "--db", live, "--out", out])).code).to.equal(0);
      await iss.close();
      const back = await startTestIssuer({ db: out });
      try {
        // The restore rule locks the card; its resync must start after counter 0, which the backup knows was used.
        expect(await back.client.resync(card.id, [0, 1, 2].map((c) => codeOf(pkg, c)))).to.deep.equal({ ok: false, reason: "mismatch" });
      } finally {
        await back.close();
      }
    } finally {
      tmp.cleanup();
    }
  });
});
