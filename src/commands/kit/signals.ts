// The Kit-Manager's signal, mock and model commands, in the reply shapes the Autowrx frontend reads. The work is the
// areas' (src/commands/{signals,mock,model}.ts): this file holds the adapters around their handlers and the one
// command only a Kit-Manager sends (reset_signals_value).
// A Kit-Manager subscriber is one lease per frontend client, renewed by each subscribe_apis (the frontend resends
// every 30 s) and lapsing signals.subscriberTtlS after the last one; values flow as apis-value replies.
// The frontend shows no reply of these commands but the model's, so a failure (a write the signal refused, a mock
// signal that does not exist, a subscription to nothing) is also a line in its output log (run_python_app,
// isDone false: the one place it prints text sent by the box).
import { badRequest } from '../../core/errors';
import type { Frame } from '../../core/frame';
import { dataOf, writeSignals } from '../signals';
import type { Command, CommandContext, CommandRequest, KitShape } from '../types';
import { isPlainObject, strList, typeName } from '../validate';
import { SUCCESSFUL } from './words';

const MAX_PATHS = 20_000;
const MAX_PATH = 512;
const LOG_CMD = 'run_python_app';

/** The frontend's one subscription: a lease named after its client, as long as signals.subscriberTtlS. */
const lease = (ctx: CommandContext, req: CommandRequest): CommandRequest =>
  ({ ...req, options: { lease: { id: `kit-${ctx.client.id}`, ttlS: ctx.parts.config.signals.subscriberTtlS } } });

/** A reply that says some of it failed (`error`) also becomes a log line, before the reply itself. */
function shown(ctx: CommandContext, req: CommandRequest, reply: Frame): Frame {
  if (typeof reply.error === 'string') ctx.emit({ cmd: LOG_CMD, isDone: false, result: `Error: ${req.wireName}: ${reply.error}\r\n`, code: 0 });
  return reply;
}

/** write_signals_value as the frontend reads it: `Successful`, or `Failed` with the refused paths (and in one line). */
function writeReply(errors: Record<string, string> | undefined): Frame {
  return errors ? { result: 'Failed', errors } : { result: SUCCESSFUL };
}

/**
 * reset_signals_value: sets signals back to the values of the mock list (list_mock_signal): the named ones (`data` as
 * a list of paths, or an object whose keys are paths), or every signal of the list when none is named.
 */
async function resetSignals(ctx: CommandContext, req: CommandRequest): Promise<Frame> {
  const hub = ctx.parts.signals;
  const d = req.body.data;
  let names: string[] | null = null;
  if (Array.isArray(d)) names = strList(req.body, 'data', { maxItems: MAX_PATHS, maxLen: MAX_PATH });
  else if (isPlainObject(d)) names = Object.keys(d);
  else if (d !== undefined && d !== null && d !== '') throw badRequest(`data: expected a list of signal paths or an object, got ${typeName(d)}`);
  const wanted = names ? new Set(names) : null;
  const data: Record<string, unknown> = {};
  for (const e of hub.mock.list()) if (!wanted || wanted.has(e.signal)) data[e.signal] = e.value;
  if (Object.keys(data).length === 0) return { result: SUCCESSFUL };
  const r = await writeSignals(ctx.parts, dataOf({ data }));
  return writeReply(r.ok ? undefined : r.errors);
}

/** A command whose failure the user should read in the output log (thrown errors: KitShape errorLine). */
const logged: Pick<KitShape, 'errorLine'> = { errorLine: LOG_CMD };

/**
 * generate/revert_vehicle_model: kuksa.modelGenerator's lines go to the output log (run_python_app, isDone false), and
 * a failed generator is said in the result the log shows.
 */
const model: KitShape = {
  progress: (_req, f) => (typeof f.line === 'string' && f.stream !== undefined ? [{ cmd: LOG_CMD, isDone: false, result: `${f.line}\r\n`, code: 0 }] : [f]),
  render: (_ctx, _req, reply) => {
    const g = reply.generator as { exitCode: number | null; error?: string } | undefined;
    if (!g || (g.exitCode === 0 && !g.error)) return reply;
    return { ...reply, result: `${String(reply.result)}; kuksa.modelGenerator failed: ${g.error ?? `exit code ${g.exitCode ?? 'none (killed)'}`}` };
  },
};

/** The Kit-Manager's forms of the areas' signal, mock and model commands. */
export const kitSignalForms: Record<string, KitShape> = {
  subscribe_apis: { ...logged, input: lease, render: () => ({ result: SUCCESSFUL }) },
  unsubscribe_apis: { input: lease, render: () => ({ result: SUCCESSFUL }) },
  write_signals_value: {
    ...logged,
    render: (ctx, req, reply) => {
      const errors = reply.errors as Record<string, string> | undefined;
      const r = writeReply(errors);
      return shown(ctx, req, errors ? { ...r, error: Object.values(errors).slice(0, 5).join('; ') } : r);
    },
  },
  set_mock_signals: { ...logged, render: shown },
  generate_vehicle_model: model,
  revert_vehicle_model: model,
};

export const kitSignalCommands: Record<string, Command> = {
  reset_signals_value: { handler: async (ctx, req) => shown(ctx, req, await resetSignals(ctx, req)), kit: logged },
};
