// The supervisor's side of start order (start-order.ts): which conditions an app still waits for, and, at every status
// change, the waiting apps whose conditions now hold are started. Kept out of supervisor.ts: it only calls these.
import type { AppRecord } from './store';
import { unmet, type OrderView } from './start-order';

export interface GateHooks<I> {
  /** Starts a waiting app (in its serial chain, once it is still waiting). */
  start(inst: I): void;
  /** Sets the reason of a waiting app. */
  wait(inst: I, reason: string): void;
}

/** The reason a waiting app shows: "waiting for VEA-a to be running (it is stopped)". */
export const waitingFor = (missing: readonly string[]): string => `waiting for ${missing.join(', ')}`;

export class StartGate<I extends { rec: AppRecord }> {
  private waking = false;

  constructor(private readonly apps: ReadonlyMap<string, I>, private readonly hooks: GateHooks<I>) {}

  /** The conditions of `rec` that do not hold yet (empty: it may start). */
  missing(rec: AppRecord): string[] {
    return unmet(rec.config.dependsOn, (id) => this.view(id));
  }

  /** After a status change: every waiting app whose conditions hold is started, the others' reasons kept true. */
  wake(): void {
    if (this.waking) return; // a status set from here comes back here
    this.waking = true;
    try {
      for (const w of this.apps.values()) {
        if (w.rec.status !== 'waiting') continue;
        const missing = this.missing(w.rec);
        if (missing.length === 0) this.hooks.start(w);
        else if (w.rec.reason !== waitingFor(missing)) this.hooks.wait(w, waitingFor(missing));
      }
    } finally { this.waking = false; }
  }

  private view(id: string): OrderView | undefined {
    const r = this.apps.get(id)?.rec;
    return r && { status: r.status, exitCode: r.exitCode, succeeded: r.succeeded === true };
  }
}
