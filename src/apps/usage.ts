// CPU and memory of running apps: every 2 s, the pids of each app's process group are summed through pidusage.
// The timer runs only while at least one app runs.
import pidusage from 'pidusage';
import { groupPids } from './process';

export const SAMPLE_MS = 2000;

export interface Usage { cpu: number; memory: number }

export class UsageSampler {
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private readonly last = new Map<string, Usage>();

  /** groups(): appId → pgid of every app with a live process. */
  constructor(private readonly groups: () => Map<string, number>) {}

  get(appId: string): Usage | null { return this.last.get(appId) ?? null; }

  /** Called when an app starts or stops: keeps the timer running exactly while there is something to sample. */
  update(): void {
    const any = this.groups().size > 0;
    if (any && !this.timer) {
      this.timer = setInterval(() => void this.sample(), SAMPLE_MS);
      this.timer.unref();
      void this.sample();
    } else if (!any && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
    for (const id of [...this.last.keys()]) if (!this.groups().has(id)) this.last.delete(id);
  }

  private async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (const [appId, pgid] of this.groups()) {
        const pids = groupPids(pgid);
        if (pids.length === 0) continue;
        try {
          const stats = await pidusage(pids);
          let cpu = 0;
          let memory = 0;
          for (const s of Object.values(stats)) { if (s) { cpu += s.cpu; memory += s.memory; } }
          if (this.groups().has(appId)) this.last.set(appId, { cpu: Math.round(cpu * 10) / 10, memory });
        } catch { /* a pid exited between listing and sampling; next round */ }
      }
    } finally { this.busy = false; }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    pidusage.clear();
  }
}
