// The registry's file: a ReservedFile rewrites itself into a spare it keeps allocated, so a write at about the same
// size needs no new disk space (the chaos suite proves it on a full tmpfs: test/chaos/crash-consistency.test.ts).
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ReservedFile } from '../../src/fsutil';
import { tmpDir } from '../helpers/scope';

t.test('ReservedFile: JSON padded to a capacity, a spare of the same size beside it, old leftovers taken back', async (t) => {
  const dir = tmpDir(t, 'reserved-');
  const file = path.join(dir, 'registry.json');
  fs.writeFileSync(file, '{"old":true}'); // a registry written before there were spares
  const r = new ReservedFile(file);
  r.write(JSON.stringify({ n: 1 }));
  t.same(JSON.parse(fs.readFileSync(file, 'utf8')), { n: 1 }, 'the padding is whitespace: the file parses');
  const cap = fs.statSync(file).size;
  t.ok(cap >= 16 * 1024, `padded to a capacity (${cap} bytes)`);
  t.equal(fs.statSync(path.join(dir, '.registry.json.spare')).size, cap, 'a spare of the same capacity');
  const inode = fs.statSync(path.join(dir, '.registry.json.spare')).ino;
  r.write(JSON.stringify({ n: 2, pad: 'x'.repeat(1000) }));
  t.same(JSON.parse(fs.readFileSync(file, 'utf8')).n, 2);
  t.equal(fs.statSync(file).ino, inode, 'the spare became the file (rewritten in place, renamed)');
  t.equal(fs.statSync(file).size, cap, 'at the same capacity');
  // a write that outgrows the capacity allocates a larger pair
  r.write(JSON.stringify({ n: 3, pad: 'y'.repeat(cap) }));
  t.equal(JSON.parse(fs.readFileSync(file, 'utf8')).n, 3);
  t.ok(fs.statSync(file).size >= 2 * cap, 'grown to twice what it holds');
  t.equal(fs.statSync(path.join(dir, '.registry.json.spare')).size, fs.statSync(file).size, 'and the spare with it');
  // a crash between the rename and taking the old file back as the spare leaves .prev: it becomes the spare
  fs.renameSync(path.join(dir, '.registry.json.spare'), path.join(dir, '.registry.json.prev'));
  const prevIno = fs.statSync(path.join(dir, '.registry.json.prev')).ino;
  r.write(JSON.stringify({ n: 4 }));
  t.equal(fs.statSync(file).ino, prevIno, 'the left-over .prev was used as the spare');
  t.same(fs.readdirSync(dir).sort(), ['.registry.json.spare', 'registry.json'], 'nothing else is left');
});
