// The `mock-service` app type: a deployed app {type: 'mock-service', config: {mode, signals?, rateMs?}} whose run_app
// starts the agent's mock provider in that mode and whose stop_app turns it off. There is one provider (the one the
// mock_service_* commands drive too), so the app that started it last owns it: stopping another mock-service app
// does not turn it off.
import type { AppConsole } from '../apps/console';
import type { AppRecord } from '../apps/store';
import type { ServiceHook } from '../apps/supervisor';
import { badRequest } from '../core/errors';
import type { SignalHub } from './hub';
import { MOCK_LIMITS, MOCK_MODES, type MockMode } from './mock';

export interface MockAppSettings { mode: MockMode; signals?: string[]; rateMs?: number }

/** Reads the app's config (kept by the supervisor in config.extra); the error text names the bad key. */
export function mockAppSettings(extra: Record<string, unknown>): MockAppSettings {
  const mode = extra.mode ?? 'echo-all';
  if (typeof mode !== 'string' || mode === 'off' || !(MOCK_MODES as readonly string[]).includes(mode)) {
    throw badRequest(`config.mode: expected one of ${MOCK_MODES.filter((m) => m !== 'off').join(', ')}, got ${JSON.stringify(mode)?.slice(0, 40)}`);
  }
  const out: MockAppSettings = { mode: mode as MockMode };
  if (extra.signals !== undefined) {
    const s = extra.signals;
    if (!Array.isArray(s) || s.length > MOCK_LIMITS.maxSignals || s.some((x) => typeof x !== 'string' || x.length === 0 || x.length > 512)) {
      throw badRequest(`config.signals: expected at most ${MOCK_LIMITS.maxSignals} signal paths`);
    }
    out.signals = s as string[];
  }
  if (extra.rateMs !== undefined) {
    const r = extra.rateMs;
    if (typeof r !== 'number' || !Number.isInteger(r) || r < MOCK_LIMITS.minRateMs || r > MOCK_LIMITS.maxRateMs) {
      throw badRequest(`config.rateMs: expected an integer from ${MOCK_LIMITS.minRateMs} to ${MOCK_LIMITS.maxRateMs}`);
    }
    out.rateMs = r;
  }
  return out;
}

export function mockAppHook(hub: SignalHub): ServiceHook {
  let owner: string | null = null;
  return {
    async start(app: AppRecord, console: AppConsole): Promise<void> {
      const settings = mockAppSettings(app.config.extra ?? {});
      await hub.mock.configure(settings);
      owner = app.id;
      const st = hub.mock.status();
      // Not fatal: an external databroker not reached yet gets the mode applied once it is (MockProvider.brokerReady).
      if (st.error) console.note('stderr', `[mock-service] mode ${st.mode}: ${st.error}`);
      else console.note('stdout', `[mock-service] mode ${st.mode}, ${st.claimed} signals`);
    },
    async stop(app: AppRecord): Promise<void> {
      if (owner !== app.id) return;
      owner = null;
      await hub.mock.off();
    },
  };
}
