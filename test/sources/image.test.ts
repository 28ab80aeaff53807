// An image's merged filesystem: layers in order, whiteouts and opaque directories, hard links,
// symlinks resolved inside the root, data spooled for copies, and damaged layers refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { compressor } from '../../src/compress.js';
import type { LayerDescriptor } from '../../src/descriptor.js';
import type { Entry } from '../../src/entries.js';
import { UserError } from '../../src/errors.js';
import { writeLayer } from '../../src/layer.js';
import { ImageFilesystem } from '../../src/sources/image.js';
import type { Image } from '../../src/model.js';
import { BlobStore } from '../../src/store.js';
import { run, tempDir } from '../helpers.js';

type Spec = [path: string, kind: 'd' | 'f' | 'l' | 'h', extra?: string, mode?: number, uid?: number];

function entry([p, kind, extra = '', mode, uid = 0]: Spec): Entry {
  const base = { path: p, uid, gid: uid, mtime: 0, size: 0 };
  switch (kind) {
    case 'd':
      return { ...base, type: 'directory', mode: mode ?? 0o755 };
    case 'l':
      return { ...base, type: 'symlink', mode: 0o777, linkname: extra };
    case 'h':
      return { ...base, type: 'link', mode: 0o644, linkname: extra };
    case 'f': {
      const data = Buffer.from(extra);
      return { ...base, type: 'file', mode: mode ?? 0o644, size: data.length, open: () => Readable.from([data]) };
    }
  }
}

async function image(t: Parameters<typeof tempDir>[0], layers: Spec[][]): Promise<{ img: Pick<Image, 'layers' | 'where'>; store: BlobStore; dir: string }> {
  const dir = await tempDir(t);
  const store = new BlobStore(dir);
  const descs: LayerDescriptor[] = [];
  for (const specs of layers) {
    async function* entries() {
      for (const s of specs) yield entry(s);
    }
    descs.push(await writeLayer(store, entries(), { compressor: compressor('gzip') }));
  }
  return { img: { layers: descs.map((d) => ({ descriptor: d, open: () => store.open(d) })), where: 'test image' }, store, dir };
}

test('layers merge in order; whiteouts hide lower paths and what is below them', async (t) => {
  const { img } = await image(t, [
    [['etc', 'd'], ['etc/a', 'f', 'a1'], ['etc/b', 'f', 'b'], ['var', 'd'], ['var/lib', 'd'], ['var/lib/x', 'f', 'x']],
    [['etc', 'd', '', 0o700], ['etc/a', 'f', 'a2'], ['etc/.wh.b', 'f'], ['.wh.var', 'f'], ['new', 'd']],
  ]);
  const fsys = await ImageFilesystem.read(img);
  assert.deepEqual([...fsys.walk()], ['etc', 'etc/a', 'new']);
  assert.equal(fsys.get('etc')?.mode, 0o700, 'a directory over a directory takes the new metadata');
  assert.equal((await fsys.readFile(img, 'etc/a', 100))?.toString(), 'a2');
  assert.equal(fsys.get('var'), undefined);
});

test('an opaque directory hides what lower layers hold in it, never its own layer\'s entries', async (t) => {
  const { img } = await image(t, [
    [['d', 'd'], ['d/old', 'f', 'o'], ['d/sub', 'd'], ['d/sub/deep', 'f', 'x']],
    [['d', 'd'], ['d/new', 'f', 'n'], ['d/sub', 'd'], ['d/.wh..wh..opq', 'f']],
  ]);
  const fsys = await ImageFilesystem.read(img);
  assert.deepEqual([...fsys.walk()], ['d', 'd/new', 'd/sub']);
});

test('a file replacing a directory takes its subtree away; parents a layer omits are made', async (t) => {
  const { img } = await image(t, [[['x', 'd'], ['x/y', 'f', 'y']], [['x', 'f', 'now a file'], ['a/b/c', 'f', 'c']]]);
  const fsys = await ImageFilesystem.read(img);
  assert.deepEqual([...fsys.walk()], ['a', 'a/b', 'a/b/c', 'x']);
  assert.equal(fsys.get('a/b')?.type, 'directory');
  assert.equal(fsys.get('x')?.type, 'file');
});

