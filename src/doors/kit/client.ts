// The frontends behind a Kit-Manager, one KitClient per request_from, and the shapes their replies take: a `cmd`
// command is answered as the Python runtime did ({cmd, …}), a seed-000 `type` request exactly as the local API would;
// both travel as messageToKit-kitReply events with request_from and kit_id.
import type { Envelope } from '../../commands/dispatch';
import type { ErrorCode } from '../../core/errors';
import type { Client, Frame } from '../../core/frame';
import type { Command } from '../../commands/types';
import { interimFrame } from '../local-session';

/** What a client needs of the link: emit an event while registered, say when the socket is backed up, count a drop. */
export interface KitReplies {
  readonly kitId: string;
  emitEvent(name: string, payload: Frame): boolean;
  congested(): boolean;
  /** A reply that was not sent (its client forgotten): counted in /health kitManagerDroppedReplies. */
  dropped(): void;
}

const now = (): string => new Date().toISOString();

/** One frontend client of the Kit-Manager, named by the request_from the Kit-Manager gave its commands. */
export class KitClient implements Client {
  readonly door = 'kit';
  private closers: Array<() => void> = [];
  private _closed = false;
  /** Its commands accepted and not answered yet (queued or running; a run's command lasts as long as the run). */
  pending = 0;
  /** When the Kit-Manager last brought a command of it (ms since the epoch). */
  heardAt = 0;

  constructor(readonly id: string, private readonly link: KitReplies) {}

  get closed(): boolean { return this._closed; }

  /** True while a part holds it: every subscription (signals, console) registers a close hook while it lasts. */
  get holding(): boolean { return this.closers.length > 0; }

  /**
   * Every frame to this client is a messageToKit-kitReply routed by request_from; kit_id names this runtime. A frame
   * pushed in the seed's shape (`type`, e.g. apis-value) also gets that name as `cmd`, which is what the frontend reads.
   */
  send(frame: Frame): void {
    if (this._closed) { this.link.dropped(); return; }
    const named = frame.cmd === undefined && typeof frame.type === 'string' ? { cmd: frame.type, ...frame } : frame;
    this.link.emitEvent('messageToKit-kitReply', { ...named, request_from: this.id, kit_id: this.link.kitId });
  }

  congested(): boolean { return this.link.congested(); }

  onClose(fn: () => void): () => void {
    if (this._closed) { queueMicrotask(fn); return () => {}; }
    this.closers.push(fn);
    return () => { this.closers = this.closers.filter((f) => f !== fn); };
  }

  close(): void {
    if (this._closed) return;
    this._closed = true;
    for (const fn of this.closers.splice(0)) { try { fn(); } catch { /* a part's hook failing must not stop the others */ } }
  }
}

/** The error reply to a `cmd`: what the Python runtime sends on an exception, plus a stable code and the text. */
export function errorReply(cmd: unknown, code: ErrorCode, message: string, requestFrom: string, kitId: string): Frame {
  const echoed = typeof cmd === 'string' ? cmd.slice(0, 64) : cmd === undefined ? null : cmd;
  return { cmd: echoed, error: message, errorCode: code, result: `Error: ${message}`, isDone: true, is_finish: true, code: 1, request_from: requestFrom, kit_id: kitId };
}

/**
 * Replies to a Kit-Manager `cmd`: `{cmd, …body}`; the client adds request_from and kit_id. The command's KitShape says
 * where the frontend shows them: another `cmd`, the reason of a failure as a visible line first, extra error fields.
 */
export function cmdEnvelope(client: KitClient, rawCmd: unknown): Envelope {
  // Under another cmd (KitShape.cmd), the request's own name travels as requestCmd.
  const name = (wireName: string, command: Command | undefined): Frame => {
    const cmd = command?.kit?.cmd;
    return cmd && cmd !== wireName ? { cmd, requestCmd: wireName } : { cmd: wireName };
  };
  return {
    done: (req, command, body) => client.send({ ...name(req.wireName, command), ...body }),
    progress: (req, command, frame) => client.send({ ...name(req.wireName, command), ...frame }),
    fail: (req, code, message, command) => {
      const kit = command?.kit;
      if (kit?.errorLine) client.send({ cmd: kit.errorLine, isDone: false, result: `Error: ${message}\r\n`, code: 0 });
      const { request_from: _rf, kit_id: _k, cmd, ...rest } = errorReply(req?.wireName || rawCmd, code, message, client.id, '');
      const extra = kit?.errorFields && req && 'body' in req ? kit.errorFields(req, message) : {};
      client.send({ ...(typeof cmd === 'string' && cmd ? name(cmd, command) : { cmd }), ...rest, ...extra });
    },
  };
}

/**
 * Replies to a seed-000 `type` request: exactly what the local API would send, inside the kitReply. Interim frames
 * carry `requestId`, never `id`: a frame with the request's `id` is its reply.
 */
export function typeEnvelope(client: KitClient): Envelope {
  return {
    done: (req, command, body) => client.send({ type: command.responseType ?? `${req.wireName}-response`, id: req.id, ...body, timestamp: now() }),
    progress: (req, _command, frame) => client.send(interimFrame(req, frame)),
    fail: (req, code, message) => client.send({ type: 'error', id: req ? req.id : null, error: message, code, timestamp: now() }),
  };
}
