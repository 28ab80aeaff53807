// The library API, without the CLI: what a TypeScript user gets from buildImage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { LayoutTransaction } from '../src/transaction.js';
import { buildImage, Layout, MediaType, UserError, type BuildEvent, type PlacedSource } from '../src/index.js';
import { HELLO, blobFile, listTar, readImage, readJson, run, snapshot, tempDir } from './helpers.js';
import { LowerTree } from '../src/lower.js';
import { buildDockerfile } from '../src/dockerfile/build.js';

const AMD64 = { os: 'linux', architecture: 'amd64' };

// Pinned: the example image as `npm run demo` builds it (linux/amd64, no SOURCE_DATE_EPOCH). The
// diff_id and config digest hold on any machine; the layer digest holds for this Node's zlib.
const GOLDEN = {
  diffId: 'sha256:5d29ddb45130e359b6aa51df03e3257f964ae4d9447108095f8adebe98a7723c',
  config: 'sha256:c98cc00d0699ae1755512a57474ec43554bda58c7b5cde9731ce31fec6252336',
  layer: 'sha256:051628b85de819d1cd4eb3f2caa3827a45c6d92cfe70641da41dd17204bb06c3',
};

function hello(layout: string, extra: Partial<Parameters<typeof buildImage>[0]> = {}) {
  return buildImage({
    layout,
    layers: [{ kind: 'add', src: HELLO, dest: '/hello' }],
    config: { cmd: ['/hello'] },
    platform: AMD64,
    tags: ['hello:latest'],
    sourceDateEpoch: 0,
    ...extra,
  });
}

test('buildImage writes a complete, valid OCI layout from TypeScript', async (t) => {
  const dir = path.join(await tempDir(t), 'out');
  const events: BuildEvent[] = [];
  const result = await hello(dir, { onEvent: (e) => events.push(e) });
  assert.deepEqual(await readJson(path.join(dir, 'oci-layout')), { imageLayoutVersion: '1.0.0' });
  const img = await readImage(dir, 'hello:latest');
  assert.equal(img.manifestDigest, result.descriptor.digest);
  assert.deepEqual(img.index.manifests[0]?.platform, AMD64);
  assert.equal(img.manifest.layers.length, 1);
  assert.equal(img.manifest.layers[0]?.mediaType, MediaType.layerGzip);
  assert.equal(img.config.architecture, 'amd64');
  assert.equal(img.config.os, 'linux');
  assert.equal(img.config.created, '1970-01-01T00:00:00Z');
  assert.deepEqual(img.config.config, { Cmd: ['/hello'] });
  assert.deepEqual(img.config.history, [{ created: '1970-01-01T00:00:00Z', created_by: 'oci-pack layout --add hello:/hello' }]);
  assert.equal(img.config.rootfs.diff_ids[0], result.layers[0]?.descriptor.diffId);
  const entries = await listTar(blobFile(dir, img.manifest.layers[0]!.digest));
  assert.deepEqual(
    entries.map((e) => [e.name, e.type, e.mode.toString(8), e.uid, e.gid, e.uname, e.gname, e.mtime]),
    [['hello', 'file', '755', 0, 0, '', '', 0]],
  );
  assert.deepEqual(events.map((e) => e.type).filter((x) => x !== 'layer-progress'), ['layer-start', 'layer-done']);
  assert.deepEqual((await fs.readdir(dir)).sort(), ['blobs', 'index.json', 'oci-layout']);
});

test('golden: the example image has pinned diff_id, config digest and (for this Node) layer digest', async (t) => {
  const dir = await tempDir(t);
  const result = await hello(dir);
  assert.equal(result.layers[0]?.descriptor.diffId, GOLDEN.diffId);
  assert.equal(result.configDescriptor.digest, GOLDEN.config);
  assert.equal(result.layers[0]?.descriptor.digest, GOLDEN.layer, `layer digest for ${process.version} zlib ${process.versions.zlib}`);
});