test('symlinks resolve inside the root: relative, absolute, ".." stopping at "/", loops refused', async (t) => {
  const { img } = await image(t, [
    [['usr', 'd'], ['usr/lib', 'd'], ['usr/lib/f', 'f', 'f'], ['lib', 'l', 'usr/lib'], ['abs', 'l', '/usr/lib'], ['up', 'l', '../../../usr'], ['loop', 'l', 'loop2'], ['loop2', 'l', 'loop']],
  ]);
  const fsys = await ImageFilesystem.read(img);
  assert.equal(fsys.resolve('lib/f', true), 'usr/lib/f');
  assert.equal(fsys.resolve('abs/f', true), 'usr/lib/f');
  assert.equal(fsys.resolve('up/lib', true), 'usr/lib');
  assert.equal(fsys.resolve('lib', false), 'lib');
  assert.equal(fsys.resolve('lib', true), 'usr/lib');
  assert.throws(() => fsys.resolve('loop', true), (e: unknown) => e instanceof UserError && /too many levels of symbolic links/.test(e.message));
  const tree = fsys.lowerTree();
  assert.ok(tree.directory('usr/lib'));
  assert.equal(tree.resolve('lib/x', false), 'usr/lib/x');
});

test('copyOut spools the data of a subtree from the layers that hold it; hard links become files', async (t) => {
  const { img, dir } = await image(t, [
    [['app', 'd'], ['app/a', 'f', 'first'], ['app/h', 'h', 'app/a'], ['app/s', 'l', 'a']],
    [['app', 'd'], ['app/b', 'f', 'second', 0o4755, 7]],
  ]);
  const fsys = await ImageFilesystem.read(img);
  const spool = path.join(dir, 'spool');
  const entries = await fsys.copyOut(img, 'app', spool);
  const out: Array<[string, string, number, number, string]> = [];
  for await (const e of entries('dst')) {
    let data = '';
    if (e.open) for await (const c of e.open()) data += String(c);
    out.push([e.path, e.type, e.mode, e.uid, e.type === 'symlink' ? e.linkname! : data]);
  }
  assert.deepEqual(out, [
    ['dst', 'directory', 0o755, 0, ''],
    ['dst/a', 'file', 0o644, 0, 'first'],
    ['dst/b', 'file', 0o4755, 7, 'second'],
    ['dst/h', 'file', 0o644, 0, 'first'],
    ['dst/s', 'symlink', 0o777, 0, 'a'],
  ]);
  assert.equal((await fs.readdir(spool)).length, 2, 'each file\'s bytes spooled once');
});

test('extend continues a filesystem with more layers, leaving the first one as it was', async (t) => {
  const { img } = await image(t, [[['a', 'f', '1']], [['b', 'f', '2'], ['.wh.a', 'f']]]);
  const first = await ImageFilesystem.read({ ...img, layers: img.layers.slice(0, 1) });
  const both = await first.extend(img);
  assert.deepEqual([...first.walk()], ['a']);
  assert.deepEqual([...both.walk()], ['b']);
  await assert.rejects(both.extend({ ...img, layers: img.layers.slice(1) }), /not a continuation/);
});

test('a layer whose bytes do not match its digest, or that climbs out with "..", is refused', async (t) => {
  const { img, store } = await image(t, [[['a', 'f', 'x']]]);
  const blob = store.blobPath(img.layers[0]!.descriptor.digest);
  const bytes = await fs.readFile(blob);
  bytes[bytes.length - 5]! ^= 0xff;
  await fs.writeFile(blob, bytes);
  await assert.rejects(ImageFilesystem.read(img), UserError);

  const evil = await image(t, []);
  const tarFile = path.join(evil.dir, 'evil.tar');
  await run('python3', ['-c', "import io,sys,tarfile\nt=tarfile.open(sys.argv[1],'w')\ni=tarfile.TarInfo('../etc/passwd')\ni.size=1\nt.addfile(i,io.BytesIO(b'x'))\nt.close()", tarFile]);
  const desc = await evil.store.put([createReadStream(tarFile)], { mediaType: 'application/vnd.oci.image.layer.v1.tar' });
  const layer = { ...desc, diffId: desc.digest };
  await assert.rejects(
    ImageFilesystem.read({ layers: [{ descriptor: layer, open: () => evil.store.open(layer) }], where: 'evil' }),
    (e: unknown) => e instanceof UserError && /entry "\.\.\/etc\/passwd" climbs out of the root/.test(e.message),
  );
});
