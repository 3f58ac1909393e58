// The playground as a user sees it (test/helpers/playground.ts applies the real frontend's list and reply handling),
// through the stand-in Kit-Manager, against the real agent: the box is listed, runs show their output and every
// failure its reason, bad watch variables are skipped, C++ output is shown, a reconnected page finds its run and a
// stop with nothing to stop says so, and deploy_n_run reports a crash.
import t, { type Test } from 'tap';
import { startAgent } from './helpers/agent';
import { StandInKitManager } from './helpers/kit-manager';
import { Playground, type PlaygroundOptions } from './helpers/playground';

const KIT = 'RunTime-Lab';

async function open(t: Test, km: StandInKitManager, opts: PlaygroundOptions): Promise<Playground> {
  const p = await Playground.open(km.url, opts);
  t.teardown(() => p.close());
  return p;
}

t.test('the playground lists the box and drives runs', async (t) => {
  const km = await StandInKitManager.start();
  t.teardown(() => km.close());
  await startAgent(t, { config: { runtime: { name: 'Lab' }, kitManager: { url: km.url, reconnect: { minMs: 50, maxMs: 500 } }, apps: { adhocMaxS: 60, stopGraceMs: 1000 } } });
  // A user's runtime asset, as the asset form makes it ("Runtime-" pre-filled, RuntimeAssetManager.tsx 36, 86-90).
  const mine: PlaygroundOptions = { assets: [{ type: 'CLOUD_RUNTIME', name: 'Runtime-Lab' }] };

  t.test('listed under the user\'s runtime asset, and selected', async (t) => {
    const p = await open(t, km, mine);
    await p.selected(KIT);
    t.same(p.runtimeOptions(), [`🟢 ${KIT} `], 'the selector shows the box by its kit id');
    const stranger = await open(t, km, {});
    await stranger.until('the kit list', () => stranger.allRuntimes.some((k) => k.kit_id === KIT));
    t.same(stranger.runtimeOptions(), ['No runtime available'], 'a user without the asset does not see a private box');
  });

  t.test('RUNTIME_NAME=public-x is in everyone\'s public list', async (t) => {
    await startAgent(t, { env: { RUNTIME_NAME: 'public-x' }, config: { kitManager: { url: km.url, reconnect: { minMs: 50, maxMs: 500 } } } });
    const p = await open(t, km, {});
    await p.selected('RunTime-public-x');
    t.ok(p.runtimeOptions().some((o) => o.includes('RunTime-public-x')));
  });

  t.test('a run: its output, then the exit code; the running flag follows', async (t) => {
    const p = await open(t, km, { ...mine, prototype: { id: 'p1', name: 'Hello', language: 'python', code: 'print("hello")\nprint("world")\nraise SystemExit(3)\n' } });
    await p.selected(KIT);
    p.run();
    t.equal(p.isRunning, true);
    const log = await p.logShows(/Exit code/);
    t.equal(log, 'Run app\r\nhello\r\nworld\r\nExit code 3\r\n');
    t.equal(p.isRunning, false);
  });

  t.test('every failing run shows its reason before "Exit code 1"', async (t) => {
    const p = await open(t, km, mine);
    await p.selected(KIT);
    p.runBinApp('/sbin/reboot');
    t.match(await p.logShows(/Exit code/), /^Run app\r\nError: data: "\/sbin\/reboot" is outside .*send a name\r\nExit code 1\r\n$/, 'a forbidden binary');
    p.log = '';
    p.runBinApp('no-such-binary');
    t.match(await p.logShows(/Exit code/), /^Run app\r\nError: data: no binary "no-such-binary" in .*place the program there first.*\r\nExit code 1\r\n$/, 'a binary that is not there');
    p.log = '';
    // What the page sends when the code is missing (C 195-205 always sends data.code; an older page did not).
    p.socket.emit('messageToKit', { cmd: 'run_python_app', to_kit_id: KIT, usedAPIs: [], data: { name: 'NoCode' } });
    t.match(await p.logShows(/Exit code/), /^Error: code: required, expected a string\r\nExit code 1\r\n$/, 'missing code');
  });

  t.test('a bad watch variable is skipped with one warning; the run goes on and the others are watched', async (t) => {
    const code = 'import time\ncounter = 0\nwhile counter < 40:\n    counter += 1\n    time.sleep(0.05)\nprint("final", counter)\n';
    const p = await open(t, km, { ...mine, prototype: { id: 'p2', name: 'Watch', language: 'python', code, watchVars: [{ name: 'counter' }, { name: 'speed-kmh' }, { name: '2fast' }] } });
    await p.selected(KIT);
    p.run();
    const log = await p.logShows(/Exit code/);
    t.match(log, /^Run app\r\nWarning: watch_vars: skipped "speed-kmh", "2fast" \(not a python variable name.*\); watching counter\r\n/);
    t.match(log, /final 40\r\nExit code 0\r\n$/);
    t.ok(typeof p.traceVars.counter === 'number' && (p.traceVars.counter as number) > 0, `the watched variable reached the vars view (${JSON.stringify(p.traceVars)})`);
  });

  t.test('C++ output is shown where the frontend shows run output', async (t) => {
    const p = await open(t, km, { ...mine, prototype: { id: 'p3', name: 'Cpp', language: 'cpp', code: '#include <cstdio>\nint main(){ std::puts("hi from c++"); return 4; }\n' } });
    await p.selected(KIT);
    p.run();
    t.match(await p.logShows(/Exit code/), /^Run app\r\nhi from c\+\+\r\nExit code 4\r\n$/);
    p.log = '';
    p.opts.prototype!.code = 'int main() { this is not c++; }';
    p.run();
    t.match(await p.logShows(/Exit code/), /error[\s\S]*Error: the build failed \(compiler exit code 1\)\r\nExit code 1\r\n$/, 'a compile error: the compiler\'s text and why it ended');
  });

  t.test('after a page reload the run is found, a stop with nothing to stop says so, and the run can be stopped', async (t) => {
    const code = 'import time\nwhile True:\n    print("tick", flush=True)\n    time.sleep(0.2)\n';
    const before = await open(t, km, { ...mine, prototype: { id: 'p4', name: 'Looper', language: 'python', code } });
    await before.selected(KIT);
    before.run();
    await before.logShows(/tick/);
    before.close(); // the page reloads: the new page is a new socket.io client
    const after = await open(t, km, mine);
    await after.selected(KIT);
    await after.until('the runtime info', () => after.runtimeInfo !== null);
    t.same(after.runningApps(), ['Looper'], 'the usage tab lists the run');
    t.equal(after.isRunning, false, 'it is not this page\'s run (the frontend compares request_from)');
    after.stop();
    t.match(await after.logShows(/nothing to stop/), /^Error: nothing to stop: this client has no run on RunTime-Lab; running: "Looper" \(runId [^)]+\)/, 'the stop says so in the log');
    const runId = ((after.runtimeInfo!.lsOfRunner as Array<{ runId: string }>)[0]!).runId;
    after.socket.emit('messageToKit', { cmd: 'stop_python_app', to_kit_id: KIT, data: { runId } });
    after.getRuntimeInfo();
    await after.until('the run gone', () => after.runtimeInfo !== null && after.runningApps().length === 0);
    t.pass('stopped by the runId get-runtime-info lists');
  });

  t.test('deploy, and deploy_n_run reporting the app\'s real state', async (t) => {
    const p = await open(t, km, { ...mine, prototype: { id: 'dep1', name: 'Deployed', language: 'python', code: 'import time\nwhile True:\n    time.sleep(1)\n' } });
    await p.selected(KIT);
    p.deploy();
    t.match(await p.logShows(/deployed/), /Received prototype "Deployed"[\s\S]*VEA-dep1 deployed \(installed\)\r\n$/);
    p.log = '';
    p.opts.prototype!.id = '../evil';
    p.deploy();
    t.match(await p.logShows(/Error/), /^Error: prototype\.id: must not contain/, 'a refused deploy: the reason in the log');
    p.log = '';
    // deploy_n_run as the Kit-Manager routes it (a page or tool that asks for it by cmd).
    const crash = 'import time\nprint("starting", flush=True)\ntime.sleep(0.3)\nraise RuntimeError("sensor missing")\n';
    p.socket.emit('messageToKit', { cmd: 'deploy_n_run', to_kit_id: KIT, code: crash, disable_code_convert: true, prototype: { id: 'crash1', name: 'Crash' } });
    const log = await p.logShows(/crashed/);
    t.match(log, /\[VEA-crash1\] starting\r\n/, 'what it printed in its first seconds');
    t.match(log, /RuntimeError: sensor missing/, 'its traceback');
    t.match(log, /Error: VEA-crash1 deployed but crashed \d+\.\d s after start \(exit code 1\)/, 'a crash, not "deployed and running"');
    t.notMatch(log, /deployed and running/);
    p.log = '';
    p.socket.emit('messageToKit', { cmd: 'deploy_n_run', to_kit_id: KIT, code: 'import time\nwhile True:\n    time.sleep(1)\n', disable_code_convert: true, prototype: { id: 'live1', name: 'Live' } });
    t.match(await p.logShows(/VEA-live1 deployed and/), /VEA-live1 deployed and running\r\n$/);
  });

  t.test('a box without a C++ compiler says so in the log', async (t) => {
    await startAgent(t, { config: { runtime: { name: 'Bare' }, build: { cxx: '/nonexistent/g++' }, kitManager: { url: km.url, reconnect: { minMs: 50, maxMs: 500 } } } });
    const p = await open(t, km, { assets: [{ type: 'CLOUD_RUNTIME', name: 'Runtime-Bare' }], prototype: { id: 'p5', name: 'Cpp', language: 'cpp', code: 'int main(){}' } });
    await p.selected('RunTime-Bare');
    p.run();
    t.match(await p.logShows(/Exit code/), /^Run app\r\nError: run_cpp_app: C\+\+ compiler "\/nonexistent\/g\+\+" \(build\.cxx\) not found.*\r\nExit code 1\r\n$/);
  });
});
