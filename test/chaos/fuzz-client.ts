// A lean WebSocket client for fuzzing: it remembers only the ids it still waits for (100 000 replies are not kept).
import WebSocket from 'ws';
import { OwedReplies } from './owed';

export class FuzzClient {
  private readonly owed = new OwedReplies();
  replies = 0;
  internal: Array<{ what: string; error: string }> = [];
  closeCode: number | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.replies++;
      let f: Record<string, unknown>;
      try { f = JSON.parse(data.toString()) as Record<string, unknown>; } catch { return; }
      const id = typeof f.id === 'string' ? f.id : null;
      const what = id === null ? undefined : this.owed.settle(id);
      if (what !== undefined && f.type === 'error' && f.code === 'INTERNAL') this.internal.push({ what, error: String(f.error).slice(0, 200) });
    });
    ws.on('close', (code) => { this.closeCode = code; this.owed.wake(); });
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
    if (id !== null) this.owed.add(id, what);
    this.ws.send(text, { binary });
  }

  /** Waits until every owed reply arrived, the socket closed, or the timeout; returns what is still owed. */
  drain(timeoutMs: number): Promise<Array<[string, string]>> {
    return this.owed.drain(this.closeCode === null ? timeoutMs : 0);
  }

  close(): void { this.ws.terminate(); }
}
