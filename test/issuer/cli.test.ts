/**
 * `inkcard issuer` and its token commands: master key handling (and its check
 * value), token output, roles, list and revoke, --create, file modes, logs
 * without secrets.
 */
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

  it("token create prints the token alone on stdout, a new one each time, and it works with its role", async () => {
    const db = join(tmp.dir, "i.sqlite");
    const a = await runCli(["issuer", "token", "create", "--db", db, "--create", "--role", "admin", "--label", "ops"], NO_KEY);
    const b = await runCli(["issuer", "token", "create", "--db", db, "--role", "verify"]);
    for (const r of [a, b]) {
      expect(r.code).to.equal(0);
      expect(r.stdout).to.match(/^ink_[A-Za-z0-9_-]{43}\n$/);
      expect(r.stderr).to.equal("");
    }
    expect(a.stdout).to.not.equal(b.stdout);
    const p = await spawnIssuer(["--db", db]);
    try {
      expect((await raw(p.url, "GET", "/v1/audit", { token: a.stdout.trim() })).status).to.equal(200);
      expect((await raw(p.url, "GET", "/v1/audit", { token: b.stdout.trim() })).status).to.equal(403);
    } finally {
      await stopIssuer(p);
    }
    expect(readFileSync(db).includes(a.stdout.trim())).to.equal(false);
  });

  it("token create needs --role and a printable label, and says so without a stack trace", async () => {
    const db = join(tmp.dir, "i.sqlite");
    const noRole = await runCli(["issuer", "token", "create", "--db", db, "--create"]);
    expect(noRole.code).to.not.equal(0);
    expect(noRole.stderr).to.match(/--role <role>' not specified/);
    const badRole = await runCli(["issuer", "token", "create", "--db", db, "--create", "--role", "root"]);
    expect(badRole.stderr).to.match(/Allowed choices are verify, issue, admin/);
    const label = await runCli(["issuer", "token", "create", "--db", db, "--create", "--role", "verify", "--label", "a\nb"]);
    expect(label.code).to.equal(2);
    expect(label.stderr).to.equal("inkcard issuer: token label must be 1 to 64 printable ASCII characters\n");
    expect(label.stdout).to.equal("");
  });

  it("token list shows id, label, role and time, never a secret; token revoke holds from the next request", async () => {
    const db = join(tmp.dir, "i.sqlite");
    const admin = (await runCli(["issuer", "token", "create", "--db", db, "--create", "--role", "admin", "--label", "ops desk"])).stdout.trim();
    const shop = (await runCli(["issuer", "token", "create", "--db", db, "--role", "verify", "--label", "shop 1"])).stdout.trim();
    const list = await runCli(["issuer", "token", "list", "--db", db, "--json"]);
    expect(list.code).to.equal(0);
    const tokens = JSON.parse(list.stdout) as { id: string; label: string; role: string; created: string }[];
    expect(tokens.map((t) => [t.label, t.role])).to.deep.equal([["ops desk", "admin"], ["shop 1", "verify"]]);
    for (const t of tokens) expect(Object.keys(t)).to.deep.equal(["id", "label", "role", "created"]);
    const text = await runCli(["issuer", "token", "list", "--db", db]);
    expect(text.stdout).to.include(tokens[1].id).and.include('"shop 1"');
    for (const out of [list.stdout, text.stdout]) for (const secret of [admin, shop, admin.slice(4), shop.slice(4)]) expect(out).to.not.include(secret);

    const p = await spawnIssuer(["--db", db]);
    try {
      const { card } = await new IssuerClient(p.url, admin).createCard({ mode: "counter" });
      const get = () => raw(p.url, "GET", `/v1/cards/${card.id}`, { token: shop });
      expect((await get()).status).to.equal(200);
      // Revoked from another process while the issuer serves: the very next request is refused.
      const revoke = await runCli(["issuer", "token", "revoke", tokens[1].id, "--db", db]);
      expect(revoke.code).to.equal(0);
      expect((await get()).status).to.equal(401);
      expect((await runCli(["issuer", "token", "revoke", tokens[1].id, "--db", db])).stderr).to.match(/no token tok_/);
      expect((await runCli(["issuer", "token", "revoke", "nonsense", "--db", db])).code).to.equal(2);
    } finally {
      await stopIssuer(p);
    }
  });

  it("refuses a missing or empty --db unless --create; creates the database files mode 0600", async () => {
    const db = join(tmp.dir, "new.sqlite");
    const missing = await runCli(["issuer", "--db", db, "--port", "0"], { INKCARD_MASTER_KEY: TEST_MASTER_KEY_HEX });
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.match(/new\.sqlite holds no issuer database: check --db, or pass --create/);
    expect(() => statSync(db)).to.throw();
    const empty = join(tmp.dir, "empty.sqlite");
    writeFileSync(empty, "");
    expect((await runCli(["issuer", "token", "list", "--db", empty])).stderr).to.match(/holds no issuer database/);
    for (const args of [["token", "list"], ["export", "--format", "otpauth", "--out", join(tmp.dir, "x")]]) {
      const r = await runCli(["issuer", ...args, "--db", db], { INKCARD_MASTER_KEY: TEST_MASTER_KEY_HEX });
      expect(r.stderr, args[0]).to.match(/holds no issuer database/);
    }
    const p = await spawnIssuer(["--db", db, "--create"]);
    try {
      for (const f of [db, `${db}-wal`, `${db}-shm`]) expect(statSync(f).mode & 0o777, f).to.equal(0o600);
    } finally {
      await stopIssuer(p);
    }
    // An existing database others could read is made 0600 when the issuer opens it.
    chmodSync(db, 0o644);
    const again = await spawnIssuer(["--db", db]);
    await stopIssuer(again);
    expect(statSync(db).mode & 0o777).to.equal(0o600);
  });

  it("refuses a weak master key, and another master key than the database's, saying so", async () => {
    const db = join(tmp.dir, "i.sqlite");
    for (const weak of ["00".repeat(32), "ff".repeat(32), "a5".repeat(32)]) {
      const r = await runCli(["issuer", "--db", db, "--create"], { INKCARD_MASTER_KEY: weak });
      expect(r.code).to.equal(2);
      expect(r.stderr).to.match(/holds a weak key \(one byte repeated\)/);
    }
    const p = await spawnIssuer(["--db", db, "--create"]);
    await stopIssuer(p);
    const other = "1f".repeat(31) + "20";
    const r = await runCli(["issuer", "--db", db, "--port", "0"], { INKCARD_MASTER_KEY: other });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/the master key is not the one this issuer database was created with/);
    expect(r.stderr + r.stdout).to.not.include(other).and.not.include(TEST_MASTER_KEY_HEX);
    const exp = await runCli(["issuer", "export", "--db", db, "--format", "otpauth", "--out", join(tmp.dir, "x")], { INKCARD_MASTER_KEY: other });
    expect(exp.stderr).to.match(/not the one this issuer database was created with/);
    // The database holds the check value, never the key.
    expect(readFileSync(db).includes(Buffer.from(TEST_MASTER_KEY_HEX, "hex"))).to.equal(false);
    expect(readFileSync(db).includes(TEST_MASTER_KEY_HEX)).to.equal(false);
    const again = await spawnIssuer(["--db", db]);
    await stopIssuer(again);
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
    const token = (await runCli(["issuer", "token", "create", "--db", db, "--create", "--role", "admin"])).stdout.trim();
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
    const token = (await runCli(["issuer", "token", "create", "--db", db, "--create", "--role", "admin"])).stdout.trim();
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
