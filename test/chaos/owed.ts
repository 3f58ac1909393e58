// Replies a fuzzing peer still waits for, by id. Only the owed ids are kept, so 100 000 frames cost little memory.
export class OwedReplies {
  private readonly pending = new Map<string, string>();
  private waiter: (() => void) | null = null;

  add(id: string, what: string): void { this.pending.set(id, what); }

  /** A reply carrying this id arrived: what was sent, or undefined when nothing was owed. */
  settle(id: string): string | undefined {
    const what = this.pending.get(id);
    if (what === undefined) return undefined;
    this.pending.delete(id);
    if (this.pending.size === 0) this.wake();
    return what;
  }

  /** Ends a drain early (the socket closed: nothing more will come). */
  wake(): void { this.waiter?.(); }

  /** Waits until nothing is owed, wake() or the timeout; returns what is still owed and forgets it. */
  async drain(timeoutMs: number): Promise<Array<[string, string]>> {
    if (this.pending.size > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { this.waiter = null; resolve(); }, timeoutMs);
        this.waiter = () => { clearTimeout(t); this.waiter = null; resolve(); };
      });
    }
    const owed = [...this.pending.entries()];
    this.pending.clear();
    return owed;
  }
}
