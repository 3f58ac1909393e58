// The default vehicle model's cost (issue 25): the standalone agent with the built-in model (VSS 4.0, 910 leaves) beside
// the same agent given the 120-leaf subset that was the default before (resources/default-vss.json, as kuksa.vss), in
// the same run, alternated: spawn → first /health 200 of a first start (a fresh dataDir: the Python `vehicle`
// package is written) and of a restart on the same dataDir, and the idle memory after BENCH_IDLE_S seconds.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AGENT_JS, ROOT, tmpDir } from '../test/helpers/agent';
import { round, runScope, sleep, smapsMB, startHealthy } from './lib';
import type { Metrics, Scenario } from './scenarios';

const SMALL_MODEL = path.join(ROOT, 'resources', 'default-vss.json');
const EMBEDDED = { kuksa: { mode: 'embedded', serve: true, address: '127.0.0.1:0' } };

/** One model's start-up (first start, restart) and idle memory. `vss` '' = the built-in default. */
async function measure(vss: string, idleS: number): Promise<Metrics> {
  const argv = [process.execPath, AGENT_JS];
  const config = { kuksa: { ...EMBEDDED.kuksa, vss } };
  const dir = tmpDir(runScope, 'sdv-bench-model-');
  try {
    const start = async (fresh: boolean): Promise<{ ms: number; stop: () => Promise<void>; pid: number }> => {
      const { agent: s, ms } = await startHealthy(argv, config, dir, { fresh });
      return { ms, stop: () => s.stop(), pid: s.proc.pid! };
    };
    const first = await start(true);
    await first.stop();
    const again = await start(false);
    try {
      await sleep(idleS * 1000);
      const mem = smapsMB(again.pid);
      return { firstStartMs: round(first.ms), restartMs: round(again.ms), idleRssMB: round(mem.rss), idleAnonMB: round(mem.anon), idlePssMB: round(mem.pss) };
    } finally { await again.stop(); }
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
}

export const defaultModelScenario: Scenario = {
  name: 'default-model', runs: 3, warmup: true,
  about: 'the built-in model (VSS 4.0, 910 leaves) beside the 120-leaf subset given as kuksa.vss, alternated in one run: spawn → /health 200 (first start with the Python package written, restart) and idle RSS/anon/PSS after BENCH_IDLE_S (10 here) s of the restarted agent',
  async run() {
    const idleS = process.env.BENCH_IDLE_S ? Number(process.env.BENCH_IDLE_S) : 10;
    const small = await measure(SMALL_MODEL, idleS);
    const full = await measure('', idleS);
    const m: Metrics = { idleS };
    for (const [k, v] of Object.entries(small)) m[`leaves120.${k}`] = v;
    for (const [k, v] of Object.entries(full)) m[`vss40.${k}`] = v;
    for (const k of Object.keys(small)) {
      const a = small[k] as number;
      const b = full[k] as number;
      m[`delta.${k}`] = round(b - a);
    }
    return m;
  },
};
