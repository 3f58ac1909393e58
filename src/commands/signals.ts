// Vehicle signal commands (seed 000): subscribe_apis, unsubscribe_apis, get_signals_value, write_signals_value.
// The Kit-Manager's forms of them (a lease per frontend, its reply words) are adapters in commands/kit/signals.ts.
import type { Parts } from '../parts';
import { MAX_APIS_PER_REQUEST } from '../signals/hub';
import { badRequest, CommandError, notFound, unavailable, type ErrorCode, type SignalFailure } from '../core/errors';
import { signalFailure } from '../signals/failure';
import type { Client, Frame } from '../core/frame';
import type { Command } from './types';
import { isPlainObject, strList, typeName } from './validate';

const MAX_PATH_LEN = 512;

const FAILURE_CODES: Record<SignalFailure, ErrorCode> = { unavailable: 'UNAVAILABLE', 'not-found': 'NOT_FOUND', invalid: 'BAD_REQUEST', limit: 'LIMIT' };

/** Signal failures become command errors with their text; anything else is a bug and goes on to dispatch (INTERNAL). */
async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try { return await fn(); } catch (e) {
    if (e instanceof CommandError) throw e;
    const f = signalFailure(e);
    if (!f) throw e;
    throw new CommandError(FAILURE_CODES[f.kind], f.message);
  }
}

function apisOf(body: Frame): string[] {
  return strList(body, 'apis', { maxItems: MAX_APIS_PER_REQUEST, maxLen: MAX_PATH_LEN });
}

export function dataOf(body: Frame): Record<string, unknown> {
  const data = body.data;
  if (!isPlainObject(data)) throw badRequest(`data: expected an object of {signal path: value}, got ${typeName(data)}`);
  const keys = Object.keys(data);
  if (keys.length === 0) throw badRequest('data: at least one signal');
  if (keys.length > MAX_APIS_PER_REQUEST) throw badRequest(`data: more than ${MAX_APIS_PER_REQUEST} signals`);
  for (const k of keys) if (k.length > MAX_PATH_LEN) throw badRequest(`data: a path longer than ${MAX_PATH_LEN} characters`);
  return data;
}

/** Subscribes a client; the reply names the subscription id that apis-value frames carry. */
async function subscribeApis(parts: Parts, client: Client, apis: string[], opts: { fullSet?: boolean; ttlS?: number; id?: string } = {}) {
  const r = await guarded(() => parts.signals.subscribe(client, apis, opts));
  if (r.paths.length === 0) throw notFound(`apis: no signal matches ${apis.slice(0, 5).join(', ')}`);
  return r;
}

export async function writeSignals(parts: Parts, data: Record<string, unknown>) {
  const outcomes = await guarded(() => parts.signals.write(data));
  const errors: Record<string, string> = {};
  for (const [p, o] of Object.entries(outcomes)) if (!o.ok) errors[p] = o.error;
  const failed = Object.keys(errors);
  // Nothing written because the databroker is down: one clear error for the request, not a per-path list of
  // connection errors that reads like a partial success.
  if (failed.length > 0 && failed.length === Object.keys(outcomes).length && !parts.status.kuksa.connected) {
    throw unavailable(`the databroker at ${parts.config.kuksa.address} is unreachable; nothing was written (${errors[failed[0]!]!.slice(0, 200)})`);
  }
  return { outcomes, errors, ok: failed.length === 0 };
}

export const signalCommands: Record<string, Command> = {
  subscribe_apis: {
    // With a lease (the Kit-Manager's form): the requester's one subscription, full-set frames, renewed by each call.
    handler: async (ctx, req) => {
      const lease = req.options?.lease;
      const r = await subscribeApis(ctx.parts, ctx.client, apisOf(req.body), lease ? { fullSet: true, ttlS: lease.ttlS, id: lease.id } : {});
      return { subscriptionId: r.id, apis: r.paths, ...(r.unknown.length ? { unknown: r.unknown } : {}) };
    },
  },
  unsubscribe_apis: {
    handler: (ctx, req) => {
      const hub = ctx.parts.signals;
      const lease = req.options?.lease;
      if (lease) return { removed: hub.unsubscribe(lease.id) ? 1 : 0 };
      const sid = req.body.subscriptionId;
      if (sid !== undefined) {
        if (typeof sid !== 'string') throw badRequest(`subscriptionId: expected a string, got ${typeName(sid)}`);
        if (!hub.batcher.get(sid) || hub.batcher.get(sid)!.client !== ctx.client) throw notFound(`subscriptionId: no subscription ${sid.slice(0, 64)} on this connection`);
        hub.unsubscribe(sid);
        return { removed: 1 };
      }
      return { removed: hub.unsubscribeClient(ctx.client) };
    },
  },
  get_signals_value: {
    handler: async (ctx, req) => {
      const r = await guarded(() => ctx.parts.signals.getValues(apisOf(req.body)));
      return { result: r.result, ...(Object.keys(r.errors).length ? { errors: r.errors } : {}) };
    },
  },
  write_signals_value: {
    handler: async (ctx, req) => {
      const r = await writeSignals(ctx.parts, dataOf(req.body));
      return { result: Object.fromEntries(Object.entries(r.outcomes).map(([p, o]) => [p, o.ok ? 'ok' : o.error])), ...(r.ok ? {} : { errors: r.errors }) };
    },
  },
};