test('reproducible: twice, and from a copy of the inputs elsewhere with other mtimes, the same digest', async (t) => {
  const base = await tempDir(t);
  const srcA = path.join(base, 'a', 'app');
  await fs.mkdir(path.join(srcA, 'lib'), { recursive: true });
  await fs.writeFile(path.join(srcA, 'main.js'), 'console.log(1)\n');
  await fs.writeFile(path.join(srcA, 'lib', 'x.js'), 'export {}\n');
  await fs.symlink('lib/x.js', path.join(srcA, 'link.js'));
  const build = (src: string, layout: string) =>
    buildImage({ layout, layers: [{ kind: 'add', src: HELLO, dest: '/hello' }, { kind: 'add', src, dest: '/app' }], platform: AMD64, tags: ['app:1'] });
  const one = await build(srcA, path.join(base, 'l1'));
  const two = await build(srcA, path.join(base, 'l2'));
  assert.equal(one.descriptor.digest, two.descriptor.digest);
  // A copy somewhere else, every mtime changed.
  const srcB = path.join(base, 'elsewhere', 'deeper', 'app');
  await fs.mkdir(path.dirname(srcB), { recursive: true });
  await run('cp', ['-a', srcA, srcB]);
  for (const p of ['main.js', 'lib/x.js', 'lib', '.']) await fs.utimes(path.join(srcB, p), 1234567, 1234567);
  await fs.lutimes(path.join(srcB, 'link.js'), 7654321, 7654321);
  const three = await build(srcB, path.join(base, 'l3'));
  assert.equal(three.descriptor.digest, one.descriptor.digest);
  // SOURCE_DATE_EPOCH changes the times, so the digest, and again reproducibly.
  const sde = await buildImage({ layout: path.join(base, 'l4'), layers: [{ kind: 'add', src: srcB, dest: '/app' }], platform: AMD64, sourceDateEpoch: 1700000000 });
  const img = await readImage(path.join(base, 'l4'), 'x').catch(() => undefined);
  assert.equal(img, undefined);
  const cfg = (await readJson(blobFile(path.join(base, 'l4'), sde.configDescriptor.digest))) as { created: string };
  assert.equal(cfg.created, '2023-11-14T22:13:20Z');
  const layer = await listTar(blobFile(path.join(base, 'l4'), sde.layers[0]!.descriptor.digest));
  assert.ok(layer.every((e) => e.mtime === 1700000000));
});

test('--preserve-mtime keeps host times, clamped to SOURCE_DATE_EPOCH when it is set', async (t) => {
  const base = await tempDir(t);
  const src = path.join(base, 'f');
  await fs.writeFile(src, 'x');
  await fs.utimes(src, 1500000000, 1500000000);
  const keep = await buildImage({ layout: path.join(base, 'a'), layers: [{ kind: 'add', src, dest: '/f' }], platform: AMD64, preserveMtime: true });
  const kept = await listTar(blobFile(path.join(base, 'a'), keep.layers[0]!.descriptor.digest));
  assert.equal(kept[0]?.mtime, 1500000000);
  const clamp = await buildImage({ layout: path.join(base, 'b'), layers: [{ kind: 'add', src, dest: '/f' }], platform: AMD64, preserveMtime: true, sourceDateEpoch: 1000 });
  const clamped = await listTar(blobFile(path.join(base, 'b'), clamp.layers[0]!.descriptor.digest));
  assert.equal(clamped[0]?.mtime, 1000);
});

