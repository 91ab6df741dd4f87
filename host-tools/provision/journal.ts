/**
 * The provisioning journal: one JSON line per step a card reached, appended
 * and flushed to disk before the next step starts. A run that was cut off
 * reads it to know which chips are done (a batch never issues a chip
 * twice) and which card a locked console belongs to. No secrets go in: chip
 * serials, card ids and step names only.
 */
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";
import { ToolError } from "../lib/errors.ts";

export type JournalStep = "begun" | "issued" | "done";

export interface JournalEntry {
  at: string;
  chip: string;
  card: string;
  step: JournalStep;
}

export class Journal {
  private readonly entries: JournalEntry[] = [];

  /** file undefined: a journal in memory only (one card, nothing to resume: the simulator's demo card). */
  constructor(readonly file: string | undefined) {
    const text = file === undefined ? "" : readJournal(file);
    const lines = text.split("\n");
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      try {
        const e = JSON.parse(line) as JournalEntry;
        if (typeof e.chip === "string" && typeof e.card === "string" && ["begun", "issued", "done"].includes(e.step)) this.entries.push(e);
        else throw new Error();
      } catch {
        // Only the last line can be torn by a crash mid-append; anything else is not our file.
        if (i < lines.length - 2) throw new ToolError(`the journal ${file} is damaged at line ${i + 1}`, "pass another --journal, or repair it");
      }
    });
  }

  record(chip: string, card: string, step: JournalStep): void {
    const entry: JournalEntry = { at: new Date().toISOString(), chip, card, step };
    this.entries.push(entry);
    if (this.file === undefined) return;
    const fd = openSync(this.file, "a", 0o600);
    try {
      writeSync(fd, JSON.stringify(entry) + "\n");
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Chips whose card was issued and locked, in order. */
  done(): string[] {
    return [...new Set(this.entries.filter((e) => e.step === "done").map((e) => e.chip))];
  }

  /** The newest card confirmed by the issuer (step "issued", or "done" once locked): a locked console is probably it. */
  latest(): JournalEntry | undefined {
    return [...this.entries].reverse().find((e) => e.step !== "begun");
  }
}

function readJournal(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw new ToolError(`cannot read the journal ${file}`, "check its permissions, or pass another --journal");
  }
}
