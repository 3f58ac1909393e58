// The frontends behind the Kit-Manager as the link sees them: one KitClient per request_from (bounded: an idle one is
// forgotten to make room, a busy one never, and a new id is refused with LIMIT while all are busy), the commands they
// send run through the one table with a bounded number at once, the error replies to requests that never reached it,
// and the runtime-state report pushed when runners or subscribers change.
import { dispatch, refuse, type Envelope } from '../../commands/dispatch';
import type { ErrorCode } from '../../core/errors';
import type { Frame } from '../../core/frame';
import { isPlainObject } from '../../commands/validate';
import { runtimeState, type Parts } from '../../parts';
import { cmdEnvelope, errorReply, KitClient, typeEnvelope, type KitReplies } from './client';

/**
 * Frontend clients (request_from ids) remembered. A new id past this takes the place of the least recently heard idle
 * one; one that is busy (a command queued or running, a run being one; a subscription) is never forgotten: its
 * run output and signal values would stop unseen. While all are busy, a new id is answered LIMIT.
 */
export const MAX_KIT_CLIENTS = 256;
/**
 * A client that only holds subscriptions and sent nothing for this long counts as idle: the playground renews its
 * subscription every 30 s, and nothing tells the agent when a frontend leaves (a console subscription has no lease).
 */
const HOLD_SILENT_MS = 10 * 60_000;
/** Refusals of new ids are logged at most once per this, with the number since the last line. */
const REFUSED_LOG_MS = 1000;
/** Commands being handled at once; more wait in a bounded queue, and beyond it are answered with LIMIT. */
const MAX_IN_FLIGHT = 64;
const MAX_WAITING = 1024;
const MAX_REQUEST_FROM = 256;

/** Reads `"key":"value"` from a payload too big (or too broken) to parse, to echo it in the error reply. */
function peekString(text: string, key: string, max: number): string | null {
  const m = new RegExp(`"${key}"\\s*:\\s*"([^"\\\\]{1,${max}})"`).exec(text);
  return m ? m[1]! : null;
}

export class KitFrontends {
  private readonly clients = new Map<string, KitClient>();
  private inFlight = 0;
  private readonly waiting: Array<{ client: KitClient; payload: Frame; nameKey: 'cmd' | 'type' }> = [];
  private lastStateKey = '';
  private refused = { at: -Infinity, since: 0 };

  constructor(private readonly parts: Parts, private readonly link: KitReplies) {}

