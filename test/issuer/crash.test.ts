/**
 * kill -9 during load loses no accepted verification: every code that got
 * ok:true before the issuer process was killed is refused as a replay after
 * it restarts on the same database.
 */
import { expect } from "chai";
import { IssuerClient } from "../../host-tools/issuer/client.ts";
import type { ProvisioningPackage } from "../../host-tools/issuer/card.ts";
import { codeOf, postgresDb, runCli, spawnIssuer, sqliteDb, stopIssuer, type TestDb } from "./support.ts";

const CARDS = 100;
/** Presses per card: all within the look-back in which a refused code is reported as a replay. */
const PRESSES = 10;
/** Kill once this many verifications were accepted: well inside the load of CARDS * PRESSES. */
const KILL_AFTER = 300;
/** Replays must be evaluated, not refused by back-off or lock, to be reported as replays. */
const ARGS = ["--backoff-base", "0", "--lock-after", "100"];

for (const make of [sqliteDb, postgresDb]) {
  const db: TestDb = make();
  describe(`issuer crash (SIGKILL) on ${db.kind}`, function () {
    this.timeout(120_000);
    after(() => db.cleanup());

    it("refuses, after a restart, every code accepted before kill -9", async function () {
      const url = await db.create(this);
      const token = (await runCli(["issuer", "token", "create", "--db", url, "--create", "--role", "admin"])).stdout.trim();
      const first = await spawnIssuer(["--db", url, ...ARGS]);
      const client = new IssuerClient(first.url, token);
      const cards: ProvisioningPackage[] = [];
      for (let i = 0; i < CARDS; i++) cards.push((await client.createCard({ mode: "counter", digits: 6 })).package);

      const accepted: [ProvisioningPackage, number][] = [];
      let killed = false;
      const presser = async (pkg: ProvisioningPackage) => {
        for (let c = 0; c < PRESSES && !killed; c++) {
          const r = await client.verify(pkg.cardId, codeOf(pkg, c)).catch(() => undefined);
          if (!r) return; // the process died with this request in flight: its outcome is unknown
          expect(r, `card ${pkg.cardId} counter ${c}`).to.deep.equal({ ok: true, counter: c });
          accepted.push([pkg, c]);
          if (accepted.length === KILL_AFTER) {
            killed = true;
            first.child.kill("SIGKILL");
          }
        }
      };
      await Promise.all(cards.map(presser));
      if (!killed) await stopIssuer(first);
      expect(killed, "the load ended before the kill").to.equal(true);
      expect(await first.exited).to.equal("SIGKILL");
      expect(accepted.length).to.be.at.least(KILL_AFTER).and.below(CARDS * PRESSES);

      const second = await spawnIssuer(["--db", url, ...ARGS]);
      try {
        const again = new IssuerClient(second.url, token);
        for (const [pkg, c] of accepted) {
          expect(await again.verify(pkg.cardId, codeOf(pkg, c)), `card ${pkg.cardId} counter ${c}`).to.deep.equal({ ok: false, reason: "replay" });
        }
      } finally {
        await stopIssuer(second);
      }
    });
  });
}
