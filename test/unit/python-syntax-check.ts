// python/syntax-check.ts, with the real interpreter: code that compiles passes, code that does not is refused with
// the compiler's own line (and the line number when the message has none), an interpreter that is not there decides
// nothing, and no more than two checks run at once.
import t from 'tap';
import { checksRunning, pythonSyntaxError } from '../../src/python/syntax-check';

t.test('python/syntax-check: the interpreter decides', async (t) => {
  t.equal(await pythonSyntaxError('python3', 'import asyncio\nprint("ok")\n', null), null, 'code that compiles');
  t.equal(await pythonSyntaxError('python3', 'raise SystemExit(3)\n', null), null, 'never run: its own exit is not seen');
  t.match(await pythonSyntaxError('python3', 'print("Unclosed string', null), /^SyntaxError: unterminated string literal.*line 1/);
  t.match(await pythonSyntaxError('python3', 'x = 1\ny = (\n', null), /^SyntaxError: .*\(line 2\)$/, 'the line added where the message has none');
  t.match(await pythonSyntaxError('python3', 'if True:\nprint(1)\n', null), /^IndentationError: /);
  t.match(await pythonSyntaxError('python3', 'a = 1\0\n', null), /^(SyntaxError|ValueError): .*null bytes/);
  t.equal(await pythonSyntaxError('/nonexistent/python3', 'print(', null), null, 'no interpreter: nothing decided');
  t.equal(await pythonSyntaxError('python3', 'print(' + ' '.repeat(600 * 1024), null), null, 'over 512 KiB: not checked');
});

t.test('python/syntax-check: at most two interpreters at once, the rest in turn', async (t) => {
  const codes = ['print(1)\n', 'print(', 'x = 2\n', 'if 1:\nprint(3)\n', 'y = (\n'];
  const checks = codes.map((c) => pythonSyntaxError('python3', c, null));
  await Promise.resolve();
  t.equal(checksRunning(), 2, 'two run, three wait');
  const r = await Promise.all(checks);
  t.equal(checksRunning(), 0, 'all done');
  t.same(r.map((x) => x === null), [true, false, true, false, false], 'each its own answer');
});
