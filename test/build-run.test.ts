// run_cpp_app / run_rust_app through the real agent's local API: real compilers, real ad-hoc runs.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiClient, eventually, startAgent, type AgentHandle } from './helpers/agent';


async function run(c: ApiClient, type: string, code: string, timeoutMs = 50_000) {
  const id = `${type}-${Math.random().toString(36).slice(2)}`;
  c.send({ type, id, data: { code, name: 'Proto' } });
  // The reply (the frame with the id) is the end of the run; the stream before it carries requestId.
  const end = await c.waitFor((f) => f.id === id, timeoutMs);
  const text = c.frames.filter((f) => f.requestId === id && f.isDone === false).map((f) => String(f.result)).join('');
  return { end, text };
}

function buildsLeft(agent: AgentHandle): string[] {
  try { return fs.readdirSync(path.join(agent.dataDir, 'builds')); } catch { return []; }
}

t.test('C++: compiles, runs with streamed output and exit code; compile errors stream and end non-zero', async (t) => {
  const agent = await startAgent(t);
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());

  const ok = await run(c, 'run_cpp_app', '#include <iostream>\nint main() { std::cout << "Hello from C++" << std::endl; std::cout << "line 2" << std::endl; return 3; }');
  t.equal(ok.end.type, 'run_cpp_app-response');
  t.equal(ok.end.code, 3, 'exit code of the program');
  t.match(ok.text, /Hello from C\+\+\r\nline 2\r\n/, 'program output streamed');

  const bad = await run(c, 'run_cpp_app', 'int main() { this is not c++; }');
  t.equal(bad.end.isDone, true);
  t.not(bad.end.code, 0, 'non-zero code for a compile error');
  t.match(bad.text, /error/, 'compiler output streamed');
  t.match(bad.text, /build failed/);

  // the build folders are gone once the runs have ended
  await eventually('the build folders removed', () => buildsLeft(agent).length === 0);
  t.same(buildsLeft(agent), [], 'build folders cleaned up');
});

t.test('Rust: compiles and runs', async (t) => {
  const agent = await startAgent(t);
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const r = await run(c, 'run_rust_app', 'fn main() { println!("Hello from Rust"); std::process::exit(0); }');
  t.equal(r.end.code, 0);
  t.match(r.text, /Hello from Rust\r\n/);
});

t.test('a missing toolchain is one clear error naming it', async (t) => {
  const agent = await startAgent(t, { config: { build: { cxx: '/nonexistent/g++', rustc: '/nonexistent/rustc' } } });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const r = await run(c, 'run_cpp_app', 'int main(){}', 10_000);
  t.equal(r.end.type, 'error');
  t.match(String(r.end.error), /C\+\+ compiler "\/nonexistent\/g\+\+" \(build\.cxx\) not found/);
  const r2 = await run(c, 'run_rust_app', 'fn main(){}', 10_000);
  t.match(String(r2.end.error), /Rust compiler .* \(build\.rustc\) not found/);
  const bad = await c.request({ type: 'run_cpp_app', data: { name: 'x' } });
  t.equal(bad.type, 'error');
  t.match(String(bad.error), /code/);
});
