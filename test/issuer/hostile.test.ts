/**
 * Malformed and hostile requests: missing or wrong tokens get 401 and nothing
 * else; bad input gets a 4xx with a clear message and changes nothing.
 */
import { expect } from "chai";
import { request } from "node:http";
import { codeOf, postgresDb, raw, sqliteDb, startTestIssuer, type TestDb, type TestIssuer } from "./support.ts";

const ID = "00000000-0000-4000-8000-000000000000";
const ROUTES: [string, string, string | undefined][] = [
  ["POST", "/v1/cards", '{"mode":"counter"}'],
  ["GET", `/v1/cards/${ID}`, undefined],
  ["GET", `/v1/cards/${ID}/package`, undefined],
  ["POST", `/v1/cards/${ID}/verify`, '{"code":"123"}'],
  ["POST", `/v1/cards/${ID}/resync`, '{"codes":["123","456","789"]}'],
  ["POST", `/v1/cards/${ID}/block`, undefined],
  ["POST", `/v1/cards/${ID}/unblock`, undefined],
  ["GET", "/v1/audit", undefined],
  ["GET", "/nothing/here", undefined],
  ["DELETE", "/v1/cards", undefined],
  ["GET", `/v1/cards/${"x".repeat(300)}`, undefined],
  ["GET", "/v1/cards/%E0%A4%A", undefined],
];

/** A request with an arbitrary Authorization header (fetch refuses some bytes that a hostile client can send). */
function rawAuth(url: string, path: string, authorization: Buffer): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url + path);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: "GET" }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on("error", reject);
    req.setHeader("authorization", authorization.toString("latin1"));
    req.end();
  });
}

