// Console subscriptions to an app that is not deployed yet (a client that subscribes first, then deploys): held here,
// bounded, and handed to the app's console when it is deployed, replaying from its first line. Every deploy goes
// through deployApp (commands/apps.ts) so that no door's deploy misses them.
import { CommandError } from '../core/errors';
import type { Client } from '../core/frame';

/** Waiting subscriptions in all; one client may hold at most PER_CLIENT of them. */
export const MAX_PENDING = 1024;
const PER_CLIENT = 64;

interface Waiting { client: Client; dispose: () => void }

export class PendingConsoles {
  private readonly byApp = new Map<string, Map<string, Waiting>>();
  private count = 0;

  /** Holds the client's subscription until `appId` is deployed; LIMIT beyond the bounds. */
  add(appId: string, client: Client): void {
    const subs = this.byApp.get(appId) ?? new Map<string, Waiting>();
    if (subs.has(client.id)) return;
    let mine = 0;
    for (const m of this.byApp.values()) if (m.has(client.id)) mine++;
    if (mine >= PER_CLIENT || this.count >= MAX_PENDING) {
      throw new CommandError('LIMIT', `too many console subscriptions to apps not deployed yet (at most ${PER_CLIENT} per client, ${MAX_PENDING} in all)`);
    }
    const dispose = client.onClose(() => this.remove(appId, client.id));
    subs.set(client.id, { client, dispose });
    this.byApp.set(appId, subs);
    this.count++;
  }

  remove(appId: string, clientId: string): boolean {
    const subs = this.byApp.get(appId);
    const w = subs?.get(clientId);
    if (!subs || !w) return false;
    w.dispose();
    subs.delete(clientId);
    this.count--;
    if (subs.size === 0) this.byApp.delete(appId);
    return true;
  }

  has(appId: string, clientId: string): boolean { return this.byApp.get(appId)?.has(clientId) ?? false; }

  /** The clients waiting for `appId`, no longer held here. */
  take(appId: string): Client[] {
    const subs = this.byApp.get(appId);
    if (!subs) return [];
    this.byApp.delete(appId);
    this.count -= subs.size;
    return [...subs.values()].map((w) => { w.dispose(); return w.client; });
  }
}
