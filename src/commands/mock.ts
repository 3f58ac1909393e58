// Mock provider commands (seed 000): mock_service_start/stop/configure/status; the Python runtime's mock list
// (list_mock_signal / set_mock_signals), which the playground's mock tab reads and writes.
import type { Parts } from '../parts';
import { MOCK_LIMITS, MOCK_MODES, type MockEntry, type MockMode } from '../signals/mock';
import { badRequest, unavailable } from '../core/errors';
import { signalFailure } from '../signals/failure';
import type { Frame } from '../core/frame';
import type { Command } from './types';
import { Outcome } from './outcome';
import { int, strList, typeName, isPlainObject } from './validate';

function modeOf(body: Frame, optional: boolean): MockMode | undefined {
  const m = body.mode;
  if (m === undefined && optional) return undefined;
  if (typeof m !== 'string' || !(MOCK_MODES as readonly string[]).includes(m)) throw badRequest(`mode: expected one of ${MOCK_MODES.join(', ')}, got ${JSON.stringify(m)?.slice(0, 40)}`);
  return m as MockMode;
}

/** Validates a mock list [{signal, value}]; values are kept as strings like the Python runtime. */
function mockListOf(body: Frame): MockEntry[] {
  const data = body.data;
  if (!Array.isArray(data)) throw badRequest(`data: expected an array of {signal, value}, got ${typeName(data)}`);
  if (data.length > MOCK_LIMITS.maxListEntries) throw badRequest(`data: more than ${MOCK_LIMITS.maxListEntries} entries`);
  return data.map((e, i) => {
    if (!isPlainObject(e) || typeof e.signal !== 'string' || e.signal.length === 0 || e.signal.length > 512) throw badRequest(`data[${i}].signal: expected a signal path`);
    if (e.value === undefined || (typeof e.value === 'object' && e.value !== null && !Array.isArray(e.value))) throw badRequest(`data[${i}].value: expected a value`);
    return { signal: e.signal, value: typeof e.value === 'string' ? e.value : JSON.stringify(e.value) };
  });
}

export function listMock(parts: Parts): Frame { return { data: parts.signals.mock.list() }; }

/** A backend that cannot be asked (external databroker down) is UNAVAILABLE, saying nothing was changed. */
async function reachable<T>(fn: () => Promise<T>): Promise<T> {
  try { return await fn(); } catch (e) {
    const f = signalFailure(e);
    if (f?.kind === 'unavailable') throw unavailable(`${f.message}; the mock list was not changed`);
    throw e;
  }
}

/**
 * set_mock_signals: stores the entries whose signal exists, refuses and names the others, and makes the values live.
 * `data` is the list as now stored (what list_mock_signal shows); `unknown` and `errors` say what did not take.
 */
export async function setMockList(parts: Parts, body: Frame): Promise<Outcome> {
  const { list, unknown, errors } = await reachable(() => parts.signals.mock.setList(mockListOf(body)));
  const failed = Object.keys(errors);
  if (unknown.length === 0 && failed.length === 0) return Outcome.done({ data: list });
  const why = [
    ...(unknown.length ? [`refused ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ` and ${unknown.length - 10} more` : ''} (no such signal in the vehicle model)`] : []),
    ...failed.slice(0, 10).map((p) => errors[p]!),
  ].join('; ');
  return Outcome.failed(`Failed: ${why}; ${list.length} signal(s) stored`, { error: why, data: list, ...(unknown.length ? { unknown } : {}), ...(failed.length ? { errors } : {}) });
}

export const mockCommands: Record<string, Command> = {
  mock_service_start: {
    handler: async (ctx, req) => { const m = ctx.parts.signals.mock; await m.start(modeOf(req.body, true) ?? 'echo-all'); return m.status(); },
  },
  mock_service_stop: { handler: async (ctx) => { const m = ctx.parts.signals.mock; await m.off(); return m.status(); } },
  mock_service_configure: {
    handler: async (ctx, req) => {
      const m = ctx.parts.signals.mock;
      const signals = req.body.signals === undefined ? undefined : strList(req.body, 'signals', { maxItems: MOCK_LIMITS.maxSignals, maxLen: 512 });
      const rateMs = req.body.rateMs === undefined ? undefined : int(req.body, 'rateMs', { min: MOCK_LIMITS.minRateMs, max: MOCK_LIMITS.maxRateMs });
      if (Array.isArray(req.body.data)) await m.setList(mockListOf(req.body));
      await m.configure({ mode: modeOf(req.body, true), signals, rateMs });
      return m.status();
    },
  },
  mock_service_status: { handler: (ctx) => ctx.parts.signals.mock.status() },
  list_mock_signal: { handler: (ctx) => listMock(ctx.parts) },
  set_mock_signals: { handler: (ctx, req) => setMockList(ctx.parts, req.body) },
};
