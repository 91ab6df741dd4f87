/**
 * Issuing one card from a program (the simulator's demo card, scripts): the
 * same path `inkcard provision` takes, over the card's console.
 *
 *   const { cardId } = await issueCard({ port: "tcp://127.0.0.1:N", issuer, token,
 *     profileFile: config.storage.profile, request: { mode: "counter", digits: 3 }, lock: false });
 */
import { VERSION } from "../lib/version.ts";
import { CardConsole } from "../serial/card-console.ts";
import { Link } from "../serial/link.ts";
import { IssuanceClient, type CardRequest } from "./issuer.ts";
import { Journal } from "./journal.ts";
import { provisionCard, type Provisioned } from "./provision.ts";

export { ToolError } from "../lib/errors.ts";
export type { CardRequest } from "./issuer.ts";
export type { Provisioned } from "./provision.ts";

export interface IssueCardOptions {
  /** The card's console: a serial path or tcp://host:port. */
  port: string;
  baud?: number;
  /** How long the card may take to restart, ms (default: the link's BOOT_MS). */
  bootMs?: number;
  /** The issuer's URL and an API token. */
  issuer: string;
  token: string;
  /** espruino.config.js storage.profile. */
  profileFile: string;
  request: CardRequest;
  /** Lock the console afterwards (default true; the simulator's demo card keeps it open). */
  lock?: boolean;
  /** Replace a profile the card already holds (the issuer must agree). */
  force?: boolean;
  /** A journal file (default: in memory only). */
  journal?: string;
  log?: (line: string) => void;
}

export async function issueCard(o: IssueCardOptions): Promise<Provisioned> {
  const link = await Link.open({ port: o.port, baud: o.baud ?? 9600, bootMs: o.bootMs });
  try {
    return await provisionCard({
      con: new CardConsole(link),
      issuer: new IssuanceClient(o.issuer, o.token),
      firmware: VERSION,
      profileFile: o.profileFile,
      request: o.request,
      force: o.force ?? false,
      journal: new Journal(o.journal),
      lock: o.lock,
      log: o.log ?? (() => {}),
    });
  } finally {
    await link.close();
  }
}
