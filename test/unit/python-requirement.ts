// Requirement specifiers: real ones pass and are rebuilt canonically; injection attempts are refused with their text named.
import t from 'tap';
import { parseRequirement, parseRequirements, RequirementError, MAX_REQUIREMENTS } from '../../src/python/requirement';

t.test('accepts real specifiers', async (t) => {
  const cases: Array<[string, string, string[], string[]]> = [
    ['numpy', 'numpy', [], []],
    ['pandas==1.3.0', 'pandas', [], ['==1.3.0']],
    ['requests[socks]>=2.25,<3', 'requests', ['socks'], ['>=2.25', '<3']],
    ['kuksa-client~=0.4', 'kuksa-client', [], ['~=0.4']],
    ['zope.interface', 'zope.interface', [], []],
    ['typing_extensions!=4.0.0', 'typing_extensions', [], ['!=4.0.0']],
    ['Django==4.2.*', 'Django', [], ['==4.2.*']],
    ['foo[a,b]===1.0+local.1', 'foo', ['a', 'b'], ['===1.0+local.1']],
    ['torch>=1!2.0rc1', 'torch', [], ['>=1!2.0rc1']],
    ['  numpy  ', 'numpy', [], []],
  ];
  for (const [text, name, extras, specs] of cases) {
    const r = parseRequirement(text);
    t.equal(r.name, name, text);
    t.same(r.extras, extras, text);
    t.same(r.specifiers, specs, text);
    t.equal(r.text, text.trim(), `${text} is rebuilt as written`);
  }
});

t.test('refuses injection attempts, options, URLs, paths and markers', async (t) => {
  const bad = [
    '; rm -rf /', ';rm', 'numpy;rm', 'numpy&&id', 'numpy|id', 'numpy>>out',
    '--index-url', '--index-url=http://x', '-i', '-r', '-e.', '--target=/etc',
    '$(id)', 'numpy$(id)', '`id`', 'a`id`', '${HOME}',
    './pkg', '../pkg', '/tmp/x.whl', 'pkg/sub', 'C:\\x', '~/x', '.',
    'http://example.com/x.tar.gz', 'https://x/y', 'git+https://github.com/a/b', 'file:///etc/passwd',
    'name @ https://x', 'name@https://x',
    'numpy; python_version<"3.8"', "numpy'", 'numpy"', 'num py', 'numpy\n--index-url',
    'numpy==', 'numpy==1.0,', 'numpy=1.0', 'numpy==1.*.0', 'numpy>=1.*', 'numpy[', 'numpy[a;b]', '-numpy', 'numpy-',
    'x'.repeat(300), '', '\u0000',
    // archive file names: pip would read them as files of its working folder
    'name-1.0-py3-none-any.whl', 'pkg-1.0.tar.gz', 'pkg.zip', 'PKG.TGZ', 'pkg.tar.bz2', 'pkg-1.0.egg', 'pkg.whl==1.0',
  ];
  for (const s of bad) {
    t.throws(() => parseRequirement(s), RequirementError, JSON.stringify(s));
  }
  const e = (() => { try { parseRequirement('--index-url'); } catch (err) { return err as RequirementError; } return null; })();
  t.match(e?.message, /--index-url/, 'the message names the refused requirement');
  t.match(e?.message, /options are not accepted/);
});

t.test('a list: whitespace-separated string or array; the first bad one is named', async (t) => {
  t.same(parseRequirements('numpy pandas==1.3.0\n requests[socks]>=2.25,<3').map((r) => r.text), ['numpy', 'pandas==1.3.0', 'requests[socks]>=2.25,<3']);
  t.same(parseRequirements(['numpy', 'kuksa-client~=0.4']).map((r) => r.name), ['numpy', 'kuksa-client']);
  t.throws(() => parseRequirements('numpy ; rm -rf /'), /";"/);
  t.throws(() => parseRequirements('numpy $(id)'), /\$\(id\)/);
  t.throws(() => parseRequirements('numpy --index-url http://x'), /--index-url/);
  t.throws(() => parseRequirements(''), /no package named/);
  t.throws(() => parseRequirements('   '), /no package named/);
  t.throws(() => parseRequirements(42), RequirementError);
  t.throws(() => parseRequirements([1]), RequirementError);
  t.throws(() => parseRequirements(Array.from({ length: MAX_REQUIREMENTS + 1 }, (_, i) => `p${i}`)), /more than/);
});
