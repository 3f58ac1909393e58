// A box as a new user has it: the agent with nothing in dataDir/python-packages but a copy of the Velocitas SDK
// (the peer scripts/test-peers.sh sets up), the peer python (grpcio) as apps.python. For the vehicle model, sdv alias and
// Velocitas app tests.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ceiling, deepMerge, startAgent, tmpDir, type AgentHandle, type ApiClient, type Scope } from './agent';
import { peerPython, VELOCITAS_SDK } from './peers';

export interface VelocitasBox {
  agent: AgentHandle;
  /** dataDir/python-packages (pip's, with the SDK copied in). */
  packages: string;
  /** dataDir/python-agent: the agent's generated vehicle package and sdv alias. */
  agentDir: string;
  /** PYTHONPATH as apps get it: packages, then agentDir. */
  pythonPath: string;
  mqttPort: number;
  grpcPort: number;
}

/** Starts the box; with sdk false, python-packages stays empty. Resolves once the agent has probed the interpreter. */
export async function velocitasBox(t: Scope, opts: { sdk?: boolean; config?: Record<string, unknown>; env?: Record<string, string>; dataDir?: string } = {}): Promise<VelocitasBox> {
  const dataDir = opts.dataDir ?? path.join(tmpDir(t, 'sdv-velocitas-'), 'data');
  const packages = path.join(dataDir, 'python-packages');
  if (opts.sdk !== false && !fs.existsSync(path.join(packages, 'velocitas_sdk'))) {
    fs.mkdirSync(packages, { recursive: true });
    fs.cpSync(VELOCITAS_SDK, packages, { recursive: true });
  }
  const config = deepMerge({ apps: { python: peerPython() }, kuksa: { serve: true, address: '127.0.0.1:0' } }, opts.config ?? {});
  const agent = await startAgent(t, { dataDir, config, ...(opts.env ? { env: opts.env } : {}) });
  const mqttPort = ((await agent.waitLog((l) => l.msg === 'mqtt broker listening').catch(() => ({ port: 0 }))).port as number) ?? 0;
  const grpc = agent.logs.find((l) => typeof l.port === 'number' && /kuksa|databroker|grpc/i.test(String(l.msg)) && /listening/.test(String(l.msg)));
  const agentDir = path.join(dataDir, 'python-agent');
  return { agent, packages, agentDir, pythonPath: `${packages}:${agentDir}`, mqttPort, grpcPort: (grpc?.port as number | undefined) ?? 0 };
}

/** get_runtime_info once the interpreter probe has answered. */
export async function probedInfo(c: ApiClient, atLeastMs?: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + ceiling(atLeastMs);
  for (;;) {
    const info = await c.request({ type: 'get_runtime_info' });
    if ((info.python as Record<string, unknown> | null)?.probed) return info;
    if (Date.now() > deadline) throw new Error(`the python probe did not answer: ${JSON.stringify(info.python)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Deploys a python app, subscribes to its console and starts it; `output()` is every console line so far. */
export async function deployPython(c: ApiClient, id: string, code: string): Promise<{ appId: string; output(): string[]; waitLine(re: RegExp, timeoutMs?: number): Promise<string> }> {
  const dep = await c.request({ type: 'deploy_request', prototype: { id, name: id, type: 'python', code, config: {} } });
  if (dep.type === 'error') throw new Error(`deploy failed: ${JSON.stringify(dep)}`);
  const appId = dep.appId as string;
  const sid = `sub-${appId}-${Date.now()}`;
  c.send({ type: 'console_subscribe', id: sid, appId });
  await c.waitFor((f) => f.id === sid);
  await c.request({ type: 'run_app', appId });
  const output = () => c.frames.filter((f) => f.type === 'console_output' && f.appId === appId).map((f) => String(f.output));
  return {
    appId, output,
    waitLine: async (re, timeoutMs?: number) => {
      const f = await c.waitFor((x) => x.type === 'console_output' && x.appId === appId && re.test(String(x.output)), timeoutMs).catch((e: Error) => {
        throw new Error(`${e.message.split(';')[0]}: no console line matching ${re}; console: ${output().slice(-30).join('\n')}`);
      });
      return String(f.output);
    },
  };
}