for (const make of [sqliteDb, postgresDb]) {
  const db: TestDb = make();
  describe(`issuer under hostile requests on ${db.kind}`, function () {
    let iss: TestIssuer;
    let cardId: string;
    let firstCode: string;

    before(async function (this: Mocha.Context) {
      iss = await startTestIssuer({ db: await db.create(this) });
      const issued = await iss.client.createCard({ mode: "counter", digits: 6 });
      cardId = issued.card.id;
      firstCode = codeOf(issued.package, 0);
    });
    after(async () => {
      await iss?.close();
      await db.cleanup();
    });

    /** Card state and audit length, to show that a refused request changed nothing. */
    const snapshot = async () => JSON.stringify([await iss.client.getCard(cardId), (await iss.client.audit({ limit: 1000 })).length]);

    it("answers 401 with an empty body to a missing, malformed, unknown or tampered token, on every route", async () => {
      const before = await snapshot();
      const tampered = iss.token.slice(0, -1) + (iss.token.endsWith("A") ? "B" : "A");
      const headers: (Record<string, string> | undefined)[] = [
        undefined,
        { authorization: "" },
        { authorization: `Basic ${Buffer.from("admin:admin").toString("base64")}` },
        { authorization: `Bearer ${tampered}` },
        { authorization: `Bearer ink_${"A".repeat(43)}` },
        { authorization: "Bearer ' OR '1'='1' --" },
        { authorization: `Bearer ${iss.token} ${iss.token}` },
        { authorization: `Bearer ${iss.token}x` },
        { authorization: `Token ${iss.token}` },
      ];
      for (const [method, path, body] of ROUTES) {
        for (const h of headers) {
          const r = await raw(iss.url, method, path, { ...(h ? { headers: h } : {}), ...(body ? { body } : {}) });
          expect(r.status, `${method} ${path} ${JSON.stringify(h)}`).to.equal(401);
          expect(r.text).to.equal("");
          expect(r.headers.get("www-authenticate")).to.equal("Bearer");
        }
      }
      for (const bytes of [Buffer.from(`Bearer ink_${"é".repeat(43)}`, "latin1"), Buffer.from("Bearer \u00ff\u0000", "latin1")]) {
        const r = await rawAuth(iss.url, `/v1/cards/${cardId}`, bytes).catch(() => ({ status: 401, body: "" }));
        expect(r.status).to.equal(401);
        expect(r.body).to.equal("");
      }
      // A huge body without a token is refused before it is read.
      const big = await raw(iss.url, "POST", "/v1/cards", { body: JSON.stringify({ mode: "counter", pad: "x".repeat(1 << 20) }) });
      expect([big.status, big.text]).to.deep.equal([401, ""]);
      expect(await snapshot()).to.equal(before);
    });

    it("refuses malformed card requests with 400 and a message, issuing nothing", async () => {
      const before = await snapshot();
      const bodies = [
        '{"mode":"counter","digits":"6"}',
        '{"mode":"counter","digits":6.5}',
        '{"mode":"counter","digits":2}',
        '{"mode":"counter","digits":11}',
        '{"mode":"COUNTER"}',
        '{"mode":null}',
        '{"mode":"counter","algorithm":"MD5"}',
        '{"mode":"counter","algorithm":"sha1"}',
        '{"mode":"time","step":0}',
        '{"mode":"time","step":"30"}',
        '{"mode":"time","step":86401}',
        '{"mode":"counter","key":"00112233445566778899aabbccddeeff00112233"}',
        '{"mode":"counter","counter":5}',
        '{"mode":{"$ne":null}}',
        '{"mode":"counter\' OR 1=1; DROP TABLE cards; --"}',
        '{"mode":"cöunter"}',
        '{"digits":6}',
        "{}",
        "[]",
        '"counter"',
        "null",
        "42",
      ];
      for (const body of bodies) {
        const r = await raw(iss.url, "POST", "/v1/cards", { token: iss.token, body });
        expect(r.status, body).to.equal(400);
        expect((r.json as { error: string }).error, body).to.be.a("string").and.match(/^invalid request: body/);
      }
      expect(await snapshot()).to.equal(before);
    });

    it("refuses prototype pollution, bad JSON, wrong media types and bodies over 4 KiB, changing nothing", async () => {
      const before = await snapshot();
      const cases: [string | undefined, string | undefined, number, RegExp][] = [
        ['{"__proto__":{"admin":true},"mode":"counter"}', undefined, 400, /__proto__ or constructor.prototype/],
        ['{"constructor":{"prototype":{"admin":true}},"mode":"counter"}', undefined, 400, /__proto__ or constructor.prototype/],
        ['{"mode":"counter"', undefined, 400, /not valid JSON/],
        ["", "application/json", 400, /empty/],
        ['{"mode":"counter"}', "text/plain", 415, /application\/json/],
        ["mode=counter", "application/x-www-form-urlencoded", 415, /application\/json/],
        [JSON.stringify({ mode: "counter", pad: "x".repeat(5000) }), undefined, 413, /larger than 4096 bytes/],
        [JSON.stringify({ mode: "counter", pad: "x".repeat(4 << 20) }), undefined, 413, /larger than 4096 bytes/],
      ];
      for (const [body, type, status, message] of cases) {
        const r = await raw(iss.url, "POST", "/v1/cards", { token: iss.token, ...(body === undefined ? {} : { body }), ...(type ? { type } : {}) });
        expect(r.status, `${type} ${body?.slice(0, 60)}`).to.equal(status);
        expect((r.json as { error: string }).error).to.match(message);
      }
      expect(({} as Record<string, unknown>).admin).to.equal(undefined);
      expect(await snapshot()).to.equal(before);
    });

    it("refuses malformed codes: wrong types, non-ASCII digits, SQL, extra fields; no failure is counted", async () => {
      const before = await snapshot();
      const bodies = [
        '{"code":123456}',
        `{"code":["${firstCode}"]}`,
        '{"code":null}',
        '{"code":""}',
        '{"code":"12"}',
        '{"code":"12345678901"}',
        '{"code":"12 345"}',
        `{"code":"${firstCode}\\n"}`,
        '{"code":"１２３４５６"}',
        '{"code":"١٢٣٤٥٦"}',
        '{"code":"12345６"}',
        `{"code":"${firstCode}' OR '1'='1"}`,
        '{"code":"1; DROP TABLE cards; --"}',
        `{"code":"${firstCode}","counter":0}`,
        `{"codes":["${firstCode}"]}`,
        "{}",
      ];
      for (const body of bodies) {
        const r = await raw(iss.url, "POST", `/v1/cards/${cardId}/verify`, { token: iss.token, body });
        expect(r.status, body).to.equal(400);
        expect((r.json as { error: string }).error, body).to.match(/^invalid request: body/);
      }
      const resyncs = ['{"codes":"123456"}', `{"codes":[${"\"123456\",".repeat(10)}"123456"]}`, '{"codes":["123456","12345a","123456"]}', '{"codes":[]}'];
      for (const body of resyncs) {
        const r = await raw(iss.url, "POST", `/v1/cards/${cardId}/resync`, { token: iss.token, body });
        expect(r.status, body).to.equal(400);
      }
      expect(await snapshot()).to.equal(before);
      // The card is untouched: its first code still verifies.
      expect(await iss.client.verify(cardId, firstCode)).to.deep.equal({ ok: true, counter: 0 });
    });

    it("refuses card ids and audit queries that are not what they should be", async () => {
      const before = await snapshot();
      const ids = [
        encodeURIComponent("1' OR '1'='1"),
        encodeURIComponent(`${cardId}'; DROP TABLE cards; --`),
        cardId.toUpperCase(),
        encodeURIComponent("ü".repeat(36)),
        "%00",
        "%E0%A4%A",
        "x".repeat(300),
      ];
      for (const id of ids) {
        const r = await raw(iss.url, "POST", `/v1/cards/${id}/verify`, { token: iss.token, body: '{"code":"123456"}' });
        expect(r.status, id.slice(0, 40)).to.be.oneOf([400, 404]);
        expect(r.json).to.have.key("error");
      }
      for (const q of [`card=${encodeURIComponent("' OR 1=1 --")}`, "limit=0", "limit=abc", "limit=100000", "limit=1001", "before=-1", "card=x&evil=1"]) {
        const r = await raw(iss.url, "GET", `/v1/audit?${q}`, { token: iss.token });
        expect(r.status, q).to.equal(400);
        expect((r.json as { error: string }).error).to.be.a("string");
      }
      expect(await snapshot()).to.equal(before);
    });

    it("never echoes the token, and never answers 500 to any of it", async () => {
      const r = await raw(iss.url, "POST", `/v1/cards/${cardId}/verify`, { token: iss.token, body: `{"code":"${iss.token}"}` });
      expect(r.status).to.equal(400);
      expect(r.text).to.not.include(iss.token);
    });
  });
}
