import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LayerChanges, LowerTree } from '../src/lower.js';
import { placeEntries, type Placement } from '../src/place.js';
import type { Entry } from '../src/entries.js';

function dir(path: string, mode = 0o755, uid = 0): Entry {
  return { path, type: 'directory', mode, uid, gid: uid, mtime: 5, size: 0 };
}
function file(path: string): Entry {
  return { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 5, size: 0 };
}
function link(path: string, target: string): Entry {
  return { path, type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 5, size: 0, linkname: target };
}
function treeOf(...layers: Entry[][]): LowerTree {
  const tree = new LowerTree();
  for (const entries of layers) {
    const c = new LayerChanges();
    entries.forEach((e) => c.record(e));
    tree.apply(c);
  }
  return tree;
}

test('directories are remembered with their metadata; later layers replace them', () => {
  const tree = treeOf([dir(''), dir('tmp', 0o1777), dir('etc'), file('etc/passwd')], [dir('etc', 0o700)]);
  assert.equal(tree.directory('tmp')?.mode, 0o1777);
  assert.equal(tree.directory('etc')?.mode, 0o700);
  assert.equal(tree.directory('etc/passwd'), undefined);
  assert.equal(tree.directory('')?.mode, 0o755);
});

test('whiteouts, opaque whiteouts and a file over a directory remove what was below', () => {
  const tree = treeOf(
    [dir('a'), dir('a/b'), dir('a/b/c'), dir('x'), dir('x/y'), dir('z'), dir('z/in')],
    [file('a/.wh.b'), file('x/.wh..wh..opq'), file('z')],
  );
  assert.equal(tree.directory('a')?.type, 'directory');
  assert.equal(tree.directory('a/b'), undefined);
  assert.equal(tree.directory('a/b/c'), undefined);
  assert.ok(tree.directory('x'));
  assert.equal(tree.directory('x/y'), undefined);
  assert.equal(tree.directory('z'), undefined);
  assert.equal(tree.directory('z/in'), undefined);
});

test('resolve follows symlinks below, relative and absolute, never above the root', () => {
  const tree = treeOf([dir('usr'), dir('usr/lib'), link('lib', 'usr/lib'), link('usr/lib64', '/usr/lib'), link('up', '../../..'), link('loop', 'loop')]);
  assert.equal(tree.resolve('lib/x.so', false), 'usr/lib/x.so');
  assert.equal(tree.resolve('usr/lib64/y', false), 'usr/lib/y');
  assert.equal(tree.resolve('up/etc/passwd', false), 'etc/passwd');
  assert.equal(tree.resolve('lib', false), 'lib');
  assert.equal(tree.resolve('lib', true), 'usr/lib');
  assert.throws(() => tree.resolve('loop/x', false), /too many levels of symbolic links/);
});

async function collect(it: AsyncIterable<Entry>): Promise<Entry[]> {
  const out: Entry[] = [];
  for await (const e of it) out.push(e);
  return out;
}

const rules = { owner: { uid: 0, gid: 0 }, mtime: 'set' as const, epoch: 0 };

test('placed entries get parents; parents below keep their metadata (/tmp stays 1777)', async () => {
  const tree = treeOf([dir(''), dir('tmp', 0o1777, 0)]);
  const p: Placement = {
    dest: 'tmp/sub/f',
    rules,
    entries: async function* (d) {
      yield { ...file(d), uid: 1000, mtime: 99 };
    },
  };
  const out = await collect(placeEntries([p], tree));
  assert.deepEqual(out.map((e) => [e.path, e.type, e.mode.toString(8), e.uid, e.mtime]), [
    ['tmp', 'directory', '1777', 0, 5],
    ['tmp/sub', 'directory', '755', 0, 0],
    ['tmp/sub/f', 'file', '644', 0, 0],
  ]);
});

test('a destination under a symlinked directory lands where the link points', async () => {
  const tree = treeOf([dir('usr', 0o755), dir('usr/lib', 0o700), link('lib', 'usr/lib')]);
  const out = await collect(
    placeEntries([{ dest: 'lib/app.so', rules, entries: async function* (d) { yield file(d); } }], tree),
  );
  assert.deepEqual(out.map((e) => `${e.path} ${e.mode.toString(8)}`), ['usr 755', 'usr/lib 700', 'usr/lib/app.so 644']);
});

test('a tree added onto an existing directory keeps that directory as it was', async () => {
  const tree = treeOf([dir('etc', 0o750, 0)]);
  const out = await collect(
    placeEntries([{ dest: 'etc', rules, entries: async function* (d) { yield dir(d, 0o777, 1000); yield file(`${d}/conf`); } }], tree),
  );
  assert.deepEqual(out.map((e) => `${e.path} ${e.mode.toString(8)} ${e.uid}`), ['etc 750 0', 'etc/conf 644 0']);
});

test('with --chown, new parents belong to the owner, as docker COPY --chown makes them', async () => {
  const tree = new LowerTree();
  const chowned = { owner: { uid: 7, gid: 8 }, mtime: 'set' as const, epoch: 0 };
  const out = await collect(placeEntries([{ dest: 'a/b/f', rules: chowned, entries: async function* (d) { yield file(d); } }], tree));
  assert.deepEqual(out.map((e) => `${e.path} ${e.uid}:${e.gid}`), ['a 7:8', 'a/b 7:8', 'a/b/f 7:8']);
});

test('a tree placed at the root gives what is below it, never the root entry itself', async () => {
  const out = await collect(
    placeEntries([{ dest: '', rules, entries: async function* (d) { yield dir(d, 0o700, 0); yield file(`${d === '' ? '' : `${d}/`}f`); } }], new LowerTree()),
  );
  assert.deepEqual(out.map((e) => `${e.path} ${e.mode.toString(8)}`), ['f 644']);
});
