/**
 * Provisioning N cards through one port, the operator swapping boards when
 * asked. The journal is the count: a chip it has as done is never issued
 * again, and a run cut off anywhere is resumed by running it again. While it
 * waits for the next card the tool keeps knocking on the port: a card that
 * is the last one done (or any locked card) is not the next one.
 */
import { ToolError } from "../lib/errors.ts";
import { CardConsole } from "../serial/card-console.ts";
import { Link } from "../serial/link.ts";
import { redactPort } from "../serial/tcp-console.ts";
import { provisionCard, type ProvisionOptions, type Provisioned } from "./provision.ts";

export interface BatchOptions extends Omit<ProvisionOptions, "con"> {
  count: number;
  port: string;
  baud: number;
  /** How often to look for the next card, ms. */
  pollMs?: number;
  /** How long a card may take to answer, and to restart, ms (Link's defaults otherwise). */
  answerMs?: number;
  bootMs?: number;
  /** A card is done (done of count, this run's results so far). */
  progress?: (done: number, results: Provisioned[]) => void;
  /** Ask the operator to put in the next card. */
  prompt: (line: string) => void;
}

export async function provisionBatch(o: BatchOptions): Promise<Provisioned[]> {
  const results: Provisioned[] = [];
  let link: Link | undefined;
  try {
    while (o.journal.done().length < o.count) {
      const k = o.journal.done().length + 1;
      o.prompt(`card ${k} of ${o.count}: put it on ${redactPort(o.port)}`);
      for (;;) {
        let con: CardConsole | undefined;
        try {
          link = link?.isOpen ? link : await Link.open({ port: o.port, baud: o.baud, answerMs: o.answerMs, bootMs: o.bootMs });
          con = new CardConsole(link);
          if (!(await isNext(con, o))) con = undefined;
        } catch (e) {
          if (!swapping(e)) throw e;
          con = undefined;
        }
        if (con) {
          results.push(await provisionCard({ ...o, con }));
          o.progress?.(o.journal.done().length, results);
          break;
        }
        // The operator's pace, not the card's: how often to knock while no next card answers.
        await new Promise((r) => setTimeout(r, o.pollMs ?? 500));
      }
    }
  } finally {
    await link?.close();
  }
  return results;
}

/** A fresh card (or the one a cut-off run was locking), not one this batch has done. */
async function isNext(con: CardConsole, o: BatchOptions): Promise<boolean> {
  if ((await con.probe()) === "locked") return o.journal.latest()?.step === "issued";
  const id = await con.identify();
  return !o.journal.done().includes(id.serial);
}

/** What a port shows while boards are swapped: it comes and goes, or nothing answers yet. */
function swapping(e: unknown): boolean {
  return e instanceof ToolError && /does not exist|went away|did not answer|nothing listens/.test(e.problem);
}
