// A lean WebSocket client for fuzzing: it remembers only the ids it still waits for (100 000 replies are not kept).
import WebSocket from 'ws';

export class FuzzClient {
  private readonly pending = new Map<string, string>();
  private waiter: (() => void) | null = null;
  replies = 0;
  internal: Array<{ what: string; error: string }> = [];
  closeCode: number | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.replies++;
      let f: Record<string, unknown>;
      try { f = JSON.parse(data.toString()) as Record<string, unknown>; } catch { return; }
      const id = typeof f.id === 'string' ? f.id : null;
      if (id !== null && this.pending.has(id)) {
        if (f.type === 'error' && f.code === 'INTERNAL') this.internal.push({ what: this.pending.get(id)!, error: String(f.error).slice(0, 200) });
        this.pending.delete(id);
        if (this.pending.size === 0 && this.waiter) this.waiter();
      }
    });
    ws.on('close', (code) => { this.closeCode = code; if (this.waiter) this.waiter(); });
    ws.on('error', () => {});
  }

  static connect(url: string, headers: Record<string, string> = {}): Promise<FuzzClient> {
    const ws = new WebSocket(url, { headers, maxPayload: 256 * 1024 * 1024 });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new FuzzClient(ws)));
      ws.once('error', reject);
    });
  }

  get open(): boolean { return this.ws.readyState === WebSocket.OPEN; }

  /** Sends text; when id is given, remembers that a reply carrying it is owed. */
  send(text: string | Buffer, id: string | null, what: string, binary = false): void {
    if (id !== null) this.pending.set(id, what);
    this.ws.send(text, { binary });
  }

  /** Waits until every owed reply arrived, the socket closed, or the timeout; returns what is still owed. */
  async drain(timeoutMs: number): Promise<Array<[string, string]>> {
    if (this.pending.size > 0 && this.closeCode === null) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { this.waiter = null; resolve(); }, timeoutMs);
        this.waiter = () => { clearTimeout(t); this.waiter = null; resolve(); };
      });
    }
    const owed = [...this.pending.entries()];
    this.pending.clear();
    return owed;
  }

  close(): void { this.ws.terminate(); }
}
