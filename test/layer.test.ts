// No layer oci-pack writes holds a path twice (docker's ApplyLayer refuses one): the writer's own
// check, and every way a layer is made (--add, --layer, Dockerfile COPY and ADD) kept within it.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { buildImage } from '../src/build.js';
import { compressor } from '../src/compress.js';
import { sha256 } from '../src/digest.js';
import { buildDockerfile } from '../src/dockerfile/build.js';
import type { Entry } from '../src/entries.js';
import { UserError } from '../src/errors.js';
import { writeLayer } from '../src/layer.js';
import { BlobStore } from '../src/store.js';
import { HELLO, blobFile, listTar, readImage, run, snapshot, tempDir } from './helpers.js';

const AMD64 = { os: 'linux', architecture: 'amd64' };

function dir(p: string): Entry {
  return { path: p, type: 'directory', mode: 0o755, uid: 0, gid: 0, uname: '', gname: '', mtime: 0, size: 0 };
}

async function* list(entries: Entry[]): AsyncGenerator<Entry> {
  yield* entries;
}

/** The names of every layer of the image t:1, in archive order, as python's tarfile reads them. */
async function layerNames(layout: string): Promise<string[][]> {
  const img = await readImage(layout, 't:1');
  return Promise.all(img.manifest.layers.map(async (l) => (await listTar(blobFile(layout, l.digest))).map((e) => e.name.replace(/\/$/, ''))));
}

function assertOnceEach(layers: string[][]): void {
  for (const names of layers) assert.equal(new Set(names).size, names.length, `a path twice in one layer: ${names.join(' ')}`);
}

async function context(t: TestContext, dockerfile: string): Promise<string> {
  const ctx = await tempDir(t, 'oci-pack-dup-');
  await fs.writeFile(path.join(ctx, 'Dockerfile'), dockerfile);
  await fs.copyFile(HELLO, path.join(ctx, 'hello'));
  for (const [d, files] of [['sub', ['a', 'deep/b']], ['s2', ['c', 'deep/d']]] as const) {
    for (const f of files) {
      await fs.mkdir(path.dirname(path.join(ctx, d, f)), { recursive: true });
      await fs.writeFile(path.join(ctx, d, f), `${d}/${f}\n`);
    }
  }
  return ctx;
}

test('the layer writer refuses a path it has written already, as a bug (sources name user input themselves)', async (t) => {
  const root = await tempDir(t);
  await fs.mkdir(path.join(root, 'blobs', 'sha256'), { recursive: true });
  const store = new BlobStore(root);
  const opts = { compressor: compressor('none') };
  const ok = await writeLayer(store, list([dir('a'), dir('a/b')]), opts);
  assert.equal(ok.uncompressedSize, 2 * 512 + 1024, "two headers and the end-of-archive blocks");
  await assert.rejects(writeLayer(store, list([dir('a'), dir('a/b'), dir('a')]), opts), (e: unknown) => {
    assert.ok(!(e instanceof UserError), 'a duplicate reaching the writer is a bug, not the user\'s');
    assert.match((e as Error).message, /"a" comes twice in one layer/);
    return true;
  });
  assert.deepEqual(await fs.readdir(path.join(root, 'blobs', 'sha256')), [ok.digest.slice(7)], 'nothing written for the refused layer');
});

test('an uncompressed layer is hashed once: its digest is its diff_id, and the blob hashes to it', async (t) => {
  const root = await tempDir(t);
  const store = new BlobStore(root);
  const layer = await writeLayer(store, list([dir('a'), dir('a/b')]), { compressor: compressor('none') });
  assert.equal(layer.digest, layer.diffId);
  assert.equal(layer.size, layer.uncompressedSize);
  const bytes = await fs.readFile(path.join(root, 'blobs', 'sha256', layer.digest.slice(7)));
  assert.equal(sha256(bytes), layer.digest);
  assert.equal(bytes.length, layer.size);
  // Gzipped, the two differ: the store hashes the compressed bytes itself.
  const gz = await writeLayer(store, list([dir('a'), dir('a/b')]), { compressor: compressor('gzip') });
  assert.equal(gz.diffId, layer.diffId);
  assert.notEqual(gz.digest, gz.diffId);
  assert.equal(sha256(await fs.readFile(path.join(root, 'blobs', 'sha256', gz.digest.slice(7)))), gz.digest);
});

test('Dockerfile COPY of several sources into one directory lists it once (docker\'s classic builder builds these)', async (t) => {
  for (const line of ['COPY hello sub/ /multi/', 'COPY sub/ s2/ /multi/', 'COPY sub s2 hello /multi/', 'COPY sub/ hello /multi/']) {
    const ctx = await context(t, `FROM scratch\n${line}\n`);
    const layout = path.join(await tempDir(t), 'out');
    await buildDockerfile({ layout, context: ctx, platform: AMD64, tags: ['t:1'] });
    const [names] = await layerNames(layout);
    assertOnceEach([names!]);
    const want = ['multi', 'multi/a', 'multi/deep', 'multi/deep/b', 'multi/hello', 'multi/c', 'multi/deep/d'].filter(
      (n) => (line.includes('hello') || n !== 'multi/hello') && (line.includes('s2') || !/\/(c|deep\/d)$/.test(n)),
    );
    assert.deepEqual([...names!].sort(), want.sort(), line);
  }
});

