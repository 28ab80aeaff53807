// Layer entries that would land or point outside the root, refused alike by `--layer`, Dockerfile
// ADD of a tarball and from-docker (whose layer contents were not checked at all before).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { sha256 } from '../src/digest.js';
import { buildDockerfile } from '../src/dockerfile/build.js';
import { UserError } from '../src/errors.js';
import { LayerChecker } from '../src/safety.js';
import { cli, tempDir } from './helpers.js';
import { rawTar, type RawEntry } from './docker/make.js';
import { AMD64, layerEntries, layoutImage } from './dockerfile/fixtures.js';

const dir = (name: string): RawEntry => ({ name, type: 'directory' });
const link = (name: string, linkname: string): RawEntry => ({ name, type: 'symlink', linkname });
const file = (name: string): RawEntry => ({ name, data: 'x' });

/** Unsafe layers and what the refusal says (the same words from every way in). */
const UNSAFE: Array<[string, RawEntry[], RegExp]> = [
  ['a link chain through a link to "."', [dir('a/'), link('a/b', '.'), link('a/c', 'b/../..')], /entry "a\/c": symlink target "b\/\.\.\/\.\." points outside the root/],
  ['a link written through a link to "."', [dir('a/'), link('a/b', '.'), link('a/b/c', '../..'), file('a/b/c/x')], /entry "a\/b\/c": is written through the symlink "a\/b" of the same archive/],
  ['a file written through an absolute link', [link('l', '/etc'), file('l/passwd')], /entry "l\/passwd": is written through the symlink "l" of the same archive/],
  ['a chain of links that climbs', [link('x', 'y/..'), link('y', '..'), link('z', 'x/../..')], /entry "y": symlink target "\.\." points outside the root/],
  ['a longer chain', [dir('d/'), dir('d/e/'), link('d/e/up', '..'), link('d/top', 'e/up/e/up/../..')], /entry "d\/top": symlink target .* points outside the root/],
  ['a hard link to a link that climbs from its new place', [dir('a/'), link('a/s', '../t'), { name: 'h', type: 'link', linkname: 'a/s' }], /entry "h": hard link to the symlink "a\/s", whose target "\.\.\/t" points outside the root from here/],
  ['an absolute name', [file('/etc/evil')], /entry "\/etc\/evil": absolute path/],
  ['a ".." name', [file('a/../../evil')], /entry "a\/\.\.\/\.\.\/evil": path has a "\.\." component/],
  ['a link loop', [link('p', 'q'), link('q', 'p'), link('r', 'p/x')], /entry "r": symlink target "p\/x": too many levels of symbolic links/],
];

/** A safe layer that uses links the way real images do, including a hard link to a symlink. */
const SAFE: RawEntry[] = [dir('usr/'), dir('usr/lib/'), file('usr/lib/libc.so'), link('lib', 'usr/lib'), link('etc-link', '/etc'), link('up', 'usr/..'), { name: 'lib2', type: 'link', linkname: 'lib' }, file('usr/lib/more')];

test('LayerChecker resolves link chains inside the root as an extractor would', () => {
  for (const [name, entries, message] of UNSAFE) {
    const checker = new LayerChecker('layer.tar');
    const check = () => {
      for (const e of entries) checker.check({ name: e.name, path: e.name.replace(/\/+$/, ''), type: e.type ?? 'file', ...(e.linkname !== undefined ? { linkname: e.linkname } : {}) });
    };
    assert.throws(check, (err: unknown) => err instanceof UserError && message.test(err.message), name);
  }
  const checker = new LayerChecker('layer.tar');
  for (const e of SAFE) checker.check({ name: e.name, path: e.name.replace(/\/+$/, ''), type: e.type ?? 'file', ...(e.linkname !== undefined ? { linkname: e.linkname } : {}) });
});

/** A one-image docker-save archive around a layer. */
async function dockerArchive(layer: Buffer): Promise<Buffer> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }));
  const cfgName = `${sha256(config).slice(7)}.json`;
  return rawTar([
    { name: 'l/layer.tar', data: layer },
    { name: cfgName, data: config },
    { name: 'manifest.json', data: JSON.stringify([{ Config: cfgName, RepoTags: ['x:1'], Layers: ['l/layer.tar'] }]) },
  ]);
}