test('two tags in one layout, a re-used tag moves, shared layers are stored once', async (t) => {
  const dir = await tempDir(t);
  const a = await hello(dir, { tags: ['hello:scratch', 'hello:latest'] });
  const b = await hello(dir, { tags: ['hello:other'], config: { cmd: ['/hello', 'x'] } });
  assert.notEqual(a.descriptor.digest, b.descriptor.digest);
  assert.equal(a.layers[0]?.descriptor.digest, b.layers[0]?.descriptor.digest);
  const layout = await Layout.open(dir);
  const index = await layout.readIndex();
  assert.deepEqual(
    index.manifests.map((d) => [d.annotations?.['org.opencontainers.image.ref.name'], d.digest]),
    [['hello:scratch', a.descriptor.digest], ['hello:latest', a.descriptor.digest], ['hello:other', b.descriptor.digest]],
  );
  // 1 shared layer + 2 configs + 2 manifests.
  assert.equal((await fs.readdir(path.join(dir, 'blobs', 'sha256'))).length, 5);
  // hello:latest moves to the second image; hello:scratch stays.
  await hello(dir, { tags: ['hello:latest'], config: { cmd: ['/hello', 'x'] } });
  const moved = await layout.readIndex();
  assert.deepEqual(
    moved.manifests.map((d) => [d.annotations?.['org.opencontainers.image.ref.name'], d.digest]),
    [['hello:scratch', a.descriptor.digest], ['hello:other', b.descriptor.digest], ['hello:latest', b.descriptor.digest]],
  );
  // Untagged: recorded, without a ref name.
  const c = await hello(dir, { tags: [], config: { cmd: ['/hello', 'untagged'] } });
  const last = (await layout.readIndex()).manifests.at(-1);
  assert.equal(last?.digest, c.descriptor.digest);
  assert.equal(last?.annotations, undefined);
});

test('a layer on a rootfs keeps the parents it has: /tmp stays 1777, /etc stays 0750', async (t) => {
  const base = await tempDir(t);
  const root = path.join(base, 'rootfs');
  await fs.mkdir(path.join(root, 'tmp'), { recursive: true });
  await fs.mkdir(path.join(root, 'etc'));
  await fs.chmod(path.join(root, 'tmp'), 0o1777);
  await fs.chmod(path.join(root, 'etc'), 0o750);
  const tarball = path.join(base, 'rootfs.tar');
  await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', root, '-cf', tarball, '.']);
  const note = path.join(base, 'note');
  await fs.writeFile(note, 'n');
  const out = path.join(base, 'out');
  const r = await buildImage({
    layout: out,
    layers: [{ kind: 'tarball', path: tarball }, { kind: 'add', src: note, dest: '/tmp/note' }, { kind: 'add', src: note, dest: '/etc/app/note' }, { kind: 'add', src: note, dest: '/new/dir/note' }],
    platform: AMD64,
  });
  const l2 = await listTar(blobFile(out, r.layers[1]!.descriptor.digest));
  assert.deepEqual(l2.map((e) => `${e.name} ${e.mode.toString(8)}`), ['tmp 1777', 'tmp/note 644']);
  const l3 = await listTar(blobFile(out, r.layers[2]!.descriptor.digest));
  assert.deepEqual(l3.map((e) => `${e.name} ${e.mode.toString(8)}`), ['etc 750', 'etc/app 755', 'etc/app/note 644']);
  const l4 = await listTar(blobFile(out, r.layers[3]!.descriptor.digest));
  assert.deepEqual(l4.map((e) => `${e.name} ${e.mode.toString(8)} ${e.mtime}`), ['new 755 0', 'new/dir 755 0', 'new/dir/note 644 0']);
});

test('a failed build leaves an existing layout exactly as it was, and removes a layout it created', async (t) => {
  const base = await tempDir(t);
  const dir = path.join(base, 'out');
  await hello(dir);
  const before = await snapshot(dir);
  await assert.rejects(
    buildImage({
      layout: dir,
      layers: [{ kind: 'add', src: HELLO, dest: '/a' }, { kind: 'add', src: path.join(base, 'missing'), dest: '/b' }],
      tags: ['hello:latest'],
    }),
    (err: unknown) => err instanceof UserError && /--add .*missing:\/b: .*missing: no such file or directory/.test(err.message),
  );
  assert.deepEqual(await snapshot(dir), before);
  const fresh = path.join(base, 'fresh');
  await assert.rejects(buildImage({ layout: fresh, layers: [{ kind: 'add', src: path.join(base, 'missing'), dest: '/b' }] }), UserError);
  await assert.rejects(fs.stat(fresh), { code: 'ENOENT' });
  const empty = path.join(base, 'empty');
  await fs.mkdir(empty);
  await assert.rejects(buildImage({ layout: empty, layers: [{ kind: 'tarball', path: path.join(base, 'nope.tar') }] }), UserError);
  assert.deepEqual(await fs.readdir(empty), []);
});

