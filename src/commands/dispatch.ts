// One request through the table: validation of the envelope, the handler call, and errors turned into replies.
// Shared by every door; the door passes how its replies are wrapped.
import { CommandError, errorCode, errorText, type ErrorCode } from '../core/errors';
import { resolveCommand } from './table';
import type { Client, Frame } from '../core/frame';
import type { Command, CommandContext, CommandRequest } from './types';
import type { Parts } from '../parts';
import { isPlainObject } from './validate';
import { Outcome } from './outcome';
import { outcomeReply } from './kit/words';

export interface Envelope {
  /** The handler's final reply body. */
  done(req: CommandRequest, command: Command, body: Frame): void;
  /** An interim reply emitted by the handler. */
  progress(req: CommandRequest, command: Command, frame: Frame): void;
  /** A failure; req is null when the frame could not even be read as a request, command when no command was found. */
  fail(req: CommandRequest | Pick<CommandRequest, 'id' | 'wireName'> | null, code: ErrorCode, message: string, command?: Command): void;
}

const MAX_ID_LENGTH = 256;

/** Reads `id` as the seed allows it: a string or a number; anything else is answered with id null. */
export function requestId(frame: Frame): string | number | null {
  const id = frame.id;
  if (typeof id === 'string' && id.length <= MAX_ID_LENGTH) return id;
  if (typeof id === 'number' && Number.isFinite(id)) return id;
  return null;
}

/**
 * Runs one request. `nameKey` is `type` for seed-000 frames and `cmd` for Kit-Manager commands.
 * Never throws and never rejects: every outcome becomes a reply through the envelope.
 */
export async function dispatch(parts: Parts, client: Client, frame: unknown, nameKey: 'type' | 'cmd', envelope: Envelope): Promise<void> {
  if (!isPlainObject(frame)) {
    envelope.fail(null, 'BAD_REQUEST', `expected a JSON object with a "${nameKey}" field`);
    return;
  }
  const id = requestId(frame);
  const wireName = frame[nameKey];
  if (typeof wireName !== 'string' || wireName.length === 0 || wireName.length > 64) {
    envelope.fail({ id, wireName: '' }, 'BAD_REQUEST', `"${nameKey}" must be a non-empty string of at most 64 characters`);
    return;
  }
  const found = resolveCommand(wireName);
  if (!found) {
    envelope.fail({ id, wireName }, 'UNKNOWN_TYPE', `unknown ${nameKey} "${wireName.slice(0, 64)}"`);
    return;
  }
  const req: CommandRequest = { name: found.name, wireName, id, body: frame };
  // A `cmd` request goes through the command's Kit-Manager dialect (input, progress, render) where it has one; the
  // adapters themselves emit in the frontend's shape already.
  const kit = nameKey === 'cmd' ? found.command.kit : undefined;
  const emit = (f: Frame) => envelope.progress(req, found.command, f);
  const ctx: CommandContext = { parts, client, emit: kit?.progress ? (f) => { for (const g of kit.progress!(req, f)) emit(g); } : emit };
  const kitCtx: CommandContext = { parts, client, emit };
  try {
    const input = kit?.input ? kit.input(kitCtx, req) : req;
    const result = await found.command.handler(ctx, input);
    // An Outcome is said in the Python runtime's words through either door (commands/kit/words.ts).
    let body = result instanceof Outcome ? outcomeReply(result) : result;
    if (body !== undefined && kit?.render) body = kit.render(kitCtx, input, body);
    if (body !== undefined) envelope.done(req, found.command, body);
  } catch (e) {
    if (!(e instanceof CommandError)) parts.log.error({ err: e, command: found.name }, 'command failed unexpectedly');
    envelope.fail(req, errorCode(e), errorText(e), found.command);
  }
}

/**
 * Answers a request with an error without running it (a door's bound refused it), in the shape a failure of that
 * command takes: a Kit-Manager frontend sees it where it looks for the command's errors.
 */
export function refuse(frame: Frame, nameKey: 'type' | 'cmd', envelope: Envelope, code: ErrorCode, message: string): void {
  const id = requestId(frame);
  const wireName = frame[nameKey];
  if (typeof wireName !== 'string' || wireName.length === 0 || wireName.length > 64) {
    envelope.fail({ id, wireName: '' }, code, message);
    return;
  }
  const found = resolveCommand(wireName);
  if (!found) envelope.fail({ id, wireName }, code, message);
  else envelope.fail({ name: found.name, wireName, id, body: frame }, code, message, found.command);
}
