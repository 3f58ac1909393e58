// Section "user-code" — attacks from the code the agent runs for its users:
//   - with apps.runAs (the agent is root), an app plants links in its folder where the agent used to write its own
//     files (console.log, console.log.seq, the stderr FIFO) and chown every entry on a redeploy: root-owned victims
//     must stay untouched, and the app cannot reach the agent's own folder;
//   - every kind of child (deployed app, ad-hoc python and binary runs, pip, a C++ build and its program, the model
//     generator) prints its environment: no agent secret (SDV_AGENT_*_TOKEN, the tokens, any other variable of the
//     agent's) may be in it, and pip runs in an empty folder;
//   - a requirement that is an archive file name (`name-1.0-py3-none-any.whl`) is refused before pip sees it;
//   - an app prints the pty wrapper's end marker (the old fixed form, forged tokens, a flood of both): its output
//     keeps being forwarded and its own exit code is reported.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiClient, startAgent, tmpDir } from '../helpers/agent';
import { buildWheel } from '../helpers/wheel';
import { Summary, attack, caughtCrashes, req, seedFor, sleep } from './lib';
import { SAFE_ENV } from './safe-env';

const SECTION = 'user-code';
const summary = new Summary(SECTION, seedFor(SECTION));
t.teardown(() => summary.write(t));

const isRoot = process.getuid?.() === 0;
type F = Record<string, unknown>;

t.test('apps.runAs: links an app plants where root writes do not make root write through them', { skip: isRoot ? false : 'apps.runAs drops privileges only when the agent is root' }, async (t) => {
  const base = tmpDir(t, 'sdv-chaos-links-');
  fs.chmodSync(base, 0o711);
  // Root-owned victims the app user may not even read; the agent as root would follow a link to them.
  const victims = path.join(base, 'victims');
  fs.mkdirSync(victims, { mode: 0o700 });
  const names = ['log', 'seq', 'chown', 'main', 'fifo'];
  for (const n of names) fs.writeFileSync(path.join(victims, n), `VICTIM ${n}\n`, { mode: 0o644 });
  fs.mkdirSync(path.join(victims, 'dir'));
  fs.writeFileSync(path.join(victims, 'dir', 'keep'), 'keep\n');
  const snapshot = () => names.map((n) => { const p = path.join(victims, n); const st = fs.statSync(p); return `${n}:${fs.readFileSync(p, 'utf8').length}:${st.uid}:${st.gid}:${(st.mode & 0o7777).toString(8)}`; });
  const before = snapshot();

  const agent = await startAgent(t, { env: SAFE_ENV, dataDir: path.join(base, 'data'), config: { apps: { runAs: 'nobody' } } });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  const v = (n: string) => JSON.stringify(path.join(victims, n));
  const code = [
    'import os, sys, time',
    `for name, victim in [("console.log", ${v('log')}), ("console.log.seq", ${v('seq')}), ("evil", ${v('chown')}), (".stderr.fifo", ${v('fifo')}), ("dirlink", ${v('dir')})]:`,
    '    try: os.remove(name)',
    '    except OSError: pass',
    '    os.symlink(victim, name)',
    `os.symlink(${v('main')}, "main.py.new"); os.replace("main.py.new", "main.py")`,
    // The agent's own folder of this app: the FIFO's folder, which the app user may pass but not write.
    'own = os.path.dirname(os.environ.get("SDV_STDERR_FIFO", ""))',
    'try:',
    '    os.symlink(' + v('log') + ', os.path.join(own, "console.log")); print("WROTE-OWN", own, flush=True)',
    'except OSError as e: print("OWN-REFUSED", e.errno, flush=True)',
    // Past one seq block (1000 lines) so the seq mark is written again, on both streams.
    'for i in range(1200): print("line", i)',
    'for i in range(20): print("err", i, file=sys.stderr)',
    'print("PLANTED", flush=True)',
    'time.sleep(60)',
  ].join('\n');
  const deploy = () => c.request({ type: 'deploy_request', prototype: { id: 'planter', name: 'Planter', type: 'python', code, config: {} } });

  await attack(t, summary, 'links planted in the app folder (console.log, console.log.seq, FIFO, redeploy chown, uninstall)', agent, async () => {
    t.not((await deploy()).type, 'error', 'deployed');
    await req(c, { type: 'console_subscribe', appId: 'VEA-planter' });
    t.not((await c.request({ type: 'run_app', appId: 'VEA-planter' })).type, 'error', 'running');
    await c.waitFor((f) => f.type === 'console_output' && f.output === 'PLANTED');
    const own = c.frames.find((f) => f.type === 'console_output' && /WROTE-OWN|OWN-REFUSED/.test(String(f.output)));
    t.match(own?.output, /^OWN-REFUSED 13$/, 'the app cannot put anything into the agent\'s folder of it');
    await sleep(600); // the console log is written every 200 ms
    t.not((await deploy()).type, 'error', 'redeployed over the planted links');
    t.not((await c.request({ type: 'run_app', appId: 'VEA-planter' })).type, 'error', 'running again');
    await sleep(600);
    t.not((await c.request({ type: 'uninstall_app', appId: 'VEA-planter' })).type, 'error', 'uninstalled');
    const after = snapshot();
    t.same(after, before, 'every root-owned victim is untouched: content, owner, mode');
    t.ok(fs.existsSync(path.join(victims, 'dir', 'keep')), 'a folder linked from the app folder survives the uninstall');
    t.notOk(fs.existsSync(path.join(agent.dataDir, 'apps', 'VEA-planter')), 'the app folder is gone');
    t.notOk(fs.existsSync(path.join(agent.dataDir, 'consoles', 'VEA-planter')), 'the agent\'s folder of it too');
    if (JSON.stringify(after) !== JSON.stringify(before)) summary.finding(`victims changed: ${JSON.stringify(before)} → ${JSON.stringify(after)}`);
    return JSON.stringify(after) === JSON.stringify(before);
  }, { probe: c });
  summary.data.crashes += caughtCrashes(agent).length;
});