test('layers are written concurrently but assembled in command-line order', async (t) => {
  const base = await tempDir(t);
  const files = await Promise.all(
    [3_000_000, 10, 1_000_000, 5].map(async (n, i) => {
      const f = path.join(base, `f${i}`);
      await fs.writeFile(f, Buffer.alloc(n, i));
      return f;
    }),
  );
  const tarballs = await Promise.all(
    files.map(async (f, i) => {
      const tb = path.join(base, `t${i}.tar`);
      await run('tar', ['-C', base, '-cf', tb, path.basename(f)]);
      return tb;
    }),
  );
  const layers = tarballs.map((p) => ({ kind: 'tarball' as const, path: p }));
  const serial = await buildImage({ layout: path.join(base, 's'), layers, platform: AMD64, concurrency: 1 });
  const parallel = await buildImage({ layout: path.join(base, 'p'), layers, platform: AMD64, concurrency: 4 });
  assert.equal(parallel.descriptor.digest, serial.descriptor.digest);
  const names = await Promise.all(parallel.layers.map(async (l) => (await listTar(blobFile(path.join(base, 'p'), l.descriptor.digest)))[0]?.name));
  assert.deepEqual(names, ['f0', 'f1', 'f2', 'f3']);
});

test('a run killed mid-layer leaves the previous layout; the next run removes what it left', async (t) => {
  const base = await tempDir(t);
  const out = path.join(base, 'out');
  await hello(out);
  const before = await snapshot(out);
  const big = path.join(base, 'big');
  const fh = await fs.open(big, 'w');
  await fh.truncate(2 * 1024 ** 3);
  await fh.close();
  const { spawn } = await import('node:child_process');
  const script = `
    const { buildImage } = await import(${JSON.stringify(new URL('../src/index.js', import.meta.url).href)});
    await buildImage({ layout: ${JSON.stringify(out)}, layers: [{ kind: 'add', src: ${JSON.stringify(big)}, dest: '/big' }], tags: ['hello:latest'] });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
  // Wait until its staging folder holds a growing temp file, then kill it without warning.
  const staged = async () => {
    for (const name of await fs.readdir(out)) {
      if (!name.startsWith(`.oci-pack-${child.pid}-`)) continue;
      for (const inner of await fs.readdir(path.join(out, name)).catch(() => [])) {
        const st = await fs.stat(path.join(out, name, inner)).catch(() => undefined);
        if (st && st.size > 0) return true;
      }
    }
    return false;
  };
  const deadline = Date.now() + 60_000;
  while (!(await staged())) {
    assert.ok(Date.now() < deadline, 'the child never started writing');
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  const left = (await fs.readdir(out)).filter((n) => n.startsWith('.oci-pack-'));
  assert.equal(left.length, 1, 'the killed run left its staging folder');
  const after = await snapshot(out);
  for (const key of Object.keys(after)) if (key.startsWith('.oci-pack-')) delete after[key];
  assert.deepEqual(after, before, 'index.json and blobs/ are as they were');
  await hello(out, { tags: ['hello:again'] });
  assert.deepEqual((await fs.readdir(out)).filter((n) => n.startsWith('.oci-pack-')), []);
});

test('a shared transaction: intermediate builds stay staged, the recorded one publishes what it references', async (t) => {
  const dir = path.join(await tempDir(t), 'out');
  const layout = await Layout.openOrCreate(dir);
  const tx = await LayoutTransaction.begin(layout);
  const staging = tx.staging;
  const first = await buildImage({ layout, transaction: tx, record: false, layers: [{ kind: 'add', src: HELLO, dest: '/hello' }], platform: AMD64 });
  assert.deepEqual(first.tags, []);
  assert.deepEqual((await layout.readIndex()).manifests, [], 'nothing recorded yet');
  assert.deepEqual(await fs.readdir(path.join(dir, 'blobs', 'sha256')), [], 'nothing published yet');
  assert.equal(first.config.config?.['Cmd'], undefined);
  const second = await buildImage({
    layout,
    transaction: tx,
    base: first,
    baseTree: async () => new LowerTree(),
    runtime: { Cmd: ['/hello'] },
    author: 'someone',
    history: [],
    tags: ['h:1'],
  });
  const blobs = (await fs.readdir(path.join(dir, 'blobs', 'sha256'))).sort();
  assert.deepEqual(blobs, [second.descriptor.digest, second.configDescriptor.digest, second.layers[0]!.descriptor.digest].map((d) => d.slice(7)).sort(), 'the first build\'s own config and manifest are dropped');
  const img = await readImage(dir, 'h:1');
  assert.deepEqual(img.config.config, { Cmd: ['/hello'] });
  assert.equal((img.config as unknown as { author: string }).author, 'someone');
  await assert.rejects(fs.stat(staging.staging!), { code: 'ENOENT' });
});

test('a placed layer sees the image below it, and one that changes nothing writes no layer (empty_layer)', async (t) => {
  const dir = path.join(await tempDir(t), 'out');
  const seen: Array<Parameters<PlacedSource['placements']>[2]> = [];
  const r = await buildImage({
    layout: dir,
    layers: [
      { kind: 'add', src: HELLO, dest: '/bin/hello' },
      { kind: 'placed', createdBy: 'nothing', placements: (_e, _p, below) => (seen.push(below), null) },
      { kind: 'placed', createdBy: 'dir', placements: (epoch, _p, below) => (seen.push(below), [{ dest: 'bin/sub', rules: { mtime: 'set', epoch }, entries: async function* (d) { yield { path: d, type: 'directory', mode: 0o700, uid: 0, gid: 0, mtime: 0, size: 0 }; } }]) },
    ],
    history: [{ created_by: 'a' }, { created_by: 'b' }, { created_by: 'c' }],
    platform: AMD64,
    tags: ['p:1'],
  });
  assert.equal(r.layers.length, 2);
  assert.ok(seen[0]!.tree.directory('bin'), 'the tree below has what the first layer wrote');
  assert.deepEqual(seen.map((b) => b.layers.length), [1, 1]);
  const img = await readImage(dir, 'p:1');
  assert.deepEqual(img.config.history, [{ created_by: 'a' }, { created_by: 'b', empty_layer: true }, { created_by: 'c' }]);
  const entries = await listTar(blobFile(dir, r.layers[1]!.descriptor.digest));
  assert.deepEqual(entries.map((e) => `${e.name} ${e.mode.toString(8)}`), ['bin 755', 'bin/sub 700']);
});

test('--tag with a / or : must be a docker name without a digest, checked before anything is built; one word stays a bare tag', async (t) => {
  const dir = path.join(await tempDir(t), 'out');
  const digest = `sha256:${'a'.repeat(64)}`;
  for (const [tag, why] of [
    ['Hello:Latest', /--tag: "Hello:Latest": the repository name .* must be lowercase/],
    ['hello@sha256:abc', /--tag: "hello@sha256:abc": the digest "sha256:abc" is not sha256:/],
    [`hello@${digest}`, /--tag hello@sha256:a+: names a digest; a tag names an image by repository and tag/],
    ['my/App:1', /must be lowercase/],
  ] as const) {
    await assert.rejects(hello(dir, { tags: [tag] }), (e: unknown) => e instanceof UserError && e.code === 'EUSAGE' && why.test(e.message), tag);
    const ctx = await tempDir(t);
    await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY missing /\n');
    // The tag is refused before the Dockerfile's missing file would be noticed.
    await assert.rejects(buildDockerfile({ layout: dir, context: ctx, tags: [tag] }), (e: unknown) => e instanceof UserError && why.test(e.message), `Dockerfile ${tag}`);
  }
  await assert.rejects(fs.stat(dir), { code: 'ENOENT' });
  const events: BuildEvent[] = [];
  await hello(dir, { tags: ['Latest', 'localhost:5000/a/b:v1.0'], onEvent: (e) => events.push(e) });
  assert.ok(events.some((e) => e.type === 'warning' && /--tag Latest: a single word/.test(e.message)));
});
