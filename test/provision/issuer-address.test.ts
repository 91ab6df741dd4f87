/**
 * The provisioning tool's --issuer address (host-tools/provision/issuer.ts):
 * it is echoed in errors, so an address with credentials is refused without
 * repeating them, and one that is not a URL is not echoed at all.
 */
import { expect } from "chai";
import { ToolError } from "../../host-tools/lib/errors.ts";
import { IssuanceClient } from "../../host-tools/provision/issuer.ts";

function refusal(url: string): ToolError {
  try {
    new IssuanceClient(url, "ink_token");
  } catch (e) {
    expect(e).to.be.instanceOf(ToolError);
    return e as ToolError;
  }
  throw new Error(`${url} was taken`);
}

describe("provision --issuer address", () => {
  it("refuses a user name or password in it, and never repeats them", () => {
    for (const url of ["http://user:s3cretpw@127.0.0.1:8470", "http://s3cretpw@127.0.0.1:8470", "https://:s3cretpw@issuer.example/"]) {
      const e = refusal(url);
      expect(e.problem).to.match(/user name or password/);
      expect(`${e.message} ${e.todo} ${e.stack}`).to.not.include("s3cretpw");
    }
  });

  it("does not echo what is not a URL, and names the scheme it wants", () => {
    expect(refusal("http://user:s3cretpw@[bad").problem).to.equal("--issuer is not a URL");
    // "user:" parses as a scheme: nothing of it is repeated either.
    for (const url of ["user:s3cretpw@issuer", "ftp://127.0.0.1/"]) expect(refusal(url).problem).to.equal("--issuer is not an http(s) URL");
  });

  it("takes an http(s) address", () => {
    expect(() => new IssuanceClient("http://127.0.0.1:8470", "ink_token")).to.not.throw();
    expect(() => new IssuanceClient("https://issuer.example/", "ink_token")).to.not.throw();
  });
});