test('Dockerfile COPY: two sources putting a file at one path is refused, naming it; the layout is unchanged', async (t) => {
  const ctx = await context(t, 'FROM scratch\nCOPY sub/ sub/ /multi/\n');
  const layout = path.join(await tempDir(t), 'out');
  await buildDockerfile({ layout, context: ctx, platform: AMD64, tags: ['before'], dockerfile: await writeOther(ctx, 'FROM scratch\nCOPY hello /\n') });
  const before = await snapshot(layout);
  await assert.rejects(buildDockerfile({ layout, context: ctx, platform: AMD64, tags: ['t:1'] }), (e: unknown) => e instanceof UserError && /\/multi\/a: two sources put something there in this one step \(a file, then a file\)/.test(e.message));
  assert.deepEqual(await snapshot(layout), before);
});

async function writeOther(ctx: string, text: string): Promise<string> {
  const file = path.join(ctx, 'Other.Dockerfile');
  await fs.writeFile(file, text);
  return file;
}

test('ADD of an archive that lists a directory after its contents writes the directory once', async (t) => {
  const ctx = await context(t, 'FROM scratch\nADD late.tar /x/\n');
  await run('tar', ['--no-recursion', '--owner=0', '--group=0', '--numeric-owner', '-C', ctx, '-cf', path.join(ctx, 'late.tar'), 'sub/deep/b', 'sub/deep', 'sub']);
  const layout = path.join(await tempDir(t), 'out');
  await buildDockerfile({ layout, context: ctx, platform: AMD64, tags: ['t:1'] });
  const [names] = await layerNames(layout);
  assert.deepEqual(names, ['x', 'x/sub', 'x/sub/deep', 'x/sub/deep/b']);
});

/** A tar that lists `twice` two times (python's tarfile writes what it is told). */
async function duplicateTar(file: string, twice: string, asDir: boolean): Promise<void> {
  await run('python3', ['-c', `
import io, sys, tarfile
with tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT) as tf:
    for name in ['d/', 'd/f', sys.argv[2]]:
        info = tarfile.TarInfo(name.rstrip('/'))
        if name.endswith('/') or sys.argv[3] == 'dir' and name == sys.argv[2]:
            info.type = tarfile.DIRTYPE; info.mode = 0o755; tf.addfile(info)
        else:
            info.size = 2; info.mode = 0o644; tf.addfile(info, io.BytesIO(b'x\\n'))
`, file, twice, asDir ? 'dir' : 'file']);
}

test('--layer and ADD of a tarball that lists a path twice: a UserError naming the tarball and the entry', async (t) => {
  const dirTwice = path.join(await tempDir(t), 'dir-twice.tar');
  await duplicateTar(dirTwice, 'd/', true);
  const fileTwice = path.join(await tempDir(t), 'file-twice.tar');
  await duplicateTar(fileTwice, 'd/f', false);
  const layout = path.join(await tempDir(t), 'out');
  for (const [tar, shown, kinds] of [[dirTwice, '"d"', 'a directory, then a directory'], [fileTwice, '"d/f"', 'a file, then a file']] as const) {
    await assert.rejects(
      buildImage({ layout, layers: [{ kind: 'tarball', path: tar }], config: {}, platform: AMD64, tags: ['t:1'] }),
      (e: unknown) => e instanceof UserError && e.message.includes(`--layer ${tar}: entry `) && e.message.includes(`${shown} comes twice in the archive (${kinds}); docker refuses such a layer`),
    );
    const ctx = await context(t, 'FROM scratch\nADD twice.tar /x/\n');
    await fs.copyFile(tar, path.join(ctx, 'twice.tar'));
    await assert.rejects(buildDockerfile({ layout, context: ctx, platform: AMD64, tags: ['t:1'] }), (e: unknown) => e instanceof UserError && /ADD twice\.tar: twice\.tar: entry .* comes twice in the archive/.test(e.message));
  }
  await assert.rejects(fs.stat(layout), { code: 'ENOENT' }, 'a failed build leaves no layout behind');
});

test('--add layers and a tarball layer over them: each path once per layer', async (t) => {
  const ctx = await context(t, '');
  const tar = path.join(await tempDir(t), 'ok.tar');
  await run('tar', ['-C', ctx, '-cf', tar, '.']);
  const layout = path.join(await tempDir(t), 'out');
  await buildImage({
    layout,
    layers: [{ kind: 'add', src: path.join(ctx, 'sub'), dest: '/multi' }, { kind: 'add', src: path.join(ctx, 's2'), dest: '/multi' }, { kind: 'add', src: HELLO, dest: '/multi/' }, { kind: 'tarball', path: tar }],
    config: {},
    platform: AMD64,
    tags: ['t:1'],
  });
  const layers = await layerNames(layout);
  assertOnceEach(layers);
  assert.deepEqual(layers[2], ['multi', 'multi/hello']);
});
