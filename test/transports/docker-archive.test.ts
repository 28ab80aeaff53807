// The docker-archive transport: copyImage into and out of docker-save archives by NAME:TAG and @N,
// an index resolved to one platform on the way in, and hostile input leaving the destination as it was.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { copyImage } from '../../src/copy.js';
import type { Descriptor } from '../../src/descriptor.js';
import { writeDockerArchive } from '../../src/docker/write.js';
import { sha256 } from '../../src/digest.js';
import { Layout } from '../../src/layout.js';
import { resolve } from '../../src/resolve.js';
import { DockerArchiveSink, DockerArchiveSource } from '../../src/transports/docker-archive.js';
import { LayoutSource } from '../../src/transports/layout.js';
import { validate } from '../../src/validate.js';
import { readImage, snapshot, tempDir } from '../helpers.js';
import { archiveEntries, layerTar, rawTar, type RawEntry } from '../docker/make.js';

import { AMD64, ARM64, helloMultiLayout, twoImageLayout } from '../images.js';

/** Two images: hello:latest (also example.com/x/hello:2) and again:1, in a layout and a v1 archive. */
async function twoImages(t: TestContext) {
  const dir = await tempDir(t, 'oci-pack-da-');
  const layout = path.join(dir, 'src');
  const [one, two] = await twoImageLayout(layout);
  const archive = path.join(dir, 'two.tar');
  await writeDockerArchive(layout, archive);
  return { dir, layout, archive, one, two };
}

async function manifestJson(archive: string): Promise<Array<{ Config: string; RepoTags: string[]; Layers: string[] }>> {
  const entries = await archiveEntries(archive);
  return JSON.parse((entries.get('manifest.json') as Buffer).toString('utf8'));
}

