// How the process starts and ends when things around it go wrong: a port already taken ends the start with one line
// naming the config key, and SIGTERM ends the process whatever state stdout is in (a log reader that died).
import * as net from 'node:net';
import t from 'tap';
import { CEILING_MS, startAgent, type Scope } from './helpers/agent';

/** A listener holding a loopback port, closed with the test. */
async function holdPort(t: Scope): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

for (const key of ['api.port', 'health.port'] as const) {
  t.test(`${key} taken: one line naming the key and the address, exit 1, no stack trace`, async (t) => {
    const port = await holdPort(t);
    const [section] = key.split('.');
    const agent = await startAgent(t, { config: { [section!]: { port } }, waitReady: false });
    const code = await new Promise<number | null>((resolve) => agent.proc.once('exit', resolve));
    t.equal(code, 1, 'exit code 1');
    const fatal = agent.logs.filter((l) => l.level === 60);
    t.equal(fatal.length, 1, 'one fatal line');
    t.match(fatal[0], { key, address: `127.0.0.1:${port}`, code: 'EADDRINUSE' });
    const env = key === 'api.port' ? 'SDV_AGENT_API_PORT' : 'SDV_AGENT_HEALTH_PORT';
    t.match(String(fatal[0]?.msg), `${key}: cannot listen on 127.0.0.1:${port}: the address is in use`);
    t.match(String(fatal[0]?.msg), `set ${key} (${env})`, 'says what to change');
    t.notOk(JSON.stringify(agent.logs).includes('    at '), 'no stack trace in the log');
    t.equal(agent.stderr.join(''), '', 'nothing on stderr');
  });
}

t.test('SIGTERM ends the agent within the stop grace when the reader of its stdout is gone', async (t) => {
  const agent = await startAgent(t);
  // The harness reads the agent's stdout through a pipe: closing our end leaves the agent writing into a pipe nobody
  // reads (EPIPE), as when a log collector or the parent that started it died.
  agent.proc.stdout!.destroy();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => agent.proc.once('exit', (code, signal) => resolve({ code, signal })));
  agent.proc.kill('SIGTERM');
  // The stop grace is 15 s (main.ts) and the last lines get 1 s more; a process that hangs never exits at all.
  let timer: NodeJS.Timeout | undefined;
  const ended = await Promise.race([exited, new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), CEILING_MS); })]);
  clearTimeout(timer);
  t.ok(ended, 'the process exited');
  t.same(ended, { code: 0, signal: null }, 'with exit code 0, not killed');
});
