// normalise: what a layer's entries keep of a source's entry, and what the rules change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { normalise, type Entry } from '../src/entries.js';

test('normalise keeps every Entry field, drops what is not one, and blanks the owner names', () => {
  const open = () => Readable.from([Buffer.from('x')]);
  const xattrs = new Map([['user.a', Buffer.from('1')]]);
  const source = {
    path: 'a/b', type: 'file', mode: 0o644, uid: 5, gid: 6, uname: 'u', gname: 'g', mtime: 100, size: 1,
    linkname: 'l', devmajor: 1, devminor: 2, xattrs, open,
    name: './a/b', paxRecords: new Map(),
  } as Entry & { name: string; paxRecords: Map<string, Buffer> };
  const out = normalise(source, { mtime: 'keep', epoch: 0 });
  assert.deepEqual(out, {
    path: 'a/b', type: 'file', mode: 0o644, uid: 5, gid: 6, uname: '', gname: '', mtime: 100, size: 1,
    linkname: 'l', devmajor: 1, devminor: 2, xattrs, open,
  });
  assert.notEqual(out, source);
  // Fields the entry does not have are not added as undefined.
  const dir: Entry = { path: 'd', type: 'directory', mode: 0o700, uid: 1, gid: 1, mtime: 50, size: 0 };
  assert.deepEqual(Object.keys(normalise(dir, { mtime: 'keep', epoch: 0 })).sort(), ['gid', 'gname', 'mode', 'mtime', 'path', 'size', 'type', 'uid', 'uname']);
});

test('normalise applies owner, mode (files and directories only) and the mtime rules', () => {
  const file: Entry = { path: 'f', type: 'file', mode: 0o600, uid: 1, gid: 2, mtime: 500, size: 0 };
  const link: Entry = { path: 'l', type: 'symlink', mode: 0o777, uid: 1, gid: 2, mtime: 500, size: 0, linkname: 'f' };
  const rules = { owner: { uid: 0, gid: 0 }, mode: 0o755, mtime: 'set' as const, epoch: 10 };
  assert.deepEqual([normalise(file, rules).uid, normalise(file, rules).gid, normalise(file, rules).mode, normalise(file, rules).mtime], [0, 0, 0o755, 10]);
  assert.equal(normalise(link, rules).mode, 0o777);
  assert.equal(normalise(file, { mtime: 'clamp', epoch: 100 }).mtime, 100);
  assert.equal(normalise(file, { mtime: 'clamp', epoch: 1000 }).mtime, 500);
  assert.equal(normalise(file, { mtime: 'keep', epoch: 10 }).mtime, 500);
});
