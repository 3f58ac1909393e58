// Projects of compiled languages (src/build/project-build.ts, build-steps.ts): the playground sends a C++ or Rust
// project as the JSON text of its file tree in `code` (the project editor's [{type:"folder", name, items}, {type:"file",
// name, content}]); the real agent unpacks it with the checks of project-tree.ts and builds it with CMake, the C++
// compiler on every source, or cargo --offline. Through the stand-in Kit-Manager and the frontend-logic client, and over
// the local API for the refusals.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiClient, eventually, startAgent, tmpDir, type AgentHandle, type Scope } from './helpers/agent';
import { StandInKitManager } from './helpers/kit-manager';
import { Playground } from './helpers/playground';

type F = Record<string, unknown>;
const KIT = 'RunTime-Projects';
const file = (name: string, content: string) => ({ type: 'file', name, content });
const folder = (name: string, items: unknown[]) => ({ type: 'folder', name, items });

const UTIL_H = '#pragma once\nint twice(int x);\n';
const UTIL_CPP = '#include "util.h"\nint twice(int x) { return 2 * x; }\n';
const MAIN_CPP = '#include <cstdio>\n#include "util.h"\nint main() { std::printf("twice 21 is %d\\n", twice(21)); return 0; }\n';
const CMAKE = 'cmake_minimum_required(VERSION 3.14)\nproject(twice CXX)\nadd_executable(twice main.cpp util.cpp)\n';
const cppTree = (cmake: boolean) => JSON.stringify([folder('cpp-project', [file('main.cpp', MAIN_CPP), file('util.cpp', UTIL_CPP), file('util.h', UTIL_H), ...(cmake ? [file('CMakeLists.txt', CMAKE)] : [])])]);
const CARGO = '[package]\nname = "hello"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n';
const rustTree = (deps = '') => JSON.stringify([folder('rust-project', [file('Cargo.toml', CARGO + deps), folder('src', [file('main.rs', 'mod util;\nfn main() { println!("sum is {}", util::sum(&[1, 2, 3])); }\n'), file('util.rs', 'pub fn sum(v: &[i32]) -> i32 { v.iter().sum() }\n')])])]);

function buildsLeft(agent: AgentHandle): string[] {
  try { return fs.readdirSync(path.join(agent.dataDir, 'builds')); } catch { return []; }
}

t.test('the playground: a C++ tree with and without CMakeLists.txt, and a Rust tree with Cargo.toml, build and run', async (t) => {
  const km = await StandInKitManager.start();
  t.teardown(() => km.close());
  const agent = await startAgent(t, { config: { runtime: { name: 'Projects' }, kitManager: { url: km.url, reconnect: { minMs: 50, maxMs: 500 } }, build: { timeoutS: 600 } } });
  const runs: Array<[string, 'cpp' | 'rust', string, RegExp]> = [
    ['cmake', 'cpp', cppTree(true), /twice 21 is 42\r\nExit code 0\r\n$/],
    ['sources', 'cpp', cppTree(false), /twice 21 is 42\r\nExit code 0\r\n$/],
    ['cargo', 'rust', rustTree(), /sum is 6\r\nExit code 0\r\n$/],
  ];
  for (const [what, language, code, shows] of runs) {
    const p = await Playground.open(km.url, { assets: [{ type: 'CLOUD_RUNTIME', name: KIT }], prototype: { id: what, name: what, language, code } });
    t.teardown(() => p.close());
    await p.selected(KIT);
    p.run();
    const log = await p.logShows(/Exit code/);
    t.match(log, shows, `${what}: built and ran`);
    t.notMatch(log, /Error/, `${what}: no error`);
  }
  await eventually('the build folders removed', () => buildsLeft(agent).length === 0);
});

async function local(t: Scope) {
  const agent = await startAgent(t, { config: { build: { timeoutS: 600 }, apps: { adhocMaxS: 120, stopGraceMs: 1000 } } });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const run = async (type: string, code: string, extra: F = {}) => {
    const id = `${type}-${Math.random().toString(36).slice(2)}`;
    c.send({ type, id, data: { code, name: 'Proto', ...extra } });
    const end = await c.waitFor((f) => f.id === id);
    const text = c.frames.filter((f) => f.requestId === id && f.isDone === false).map((f) => String(f.result)).join('');
    return { id, end, text };
  };
  return { agent, c, run };
}