test('docker-archive -> oci: by NAME:TAG, by @N; the config (image ID) byte for byte, only that image copied', async (t) => {
  const { dir, archive, one, two } = await twoImages(t);
  const a = path.join(dir, 'a');
  const byTag = await copyImage(`docker-archive:${archive}:again:1`, `oci:${a}:copied`);
  const copied = await readImage(a, 'copied');
  assert.equal(copied.manifest.config.digest, two.configDescriptor.digest);
  assert.equal(copied.manifestDigest, byTag.digest);
  assert.deepEqual(copied.config.rootfs.diff_ids, two.layers.map((l) => l.descriptor.diffId));
  assert.deepEqual(byTag.platform, AMD64);
  // Two layers, a config and a manifest: the other image of the archive stays out.
  assert.equal((await fs.readdir(path.join(a, 'blobs', 'sha256'))).length, 4);
  assert.equal((await validate(a)).problems.length, 0);

  const b = path.join(dir, 'b');
  await copyImage(`docker-archive:${archive}:@0`, `oci:${b}:first`);
  assert.equal((await readImage(b, 'first')).manifest.config.digest, one.configDescriptor.digest);
  // docker's normalisation: docker.io/library/hello is hello:latest.
  await copyImage(`docker-archive:${archive}:docker.io/library/hello`, `oci:${b}:again`);
  assert.equal((await readImage(b, 'again')).manifest.config.digest, one.configDescriptor.digest);

  const none = path.join(dir, 'none');
  await assert.rejects(copyImage(`docker-archive:${archive}`, `oci:${none}`), /docker-archive:.*two\.tar: holds 2 images; name one \(docker-archive:.*:NAME:TAG or :@N\) \(it has hello:latest, example.com\/x\/hello:2, again:1\)$/);
  await assert.rejects(copyImage(`docker-archive:${archive}:@2`, `oci:${none}`), /: no image @2: it holds 2 \(@0 to @1\)$/);
  await assert.rejects(copyImage(`docker-archive:${archive}:nope:1`, `oci:${none}`), /: no image tagged nope:1 \(it has /);
  await assert.rejects(fs.stat(none), 'a failed copy leaves no layout behind');
});

test('oci -> docker-archive names the image NAME:TAG; docker-archive -> docker-archive keeps the image ID; @N is no destination', async (t) => {
  const { dir, layout, one } = await twoImages(t);
  const out = path.join(dir, 'h.tar');
  const r = await copyImage(`oci:${layout}:hello:latest`, `docker-archive:${out}:myorg/hello:v2`);
  assert.equal(r.digest, one.descriptor.digest);
  assert.deepEqual(await manifestJson(out), [{ Config: `${one.configDescriptor.digest.slice(7)}.json`, RepoTags: ['myorg/hello:v2'], Layers: (await manifestJson(out))[0]!.Layers }]);
  const entries = await archiveEntries(out);
  assert.equal(sha256(entries.get(`${one.configDescriptor.digest.slice(7)}.json`) as Buffer), one.configDescriptor.digest);

  // Archive to archive: staged in a temporary store (removed on close), written again.
  const again = path.join(dir, 'again.tar');
  await copyImage(`docker-archive:${out}:myorg/hello:v2`, `docker-archive:${again}:other:1`);
  const [item] = await manifestJson(again);
  assert.equal(item!.Config, `${one.configDescriptor.digest.slice(7)}.json`);
  assert.deepEqual(item!.RepoTags, ['other:1']);

  // docker 25's form keeps the layout's manifest byte for byte.
  const ociForm = path.join(dir, 'oci.tar');
  await copyImage(`oci:${layout}:hello:latest`, `docker-archive:${ociForm}:hello:latest`, { dockerFormat: 'oci' });
  assert.ok((await archiveEntries(ociForm)).has(`blobs/sha256/${one.descriptor.digest.slice(7)}`));

  // One name for two images is refused before anything is written; one image twice goes in once.
  const layoutSource = await LayoutSource.open(layout);
  const hello = await resolve(layoutSource, 'hello:latest');
  const other = await resolve(layoutSource, 'again:1');
  await assert.rejects(new DockerArchiveSink(path.join(dir, 'x.tar')).write([{ node: hello, tags: ['a:1'] }, { node: other, tags: ['a'] }, { node: other, tags: ['docker.io/library/a:1'] }]), /^UserError: a:1: names two different images \(sha256:[0-9a-f]{64} and sha256:[0-9a-f]{64}\)$/);
  const twice = await new DockerArchiveSink(path.join(dir, 'twice.tar')).write([{ node: hello, tags: ['a:1'] }, { node: hello, tags: ['b:2', 'a'] }]);
  assert.deepEqual(twice.images.map((i) => i.repoTags), [['a:1', 'b:2', 'a:latest']]);
  await assert.rejects(copyImage(`oci:${layout}:hello:latest`, `docker-archive:${dir}/x.tar`, { dockerFormat: 'v2' as never }), /^UserError: --format v2: expected v1 or oci$/);
  await assert.rejects(copyImage(`oci:${layout}:hello:latest`, `docker-archive:${dir}/x.tar:@0`), /@N names an image to read/);
  await assert.rejects(copyImage(`oci:${layout}:hello:latest`, `docker-archive:${dir}/x.tar:hello@sha256:${'a'.repeat(64)}`), /by tag, not by digest/);
  await assert.rejects(fs.stat(path.join(dir, 'x.tar')));
});

test('an index into a docker archive is resolved to one platform: this host\'s, or the one asked for', async (t) => {
  const dir = await tempDir(t, 'oci-pack-da-');
  const src = path.join(dir, 'src');
  const { amd, arm } = await helloMultiLayout(src);
  const configOf = async (file: string) => (await manifestJson(file))[0]!.Config;

  // copyImage with a platform resolves the index itself; without, the sink resolves it.
  await copyImage(`oci:${src}:hello:multi`, `docker-archive:${dir}/arm.tar:hello:multi`, { platform: ARM64 });
  assert.equal(await configOf(path.join(dir, 'arm.tar')), `${arm.configDescriptor.digest.slice(7)}.json`);
  if (process.arch === 'x64') {
    await copyImage(`oci:${src}:hello:multi`, `docker-archive:${dir}/host.tar:hello:multi`);
    assert.equal(await configOf(path.join(dir, 'host.tar')), `${amd.configDescriptor.digest.slice(7)}.json`);
  }

  // The whole index handed to the sink, which resolves it to the platform it was opened with.
  const source = await LayoutSource.open(src);
  const whole = await resolve(source, 'hello:multi', { all: true });
  assert.equal(whole.kind, 'index');
  const sink = new DockerArchiveSink(path.join(dir, 'sink.tar'), { platform: ARM64 });
  const written = await sink.write([{ node: whole, tags: ['hello:arm'] }]);
  assert.equal(written.images[0]!.config, arm.configDescriptor.digest);
  assert.deepEqual(written.images[0]!.repoTags, ['hello:arm']);
  const wrong = new DockerArchiveSink(path.join(dir, 'wrong.tar'), { platform: { os: 'linux', architecture: 's390x' } });
  await assert.rejects(wrong.write([{ node: whole, tags: [] }]), /no image for linux\/s390x \(it has linux\/amd64, linux\/arm64\); choose one with --platform/);
  await assert.rejects(fs.stat(path.join(dir, 'wrong.tar')));
});

/** A one-image archive, as docker save writes it, to break one way or another. */
async function archiveParts(): Promise<{ entries: RawEntry[]; cfgName: string }> {
  const layer = await layerTar({ hello: 'hi' });
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }));
  const cfgName = `${sha256(config).slice(7)}.json`;
  const entries: RawEntry[] = [
    { name: 'aaa/layer.tar', data: layer },
    { name: cfgName, data: config },
    { name: 'manifest.json', data: JSON.stringify([{ Config: cfgName, RepoTags: ['h:1'], Layers: ['aaa/layer.tar'] }]) },
  ];
  return { entries, cfgName };
}

