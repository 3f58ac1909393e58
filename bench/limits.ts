// Scenario "limits" (issue 29): what apps.limits costs the agent. 100 idle binary apps (sleep), all unlimited, then
// 50 with config.limits (memory, CPU, processes: each in its cgroups, their counters read every second) beside 50
// without; the agent's CPU % and RSS over the same window in both. The box's apps.limits are 0 (no limit) so that
// an app may be unlimited.
import { ApiClient, startAgent } from '../test/helpers/agent';
import { cpuMeter, round, rssMB, runScope, sleep, unavailable, Skip } from './lib';
import type { Metrics, Scenario } from './scenarios';

const APPS = 100;

async function phase(limitedCount: number, windowS: number): Promise<{ cpuPct: number; rssMB: number; enforcement: string }> {
  const agent = await startAgent(runScope, { config: { apps: { maxApps: APPS + 10, stopGraceMs: 500, limits: { memoryMB: 0, cpuPercent: 0, pids: 0 } } } });
  const c = await ApiClient.connect(agent.apiUrl);
  try {
    for (let i = 0; i < APPS; i++) {
      const limits = i < limitedCount ? { limits: { memoryMB: 64, cpuPercent: 20, pids: 32 } } : {};
      const r = await c.request({ type: 'deploy_request', prototype: { id: `l${i}`, type: 'binary', config: { path: '/bin/sleep', args: ['3600'], autoStart: true, ...limits } } }, 30_000);
      if (unavailable(r)) throw new Skip(`deploy: ${unavailable(r)}`);
      if (r.type === 'error') throw new Error(`deploy failed: ${JSON.stringify(r).slice(0, 300)}`);
    }
    await sleep(2000);
    const meter = cpuMeter(agent.proc.pid!);
    await sleep(windowS * 1000);
    const u = meter();
    const how = agent.logs.find((l) => l.msg === 'app limits')?.enforcement as Record<string, string> | undefined;
    return { cpuPct: round(u.cpuPct, 2), rssMB: round(rssMB(agent.proc.pid!), 1), enforcement: `${how?.memoryMB}/${how?.cpuPercent}/${how?.pids}` };
  } finally {
    c.close();
    await agent.stop();
  }
}

export const limitsScenario: Scenario = {
  name: 'limits', runs: 1, warmup: false,
  about: 'agent CPU % and RSS with 100 idle apps: all unlimited, then 50 with config.limits (their cgroups, counters read each second) beside 50 without',
  async run(): Promise<Metrics> {
    const windowS = process.env.BENCH_LIMITS_S ? Number(process.env.BENCH_LIMITS_S) : 20;
    const none = await phase(0, windowS);
    const half = await phase(APPS / 2, windowS);
    return {
      apps: APPS, windowS, enforcement: half.enforcement,
      agentCpuPctUnlimited: none.cpuPct, agentCpuPct50Limited: half.cpuPct,
      agentRssMBUnlimited: none.rssMB, agentRssMB50Limited: half.rssMB,
    };
  },
};