t.test('refusals: a tree with ".." or an absolute name writes nothing; a crate from the network is said clearly; no sources', async (t) => {
  const { agent, run } = await local(t);
  const up = await run('run_cpp_app', JSON.stringify([file('../evil.cpp', 'int main(){}')]));
  t.equal(up.end.type, 'error');
  t.equal(up.end.code, 'BAD_REQUEST');
  t.match(String(up.end.error), /nothing was written/);
  const abs = await run('run_cpp_app', JSON.stringify([folder('/etc', [file('main.cpp', 'int main(){}')])]));
  t.equal(abs.end.code, 'BAD_REQUEST');
  t.same(buildsLeft(agent), [], 'no build folder was made');
  const net = await run('run_rust_app', rustTree('serde = "1"\n'));
  t.not(net.end.code, 0);
  t.match(net.text, /Error: the project needs crates that are not on this box: cargo builds with --offline/);
  const none = await run('run_cpp_app', JSON.stringify([file('README.md', 'hi')]));
  t.match(none.text, /Error: the project has no \.cpp, \.cc or \.cxx file/);
  const broken = await run('run_cpp_app', JSON.stringify([file('main.cpp', 'int main() { nope; }'), file('CMakeLists.txt', CMAKE.replace('main.cpp util.cpp', 'main.cpp'))]));
  t.match(broken.text, /error/);
  t.match(broken.text, /Error: the build failed \(CMake "cmake" exit code \d+\)/);
  await eventually('the build folders removed', () => buildsLeft(agent).length === 0);
});

t.test('a CMake project\'s variables are watched (built as Debug)', async (t) => {
  const { c, run } = await local(t);
  const main = '#include <cstdio>\n#include <chrono>\n#include <thread>\n#include "util.h"\nint counter = 0;\nint main() {\n  for (int i = 0; i < 600 && counter < 100000; i++) { counter = twice(counter / 2 + 1); std::this_thread::sleep_for(std::chrono::milliseconds(100)); }\n  std::printf("end %d\\n", counter);\n}\n';
  const tree = JSON.stringify([file('CMakeLists.txt', CMAKE), file('main.cpp', main), file('util.cpp', UTIL_CPP), file('util.h', UTIL_H)]);
  const done = run('run_cpp_app', tree, { watch_vars: 'counter' });
  await c.waitFor((f) => f.cmd === 'trace_vars' && typeof (f.data as F).counter === 'number' && ((f.data as F).counter as number) >= 4);
  c.send({ type: 'set_vars_value', id: 'set', data: { counter: 100000 } });
  t.equal((await c.waitFor((f) => f.id === 'set')).result, 'Successful');
  const r = await done;
  t.match(r.text, /end 1000(00|02)\r\n/, 'the program saw the value written');
  t.notMatch(r.text, /Warning/);
});

t.test('apps.runAs: C++ projects are built and run as the run user, with and without CMake', { skip: process.getuid?.() === 0 ? false : 'needs root (apps.runAs)' }, async (t) => {
  const base = tmpDir(t, 'project-runas-');
  fs.chmodSync(base, 0o711);
  const nobody = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
  const agent = await startAgent(t, { dataDir: path.join(base, 'data'), config: { apps: { runAs: 'nobody' }, build: { timeoutS: 600 } } });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const main = '#include <cstdio>\n#include <unistd.h>\n#include "util.h"\nint main() { std::printf("uid %d twice %d\\n", (int)getuid(), twice(4)); }\n';
  for (const cmake of [true, false]) {
    const tree = JSON.stringify([file('main.cpp', main), file('util.cpp', UTIL_CPP), file('util.h', UTIL_H), ...(cmake ? [file('CMakeLists.txt', CMAKE)] : [])]);
    const id = `runas-${cmake}`;
    c.send({ type: 'run_cpp_app', id, data: { code: tree, name: id } });
    const end = await c.waitFor((f) => f.id === id);
    const text = c.frames.filter((f) => f.requestId === id && f.isDone === false).map((f) => String(f.result)).join('');
    t.equal(end.code, 0, `${cmake ? 'cmake' : 'sources'}: exit code 0${end.code === 0 ? '' : ` (${text.slice(-400)})`}`);
    t.match(text, new RegExp(`uid ${nobody} twice 8\\r\\n`), `${cmake ? 'cmake' : 'sources'}: built and run as nobody`);
  }
  await eventually('the build folders removed', () => buildsLeft(agent).length === 0);
});