test('a hostile archive copied into a layout leaves it exactly as it was; a bad layer leaves an archive destination as it was', async (t) => {
  const { dir, layout, archive } = await twoImages(t);
  const dst = path.join(dir, 'dst');
  await copyImage(`docker-archive:${archive}:again:1`, `oci:${dst}:kept`);
  const before = await snapshot(dst);
  const good = await archiveParts();
  const otherLayer = await layerTar({ other: 'x' });
  const cases: Array<[string, RawEntry[], RegExp]> = [
    ['escape', [{ name: '../escape', data: 'x' }, ...good.entries], /entry "\.\.\/escape": a "\.\." component climbs out of the archive/],
    ['link out', [{ name: 'evil', type: 'symlink', linkname: '/etc/passwd' }, ...good.entries], /entry "evil": a link to "\/etc\/passwd", outside the archive/],
    ['diff_id', [{ name: 'aaa/layer.tar', data: otherLayer }, ...good.entries.slice(1)], /the uncompressed layer hashes to sha256:[0-9a-f]{64}, but .* rootfs.diff_ids\[0\] says/],
    ['no manifest', good.entries.slice(0, 2), /no manifest.json: not a docker-save archive/],
  ];
  for (const [name, entries, message] of cases) {
    const bad = path.join(dir, `${name.replace(/ /g, '-')}.tar`);
    await fs.writeFile(bad, await rawTar(entries));
    await assert.rejects(copyImage(`docker-archive:${bad}:h:1`, `oci:${dst}:kept`), message, name);
    assert.deepEqual(await snapshot(dst), before, `${name}: the layout is unchanged`);
  }
  const whole = await rawTar(good.entries);
  const cut = path.join(dir, 'cut.tar');
  await fs.writeFile(cut, whole.subarray(0, 700));
  await assert.rejects(copyImage(`docker-archive:${cut}`, `oci:${dst}:kept`), /cut\.tar/);
  assert.deepEqual(await snapshot(dst), before, 'truncated: the layout is unchanged');

  // A layer of the source layout that no longer matches its digest: the archive already there stays.
  const out = path.join(dir, 'out.tar');
  await copyImage(`oci:${layout}:again:1`, `docker-archive:${out}:again:1`);
  const bytes = await fs.readFile(out);
  const src = await Layout.open(layout);
  const [entry] = await src.find('again:1');
  const manifest = JSON.parse((await src.store.read(entry as Descriptor)).toString('utf8')) as { layers: Descriptor[] };
  const blob = path.join(layout, 'blobs', 'sha256', manifest.layers[1]!.digest.slice(7));
  const layer = await fs.readFile(blob);
  layer.writeUInt8(layer.readUInt8(layer.length - 1) ^ 1, layer.length - 1);
  await fs.chmod(blob, 0o644);
  await fs.writeFile(blob, layer);
  await assert.rejects(copyImage(`oci:${layout}:again:1`, `docker-archive:${out}:again:1`), /sha256|hashes to/);
  assert.deepEqual(await fs.readFile(out), bytes, 'the archive is as it was');
  assert.deepEqual((await fs.readdir(dir)).filter((n) => n.startsWith('.oci-pack-')), [], 'no temporary file left beside it');
});

test('a docker-archive source without a scratch store removes its temporary store on close', async (t) => {
  const { archive, two } = await twoImages(t);
  const source = await DockerArchiveSource.open(archive);
  assert.deepEqual(await source.refs(), ['hello:latest', 'example.com/x/hello:2', 'again:1']);
  const [desc] = await source.lookup('again:1');
  const manifest = JSON.parse((await source.read(desc!)).toString('utf8')) as { config: Descriptor };
  assert.equal(manifest.config.digest, two.configDescriptor.digest);
  const held = (source as unknown as { temp: { dir: string } }).temp.dir;
  await fs.stat(held);
  await source.close();
  await assert.rejects(fs.stat(held));
  await source.close();
});
