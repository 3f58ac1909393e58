// The README's "A first request" works as written: its shell commands, run against a real agent (only the address
// added), each exit 0, and the app prints what the README says it does.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { eventually, ROOT, startAgent } from './helpers/agent';

function firstRequestCommands(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### A first request'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block.split('\n').filter((l) => l.startsWith('python3 container/sdv-api.py '));
}

t.test("the README's first request", async (t) => {
  const commands = firstRequestCommands();
  t.same(commands.map((c) => /"type":"(\w+)"/.exec(c)?.[1]), ['deploy_request', 'run_app', 'app_output', 'stop_app'], 'deploy, run, read the output, stop');
  const agent = await startAgent(t);
  const run = (command: string) => spawnSync('bash', ['-c', command.replace('container/sdv-api.py ', `container/sdv-api.py --url ${agent.apiUrl} `)], { cwd: ROOT, encoding: 'utf8' });
  const [deploy, start, output, stop] = commands as [string, string, string, string];
  for (const [what, command] of [['deploy', deploy], ['run', start]] as const) {
    const r = run(command);
    t.equal(r.status, 0, `${what} exits 0 (${r.stderr.trim()}${r.stdout.trim().slice(-200)})`);
  }
  let shown = '';
  await eventually('the app printing hello', () => { shown = run(output).stdout; return /"output": "hello"/.test(shown); }, { stepMs: 500 });
  t.match(shown, /"output": "hello"/, 'app_output shows what the app printed');
  const r = run(stop);
  t.equal(r.status, 0, 'stop exits 0');
  t.match(r.stdout, /"status": "stopped"/);
});
