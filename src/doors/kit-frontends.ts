// The frontends behind the Kit-Manager as the link sees them: one KitClient per request_from (bounded, least recently
// used closed first), the commands they send run through the one table with a bounded number at once, the error
// replies to requests that never reached it, and the runtime-state report pushed when runners or subscribers change.
import { dispatch } from '../commands/dispatch';
import type { ErrorCode } from '../core/errors';
import { runtimeState } from '../commands/kit-commands';
import type { Frame } from '../core/frame';
import { isPlainObject } from '../commands/validate';
import type { Parts } from '../parts';
import { cmdEnvelope, errorReply, KitClient, typeEnvelope, type KitReplies } from './kit-client';

/** Frontend clients (request_from ids) remembered; beyond this the least recently used is closed. */
export const MAX_KIT_CLIENTS = 256;
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

  private clientFor(id: string): KitClient {
    let c = this.clients.get(id);
    if (c && !c.closed) {
      // Map order is recency order: move to the end.
      this.clients.delete(id);
      this.clients.set(id, c);
      return c;
    }
    c = new KitClient(id, this.link);
    this.clients.set(id, c);
    if (this.clients.size > MAX_KIT_CLIENTS) {
      const [oldestId, oldest] = this.clients.entries().next().value as [string, KitClient];
      this.clients.delete(oldestId);
      oldest.close();
    }
    return c;
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
    const client = this.clientFor(rf);
    if (this.inFlight >= MAX_IN_FLIGHT) {
      if (this.waiting.length >= MAX_WAITING) {
        this.replyError(rf, payload[nameKey], 'LIMIT', `too many commands queued (limit ${MAX_WAITING}); wait for replies`);
        return;
      }
      this.waiting.push({ client, payload, nameKey });
      return;
    }
    this.run(client, payload, nameKey);
  }

  private run(client: KitClient, payload: Frame, nameKey: 'cmd' | 'type'): void {
    this.inFlight++;
    void dispatch(this.parts, client, payload, nameKey, nameKey === 'cmd' ? cmdEnvelope(client, payload.cmd) : typeEnvelope(client)).finally(() => {
      this.inFlight--;
      while (this.inFlight < MAX_IN_FLIGHT && this.waiting.length > 0) {
        const w = this.waiting.shift()!;
        this.run(w.client, w.payload, w.nameKey);
      }
    });
  }
}
