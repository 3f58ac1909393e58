// One run's limits, watched: the kernel's counters of its cgroups (OOM kills, refused forks) read every POLL_MS and
// at its end, so that what a limit did reaches the app's console as one line and its status as the reason it ended.
import { describeLimit, type LimitName, type Limits } from './spec';

/** The counters a guard compares (cgroup v1 or v2; zeros where a limit is not enforced through a cgroup). */
export interface LimitCounters { oomKills: number; forkRefusals: number; memoryBytes: number | null; cpuSeconds: number | null }

export const ZERO_COUNTERS: LimitCounters = { oomKills: 0, forkRefusals: 0, memoryBytes: null, cpuSeconds: null };

/** At most one line about refused forks per this long: a fork bomb under its limit fails thousands of times a second. */
export const FORK_LINE_EVERY_MS = 30_000;

/** What a limit did: which limit and how often (for the counters of /metrics), and a console line ('' = none now). */
export interface LimitEvent { limit: LimitName; line: string; count: number }

export interface LimitVerdict { limit: LimitName; reason: string }

export class LimitGuard {
  private seen: LimitCounters;
  private lastForkLine = 0;
  private forkSaid = 0;
  /** Totals of this run: OOM kills and refused forks since it started. */
  readonly totals = { oomKills: 0, forkRefusals: 0 };

  constructor(readonly limits: Limits, private readonly read: () => LimitCounters, private readonly onEvent: (e: LimitEvent) => void, private readonly now: () => number = Date.now) {
    // A cgroup folder that could not be removed after an earlier run keeps its counts: only what comes after counts.
    this.seen = read();
  }

  /** Reads the counters; a new OOM kill or refused forks become an event. Returns the counters read. */
  poll(final = false): LimitCounters {
    const c = this.read();
    const kills = c.oomKills - this.seen.oomKills;
    const refused = c.forkRefusals - this.seen.forkRefusals;
    this.seen = c;
    if (kills > 0) {
      this.totals.oomKills += kills;
      this.onEvent({ limit: 'memoryMB', count: kills, line: `[sdv-agent] ${describeLimit('memoryMB', this.limits)} was reached: the kernel killed ${kills === 1 ? 'a process' : `${kills} processes`} of the app (apps.limits.memoryMB, config.limits.memoryMB)` });
    }
    if (refused > 0) {
      this.totals.forkRefusals += refused;
      const at = this.now();
      if (final || this.forkSaid === 0 || at - this.lastForkLine >= FORK_LINE_EVERY_MS) {
        const n = this.totals.forkRefusals - this.forkSaid;
        this.forkSaid = this.totals.forkRefusals;
        this.lastForkLine = at;
        this.onEvent({ limit: 'pids', count: refused, line: `[sdv-agent] ${describeLimit('pids', this.limits)} was reached: ${n} new process${n === 1 ? ' or thread was' : 'es or threads were'} refused (apps.limits.pids, config.limits.pids)` });
      } else {
        this.onEvent({ limit: 'pids', count: refused, line: '' });
      }
    }
    return c;
  }

  /**
   * At the end of the run (its leader gone, `signal` what ended it): the limit that killed it, if one did. A run that
   * died of SIGKILL while the OOM killer was at work in its group died of the memory limit.
   */
  verdict(signal: number | null): LimitVerdict | null {
    this.poll(true);
    if (signal === 9 && this.totals.oomKills > 0) {
      return { limit: 'memoryMB', reason: `killed by ${describeLimit('memoryMB', this.limits)}` };
    }
    return null;
  }
}
