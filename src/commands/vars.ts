// Watched variables (run_python_app data.watch_vars; set_vars_value). run_python_app's handler (kit/runs.ts) calls
// traceForRun to get the tracer option for the ad-hoc run; changes reach the requester as {cmd:"trace_vars",
// data:{name:value}} replies on that run's stream. set_vars_value {data:{name:value}} applies to the running traced
// program of the same client (Kit-Manager request_from or local connection).
import { MAX_WATCHED, splitWatchVars, TraceChannel, tracerScript } from '../apps/tracer';
import { badRequest, notFound } from '../core/errors';
import type { Frame } from '../core/frame';
import type { Command, CommandContext } from './types';
import { Outcome } from './outcome';
import { obj } from './validate';

export interface RunTrace {
  /** For AdhocStart.tracer; undefined when nothing is watched. */
  readonly tracer?: { script: string; env: Record<string, string> };
  /** One line for the run's output when watch_vars named something that cannot be watched (it was skipped). */
  readonly warning?: string;
  /** Call when the run has ended (or failed to start). */
  end(): void;
}

/** Names that are not python variables are skipped with one warning: watch_vars is free text in the playground. */
export async function traceForRun(ctx: CommandContext, data: Frame): Promise<RunTrace> {
  const raw = data.watch_vars;
  if (raw === undefined || raw === null || raw === '' || (Array.isArray(raw) && raw.length === 0)) return { end() {} };
  const { names, skipped, skippedCount } = splitWatchVars(raw);
  const warning = skippedCount === 0 ? undefined
    : `Warning: watch_vars: skipped ${skipped.map((s) => JSON.stringify(s)).join(', ')}${skippedCount > skipped.length ? ` and ${skippedCount - skipped.length} more` : ''}`
      + ` (not a python variable name, or more than ${MAX_WATCHED}); ${names.length ? `watching ${names.join(', ')}` : 'watching nothing'}`;
  if (names.length === 0) return { ...(warning ? { warning } : {}), end() {} };
  const ch = await TraceChannel.open(names, (vars) => ctx.emit({ cmd: 'trace_vars', data: vars }), ctx.parts.runAs);
  const owner = ctx.client.id;
  ctx.parts.traces.add(owner, ch);
  return { tracer: { script: tracerScript(), env: ch.env }, ...(warning ? { warning } : {}), end: () => ctx.parts.traces.remove(owner, ch) };
}

export const varsCommands: Record<string, Command> = {
  set_vars_value: {
    handler: (ctx, req) => {
      const values = obj(req.body, 'data')!;
      const ch = ctx.parts.traces.get(ctx.client.id);
      if (!ch) throw notFound('set_vars_value: no program with watched variables (watch_vars) is running for this client');
      const sent = ch.set(values);
      if (sent.length === 0) throw badRequest(`set_vars_value: none of ${Object.keys(values).slice(0, 10).join(', ') || '(nothing)'} is watched; watched: ${ch.watch.join(', ')}`);
      return Outcome.done({ data: sent });
    },
  },
};
