/**
 * The provisioning tool's calls to the issuer (host-tools/issuer/issuance.ts;
 * the messages: host-tools/issuance/protocol.ts), with every failure turned
 * into a ToolError that says what to do: issuer down, token refused, the
 * issuer refusing a step. Tokens and packages never reach a message.
 */
import type { Algorithm, Begun, ChipStatus, Confirmed, Mode } from "../issuance/protocol.ts";
import { ToolError } from "../lib/errors.ts";

/** How long one issuer call may take. */
const CALL_MS = 15_000;

export interface CardRequest {
  mode: Mode;
  digits?: number;
  algorithm?: Algorithm;
  step?: number;
}

export class IssuanceClient {
  constructor(
    private readonly url: string,
    private readonly token: string,
  ) {
    // The address is echoed in errors, so it must hold no secret; one that is not a URL is not echoed.
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new ToolError("--issuer is not a URL", "give it as http://host:port");
    }
    if (u.username || u.password) throw new ToolError("--issuer must not carry a user name or password", "give it as http://host:port and the token with --token or INKCARD_ISSUER_TOKEN");
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new ToolError("--issuer is not an http(s) URL", "give it as http://host:port");
    if (!token) throw new ToolError("no issuer token", "pass --token (create one with inkcard issuer token create)");
  }

  status(chipSerial: string): Promise<ChipStatus> {
    return this.call("GET", `/v1/issuance/chips/${encodeURIComponent(chipSerial)}`, undefined, "asking about this chip");
  }

  begin(req: CardRequest & { chipSerial: string; firmware: string; force: boolean }): Promise<Begun> {
    return this.call("POST", "/v1/issuance", req, "issuing a card for this chip");
  }

  confirm(cardId: string, digest: string, code: string): Promise<Confirmed> {
    return this.call("POST", `/v1/issuance/${cardId}/confirm`, { digest, code }, "confirming the card");
  }

  password(cardId: string): Promise<Confirmed> {
    return this.call("POST", `/v1/issuance/${cardId}/password`, undefined, "asking for the card's console password");
  }

  private async call<T>(method: "GET" | "POST", path: string, body: unknown, doing: string): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.url), {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(CALL_MS),
      });
    } catch {
      throw new ToolError(`cannot reach the issuer at ${this.url} while ${doing}`, "check that it runs and the --issuer address; nothing was written to the card for this step");
    }
    const text = await res.text().catch(() => "");
    if (res.status === 401) throw new ToolError("the issuer refused the token", "check --token (create one with inkcard issuer token create)");
    if (!res.ok) {
      let why = `status ${res.status}`;
      try {
        const e = (JSON.parse(text) as { error?: unknown }).error;
        if (typeof e === "string") why = e;
      } catch {
        // not JSON: the status says it
      }
      throw new ToolError(`the issuer refused ${doing}: ${why}`, res.status >= 500 ? "check the issuer's log and run the same command again" : "see the reason above");
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ToolError(`the issuer's answer to ${doing} was not JSON`, "check that --issuer points at an inkcard issuer");
    }
  }
}