/** A program that prints its environment and working folder to stderr, then runs `then` with the same arguments. */
function dumper(dir: string, name: string, then: string | null): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, [
    '#!/bin/sh',
    `{ echo "ENV-BEGIN ${name}"; env; echo "CWD=$(pwd)"; echo "LS=$(ls -A 2>&1 | tr '\\n' ' ')"; echo "ENV-END ${name}"; } >&2`,
    then ? `exec ${then} "$@"` : 'exit 0',
    '',
  ].join('\n'), { mode: 0o755 });
  return file;
}

t.test('no agent secret reaches any child', async (t) => {
  const secrets: Record<string, string> = {
    SDV_AGENT_API_TOKEN: `api-${crypto.randomBytes(12).toString('hex')}`,
    SDV_AGENT_KIT_MANAGER_TOKEN: `km-${crypto.randomBytes(12).toString('hex')}`,
    SDV_AGENT_KUKSA_TOKEN: `kuksa-${crypto.randomBytes(12).toString('hex')}`,
    // Not the agent's own name: the list of what children get is an allow-list, not a deny-list.
    AWS_SECRET_ACCESS_KEY: `aws-${crypto.randomBytes(12).toString('hex')}`,
  };
  const base = tmpDir(t, 'sdv-chaos-env-');
  fs.chmodSync(base, 0o755);
  const tools = path.join(base, 'tools');
  fs.mkdirSync(tools, { mode: 0o755 });
  const wheels = path.join(base, 'wheels');
  fs.mkdirSync(wheels, { mode: 0o755 });
  buildWheel(wheels, 'envcheck_pkg', '1.0', { 'envcheck_pkg/__init__.py': 'X = 1\n' });
  const dataDir = path.join(base, 'data');
  fs.mkdirSync(path.join(dataDir, 'bin'), { recursive: true, mode: 0o700 });
  dumper(path.join(dataDir, 'bin'), 'envbin', null);
  const hasCxx = spawnSync('sh', ['-c', 'command -v g++']).status === 0;
  const agent = await startAgent(t, {
    dataDir,
    env: { ...SAFE_ENV, ...secrets },
    config: {
      apps: { python: dumper(tools, 'python-dump', 'python3') },
      build: { cxx: dumper(tools, 'cxx-dump', 'g++') },
      packages: { findLinks: wheels, installTimeoutS: 120 },
      kuksa: { modelGenerator: dumper(tools, 'gen-dump', null) },
    },
  });
  const c = await ApiClient.connect(agent.apiUrl, { authorization: `Bearer ${secrets.SDV_AGENT_API_TOKEN}` });
  t.teardown(() => c.close());

  const outputs: Record<string, string> = {};
  await attack(t, summary, 'every kind of child prints its environment', agent, async () => {
    // a deployed app
    await c.request({ type: 'deploy_request', prototype: { id: 'envapp', name: 'EnvApp', type: 'python', code: 'print("app done")\n', config: {} } });
    await req(c, { type: 'console_subscribe', appId: 'VEA-envapp' });
    await c.request({ type: 'run_app', appId: 'VEA-envapp' });
    await c.waitFor((f) => f.type === 'app_status' && f.appId === 'VEA-envapp' && (f.status === 'stopped' || f.status === 'error'));
    outputs.app = c.frames.filter((f) => f.type === 'console_output' && f.appId === 'VEA-envapp').map((f) => String(f.output)).join('\n');
    // ad-hoc runs: python and a binary of dataDir/bin
    const run = async (key: string, frame: F, timeoutMs = 60_000) => {
      const id = `run-${key}`;
      c.send({ ...frame, id });
      // The final reply carries the id; the frames before it (output, progress) carry it as requestId.
      await c.waitFor((f) => f.id === id && (f.isDone === true || f.type === 'error' || (typeof f.result === 'string' && f.result !== 'Installing' && f.type === 'install_python_packages-response')), timeoutMs);
      outputs[key] = c.frames.filter((f) => f.id === id || f.requestId === id).map((f) => `${String(f.result ?? '')}${String(f.data ?? '')}${String(f.line ?? '')}${String(f.error ?? '')}`).join('\n');
    };
    await run('adhoc-python', { type: 'run_python_app', data: { code: 'print("adhoc done")\n', name: 'envrun' } });
    await run('adhoc-binary', { type: 'run_bin_app', data: 'envbin' });
    await run('pip', { type: 'install_python_packages', data: 'envcheck-pkg==1.0' }, 120_000);
    if (hasCxx) {
      const prog = '#include <cstdio>\nextern char **environ;\nint main(){ for (char **e = environ; *e; e++) std::printf("%s\\n", *e); }\n';
      await run('build-and-program', { type: 'run_cpp_app', data: { code: prog, name: 'envcpp' } }, 180_000);
    } else t.comment('g++ not installed: the C++ build is not checked');
    c.send({ type: 'generate_vehicle_model', id: 'gen', data: { Vehicle: { type: 'branch', children: { Speed: { type: 'sensor', datatype: 'float' } } } } });
    await c.waitFor((f) => f.id === 'gen' && (f.result === 'Successful' || f.type === 'error'));
    outputs.generator = c.frames.filter((f) => f.id === 'gen' || f.requestId === 'gen').map((f) => String(f.line ?? '')).join('\n');

    let clean = true;
    for (const [kind, text] of Object.entries(outputs)) {
      const dumped = /PATH=/.test(text);
      t.ok(dumped, `${kind}: printed its environment`);
      const leaked = Object.entries(secrets).filter(([, s]) => text.includes(s)).map(([k]) => k);
      const agentNames = [...new Set(text.match(/\bSDV_AGENT_[A-Z_]+/g) ?? [])];
      t.same(leaked, [], `${kind}: no secret of the agent in it`);
      t.same(agentNames, [], `${kind}: no SDV_AGENT_* variable in it`);
      if (!dumped || leaked.length || agentNames.length) { clean = false; summary.finding(`${kind}: leaked ${[...leaked, ...agentNames].join(', ') || '(no dump)'}`); }
    }
    const pipCwd = /ENV-BEGIN python-dump[\s\S]*?CWD=(\S+)[\s\S]*?LS=(.*)/.exec(outputs.pip ?? '');
    t.ok(pipCwd, 'pip printed its working folder');
    t.not(pipCwd?.[1], process.cwd(), 'pip does not run in the agent\'s working folder');
    t.equal(pipCwd?.[2]?.trim(), '', `pip runs in an empty folder (${pipCwd?.[1]})`);
    return clean && !!pipCwd && pipCwd[2]!.trim() === '';
  }, { probe: c });
  summary.data.crashes += caughtCrashes(agent).length;
});

