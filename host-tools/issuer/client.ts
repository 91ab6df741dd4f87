/**
 * A small client of the issuer's HTTP API, for the simulator, the
 * provisioning tool and tests: every call goes through the real API.
 */
import type { CardView } from "./card.ts";
import type { ConfirmResult, CreatedPayment, Pairing, PaymentRequest } from "./payments.ts";
import type { Applied, AuthInput, ConfirmedWrite, OtpAccepted, ProofInput, Released, VerificationCreated, VerificationResult as CardVerification } from "./personal.ts";
import type { ApplyRequest, AuditView, CreateCardRequest, IssuedCard } from "./service.ts";
import type { VerifyResult } from "./verify.ts";

export class IssuerHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class IssuerClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  private async call<T>(method: "GET" | "POST", path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const res = await fetch(this.baseUrl + path, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) {
      let message = `issuer answered ${res.status}`;
      try {
        message += `: ${(JSON.parse(text) as { error?: string }).error ?? ""}`;
      } catch {
        // an empty (401) or non-JSON body: the status says it all
      }
      throw new IssuerHttpError(res.status, message);
    }
    return JSON.parse(text) as T;
  }

  /** Issues a card; the answer holds the provisioning package, which no later call returns. */
  createCard(req: CreateCardRequest): Promise<IssuedCard> {
    return this.call("POST", "/v1/cards", req);
  }

  getCard(id: string): Promise<CardView> {
    return this.call("GET", `/v1/cards/${encodeURIComponent(id)}`);
  }

  /** With `idempotencyKey` (the caller's id of this payment), a retry after a lost answer gets the original answer. */
  verify(id: string, code: string, idempotencyKey?: string): Promise<VerifyResult> {
    const headers: Record<string, string> = idempotencyKey === undefined ? {} : { "idempotency-key": idempotencyKey };
    return this.call("POST", `/v1/cards/${encodeURIComponent(id)}/verify`, { code }, headers);
  }

  resync(id: string, codes: string[]): Promise<VerifyResult> {
    return this.call("POST", `/v1/cards/${encodeURIComponent(id)}/resync`, { codes });
  }

  block(id: string): Promise<CardView> {
    return this.call("POST", `/v1/cards/${encodeURIComponent(id)}/block`);
  }

  unblock(id: string): Promise<CardView> {
    return this.call("POST", `/v1/cards/${encodeURIComponent(id)}/unblock`);
  }

  /** Pairs the phone `deviceId` (32 hex) with the card: its K_pair and the grant for the PAIR frame (issue or admin token). */
  createPairing(id: string, deviceId: string): Promise<Pairing> {
    return this.call("POST", `/v1/cards/${encodeURIComponent(id)}/pairings`, { deviceId });
  }

  /** A payment sealed for the card: `frame` is the T_PAYMENT_DATA envelope the phone relays, opaque to it. */
  createPayment(id: string, req: PaymentRequest): Promise<CreatedPayment> {
    return this.call("POST", `/v1/cards/${encodeURIComponent(id)}/payments`, req);
  }

  /** The card's 8-digit answer to the payment; 409 (IssuerHttpError) once it is accepted, void or expired. */
  confirmPayment(paymentId: string, answer: string): Promise<ConfirmResult> {
    return this.call("POST", `/v1/payments/${encodeURIComponent(paymentId)}/confirm`, { answer });
  }

  // Personalisation (docs/issuer-api.md, "Personalisation"): the phone's calls (issue or admin token).

  /** A write session for a slot of the card issued to the chip: its nonce and one-time password. */
  apply(req: ApplyRequest): Promise<Applied> {
    return this.call("POST", "/v1/personalisations", req);
  }

  /** The phone's response to the one-time password (64 hex), once: the authentication code. */
  otp(sessionId: string, response: string): Promise<OtpAccepted> {
    return this.call("POST", `/v1/personalisations/${encodeURIComponent(sessionId)}/otp`, { response });
  }

  /** The response to the authentication code and the card's SECURITY_PROOF: the profile envelope and the new security code. */
  auth(sessionId: string, input: AuthInput): Promise<Released> {
    return this.call("POST", `/v1/personalisations/${encodeURIComponent(sessionId)}/auth`, input);
  }

  /** The card's proof to the confirmation nonce under the new code: the slot rolls. */
  confirm(sessionId: string, input: ProofInput): Promise<ConfirmedWrite> {
    return this.call("POST", `/v1/personalisations/${encodeURIComponent(sessionId)}/confirm`, input);
  }

  /** A verification device's session for a slot of a chip (verify or admin token): the nonce of its VERIFY_CHALLENGE. */
  createVerification(chipSerial: string, slot: number): Promise<VerificationCreated> {
    return this.call("POST", "/v1/verifications", { chipSerial, slot });
  }

  /** The card's VERIFY_PROOF, once: genuine or not. (verify() is taken: it checks a card's code.) */
  verifyCard(verificationId: string, input: ProofInput): Promise<CardVerification> {
    return this.call("POST", `/v1/verifications/${encodeURIComponent(verificationId)}`, input);
  }

  async audit(q: { card?: string; limit?: number; before?: number } = {}): Promise<AuditView[]> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v));
    const qs = params.size ? `?${params}` : "";
    return (await this.call<{ entries: AuditView[] }>("GET", `/v1/audit${qs}`)).entries;
  }
}
