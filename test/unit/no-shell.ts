// "No client string reaches a shell": a static guard over the whole source tree. Every child process is started with
// spawn/execFile/spawnSync/node-pty and an argument vector; nothing uses a shell (shell: true, exec, execSync, sh -c).
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';

const SRC = path.join(__dirname, '..', '..', 'src');

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []);
}

t.test('no shell anywhere in src/', async (t) => {
  const banned: Array<[RegExp, string]> = [
    [/\bshell\s*:\s*(true|['"`])/, 'shell option'],
    [/\bexecSync\s*\(/, 'execSync'],
    [/import\s*\{[^}]*\bexec\b[^}]*\}\s*from\s*['"](node:)?child_process['"]/, 'exec import'],
    [/child_process['"]\)\.exec\b|\bcp\.exec\(/, 'child_process.exec'],
    [/['"](\/bin\/)?(ba)?sh['"]\s*,\s*\[\s*['"]-c['"]/, 'sh -c'],
  ];
  for (const f of files(SRC)) {
    const text = fs.readFileSync(f, 'utf8');
    for (const [re, what] of banned) t.notMatch(text, re, `${path.relative(SRC, f)}: no ${what}`);
    // The one "-c" in the tree: apps/process.ts wraps programs in a CONSTANT /bin/sh script ("$0" "$@" …); the
    // program and its arguments are positional parameters, never parsed as shell text.
    for (const m of text.matchAll(/['"]-c['"]\s*,\s*([^,\]]+)/g)) {
      t.equal(path.relative(SRC, f), path.join('apps', 'process.ts'), `"-c" only in apps/process.ts, not ${path.relative(SRC, f)}`);
      t.match(m[1]!.trim(), /^(spec\.stderrFifo \? )?WRAP_STDERR( : WRAP_PLAIN)?$|^WRAP_[A-Z]+$/, 'the -c script is a constant');
    }
  }
  const proc = fs.readFileSync(path.join(SRC, 'apps', 'process.ts'), 'utf8');
  for (const m of proc.matchAll(/const (WRAP_[A-Z]+) = `([^`]*)`/g)) {
    t.notMatch(m[2]!.replace(/\$\{WRAP_(TAIL|HEAD)\}/g, ''), /\$\{/, `${m[1]} interpolates no value`);
  }
});

t.test('child_process only in the one-shot runner and the app process', async (t) => {
  // Every one-shot child goes through core/child-runner.ts (argv, the environment given, run-as, a time limit that
  // kills the group, an output cap); apps/process.ts holds the long-lived apps under node-pty (and its mkfifo).
  const importers = files(SRC).filter((f) => /from\s*['"](node:)?child_process['"]|require\(['"](node:)?child_process['"]\)/.test(fs.readFileSync(f, 'utf8')));
  t.same(importers.map((f) => path.relative(SRC, f)).sort(), [path.join('apps', 'process.ts'), path.join('core', 'child-runner.ts')]);
});
