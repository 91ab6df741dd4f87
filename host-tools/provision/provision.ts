/**
 * Provisioning one card, from whatever state an earlier run left it in:
 *
 *   probe      an Espruino console? locked? (a locked card is unlocked with
 *              the password the issuer gives for --card or the journal's card)
 *   identify   firmware version, board, chip serial, profile digest
 *   install    finish a profile a cut-off run staged
 *   ask        the issuer's record for the chip: issued, pending, none
 *   issue      a new card bound to the chip (the package, once)
 *   stage      the profile record into the staging file, one write
 *   install    the card checks it and makes it live; its digest read back
 *   code       the card computes its first code (a press, told to the tool)
 *   confirm    the issuer checks digest and code: only now is it issued
 *   lock       the console password written, the card boots locked
 *
 * A card whose digest matches the chip's pending card resumes at "code"; one
 * whose digest matches the chip's issued card only gets locked. Anything
 * else already on the card needs --force, and the issuer's agreement.
 */
import { lockName, stagingName } from "../../firmware/core/profile.ts";
import { profileRecord } from "../issuance/package.ts";
import { ToolError } from "../lib/errors.ts";
import type { CardConsole, Identity } from "../serial/card-console.ts";
import type { CardRequest, IssuanceClient } from "./issuer.ts";
import type { Journal } from "./journal.ts";

export interface ProvisionOptions {
  con: CardConsole;
  issuer: IssuanceClient;
  /** The firmware version this tool issues for (package.json's). */
  firmware: string;
  /** espruino.config.js storage.profile. */
  profileFile: string;
  request: CardRequest;
  force: boolean;
  journal: Journal;
  /** The issuer's id of the card a locked console belongs to (--card). */
  cardId?: string;
  /** false: leave the console open after issuance (a simulator's demo card only; default true). */
  lock?: boolean;
  /** Progress lines; never secrets. */
  log: (line: string) => void;
  now?: () => number;
}

export type Outcome = "issued" | "reissued" | "resumed" | "already issued";

export interface Provisioned {
  chipSerial: string;
  cardId: string;
  outcome: Outcome;
}

export async function provisionCard(o: ProvisionOptions): Promise<Provisioned> {
  const { con, issuer, log } = o;
  const port = con.link.port;
  if ((await con.probe(con.link.bootMs)) === "locked") await unlock(o); // a card just plugged in may still be booting

  let id = await con.identify();
  log(`card: firmware ${id.fw}, board ${id.board}, chip ${id.serial}, ${id.profile ? `profile ${id.profile.slice(0, 12)}…` : "no profile"}`);
  if (id.fw !== o.firmware) {
    throw new ToolError(`the card runs inkcard firmware ${id.fw}, this tool issues for ${o.firmware}`, `flash it: inkcard flash --port ${port}`);
  }
  if (id.staged) {
    log("installing the profile an earlier run staged");
    await con.install();
    id = await con.identify();
  }

  const chip = id.serial;
  const status = await issuer.status(chip);
  const issued = status.issued;
  if (issued && id.profile === issued.digest && !o.force) {
    log(`chip already holds issued card ${issued.cardId}${o.lock === false ? "" : ": locking it"}`);
    await lock(o, id, issued.cardId, (await issuer.password(issued.cardId)).consolePassword);
    return { chipSerial: chip, cardId: issued.cardId, outcome: "already issued" };
  }

  let cardId: string;
  let digest: string;
  let outcome: Outcome;
  if (status.pending && id.profile === status.pending.digest) {
    ({ cardId, digest } = status.pending);
    outcome = "resumed";
    log(`resuming card ${cardId}: its profile is on the card, not yet proven`);
  } else {
    if (id.profile && !o.force) {
      const whose = issued ? `a profile other than its issued card ${issued.cardId}` : "a profile this issuer did not issue to it";
      throw new ToolError(`the card already holds ${whose}`, "to replace it, run again with --force (the issuer must agree)");
    }
    if (issued && !o.force) {
      throw new ToolError(`the issuer already has card ${issued.cardId} issued to chip ${chip}`, "to issue it again, run with --force");
    }
    const begun = await issuer.begin({ ...o.request, chipSerial: chip, firmware: id.fw, force: o.force });
    cardId = begun.card.id;
    outcome = begun.replaces ? "reissued" : "issued";
    o.journal.record(chip, cardId, "begun");
    log(`issuer made card ${cardId}${begun.replaces ? ` to replace ${begun.replaces}` : ""}; writing its profile`);
    const { record, digest: written } = profileRecord(begun.package, begun.caption);
    begun.package.key = "";
    try {
      if (written !== begun.digest) throw new ToolError("the issuer's profile digest differs from the tool's", "the tool and the issuer are different versions: update one");
      await con.stage(stagingName(o.profileFile), record);
    } finally {
      record.fill(0);
    }
    const after = await con.install();
    if (after.profile !== written) {
      throw new ToolError("the profile read back from the card differs from the one written", "run the same command again");
    }
    digest = written;
  }

  // The card's clock: time-mode codes need it, and a counter card keeps it for later use.
  await con.setTime((o.now ?? Date.now)() / 1000);
  const code = await con.code();
  if (!code) throw new ToolError("the card made no code with its new profile", "run the same command again; if it fails again, flash the card again");
  log("first code computed on the card; asking the issuer to confirm it");
  const confirmed = await issuer.confirm(cardId, digest, code);
  o.journal.record(chip, cardId, "issued");
  log(`card ${cardId} issued; locking its console`);
  await lock(o, id, cardId, confirmed.consolePassword);
  return { chipSerial: chip, cardId, outcome };
}

async function lock(o: ProvisionOptions, id: Identity, cardId: string, password: string): Promise<void> {
  if (o.lock !== false) await o.con.lock(lockName(o.profileFile), password);
  o.journal.record(id.serial, cardId, "done");
}

/** A locked console: log in with the password of the card it should be. */
async function unlock(o: ProvisionOptions): Promise<void> {
  const cardId = o.cardId ?? o.journal.latest()?.card;
  if (!cardId) {
    throw new ToolError(`the card on ${o.con.link.port} has a locked console: it is issued`, "to reissue it, run with --force --card ID (the issuer's id of the card)");
  }
  o.log(`console locked; logging in as card ${cardId}`);
  await o.con.unlock((await o.issuer.password(cardId)).consolePassword);
}