async function dockerfileWithAdd(t: TestContext, layer: Buffer): Promise<{ context: string; layout: string }> {
  const context = await tempDir(t);
  await fs.writeFile(path.join(context, 'layer.tar'), layer);
  await fs.writeFile(path.join(context, 'Dockerfile'), 'FROM scratch\nADD layer.tar /x/\n');
  return { context, layout: path.join(context, 'out') };
}

test('--layer, Dockerfile ADD and from-docker all refuse layers that escape the root, and write nothing', async (t) => {
  const work = await tempDir(t);
  for (const [name, entries, message] of UNSAFE) {
    const layer = await rawTar(entries);
    const tarball = path.join(work, 'layer.tar');
    await fs.writeFile(tarball, layer);
    const out = path.join(work, 'out');
    const viaLayer = await cli('layout', out, '--layer', tarball);
    assert.equal(viaLayer.status, 1, `${name}: --layer: ${viaLayer.stderr}`);
    assert.match(viaLayer.stderr, message, `${name}: --layer`);

    const archive = path.join(work, 'image.tar');
    await fs.writeFile(archive, await dockerArchive(layer));
    const viaImport = await cli('from-docker', archive, out);
    assert.equal(viaImport.status, 1, `${name}: from-docker: ${viaImport.stderr}`);
    assert.match(viaImport.stderr, message, `${name}: from-docker`);
    await assert.rejects(fs.stat(out), { code: 'ENOENT' }, `${name}: a layout was left behind`);

    const df = await dockerfileWithAdd(t, layer);
    await assert.rejects(buildDockerfile({ layout: df.layout, context: df.context, platform: AMD64, tags: ['t:1'] }),
      (err: unknown) => err instanceof UserError && message.test(err.message), `${name}: ADD`);
  }
});

test('a safe layer with link chains and a hard link to a symlink passes every way in', async (t) => {
  const work = await tempDir(t);
  const layer = await rawTar(SAFE);
  const tarball = path.join(work, 'layer.tar');
  await fs.writeFile(tarball, layer);
  const viaLayer = await cli('layout', path.join(work, 'a'), '--layer', tarball);
  assert.equal(viaLayer.status, 0, viaLayer.stderr);
  const archive = path.join(work, 'image.tar');
  await fs.writeFile(archive, await dockerArchive(layer));
  const viaImport = await cli('from-docker', archive, path.join(work, 'b'));
  assert.equal(viaImport.status, 0, viaImport.stderr);
});

test('ADD of a tar holding a hard link to a symlink, then COPY --from of that stage, both succeed', async (t) => {
  const layer = await rawTar([link('s', 'target'), { name: 'h', type: 'link', linkname: 's' }, file('target')]);
  const df = await dockerfileWithAdd(t, layer);
  await fs.writeFile(path.join(df.context, 'Dockerfile'), 'FROM scratch AS one\nADD layer.tar /x/\nFROM scratch\nCOPY --from=one /x /y\n');
  await buildDockerfile({ layout: df.layout, context: df.context, platform: AMD64, tags: ['t:1'] });
  const image = await layoutImage(df.layout, 't:1');
  const entries = await layerEntries(image.layers.at(-1)!);
  // Both names are the symlink: extraction of a hard link to a symlink gives a second symlink.
  for (const name of ['y/s', 'y/h']) {
    const e = entries.get(name);
    assert.ok(e?.type === 'symlink' || (e?.type === 'link' && e.linkname === 'y/s'), `${name}: ${JSON.stringify(e)}`);
  }
});

test('a layer of more entries than the bound is refused at the first one past it, naming the layer', () => {
  const checker = new LayerChecker('--layer big.tar', { maxEntries: 3 });
  for (const name of ['a', 'b', 'c']) checker.check({ name, path: name, type: 'file' });
  assert.throws(() => checker.check({ name: 'd', path: 'd', type: 'file' }), (e: unknown) =>
    e instanceof UserError && e.message === '--layer big.tar: more than 3 entries in one layer');
});
