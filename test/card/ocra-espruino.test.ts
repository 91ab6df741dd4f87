/**
 * OCRA (core/ocra.ts) on the real interpreter over the card's native hashes
 * (hal/crypto.ts): the RFC 6287 appendix C vectors of the SHA-1 and SHA-256
 * suites (the MDBT42Q has no SHA-512; test/core/ocra.test.ts runs those on a
 * host), then the product's answer to a transaction (PAYMENT_OCRA_SUITE over
 * transactionChallenge) against the same computed in Node.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { ocra, PAYMENT_OCRA_SUITE, transactionChallenge } from "../../firmware/core/ocra.ts";
import { nodeHash } from "../../host-tools/lib/hash.ts";
import { requireEspruino } from "../build/espruino.ts";
import { OCRA_VECTORS, PIN_1234_SHA1, ocraKey } from "../core/ocra-vectors.ts";
import { bundleForCard, runFromStorage } from "./bundle.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("OCRA on the Espruino interpreter", function () {
  this.timeout(300_000);
  before(function (this: Mocha.Context) {
    requireEspruino(this);
  });

  it("passes the RFC 6287 SHA-1/SHA-256 vectors and answers a transaction as the host does", async () => {
    const native = OCRA_VECTORS.filter((v) => !v.suite.includes("SHA512"));
    const tx = {
      txId: randomBytes(16), amount: 1 + randomBytes(4).readUInt32BE(0), currency: "EUR", exponent: 2,
      payee: Buffer.from("Caf\u00e9 du Parc"), details: Buffer.from("Order 42, table 7"),
    };
    const key = randomBytes(32); // a test key, never printed: the card prints only the answer
    const code = await bundleForCard(new URL("./ocra-main.ts", import.meta.url).pathname, {
      INKCARD_OCRA: JSON.stringify(native.map((v) => ({ suite: v.suite, key: hex(ocraKey(v.key)), pin: hex(PIN_1234_SHA1), cases: v.cases }))),
      INKCARD_TX: JSON.stringify({ ...tx, txId: hex(tx.txId), payee: hex(tx.payee), details: hex(tx.details), key: hex(key) }),
    });
    const out = await runFromStorage(code, /\ndone\n/, 240_000);
    const all = out.split("\n");
    const lines = all.slice(all.findIndex((l) => l.endsWith("start")));

    let n = 0;
    for (const v of native) {
      v.cases.forEach((c, i) => {
        expect(lines, `${v.suite} case ${i}`).to.include(`R ${v.suite} ${i} ${c.r}`);
        n++;
      });
    }
    expect(n, "vectors checked").to.equal(40); // C.1: SHA-1 10, SHA-256 10 + 5; C.2 and C.3: SHA-256 QA08 15

    const q = transactionChallenge(nodeHash("SHA256"), tx);
    expect(lines).to.include(`Q ${q}`);
    const answer = lines.find((l) => l.startsWith("A "))!.split(" ");
    expect(answer[1]).to.equal(ocra(nodeHash("SHA256"), PAYMENT_OCRA_SUITE, key, { question: q }));
  });
});