  closeAll(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  /** After a (re)registration the state is reported again even when unchanged: the Kit-Manager forgot it. */
  forgetReportedState(): void { this.lastStateKey = ''; }

  reportState(): void {
    let data;
    try { data = runtimeState(this.parts); } catch (e) {
      this.parts.log.error({ err: e }, 'runtime state unavailable');
      return;
    }
    const key = JSON.stringify(data);
    if (key === this.lastStateKey) return;
    this.lastStateKey = key;
    this.link.emitEvent('report-runtime-state', { kit_id: this.link.kitId, data });
    for (const c of this.clients.values()) c.send({ cmd: 'report-runtime-state', data });
  }

  // ---- incoming commands --------------------------------------------------------------------------------------

  /** The client of a request_from, made when new; null when it is new and every place is taken by a busy one. */
  private clientFor(id: string, now: number): KitClient | null {
    let c = this.clients.get(id);
    // Map order is recency order: a known client moves to the end.
    if (c) this.clients.delete(id);
    else {
      if (this.clients.size >= MAX_KIT_CLIENTS && !this.forgetIdle(now)) return null;
      c = new KitClient(id, this.link);
    }
    c.heardAt = now;
    this.clients.set(id, c);
    return c;
  }

  /** Forgets the least recently heard idle client; false when every one is busy. */
  private forgetIdle(now: number): boolean {
    for (const [id, c] of this.clients) {
      if (c.pending > 0 || (c.holding && now - c.heardAt < HOLD_SILENT_MS)) continue;
      this.clients.delete(id);
      c.close();
      return true;
    }
    return false;
  }

  /** A new id while every place is busy: LIMIT, in the shape the frontend reads for that command. */
  private refuseNewClient(rf: string, payload: Frame, nameKey: 'cmd' | 'type', now: number): void {
    const client = new KitClient(rf, this.link);
    refuse(payload, nameKey, this.envelope(client, payload, nameKey), 'LIMIT',
      `this runtime serves ${MAX_KIT_CLIENTS} frontends at once and each of them is busy (a run, a subscription or a command in flight); try again when one ends`);
    this.refused.since++;
    if (now - this.refused.at >= REFUSED_LOG_MS) {
      this.parts.log.warn({ refused: this.refused.since, limit: MAX_KIT_CLIENTS }, 'kit-manager frontends all busy; new request_from refused');
      this.refused = { at: now, since: 0 };
    }
  }

  private envelope(client: KitClient, payload: Frame, nameKey: 'cmd' | 'type'): Envelope {
    return nameKey === 'cmd' ? cmdEnvelope(client, payload.cmd) : typeEnvelope(client);
  }

  /** Sends an error reply for a request that never reached the table. */
  private replyError(requestFrom: string, cmd: unknown, code: ErrorCode, message: string): void {
    this.link.emitEvent('messageToKit-kitReply', errorReply(cmd, code, message, requestFrom, this.link.kitId));
  }

  /** A broken event may still say who sent it: answer that client rather than leave it waiting. */
  answerMalformed(text: string, error: string): void {
    const requestFrom = peekString(text, 'request_from', MAX_REQUEST_FROM);
    if (requestFrom) this.replyError(requestFrom, peekString(text, 'cmd', 64), 'BAD_REQUEST', `malformed Socket.IO event: ${error}`);
  }

  answerOversized(text: string, maxBytes: number): void {
    const requestFrom = peekString(text, 'request_from', MAX_REQUEST_FROM);
    const cmd = peekString(text, 'cmd', 64);
    this.parts.log.warn({ bytes: text.length, cmd, requestFrom }, 'oversized messageToKit refused');
    if (requestFrom) this.replyError(requestFrom, cmd, 'LIMIT', `payload of ${text.length} bytes exceeds the limit of ${maxBytes} bytes (api.maxPayloadBytes)`);
  }

  onMessageToKit(payload: unknown): void {
    if (!isPlainObject(payload)) {
      this.parts.log.warn('messageToKit without an object payload; ignored (no request_from to answer)');
      return;
    }
    const rf = payload.request_from;
    if (typeof rf !== 'string' || rf.length === 0 || rf.length > MAX_REQUEST_FROM) {
      this.parts.log.warn({ cmd: typeof payload.cmd === 'string' ? payload.cmd.slice(0, 64) : null }, 'messageToKit without a usable request_from; cannot answer');
      return;
    }
    let nameKey: 'cmd' | 'type';
    if (payload.cmd !== undefined) nameKey = 'cmd';
    else if (typeof payload.type === 'string') nameKey = 'type';
    else {
      this.replyError(rf, null, 'BAD_REQUEST', 'messageToKit needs "cmd" (a Kit-Manager command) or "type" (a seed-000 request)');
      return;
    }
    const now = Date.now();
    const client = this.clientFor(rf, now);
    if (!client) { this.refuseNewClient(rf, payload, nameKey, now); return; }
    if (this.inFlight >= MAX_IN_FLIGHT) {
      if (this.waiting.length >= MAX_WAITING) {
        refuse(payload, nameKey, this.envelope(client, payload, nameKey), 'LIMIT', `too many commands queued (limit ${MAX_WAITING}); wait for replies`);
        return;
      }
      client.pending++;
      this.waiting.push({ client, payload, nameKey });
      return;
    }
    client.pending++;
    this.run(client, payload, nameKey);
  }

  /** Runs one accepted command (client.pending already counts it). */
  private run(client: KitClient, payload: Frame, nameKey: 'cmd' | 'type'): void {
    this.inFlight++;
    void dispatch(this.parts, client, payload, nameKey, this.envelope(client, payload, nameKey)).finally(() => {
      client.pending--;
      this.inFlight--;
      while (this.inFlight < MAX_IN_FLIGHT && this.waiting.length > 0) {
        const w = this.waiting.shift()!;
        this.run(w.client, w.payload, w.nameKey);
      }
    });
  }
}
