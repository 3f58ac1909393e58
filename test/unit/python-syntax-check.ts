// python/syntax-check.ts, with the real interpreter: code that compiles passes, code that does not is refused with
// the compiler's own line (and the line number when the message has none), and an interpreter that is not there
// decides nothing.
import t from 'tap';
import { pythonSyntaxError } from '../../src/python/syntax-check';

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