t.test('a requirement that names an archive file is refused before pip', async (t) => {
  // pip reads such a name as a file of its working folder, not as a project of the index.
  const agent = await startAgent(t, { env: SAFE_ENV });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  await attack(t, summary, 'archive file names as requirements', agent, async () => {
    let refused = 0;
    const names = ['planted_pkg-1.0-py3-none-any.whl', 'pkg-1.0.tar.gz', 'pkg.zip', 'PKG-2.0.TGZ', 'x.egg'];
    for (const data of names) {
      c.send({ type: 'install_python_packages', id: `w-${data}`, data });
      const r = await c.waitFor((f) => f.id === `w-${data}` && f.result !== 'Installing');
      const text = JSON.stringify(r);
      const ok = /archive file names/.test(text) && !/Successful/.test(String(r.result));
      t.ok(ok, `${data}: refused, naming why (${text.slice(0, 200)})`);
      if (ok) refused++;
    }
    t.notOk(fs.existsSync(path.join(agent.dataDir, 'python-packages', 'planted_pkg')), 'nothing was installed');
    return refused === names.length;
  }, { probe: c });
});

t.test('an app that prints end markers keeps its output and its exit code', async (t) => {
  // The fixed marker `ESC ] sdv-exit;0 BEL` used to end the forwarding of the run that printed it and report exit 0.
  const agent = await startAgent(t, { env: SAFE_ENV });
  const c = await ApiClient.connect(agent.apiUrl);
  t.teardown(() => c.close());
  await attack(t, summary, 'forged end markers in an app\'s output', agent, async () => {
    const code = [
      'import os, sys',
      'for i in range(200):',
      '    tok = os.urandom(12).hex()',
      '    sys.stdout.write(f"\\x1b]sdv-exit;0\\x07\\x1b]sdv-exit;{tok};0\\x07 line {i}\\n")',
      'sys.stdout.flush()',
      'print("the end")',
      'sys.exit(7)',
    ].join('\n') + '\n';
    await req(c, { type: 'deploy_request', prototype: { id: 'forger', type: 'python', code, config: {} } });
    c.send({ type: 'console_subscribe', id: 'sub-forger', appId: 'VEA-forger' });
    await c.waitFor((f) => f.id === 'sub-forger');
    await req(c, { type: 'run_app', appId: 'VEA-forger' });
    const st = await c.waitFor((f) => f.type === 'app_status' && f.appId === 'VEA-forger' && (f.status === 'stopped' || f.status === 'error'));
    await c.waitFor((f) => f.type === 'console_output' && f.appId === 'VEA-forger' && f.output === 'the end').catch(() => null);
    const out = c.frames.filter((f) => f.type === 'console_output' && f.appId === 'VEA-forger').map((f) => String(f.output));
    const lines = out.filter((l) => / line \d+$/.test(l)).length;
    t.equal(st.exitCode, 7, 'the program\'s own exit code');
    t.equal(lines, 200, 'every line with markers in it was forwarded');
    t.ok(out.includes('the end'), 'and the line after them');
    return st.exitCode === 7 && lines === 200 && out.includes('the end');
  }, { probe: c });
});
