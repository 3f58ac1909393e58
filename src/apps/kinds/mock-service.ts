// The `mock-service` kind: a deployed app {type: 'mock-service', config: {mode, signals?, rateMs?}} that is no process
// of its own: its run_app starts the agent's mock provider (signals/mock.ts) in that mode and its stop_app turns it
// off. There is one provider (the one the mock_service_* commands drive too), so the app that started it last owns
// it: stopping another mock-service app does not turn it off. The hook is plugged in once signals run (agent.ts).
import { badRequest } from '../../core/errors';
import { MOCK_LIMITS, MOCK_MODES, type MockMode, type MockProvider } from '../../signals/mock';
import { noProcess, type AppKind, type ServiceHook } from './kind';

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

export const mockService: AppKind = {
  name: 'mock-service',
  code: 'unused',
  files: [],
  // Refused at deploy, not at the first run_app: nothing that cannot start gets installed.
  checkConfig: (config) => { mockAppSettings(config.extra); },
  install: () => { /* nothing to install */ },
  service: true,
  spawn: noProcess('mock-service'),
  unavailable: () => null,
  rlimits: true,
  importHints: false,
};

/** The kind's behaviour on the agent's mock provider. */
export function mockServiceHook(mock: Pick<MockProvider, 'configure' | 'status' | 'off'>): ServiceHook {
  let owner: string | null = null;
  return {
    async start(app, console): Promise<void> {
      const settings = mockAppSettings(app.config.extra ?? {});
      await mock.configure(settings);
      owner = app.id;
      const st = mock.status();
      // Not fatal: an external databroker not reached yet gets the mode applied once it is (MockProvider.brokerReady).
      if (st.error) console.note('stderr', `[mock-service] mode ${st.mode}: ${st.error}`);
      else console.note('stdout', `[mock-service] mode ${st.mode}, ${st.claimed} signals`);
    },
    async stop(app): Promise<void> {
      if (owner !== app.id) return;
      owner = null;
      await mock.off();
    },
  };
}
