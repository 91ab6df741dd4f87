/**
 * The issuer's side of issuance (host-tools/issuer/issuance.ts) through its
 * HTTP API: a card is bound to a chip and blocked until verify after burn;
 * a second card for a chip needs force, and replaces the first only once
 * proven; abandoned attempts stay blocked; the console password is given
 * only for an issued card.
 */
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hexToBytes } from "../../firmware/core/bytes.ts";
import { hotp } from "../../firmware/core/otp.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { IssuerClient, startIssuer, type RunningIssuer } from "../../host-tools/issuer/index.ts";
import type { Begun } from "../../host-tools/issuance/protocol.ts";
import { ToolError } from "../../host-tools/lib/errors.ts";
import { IssuanceClient } from "../../host-tools/provision/issuer.ts";
import { captionOf, consolePassword, profileRecord } from "../../host-tools/issuance/package.ts";
import { freshPgDatabase, pgServerUrl } from "../issuer/support.ts";

const codeOf = (b: Begun, counter: number) => hotp(nodeHash(b.package.algorithm), hexToBytes(b.package.key), counter, b.package.digits);

for (const kind of ["sqlite", "postgres"] as const) describe(`issuance at the issuer (${kind})`, function () {
  this.timeout(30_000);
  let dir: string;
  let running: RunningIssuer;
  let api: IssuanceClient;
  let cards: IssuerClient;
  let drop = async () => {};
  before(async function (this: Mocha.Context) {
    dir = mkdtempSync(join(tmpdir(), "inkcard-issuance-"));
    let db = join(dir, "i.sqlite");
    if (kind === "postgres") {
      const fresh = await freshPgDatabase(pgServerUrl(this));
      db = fresh.url;
      drop = fresh.drop;
    }
    running = await startIssuer({ db, port: 0, masterKey: new Uint8Array(32).fill(3), logLevel: "silent", policy: { backoffBaseSeconds: 0 } });
    const token = await running.createToken("t");
    api = new IssuanceClient(running.url, token);
    cards = new IssuerClient(running.url, token);
  });
  after(async () => {
    await running?.close();
    await drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const begin = (chipSerial: string, force = false) => api.begin({ mode: "counter", digits: 6, chipSerial, firmware: "0.1.0", force });
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => expect.fail("the issuer agreed"),
      (e: ToolError) => e.problem,
    );

  it("binds a card to the chip, blocked until the card proves it holds the profile", async () => {
    const b = await begin("chip-aaaa");
    expect(b.caption).to.equal(captionOf(b.card.pan)).and.match(/^\*\*\*\* \d{4}$/);
    const rec = profileRecord(b.package, b.caption);
    expect(rec.digest).to.equal(b.digest);
    expect(await api.status("chip-aaaa")).to.deep.equal({ chipSerial: "chip-aaaa", pending: { cardId: b.card.id, digest: b.digest } });
    expect(await cards.verify(b.card.id, codeOf(b, 0))).to.include({ ok: false, reason: "blocked" });
    expect(await refusal(api.password(b.card.id))).to.match(/is pending, not issued/);

    expect(await refusal(api.confirm(b.card.id, "0".repeat(64), codeOf(b, 0)))).to.match(/another profile than the one issued/);
    expect(await refusal(api.confirm(b.card.id, b.digest, "000000" === codeOf(b, 0) ? "111111" : "000000"))).to.match(/first code was refused: mismatch/);
    const done = await api.confirm(b.card.id, b.digest, codeOf(b, 0));
    expect(done).to.deep.equal({ cardId: b.card.id, state: "issued", consolePassword: consolePassword(hexToBytes(b.package.key)) });
    expect(done.consolePassword).to.match(/^[0-9a-f]{20}$/);
    expect(await api.status("chip-aaaa")).to.deep.equal({ chipSerial: "chip-aaaa", issued: { cardId: b.card.id, digest: b.digest } });
    expect(await cards.getCard(b.card.id)).to.include({ status: "active", counter: 1 });
    expect(await cards.verify(b.card.id, codeOf(b, 1))).to.include({ ok: true });
    expect((await api.password(b.card.id)).consolePassword).to.equal(done.consolePassword);
    expect(await refusal(api.confirm(b.card.id, b.digest, codeOf(b, 2)))).to.match(/is issued, not pending/);
  });

  it("a chip with an issued card gets another only with force; the old one works until the new one is proven", async () => {
    const first = await begin("chip-bbbb");
    await api.confirm(first.card.id, first.digest, codeOf(first, 0));
    expect(await refusal(begin("chip-bbbb"))).to.match(/already holds issued card .*reissuing it needs force/);

    const second = await begin("chip-bbbb", true);
    expect(second.replaces).to.equal(first.card.id);
    expect(await cards.verify(first.card.id, codeOf(first, 1)), "still the card in use").to.include({ ok: true });
    await api.confirm(second.card.id, second.digest, codeOf(second, 0));
    expect(await cards.verify(first.card.id, codeOf(first, 2)), "replaced").to.include({ ok: false, reason: "blocked" });
    expect((await api.status("chip-bbbb")).issued?.cardId).to.equal(second.card.id);
    expect(await refusal(api.password(first.card.id))).to.match(/is replaced, not issued/);
  });

  it("a new attempt abandons the chip's pending card for good", async () => {
    const a = await begin("chip-cccc");
    const b = await begin("chip-cccc");
    expect(await refusal(api.confirm(a.card.id, a.digest, codeOf(a, 0)))).to.match(/is void, not pending/);
    expect(await cards.getCard(a.card.id)).to.include({ status: "blocked" });
    await api.confirm(b.card.id, b.digest, codeOf(b, 0));
    expect(await cards.getCard(a.card.id)).to.include({ status: "blocked" });
    const audit = (await cards.audit({ card: a.card.id })).map((e) => `${e.event}:${e.detail}`);
    expect(audit.some((d) => /^provision:abandoned/.test(d))).to.equal(true);
  });

  it("refuses bad requests and other callers", async () => {
    expect(await refusal(api.begin({ mode: "counter", chipSerial: "x", firmware: "0.1.0", force: false }))).to.match(/invalid request/);
    expect(await refusal(new IssuanceClient(running.url, "ink_nope").status("chip-aaaa"))).to.match(/refused the token/);
    expect(await refusal(api.confirm("00000000-0000-4000-8000-000000000000", "0".repeat(64), "123456"))).to.match(/no issuance for this card/);
  });
});
