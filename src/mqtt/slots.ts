// Who gets the broker's sockets and its client slots, so that one local process cannot hold them all:
//   - a socket that has not sent CONNECT waits at most FIXED_LIMITS.connectTimeoutMs (the connection's timer), and at
//     most maxWaiting of them wait at once: a new one makes the oldest give way (a real client sends CONNECT at once);
//   - sockets being closed (a refusal's CONNACK on its way) are bounded too, the oldest cut at once past maxClosing;
//   - of mqtt.maxClients, a share (mqtt.appSlotsPercent) is kept for the agent's own apps: anyone may take a shared
//     slot, and once those are taken only a process the agent started (told by agent-peers.ts, from the kernel's
//     tables) gets one of the kept ones. Whether a client is such a process is asked only then, at most maxIdentifying
//     at once;
//   - every client refused or let go for want of room is counted, with the time of the last one, for /health.
import { FIXED_LIMITS } from './limits';

export type Slot = 'shared' | 'app';
/** What the kernel says of a client: one of the agent's own processes, or anyone else. */
export type PeerKind = 'app' | 'other';
export type Choice = Slot | 'identify' | 'full';

/** A socket the slots may let go. */
export interface Droppable { drop(why: string): void }

export interface Refusal { readonly at: number; readonly reason: string }

export class Slots<C extends Droppable> {
  readonly shared: number;
  readonly reserved: number;
  private readonly waiting = new Set<C>();
  private readonly closing = new Set<C>();
  private identifying = 0;
  private readonly used = { shared: 0, app: 0 };
  refused = 0;
  lastRefusal: Refusal | null = null;

  constructor(maxClients: number, appSlotsPercent: number) {
    this.reserved = Math.floor(maxClients * appSlotsPercent / 100);
    this.shared = maxClients - this.reserved;
  }

  get clients(): { shared: number; app: number } { return { ...this.used }; }
  get waitingCount(): number { return this.waiting.size; }

  /** A new socket, waiting for its CONNECT: past maxWaiting the oldest waiting one gives way. */
  accepted(c: C): void {
    this.waiting.add(c);
    while (this.waiting.size > FIXED_LIMITS.maxWaiting) {
      const oldest = this.waiting.values().next().value as C;
      this.waiting.delete(oldest);
      this.refuse(`more than ${FIXED_LIMITS.maxWaiting} sockets waiting for CONNECT: the oldest gave way`);
      oldest.drop('gave way to a newer socket (too many waiting for CONNECT)');
    }
  }

  /** Its CONNECT arrived: it no longer waits for one. */
  connecting(c: C): void { this.waiting.delete(c); }

  /**
   * The slot a CONNECT gets: a shared one while there is one, else one kept for apps when the client is an app;
   * 'identify' when only the kernel can say (then choose again with the answer); 'full' when there is no room.
   * `freeing`: the slot of the connection this one takes over (same client id), free once it is granted.
   */
  choose(peer: PeerKind | null, freeing: Slot | null): Choice {
    const shared = this.used.shared - (freeing === 'shared' ? 1 : 0);
    const app = this.used.app - (freeing === 'app' ? 1 : 0);
    if (shared < this.shared) return 'shared';
    if (app >= this.reserved) return 'full';
    if (peer === null) return this.identifying < FIXED_LIMITS.maxIdentifying ? 'identify' : 'full';
    return peer === 'app' ? 'app' : 'full';
  }

  identifyStart(): void { this.identifying++; }
  identifyEnd(): void { this.identifying--; }

  take(slot: Slot): void { this.used[slot]++; }
  release(slot: Slot): void { this.used[slot]--; }

  refuse(reason: string): void {
    this.refused++;
    this.lastRefusal = { at: Date.now(), reason };
  }

  /** A refusal within FIXED_LIMITS.refusalWindowMs: /health says degraded meanwhile. */
  refusing(now = Date.now()): boolean {
    return this.lastRefusal !== null && now - this.lastRefusal.at < FIXED_LIMITS.refusalWindowMs;
  }

  /** Ended (a CONNACK or the last packets still on their way): past maxClosing the oldest is cut at once. */
  ending(c: C): void {
    this.waiting.delete(c);
    this.closing.add(c);
    while (this.closing.size > FIXED_LIMITS.maxClosing) {
      const oldest = this.closing.values().next().value as C;
      this.closing.delete(oldest);
      oldest.drop('closing sockets over their bound');
    }
  }

  /** The socket is closed. */
  gone(c: C): void {
    this.waiting.delete(c);
    this.closing.delete(c);
  }
}
