// The agent's cost of watching a running C++ program's variables (issue 26): one run_cpp_app of a program whose 10
// globals (int, double, bool, char[16], int64 …) all change every 10 ms, watched by name, beside the same program run
// without watch_vars in the same agent (the run's own cost: its output stream). Agent CPU % over BENCH_CPP_WATCH_S,
// and the trace_vars frames/s that reached the client (the watcher samples every SAMPLE_MS and sends what changed).
import { ApiClient, startAgent } from '../test/helpers/agent';
import { cpuMeter, round, sleep, runScope } from './lib';
import type { Metrics, Scenario } from './scenarios';

const WINDOW_S = Number(process.env.BENCH_CPP_WATCH_S ?? 10);
const NAMES = ['c0', 'c1', 'c2', 'c3', 'c4', 'sp', 'on', 'big', 'tag', 'tick'];
const PROGRAM = `#include <cstdio>
#include <cstdint>
#include <chrono>
#include <thread>
int c0, c1, c2, c3, c4; double sp; bool on; int64_t big; char tag[16]; unsigned tick;
int main() {
  std::printf("started\\n"); std::fflush(stdout);
  for (unsigned i = 0; i < 100000; i++) {
    c0 = i; c1 = i * 2; c2 = i * 3; c3 = -int(i); c4 = i % 7; sp = i * 0.1; on = i & 1; big = int64_t(i) << 33;
    std::snprintf(tag, sizeof tag, "t%u", i); tick = i;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}
`;

async function measure(c: ApiClient, pid: number, watch: boolean): Promise<{ cpuPct: number; framesPerS: number }> {
  const id = `cpp-${watch ? 'watch' : 'plain'}`;
  c.send({ type: 'run_cpp_app', id, data: { code: PROGRAM, name: id, ...(watch ? { watch_vars: NAMES.join(', ') } : {}) } });
  await c.waitFor((f) => f.requestId === id && String(f.result).includes('started'), 180_000);
  if (watch) await c.waitFor((f) => f.requestId === id && f.cmd === 'trace_vars', 60_000);
  await sleep(1000);
  const frames = () => c.frames.filter((f) => f.requestId === id && f.cmd === 'trace_vars').length;
  const f0 = frames();
  const meter = cpuMeter(pid);
  await sleep(WINDOW_S * 1000);
  const m = meter();
  const framesPerS = (frames() - f0) / m.wallS;
  c.send({ type: 'stop_python_app', id: `${id}-stop`, data: {} });
  await c.waitFor((f) => f.id === id, 60_000);
  return { cpuPct: m.cpuPct, framesPerS };
}

export const cppWatchScenario: Scenario = {
  name: 'cpp-watch', runs: 1, warmup: false, peers: true,
  about: 'agent CPU while watching 10 globals of a running C++ program that change every 10 ms, beside the same run unwatched',
  async run(): Promise<Metrics> {
    const agent = await startAgent(runScope, { config: { apps: { adhocMaxS: 600 } } });
    const c = await ApiClient.connect(agent.apiUrl);
    try {
      const plain = await measure(c, agent.proc.pid!, false);
      const watched = await measure(c, agent.proc.pid!, true);
      return {
        agent_cpu_pct_run_unwatched: round(plain.cpuPct, 2), agent_cpu_pct_watching_10: round(watched.cpuPct, 2),
        agent_cpu_pct_for_the_watch: round(watched.cpuPct - plain.cpuPct, 2), trace_vars_frames_per_s: round(watched.framesPerS, 1),
      };
    } finally { c.close(); await agent.stop(); }
  },
};
