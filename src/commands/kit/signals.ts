// The Kit-Manager's signal, mock and model commands, in the reply shapes the Autowrx frontend reads. The work is the
// signals area's (src/commands/{signals,mock,model}.ts and src/signals/hub.ts); this file only maps the `cmd` names.
// A Kit-Manager subscriber is one lease per frontend client, renewed by each subscribe_apis (the frontend resends
// every 30 s) and lapsing signals.subscriberTtlS after the last one; values flow as apis-value replies.
// The frontend shows no reply of these commands but the model's, so a failure (a write the signal refused, a mock
// signal that does not exist, a subscription to nothing) is also a line in its output log (run_python_app,
// isDone false: the one place it prints text sent by the box).
import { badRequest } from '../../core/errors';
import { listMock, setMockList } from '../mock';
import { generateModel, revertModel, withGenerator } from '../model';
import { kitSubscribeApis, kitUnsubscribeApis, kitWriteSignals } from '../signals';
import type { Command, Handler } from '../types';
import { isPlainObject, strList, typeName } from '../validate';

const MAX_PATHS = 20_000;
const MAX_PATH = 512;

/**
 * reset_signals_value: sets signals back to the values of the mock list (list_mock_signal): the named ones (`data` as
 * a list of paths, or an object whose keys are paths), or every signal of the list when none is named.
 */
const resetSignals: Handler = async (ctx, req) => {
  const hub = ctx.parts.signals;
  const d = req.body.data;
  let names: string[] | null = null;
  if (Array.isArray(d)) names = strList(req.body, 'data', { maxItems: MAX_PATHS, maxLen: MAX_PATH });
  else if (isPlainObject(d)) names = Object.keys(d);
  else if (d !== undefined && d !== null && d !== '') throw badRequest(`data: expected a list of signal paths or an object, got ${typeName(d)}`);
  const wanted = names ? new Set(names) : null;
  const data: Record<string, unknown> = {};
  for (const e of hub.mock.list()) if (!wanted || wanted.has(e.signal)) data[e.signal] = e.value;
  if (Object.keys(data).length === 0) return { result: 'Successful' };
  return kitWriteSignals(ctx.parts, { data });
};

const command = (handler: Handler): Command => ({ handler });
/** A command whose failure the user should read in the output log (thrown errors: KitShape errorLine). */
const logged = (handler: Handler): Command => ({ handler: shownFailures(handler), kit: { errorLine: LOG_CMD } });
const LOG_CMD = 'run_python_app';

/** A reply that says some of it failed (`error`) also becomes a log line, before the reply itself. */
function shownFailures(handler: Handler): Handler {
  return async (ctx, req) => {
    const body = await handler(ctx, req);
    if (body && typeof body.error === 'string') ctx.emit({ cmd: LOG_CMD, isDone: false, result: `Error: ${req.wireName}: ${body.error}\r\n`, code: 0 });
    return body;
  };
}

/** write_signals_value's reply, with the refused paths said in one line too. */
async function writeSignals(ctx: Parameters<Handler>[0], body: Parameters<Handler>[1]['body']) {
  const r = await kitWriteSignals(ctx.parts, body);
  const errors = r.errors as Record<string, string> | undefined;
  return errors ? { ...r, error: Object.values(errors).slice(0, 5).join('; ') } : r;
}

/**
 * generate/revert_vehicle_model as the local API runs them, kuksa.modelGenerator included: its lines go to the
 * output log (run_python_app, isDone false), and a failed generator is said in the result the log shows.
 */
function modelCommand(change: Handler): Command {
  return command(async (ctx, req) => {
    const reply = await withGenerator(ctx, (await change(ctx, req)) ?? {}, (_stream, line) => ctx.emit({ cmd: LOG_CMD, isDone: false, result: `${line}\r\n`, code: 0 }));
    const g = reply.generator as { exitCode: number | null; error?: string } | undefined;
    if (!g || (g.exitCode === 0 && !g.error)) return reply;
    return { ...reply, result: `${String(reply.result)}; kuksa.modelGenerator failed: ${g.error ?? `exit code ${g.exitCode ?? 'none (killed)'}`}` };
  });
}

export const kitSignalCommands: Record<string, Command> = {
  subscribe_apis: logged((ctx, req) => kitSubscribeApis(ctx.parts, ctx.client, req.body)),
  unsubscribe_apis: command((ctx) => kitUnsubscribeApis(ctx.parts, ctx.client)),
  write_signals_value: logged((ctx, req) => writeSignals(ctx, req.body)),
  reset_signals_value: logged(resetSignals),
  list_mock_signal: command((ctx) => listMock(ctx.parts)),
  set_mock_signals: logged((ctx, req) => setMockList(ctx.parts, req.body)),
  generate_vehicle_model: modelCommand((ctx, req) => generateModel(ctx.parts, req.body)),
  revert_vehicle_model: modelCommand((ctx) => revertModel(ctx.parts)),
};
