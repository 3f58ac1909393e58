// What watches a deployed app's run besides its exit, for the supervisor: its limits (limits/confinement.ts: started
// inside them, what they did told in its console) and its health checks (health-check.ts); and the counters of both
// per app since the agent started, for list_deployed_apps and /metrics. The supervisor calls it at a start, at an
// exit and when a check gives up; the state machine stays in supervisor.ts.
import type { Config } from '../config';
import type { AppConsole } from './console';
import type { GroupProcess, SpawnSpec } from './process';
import type { AppRecord } from './store';
import { kindOf } from './kinds';
import { allowedHosts, HealthWatcher, probe, type HealthState } from './health-check';
import type { Confined, Confinement } from './limits/confinement';
import { effectiveLimits, type Limits } from './limits/spec';
import { procCpuSeconds } from './limits/cgroup-fs';

/** One run of an app: its confinement and its checks. */
export interface Run {
  confined: Confined<GroupProcess> | null;
  health: HealthWatcher | null;
  /** Set when a failed health check ended the run (its reason). */
  unhealthy: string | null;
}

export interface AppCounters {
  limits: Limits;
  memoryKills: number;
  forkRefusals: number;
  healthFailures: number;
  health: HealthState | null;
  cpuSeconds: number | null;
  memoryBytes: number | null;
}

/** One app's figures for /metrics. */
export interface AppMetrics {
  id: string; status: string; restarts: number; cpuSeconds: number | null; memoryBytes: number | null;
  memoryKills: number; forkRefusals: number; healthFailures: number; consoleLines: number;
}

export class AppWatch {
  readonly healthHosts: string[];
  private readonly healthFailures = new Map<string, number>();
  private readonly runs = new Map<string, Run>();

  constructor(config: Config, readonly confinement: Confinement) {
    this.healthHosts = allowedHosts(config.apps.healthCheckHosts);
  }

  limitsOf(rec: AppRecord): Limits { return effectiveLimits(this.confinement.box, rec.config.limits); }

  /** Starts the app's process (`make`, synchronous) inside its limits; what a limit does goes to its console. */
  start(rec: AppRecord, console: AppConsole, marks: readonly string[], make: (env: Record<string, string>) => GroupProcess): Run {
    // A kind may take cgroup limits only (kuksa-server: a databroker binary, apps/kinds/kuksa-server.ts says why).
    const rlimits = kindOf(rec.type).rlimits;
    const confined = this.confinement.spawn(rec.id, marks, this.limitsOf(rec), make, (e) => { if (e.line) console.note('stderr', e.line); }, { rlimits });
    const run: Run = { confined, health: null, unhealthy: null };
    this.runs.set(rec.id, run);
    return run;
  }

  /**
   * Health checks of a run that is up: `onUnhealthy` once `failures` checks in a row failed; the app is then ended,
   * and the supervisor's one line about its end ("unhealthy: …; restarting in …") is what its console shows.
   */
  watchHealth(rec: AppRecord, run: Run, spec: Pick<SpawnSpec, 'cwd' | 'env' | 'uid' | 'gid'>, onUnhealthy: (why: string) => void): void {
    const cfg = rec.config.healthCheck;
    if (!cfg) return;
    const env = { ...spec.env };
    delete env.SDV_STDERR_FIFO;
    run.health = new HealthWatcher(cfg, () => probe(cfg, { cwd: spec.cwd, env, uid: spec.uid, gid: spec.gid }), {
      failure: () => { this.healthFailures.set(rec.id, (this.healthFailures.get(rec.id) ?? 0) + 1); },
      unhealthy: (why) => {
        run.unhealthy = `unhealthy: ${cfg.failures} health check${cfg.failures === 1 ? '' : 's'} in a row failed (${why})`;
        onUnhealthy(run.unhealthy);
      },
    });
  }

  /**
   * The run ended (`signal` what ended its leader): its checks stop, and the reason when a limit or a failed health
   * check ended it (null when it ended by itself or was stopped).
   */
  ended(run: Run | null, signal: number | null): string | null {
    if (!run) return null;
    run.health?.stop();
    const verdict = run.confined?.guard.verdict(signal) ?? null;
    return verdict?.reason ?? run.unhealthy;
  }

  counters(rec: AppRecord, live: boolean): AppCounters {
    const totals = this.confinement.totalsOf(rec.id);
    const run = this.runs.get(rec.id);
    const usage = live ? run?.confined?.usage() : undefined;
    return {
      limits: this.limitsOf(rec), memoryKills: totals.memoryKills, forkRefusals: totals.forkRefusals,
      healthFailures: this.healthFailures.get(rec.id) ?? 0, health: run?.health?.state ?? null,
      cpuSeconds: usage?.cpuSeconds ?? null, memoryBytes: usage?.memoryBytes ?? null,
    };
  }

  /**
   * Figures of an app for /metrics: CPU and memory from its cgroups where they account for it, else from its leader
   * (`pid`, with its reaped children) and the sampled RSS of its group (`rss`).
   */
  metrics(rec: AppRecord, pid: number | null, rss: number | null, consoleLines: number): AppMetrics {
    const c = this.counters(rec, pid !== null);
    return {
      id: rec.id, status: rec.status, restarts: rec.restarts,
      cpuSeconds: c.cpuSeconds ?? (pid !== null ? procCpuSeconds(pid) : null), memoryBytes: c.memoryBytes ?? rss,
      memoryKills: c.memoryKills, forkRefusals: c.forkRefusals, healthFailures: c.healthFailures, consoleLines,
    };
  }

  /** The app is gone (uninstalled): its counters go with it. */
  forget(appId: string): void {
    this.runs.get(appId)?.health?.stop();
    this.runs.delete(appId);
    this.healthFailures.delete(appId);
    this.confinement.forget(appId);
  }

  /** What list_deployed_apps shows of it. */
  listed(rec: AppRecord, live: boolean): Record<string, unknown> {
    const c = this.counters(rec, live);
    return {
      limits: c.limits, limitKills: c.memoryKills, forkRefusals: c.forkRefusals,
      ...(rec.config.healthCheck ? { health: c.health ? { ...c.health } : { status: 'starting' }, healthFailures: c.healthFailures } : {}),
      ...(rec.config.dependsOn ? { dependsOn: rec.config.dependsOn } : {}),
    };
  }
}
