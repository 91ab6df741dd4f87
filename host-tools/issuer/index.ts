/**
 * The issuer's public surface for other parts of inkcard. To embed an issuer
 * and issue a card through its real HTTP API:
 *
 *   const running = await startIssuer({ db: ":memory:", port: 0, masterKey });
 *   const token = await running.createToken("sim");
 *   const { card, package: pkg } = await createCard(running.url, token, { mode: "counter" });
 *   ...
 *   await running.close();
 */
import { IssuerClient } from "./client.ts";
import type { CreateCardRequest, IssuedCard } from "./service.ts";

export { startIssuer, DEFAULT_PORT, type RunningIssuer, type StartOptions } from "./server.ts";
export { IssuerClient, IssuerHttpError } from "./client.ts";
export { loadMasterKey, MASTER_KEY_ENV, type KeySource } from "./keys.ts";
export { DEFAULT_POLICY, type Policy } from "./policy.ts";
export type { CardView, ProvisioningPackage, Mode, Algorithm } from "./card.ts";
export type { CreateCardRequest, IssuedCard, AuditView } from "./service.ts";
export type { VerifyResult } from "./verify.ts";
export type { Role } from "./store/types.ts";

/** Issues one card through the HTTP API at `url`; the result holds its provisioning package. */
export function createCard(url: string, token: string, req: CreateCardRequest): Promise<IssuedCard> {
  return new IssuerClient(url, token).createCard(req);
}
