// What watches a deployed app's run besides its exit, for the supervisor: its limits (limits/confinement.ts: started
// inside them, what they did told in its console), and their counters per app since the agent started, for
// list_deployed_apps. The supervisor calls it at a start and at an exit; the state machine stays in supervisor.ts.
import type { Config } from '../config';
import type { AppConsole } from './console';
import type { GroupProcess } from './process';
import type { AppRecord } from './store';
import type { Confined, Confinement } from './limits/confinement';
import { effectiveLimits, type Limits } from './limits/spec';

/** One run of an app: its confinement. */
export interface Run {
  confined: Confined<GroupProcess> | null;
}

export interface AppCounters {
  limits: Limits;
  memoryKills: number;
  forkRefusals: number;
  cpuSeconds: number | null;
  memoryBytes: number | null;
}

export class AppWatch {
  private readonly runs = new Map<string, Run>();

  constructor(_config: Config, readonly confinement: Confinement) {}

  limitsOf(rec: AppRecord): Limits { return effectiveLimits(this.confinement.box, rec.config.limits); }

  /** Starts the app's process (`make`, synchronous) inside its limits; what a limit does goes to its console. */
  start(rec: AppRecord, console: AppConsole, marks: readonly string[], make: (env: Record<string, string>) => GroupProcess): Run {
    const confined = this.confinement.spawn(rec.id, marks, this.limitsOf(rec), make, (e) => { if (e.line) console.note('stderr', e.line); });
    const run: Run = { confined };
    this.runs.set(rec.id, run);
    return run;
  }

  /** The run ended (`signal` what ended its leader): the reason when a limit ended it (null otherwise). */
  ended(run: Run | null, signal: number | null): string | null {
    if (!run) return null;
    return run.confined?.guard.verdict(signal)?.reason ?? null;
  }

  counters(rec: AppRecord, live: boolean): AppCounters {
    const totals = this.confinement.totalsOf(rec.id);
    const run = this.runs.get(rec.id);
    const usage = live ? run?.confined?.usage() : undefined;
    return {
      limits: this.limitsOf(rec), memoryKills: totals.memoryKills, forkRefusals: totals.forkRefusals,
      cpuSeconds: usage?.cpuSeconds ?? null, memoryBytes: usage?.memoryBytes ?? null,
    };
  }

  /** The app is gone (uninstalled): its counters go with it. */
  forget(appId: string): void {
    this.runs.delete(appId);
    this.confinement.forget(appId);
  }

  /** What list_deployed_apps shows of it. */
  listed(rec: AppRecord, live: boolean): Record<string, unknown> {
    const c = this.counters(rec, live);
    return { limits: c.limits, limitKills: c.memoryKills, forkRefusals: c.forkRefusals };
  }
}
