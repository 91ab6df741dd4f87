/** `inkcard issuer` and `inkcard issuer token create`: master key handling, token output, logs without secrets. */
import { expect } from "chai";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ProvisioningPackage } from "../../host-tools/issuer/card.ts";
import { IssuerClient } from "../../host-tools/issuer/client.ts";
import { codeOf, raw, runCli, spawnIssuer, stopIssuer, tempDir, TEST_MASTER_KEY_HEX } from "./support.ts";

const TOKEN = /^ink_[A-Za-z0-9_-]{43}$/;
const NO_KEY = { INKCARD_MASTER_KEY: undefined };

describe("inkcard issuer command", function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(() => tmp.cleanup());

  it("token create prints the token alone on stdout, a new one each time, and it works", async () => {
    const db = join(tmp.dir, "i.sqlite");
    const a = await runCli(["issuer", "token", "create", "--db", db, "--label", "ops"], NO_KEY);
    const b = await runCli(["issuer", "token", "create", "--db", db]);
    for (const r of [a, b]) {
      expect(r.code).to.equal(0);
      expect(r.stdout).to.match(/^ink_[A-Za-z0-9_-]{43}\n$/);
      expect(r.stderr).to.equal("");
    }
    expect(a.stdout).to.not.equal(b.stdout);
    const p = await spawnIssuer(["--db", db]);
    try {
      const r = await raw(p.url, "GET", "/v1/audit", { token: a.stdout.trim() });
      expect(r.status).to.equal(200);
    } finally {
      await stopIssuer(p);
    }
    expect(readFileSync(db).includes(a.stdout.trim())).to.equal(false);
  });

  it("refuses to start without a master key, with a clear message", async () => {
    const db = join(tmp.dir, "i.sqlite");
    const r = await runCli(["issuer", "--db", db, "--port", "0"], NO_KEY);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/no issuer master key: set INKCARD_MASTER_KEY .* --master-key-file/);
    expect(r.stdout).to.equal("");
  });

  it("refuses a malformed key, a key given twice, a key file others can read, and a missing --db", async () => {
    const db = join(tmp.dir, "i.sqlite");
    const file = join(tmp.dir, "key");
    writeFileSync(file, TEST_MASTER_KEY_HEX + "\n", { mode: 0o600 });
    const cases: [string[], Record<string, string | undefined>, RegExp][] = [
      [["--db", db], { INKCARD_MASTER_KEY: "zz".repeat(32) }, /INKCARD_MASTER_KEY must hold 64 hex characters/],
      [["--db", db], { INKCARD_MASTER_KEY: TEST_MASTER_KEY_HEX.slice(2) }, /64 hex characters/],
      [["--db", db, "--master-key-file", file], { INKCARD_MASTER_KEY: TEST_MASTER_KEY_HEX }, /both INKCARD_MASTER_KEY and --master-key-file/],
      [["--db", db, "--master-key-file", join(tmp.dir, "absent")], NO_KEY, /cannot read master key file/],
      [["--port", "0"], { INKCARD_MASTER_KEY: TEST_MASTER_KEY_HEX }, /--db is required/],
    ];
    for (const [args, env, message] of cases) {
      const r = await runCli(["issuer", ...args], env);
      expect(r.code, args.join(" ")).to.equal(2);
      expect(r.stderr).to.match(message);
      expect(r.stderr).to.not.include(TEST_MASTER_KEY_HEX.slice(2));
    }
    chmodSync(file, 0o644);
    const open = await runCli(["issuer", "--db", db, "--master-key-file", file], NO_KEY);
    expect(open.code).to.equal(2);
    expect(open.stderr).to.match(/readable by others: chmod 600/);
  });

  it("--dev creates a mode 0600 key file beside the database once, and reuses it", async () => {
    const db = join(tmp.dir, "dev.sqlite");
    const keyFile = `${db}.master-key`;
    const token = (await runCli(["issuer", "token", "create", "--db", db])).stdout.trim();
    let issued: ProvisioningPackage | undefined;
    for (let run = 0; run < 2; run++) {
      const p = await spawnIssuer(["--db", db, "--dev"], { INKCARD_MASTER_KEY: "" });
      try {
        expect(statSync(keyFile).mode & 0o777).to.equal(0o600);
        const key = readFileSync(keyFile, "utf8").trim();
        expect(key).to.match(/^[0-9a-f]{64}$/);
        expect(p.output.join("\n")).to.not.include(key);
        const client = new IssuerClient(p.url, token);
        if (!issued) {
          issued = (await client.createCard({ mode: "counter", digits: 6 })).package;
          expect((await client.verify(issued.cardId, codeOf(issued, 0))).ok).to.equal(true);
        } else {
          // The same master key after a restart: the card's next code still verifies.
          expect(await client.verify(issued.cardId, codeOf(issued, 1))).to.deep.equal({ ok: true, counter: 1 });
        }
      } finally {
        await stopIssuer(p);
      }
      expect(p.output.some((l) => l.includes("created development master key file"))).to.equal(run === 0);
    }
  });

  it("logs JSON lines per request without keys, tokens, codes or PANs", async () => {
    const db = join(tmp.dir, "i.sqlite");
    const token = (await runCli(["issuer", "token", "create", "--db", db])).stdout.trim();
    const p = await spawnIssuer(["--db", db]);
    const client = new IssuerClient(p.url, token);
    const { card, package: pkg } = await client.createCard({ mode: "counter", digits: 10 });
    const codes = [0, 1, 2, 3].map((c) => codeOf(pkg, c));
    await client.verify(card.id, codes[0]);
    await client.verify(card.id, codes[0]);
    await raw(p.url, "POST", `/v1/cards/${card.id}/verify`, { token: token.slice(0, -2) + "zz", body: `{"code":"${codes[1]}"}` });
    await raw(p.url, "POST", `/v1/cards/${card.id}/verify`, { token, body: `{"code":"${codes[1]}", "x": "${token}"}` });
    await stopIssuer(p);
    const lines = p.output.filter((l) => l.startsWith("{"));
    const requests = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "request");
    expect(requests.map((r) => r.status)).to.deep.equal([201, 200, 200, 401, 400]);
    expect(requests[0]).to.include({ method: "POST", route: "/v1/cards" });
    expect(requests[1]).to.include({ route: "/v1/cards/:id/verify", card: card.id });
    expect(requests[1].caller).to.match(/^tok_/);
    const all = p.output.join("\n");
    for (const secret of [TEST_MASTER_KEY_HEX, pkg.key, token, token.slice(4), card.pan, ...codes]) {
      expect(all.includes(secret), "a secret in the log").to.equal(false);
    }
    expect(TOKEN.test(token)).to.equal(true);
  });
});
