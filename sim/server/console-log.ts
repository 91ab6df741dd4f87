/**
 * The card's console output as the page and GET /api/console read it: a tail
 * of bounded size with absolute offsets, so a reader can ask for "everything
 * after byte N" and learn when older output was dropped.
 */
export class ConsoleLog {
  private text = "";
  /** Absolute offset of text[0]. */
  private start = 0;

  constructor(private readonly keep = 256 * 1024) {}

  append(chunk: string): void {
    this.text += chunk;
    if (this.text.length > this.keep * 2) {
      const drop = this.text.length - this.keep;
      this.text = this.text.slice(drop);
      this.start += drop;
    }
  }

  /** Absolute offset just past the last character. */
  get end(): number {
    return this.start + this.text.length;
  }

  /** Output from absolute offset `from` (or from the oldest kept). `from` in the answer says where it starts. */
  read(from = 0): { from: number; end: number; text: string } {
    const at = Math.min(Math.max(from, this.start), this.end);
    return { from: at, end: this.end, text: this.text.slice(at - this.start) };
  }

  /** True when any output kept so far contains `needle` (tests look for "Uncaught"). */
  includes(needle: string): boolean {
    return this.text.includes(needle);
  }
}
