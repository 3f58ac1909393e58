// Watches a python run's stderr for the import error that stops a Velocitas app on a box without the SDK (or with a
// colliding `sdv`), and produces the agent's one extra console line saying what is missing and how to install it.
// At most one line per run; only a short tail of the output is kept, so a chunk boundary inside the message is fine.

export type HintSource = (missingModule: string) => string | null;

const MISSING = /ModuleNotFoundError: No module named '([A-Za-z0-9_.]+)'/;
const TAIL = 512;

export class ImportHint {
  private tail = '';
  private done = false;

  constructor(private readonly source: HintSource) {}

  /** Feed stderr text as it comes; returns the hint line (without newline) the first time one applies. */
  feed(text: string): string | null {
    if (this.done) return null;
    const seen = this.tail + text;
    this.tail = seen.slice(-TAIL);
    const m = MISSING.exec(seen);
    if (!m) return null;
    this.tail = '';
    const line = this.source(m[1]!);
    if (line) this.done = true;
    return line;
  }
}
