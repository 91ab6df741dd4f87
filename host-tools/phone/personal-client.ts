/**
 * The issuer's personalisation and verification routes (docs/personalisation.md,
 * "Message sequence"; docs/issuer-api.md) as flow.ts uses them: a narrow
 * interface, so that the errands take the issuer client (IssuerClient,
 * fetch only: the phone page bundles it) or a test's issuer alike. Errors
 * are the client's IssuerHttpError (status and the issuer's message), so a
 * caller tells a 403 (a wrong response or proof) from a 410 (the session
 * expired).
 *
 * The answers are checked field by field where they are used (flow.ts): a
 * phone trusts the issuer's TLS, not its bugs.
 */
import type { IssuerClient } from "../issuer/client.ts";
import type { Applied, ConfirmedWrite, OtpAccepted, Released, VerificationCreated, VerificationResult } from "../issuer/personal.ts";
import type { ApplyRequest } from "../issuer/service.ts";

/** What the holder applies for: its label (1..12 printable ASCII, what the card shows), mode, and optionally digits and holder. */
export type Application = ApplyRequest["application"];

/** What flow.ts needs of the issuer for personalisation and verification. */
export interface PersonalApi {
  createPersonalisation(req: ApplyRequest): Promise<Applied>;
  personalisationOtp(id: string, response: string): Promise<OtpAccepted>;
  personalisationAuth(id: string, req: { response: string; generation: number; proof: string }): Promise<Released>;
  confirmPersonalisation(id: string, req: { generation: number; proof: string }): Promise<ConfirmedWrite>;
  createVerification(req: { chipSerial: string; slot: number }): Promise<VerificationCreated>;
  answerVerification(id: string, req: { generation: number; proof: string }): Promise<VerificationResult>;
}

/** The issuer client's calls as PersonalApi. */
export function personalApi(c: IssuerClient): PersonalApi {
  return {
    createPersonalisation: (req) => c.apply(req),
    personalisationOtp: (id, response) => c.otp(id, response),
    personalisationAuth: (id, req) => c.auth(id, req),
    confirmPersonalisation: (id, req) => c.confirm(id, req),
    createVerification: (req) => c.createVerification(req.chipSerial, req.slot),
    answerVerification: (id, req) => c.verifyCard(id, req),
  };
}
