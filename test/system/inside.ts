// What the systemd box and the containers share: commands run inside, and the agent's local API reached from inside
// with container/sdv-api.py (the box and the containers have their own network namespace, only loopback).
export type Frame = Record<string, unknown>;
export interface Run { status: number | null; stdout: string; stderr: string }

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns something other than undefined; throws naming `what` after timeoutMs. */
export async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(250);
  }
}

export abstract class Inside {
  /** Where sdv-api.py is inside. */
  protected abstract readonly apiScript: string;
  abstract exec(argv: string[], opts?: { input?: string; timeoutMs?: number }): Run;

  /** One local API request; every reply frame. */
  api(request: Frame, timeoutS = 30): Frame[] {
    const r = this.exec(['python3', this.apiScript, '--timeout', String(timeoutS), JSON.stringify(request)], { timeoutMs: (timeoutS + 10) * 1000 });
    const frames = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Frame);
    if (r.status === 3 || frames.length === 0) throw new Error(`local API request ${String(request.type)} failed (${r.status}): ${r.stderr.trim()}`);
    return frames;
  }

  /** The last reply of one request. */
  call(request: Frame, timeoutS?: number): Frame { return this.api(request, timeoutS).at(-1)!; }

  /** Polls app_output until a line starting with `marker` appears; returns that line. */
  async output(appId: string, marker: string, timeoutMs = 30_000): Promise<string> {
    let last: Frame = {};
    try {
      return await until(`a line starting with ${marker} from ${appId}`, () => {
        last = this.call({ type: 'app_output', appId, lines: 200 });
        return ((last.lines as Frame[] | undefined) ?? []).map((l) => String(l.output)).reverse().find((o) => o.startsWith(marker));
      }, timeoutMs);
    } catch (e) { throw new Error(`${(e as Error).message}: ${JSON.stringify(last).slice(0, 1500)}`); }
  }

  /** One app's entry in list_deployed_apps. */
  app(appId: string): Frame | undefined { return (this.call({ type: 'list_deployed_apps' }).apps as Frame[]).find((a) => a.id === appId); }
}
