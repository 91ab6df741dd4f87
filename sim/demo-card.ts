/**
 * The simulator's demo card, issued the way every card is: `issueCard` from
 * host-tools/provision runs the same steps as `inkcard provision` over the
 * card's console (identify, issuer creates the card bound to the chip serial,
 * atomic profile install, first code verified by the issuer, issued). The one
 * difference: the demo card's console is left unlocked, so the page's console
 * panel and the `espruino` CLI can still talk to it.
 */
import { IssuerClient, type CardView } from "../host-tools/issuer/index.ts";
import { issueCard } from "../host-tools/provision/index.ts";

export interface DemoCardOptions {
  /** The issuer's base URL and an API token for it. */
  issuer: string;
  token: string;
  /** The card's console, "tcp://127.0.0.1:N?token=T" (host-tools/serial/tcp-console.ts). */
  console: string;
  /** Storage file of the profile (espruino.config.js storage.profile). */
  profileFile: string;
  /** Code length, 3..10. */
  digits: number;
}

/** Issues the demo card (counter mode, SHA-1) and answers the issuer's view of it: PAN masked, no secrets. */
export async function issueDemoCard(o: DemoCardOptions): Promise<CardView> {
  const { cardId } = await issueCard({
    port: o.console,
    issuer: o.issuer,
    token: o.token,
    profileFile: o.profileFile,
    request: { mode: "counter", digits: o.digits, algorithm: "SHA1" },
    lock: false,
  });
  return new IssuerClient(o.issuer, o.token).getCard(cardId);
}
