/**
 * Token roles (issue 10, item 3): every endpoint, every role, on each store.
 * A valid token without the role gets 403 before anything is read or
 * changed; with it, the endpoint's own answer. The unblock-guessing attack
 * of the issue (verify, unblock, verify...) needs an admin token.
 */
import { expect } from "chai";
import { IssuerClient } from "../../host-tools/issuer/client.ts";
import type { Begun } from "../../host-tools/issuance/protocol.ts";
import type { Role } from "../../host-tools/issuer/store/types.ts";
import { codeOf, postgresDb, raw, sqliteDb, startTestIssuer, wrongCode, type TestDb, type TestIssuer } from "./support.ts";

const ROLES: Role[] = ["verify", "issue", "admin"];
const NONE = "00000000-0000-4000-8000-000000000000";

for (const make of [sqliteDb, postgresDb]) {
  const db: TestDb = make();
  describe(`issuer token roles on ${db.kind}`, function () {
    this.timeout(60_000);
    let iss: TestIssuer & { dbUrl: string };
    const tokens = {} as Record<Role, string>;

    before(async function (this: Mocha.Context) {
      const url = await db.create(this);
      iss = Object.assign(await startTestIssuer({ db: url, policy: { backoffBaseSeconds: 0 } }), { dbUrl: url });
      for (const r of ROLES) tokens[r] = await iss.createToken(`${r} test`, r);
    });
    after(async () => {
      await iss?.close();
      await db.cleanup();
    });

    it("admits each role to its endpoints only: 403 otherwise, and a 403 changes nothing", async () => {
      const { card, package: pkg } = await iss.client.createCard({ mode: "counter" });
      const id = card.id;
      // [method, path, body, roles admitted]
      const routes: [string, string, string | undefined, Role[]][] = [
        ["POST", "/v1/cards", '{"mode":"counter"}', ["issue", "admin"]],
        ["GET", `/v1/cards/${id}`, undefined, ["verify", "issue", "admin"]],
        ["GET", `/v1/cards/${id}/package`, undefined, ["issue", "admin"]],
        ["POST", `/v1/cards/${id}/verify`, `{"code":"${wrongCode(pkg)}"}`, ["verify", "admin"]],
        ["POST", `/v1/cards/${id}/resync`, `{"codes":["${wrongCode(pkg)}","${wrongCode(pkg)}","${wrongCode(pkg)}"]}`, ["verify", "admin"]],
        ["POST", `/v1/cards/${id}/block`, undefined, ["admin"]],
        ["POST", `/v1/cards/${id}/unblock`, undefined, ["admin"]],
        ["GET", `/v1/audit?card=${id}`, undefined, ["admin"]],
        ["POST", "/v1/issuance", '{"chipSerial":"chip-roles-1","firmware":"1.0.0","mode":"counter"}', ["issue", "admin"]],
        ["GET", "/v1/issuance/chips/chip-roles-1", undefined, ["issue", "admin"]],
        ["POST", `/v1/issuance/${NONE}/confirm`, `{"digest":"${"0".repeat(64)}","code":"123"}`, ["issue", "admin"]],
        ["POST", `/v1/issuance/${NONE}/password`, undefined, ["issue", "admin"]],
        ["POST", "/v1/personalisations", `{"chipSerial":"chip-roles-1","slot":1,"deviceId":"${"0".repeat(32)}","application":{"label":"X","mode":"counter"}}`, ["issue", "admin"]],
        ["POST", `/v1/personalisations/${NONE}/otp`, `{"response":"${"0".repeat(64)}"}`, ["issue", "admin"]],
        ["POST", `/v1/personalisations/${NONE}/auth`, `{"response":"${"0".repeat(64)}","generation":0,"proof":"${"0".repeat(32)}"}`, ["issue", "admin"]],
        ["POST", `/v1/personalisations/${NONE}/confirm`, `{"generation":1,"proof":"${"0".repeat(32)}"}`, ["issue", "admin"]],
        ["POST", "/v1/verifications", '{"chipSerial":"chip-roles-1","slot":1}', ["verify", "admin"]],
        ["POST", `/v1/verifications/${NONE}`, `{"generation":1,"proof":"${"0".repeat(32)}"}`, ["verify", "admin"]],
      ];
      for (const [method, path, body, admitted] of routes) {
        for (const role of ROLES) {
          const before = (await iss.issuer.store.getCard(id))!.version;
          const r = await raw(iss.url, method, path, { token: tokens[role], ...(body ? { body } : {}) });
          const what = `${role} ${method} ${path}`;
          if (admitted.includes(role)) {
            expect(r.status, what).to.not.equal(403);
            expect(r.status, what).to.be.below(500);
          } else {
            expect(r.status, what).to.equal(403);
            expect(r.json, what).to.deep.equal({ error: `a ${role} token may not call ${method} ${path.replace(id, ":id").replace(NONE, ":id").replace(/\?.*/, "").replace("chip-roles-1", ":serial")}` });
            expect((await iss.issuer.store.getCard(id))!.version, what).to.equal(before);
          }
        }
      }
      // An unknown route is a 404 for any valid token, a 401 without one.
      for (const role of ROLES) expect((await raw(iss.url, "GET", "/v2/nothing", { token: tokens[role] })).status).to.equal(404);
      expect((await raw(iss.url, "GET", `/v1/cards/${id}`, { token: "ink_" + "x".repeat(43) })).status).to.equal(401);
    });

    it("a revoked token is refused from the next request: through this issuer's store, or another connection's", async () => {
      const { openStore } = await import("../../host-tools/issuer/store/open.ts");
      const { card } = await iss.client.createCard({ mode: "counter" });
      for (const via of ["own store", "another connection"]) {
        const token = await iss.createToken(`short-lived ${via}`, "verify");
        const get = () => raw(iss.url, "GET", `/v1/cards/${card.id}`, { token });
        for (let i = 0; i < 3; i++) expect((await get()).status).to.equal(200); // looked up, then cached
        const [rec] = (await iss.issuer.store.listTokens()).filter((t) => t.label === `short-lived ${via}`);
        if (via === "own store") await iss.issuer.store.deleteToken(rec.id);
        else {
          const other = await openStore(iss.dbUrl, { create: false });
          await other.deleteToken(rec.id);
          await other.close();
        }
        expect((await get()).status, via).to.equal(401);
      }
    });

    it("the issue's attack, verify-unblock-verify, is closed to verify and issue tokens", async () => {
      const { card, package: pkg } = await iss.client.createCard({ mode: "counter", digits: 3 });
      for (const role of ["verify", "issue"] as const) {
        const c = new IssuerClient(iss.url, tokens[role]);
        if (role === "verify") await c.verify(card.id, wrongCode(pkg));
        const err = await c.unblock(card.id).catch((e: { status: number }) => e.status);
        expect(err, role).to.equal(403);
      }
      expect((await iss.client.getCard(card.id)).failures).to.equal(1);
      expect((await new IssuerClient(iss.url, tokens.verify).verify(card.id, codeOf(pkg, 0))).ok).to.equal(true);
    });

    it("an issue token reads the console password only of the cards it issued; admin of any", async () => {
      const other = await iss.createToken("second station", "issue");
      const password = (token: string, cardId: string) => raw(iss.url, "POST", `/v1/issuance/${cardId}/password`, { token });
      const cardIds: string[] = [];
      for (const [i, token] of [tokens.issue, other].entries()) {
        const body = JSON.stringify({ chipSerial: `chip-pw-${i}-${db.kind}`, firmware: "1.0.0", mode: "counter" });
        const begun = (await raw(iss.url, "POST", "/v1/issuance", { token, body })).json as Begun;
        const confirm = JSON.stringify({ digest: begun.digest, code: codeOf(begun.package, 0) });
        const done = (await raw(iss.url, "POST", `/v1/issuance/${begun.card.id}/confirm`, { token, body: confirm })).json as { consolePassword: string };
        expect(((await password(token, begun.card.id)).json as { consolePassword: string }).consolePassword).to.equal(done.consolePassword);
        cardIds.push(begun.card.id);
      }
      const refused = await password(tokens.issue, cardIds[1]);
      expect(refused.status).to.equal(403);
      expect(refused.json).to.deep.equal({ error: "an issue token gets the console password only of a card it issued: use an admin token" });
      expect((await password(tokens.admin, cardIds[1])).status).to.equal(200);
    });
  });
}
