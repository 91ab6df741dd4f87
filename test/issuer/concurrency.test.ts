/**
 * Counter advance is atomic: 64 concurrent verifies of one fresh code accept
 * exactly one, whether they reach one issuer process or several processes
 * sharing one database (SQLite file, PostgreSQL).
 */
import { expect } from "chai";
import { IssuerClient } from "../../host-tools/issuer/client.ts";
import type { VerifyResult } from "../../host-tools/issuer/verify.ts";
import { codeOf, postgresDb, runCli, spawnIssuer, sqliteDb, stopIssuer, type IssuerProcess, type TestDb } from "./support.ts";

const CONCURRENT = 64;
const ROUNDS = 5;

async function raceOneCode(db: string, processes: number): Promise<void> {
  const token = await runCli(["issuer", "token", "create", "--db", db, "--create", "--role", "admin"]);
  expect(token.code, token.stderr).to.equal(0);
  const procs: IssuerProcess[] = await Promise.all(Array.from({ length: processes }, () => spawnIssuer(["--db", db])));
  try {
    const clients = procs.map((p) => new IssuerClient(p.url, token.stdout.trim()));
    for (let round = 0; round < ROUNDS; round++) {
      const { card, package: pkg } = await clients[round % processes].createCard({ mode: "counter", digits: 6 });
      const code = codeOf(pkg, 0);
      const results: VerifyResult[] = await Promise.all(
        Array.from({ length: CONCURRENT }, (_, i) => clients[i % processes].verify(card.id, code)),
      );
      const accepted = results.filter((r) => r.ok);
      expect(accepted, `round ${round}`).to.deep.equal([{ ok: true, counter: 0 }]);
      for (const r of results.filter((x) => !x.ok)) expect(r.reason).to.be.oneOf(["replay", "backoff", "locked"]);
      const audit = await clients[0].audit({ card: card.id, limit: 1000 });
      expect(audit.filter((e) => e.event === "verify" && e.outcome === "ok")).to.have.length(1);
      // The refusals (the accepted code again) change nothing: audited within each process's per-caller
      // budget (60 at once, then one a second; retry.test.ts), which the rounds before this one used up.
      expect(audit.filter((e) => e.event === "verify").length).to.be.within(1, CONCURRENT);
      expect((await clients[0].getCard(card.id)).counter).to.equal(1);
    }
  } finally {
    await Promise.all(procs.map(stopIssuer));
  }
}

for (const make of [sqliteDb, postgresDb]) {
  const db: TestDb = make();
  describe(`issuer concurrency on ${db.kind}`, function () {
    this.timeout(120_000);
    after(() => db.cleanup());

    if (db.kind === "sqlite") {
      it(`accepts one of ${CONCURRENT} concurrent verifies of a fresh code, one process`, async function () {
        await raceOneCode(await db.create(this), 1);
      });
    }
    it(`accepts one of ${CONCURRENT} concurrent verifies of a fresh code, spread over 4 processes on one database`, async function () {
      await raceOneCode(await db.create(this), 4);
    });
  });
}
