// to-docker: what the archive holds in both formats, which images and names go in, reproducibility,
// and the failures (a wrong diff_id, a layer tar without its end marker) that must leave no archive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { buildImage, sha256, writeDockerArchive, UserError, schemaProblems } from '../../src/index.js';
import { legacyLayers } from '../../src/docker/legacy.js';
import { BIN, HELLO, blobFile, cli, listTar, runBin, tempDir } from '../helpers.js';
import { archiveEntries, collect, handImage, handIndex, layerTar } from './make.js';

const AMD64 = { os: 'linux', architecture: 'amd64' };

async function helloLayout(dir: string, tags = ['hello:latest'], cmd = ['/hello']): Promise<Awaited<ReturnType<typeof buildImage>>> {
  return buildImage({ layout: dir, layers: [{ kind: 'add', src: HELLO, dest: '/hello' }], config: { cmd }, platform: AMD64, tags, sourceDateEpoch: 0 });
}

function json(entries: Map<string, Buffer | string>, name: string): unknown {
  return JSON.parse((entries.get(name) as Buffer).toString());
}

test('v1: the example image as docker save lays it out, every header fixed', async (t) => {
  const dir = await tempDir(t);
  const layout = path.join(dir, 'out');
  const built = await helloLayout(layout);
  const archive = path.join(dir, 'hello.tar');
  const r = await cli('to-docker', archive, '--layout', layout);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${built.configDescriptor.digest} hello:latest\n`);
  const configBytes = await fs.readFile(blobFile(layout, built.configDescriptor.digest));
  const [legacy] = legacyLayers([built.layers[0]!.descriptor.diffId], configBytes);
  const id = legacy!.id;
  const cfg = `${built.configDescriptor.digest.slice(7)}.json`;
  const listed = await listTar(archive);
  assert.deepEqual(listed.map((e) => [e.name, e.type, e.mode.toString(8), e.uid, e.gid, e.uname, e.gname, e.mtime]), [
    [id, 'dir', '755', 0, 0, '', '', 0],
    [`${id}/VERSION`, 'file', '644', 0, 0, '', '', 0],
    [`${id}/json`, 'file', '644', 0, 0, '', '', 0],
    [`${id}/layer.tar`, 'file', '644', 0, 0, '', '', 0],
    [cfg, 'file', '644', 0, 0, '', '', 0],
    ['manifest.json', 'file', '644', 0, 0, '', '', 0],
    ['repositories', 'file', '644', 0, 0, '', '', 0],
  ]);
  const entries = await archiveEntries(archive);
  assert.deepEqual(json(entries, 'manifest.json'), [{ Config: cfg, Layers: [`${id}/layer.tar`], RepoTags: ['hello:latest'] }]);
  assert.deepEqual(json(entries, 'repositories'), { hello: { latest: id } });
  assert.deepEqual(schemaProblems('docker-manifest', json(entries, 'manifest.json')), []);
  assert.deepEqual(schemaProblems('docker-repositories', json(entries, 'repositories')), []);
  assert.equal((entries.get(`${id}/VERSION`) as Buffer).toString(), '1.0');
  assert.deepEqual(entries.get(`${id}/json`), legacy!.json);
  assert.deepEqual(entries.get(cfg), configBytes, 'the config is kept byte for byte (the image ID survives)');
  assert.equal(sha256(entries.get(`${id}/layer.tar`) as Buffer), built.layers[0]!.descriptor.diffId, 'layer.tar is the uncompressed layer');
});

test('the same layout gives byte-identical archives, to a file and to a stream', async (t) => {
  const dir = await tempDir(t);
  const layout = path.join(dir, 'out');
  await helloLayout(layout, ['hello:latest', 'hello:1']);
  for (const format of ['v1', 'oci'] as const) {
    await writeDockerArchive(layout, path.join(dir, `a-${format}.tar`), { format });
    await writeDockerArchive(layout, path.join(dir, `b-${format}.tar`), { format });
    const stream = new PassThrough();
    const [bytes] = await Promise.all([collect(stream), writeDockerArchive(layout, stream, { format })]);
    const a = await fs.readFile(path.join(dir, `a-${format}.tar`));
    assert.ok(a.equals(await fs.readFile(path.join(dir, `b-${format}.tar`))), format);
    assert.ok(a.equals(bytes), `${format}: stream`);
  }
  assert.deepEqual((await fs.readdir(dir)).sort(), ['a-oci.tar', 'a-v1.tar', 'b-oci.tar', 'b-v1.tar', 'out'], 'no temporary file is left');
});

test('v1: layers of several MiB (many writes each, one spooled ahead) come out byte for byte, to a file as to a stream', async (t) => {
  const dir = await tempDir(t);
  const layout = path.join(dir, 'out');
  // Not a multiple of the 1 MiB write buffer, half incompressible: every chunk size and the last, partial write.
  const noise = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (Math.imul(i + seed, 2654435761) >>> 13) & 0xff));
  const layers = [
    await layerTar({ 'a.bin': noise(3 * 1024 * 1024 + 4321, 1).toString('latin1'), 'a.txt': 'text '.repeat(300_000) }),
    await layerTar({ 'b.bin': noise(2 * 1024 * 1024 + 17, 2).toString('latin1'), 'b.txt': 'more '.repeat(500_000) }),
  ];
  await handImage(layout, { layers, tags: ['big:1'] });
  const file = path.join(dir, 'a.tar');
  await writeDockerArchive(layout, file);
  const stream = new PassThrough();
  const [bytes] = await Promise.all([collect(stream), writeDockerArchive(layout, stream)]);
  assert.ok((await fs.readFile(file)).equals(bytes), 'the same archive to a file and to a stream');
  const entries = await archiveEntries(file);
  const manifest = json(entries, 'manifest.json') as { Layers: string[] }[];
  const stored = manifest[0]!.Layers.map((name) => entries.get(name) as Buffer);
  assert.equal(stored.length, 2);
  stored.forEach((got, i) => assert.ok(got.equals(layers[i]!), `layer ${i} byte for byte (${got.length} of ${layers[i]!.length} bytes)`));
});

test('v1: a layer shared by two images is stored once; the other copy is a relative symlink', async (t) => {
  const dir = await tempDir(t);
  const layout = path.join(dir, 'out');
  const one = await helloLayout(layout, ['one:latest']);
  // The same first layer, under a second one: its id differs (it is not the top layer any more).
  const two = await buildImage({
    layout,
    layers: [{ kind: 'add', src: HELLO, dest: '/hello' }, { kind: 'add', src: HELLO, dest: '/again' }],
    config: { cmd: ['/again'] },
    platform: AMD64,
    tags: ['two:latest'],
    sourceDateEpoch: 0,
  });
  assert.equal(two.layers[0]!.descriptor.diffId, one.layers[0]!.descriptor.diffId);
  const archive = path.join(dir, 'both.tar');
  await writeDockerArchive(layout, archive);
  const entries = await archiveEntries(archive);
  const manifest = json(entries, 'manifest.json') as Array<{ Layers: string[]; RepoTags: string[] }>;
  assert.deepEqual(manifest.map((m) => m.RepoTags), [['one:latest'], ['two:latest']]);
  const [oneTop] = manifest[0]!.Layers;
  const [twoBottom, twoTop] = manifest[1]!.Layers;
  assert.notEqual(twoBottom, oneTop);
  assert.equal(entries.get(twoBottom!), `-> ../${path.dirname(oneTop!)}/layer.tar`);
  assert.ok(Buffer.isBuffer(entries.get(twoTop!)));
  const layerFiles = [...entries].filter(([name, v]) => name.endsWith('/layer.tar') && Buffer.isBuffer(v));
  assert.equal(layerFiles.length, 2, 'two distinct layers, two copies');
  assert.deepEqual(json(entries, 'repositories'), { one: { latest: path.dirname(oneTop!) }, two: { latest: path.dirname(twoTop!) } });
});

test('oci: an OCI layout and a docker archive in one, the layout\'s blobs byte for byte', async (t) => {
  const dir = await tempDir(t);
  const layout = path.join(dir, 'out');
  const built = await helloLayout(layout, ['hello:latest', 'example.com/team/hello:1.0']);
  const archive = path.join(dir, 'oci.tar');
  await writeDockerArchive(layout, archive, { format: 'oci' });
  const entries = await archiveEntries(archive);
  const blob = (d: string) => `blobs/sha256/${d.slice(7)}`;
  assert.deepEqual([...entries.keys()], [
    'blobs/', 'blobs/sha256/', blob(built.layers[0]!.descriptor.digest), blob(built.configDescriptor.digest), blob(built.descriptor.digest),
    'index.json', 'manifest.json', 'oci-layout', 'repositories',
  ]);
  for (const d of [built.layers[0]!.descriptor.digest, built.configDescriptor.digest, built.descriptor.digest]) {
    assert.deepEqual(entries.get(blob(d)), await fs.readFile(blobFile(layout, d)), d);
  }
  assert.equal((entries.get('oci-layout') as Buffer).toString(), '{"imageLayoutVersion":"1.0.0"}');
  const index = json(entries, 'index.json') as { manifests: Array<{ digest: string; annotations: Record<string, string>; platform: unknown }> };
  assert.deepEqual(index.manifests.map((m) => [m.digest, m.annotations, m.platform]), [
    [built.descriptor.digest, { 'io.containerd.image.name': 'docker.io/library/hello:latest', 'org.opencontainers.image.ref.name': 'latest' }, AMD64],
    [built.descriptor.digest, { 'io.containerd.image.name': 'example.com/team/hello:1.0', 'org.opencontainers.image.ref.name': '1.0' }, AMD64],
  ]);
  assert.deepEqual(json(entries, 'manifest.json'), [{ Config: blob(built.configDescriptor.digest), Layers: [blob(built.layers[0]!.descriptor.digest)], RepoTags: ['hello:latest', 'example.com/team/hello:1.0'] }]);
  const top = built.layers[0]!.descriptor.diffId.slice(7);
  assert.deepEqual(json(entries, 'repositories'), { hello: { latest: top }, 'example.com/team/hello': { '1.0': top } });
});

test('names: docker references are normalised; a bare tag goes in untagged unless --name or --tag names it', async (t) => {
  const dir = await tempDir(t);
  const layout = path.join(dir, 'out');
  await helloLayout(layout, ['docker.io/library/hello:latest']);
  await helloLayout(layout, ['library/world'], ['/world']);
  await helloLayout(layout, ['v1'], ['/v1']);
  const repoTags = async (...args: string[]) => {
    const archive = path.join(dir, 'x.tar');
    const r = await cli('to-docker', archive, '--layout', layout, ...args);
    if (r.status !== 0) return r;
    return { ...r, tags: (json(await archiveEntries(archive), 'manifest.json') as Array<{ RepoTags: string[] }>).map((m) => m.RepoTags) };
  };
  const plain = await repoTags();
  assert.equal(plain.status, 0);
  assert.deepEqual((plain as { tags: string[][] }).tags, [['hello:latest'], ['world:latest'], []]);
  assert.match(plain.stderr, /warning: ref name "v1" is a bare tag with no repository: the image goes in untagged \(name it with --name REPO or --tag REPO:v1\)/);
  const named = await repoTags('--name', 'myorg/app');
  assert.deepEqual((named as { tags: string[][] }).tags, [['hello:latest'], ['world:latest'], ['myorg/app:v1']]);
  assert.equal(named.stderr, '');
  const chosen = await repoTags('--tag', 'app:v1', '--tag', 'docker.io/library/world:latest');
  assert.deepEqual((chosen as { tags: string[][] }).tags, [['app:v1'], ['world:latest']]);
  const missing = await repoTags('--tag', 'nope:1');
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /--tag nope:1: no image in .* has that ref name \(it has "docker.io\/library\/hello:latest", "library\/world", "v1"\)/);
  const bad = await repoTags('--tag', 'Bad:1');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /must be lowercase/);
});

test('an image index is resolved to --platform (default this host); no match lists the platforms there', async (t) => {
  const dir = await tempDir(t);
  const layout = path.join(dir, 'out');
  const layer = await layerTar({ hello: 'hi' });
  const amd = await handImage(layout, { layers: [layer], platform: AMD64, cmd: ['/amd64'] });
  const arm = await handImage(layout, { layers: [layer], platform: { os: 'linux', architecture: 'arm64' }, cmd: ['/arm64'] });
  await handIndex(layout, [{ ...amd.manifest, platform: AMD64 }, { ...arm.manifest, platform: { os: 'linux', architecture: 'arm64' } }], 'multi:latest');
  const configOf = async (...args: string[]) => {
    const archive = path.join(dir, 'x.tar');
    const r = await cli('to-docker', archive, '--layout', layout, ...args);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split(' ')[0];
  };
  assert.equal(await configOf('--platform', 'linux/arm64'), arm.config.digest);
  if (process.arch === 'x64') assert.equal(await configOf(), amd.config.digest);
  const r = await cli('to-docker', path.join(dir, 'y.tar'), '--layout', layout, '--platform', 'linux/s390x');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /multi:latest: no image for linux\/s390x \(it has linux\/amd64, linux\/arm64\); choose one with --platform/);
  await assert.rejects(fs.stat(path.join(dir, 'y.tar')));
  // The one resolver's rule, as for FROM: a single image for another platform is not what was asked for.
  await handImage(layout, { layers: [layer], platform: AMD64, cmd: ['/single'], tags: ['single:1'] });
  const single = await cli('to-docker', path.join(dir, 'z.tar'), '--layout', layout, '--tag', 'single:1', '--platform', 'linux/arm64');
  assert.equal(single.status, 1);
  assert.match(single.stderr, /single:1: no image for linux\/arm64 \(it has linux\/amd64\)/);
  await assert.rejects(fs.stat(path.join(dir, 'z.tar')));
});

test('a diff_id the layer does not hash to: a clear error, no archive, nothing on stdout', async (t) => {
  const dir = await tempDir(t);
  const layout = path.join(dir, 'out');
  const layer = await layerTar({ hello: 'hi' });
  const wrong = sha256('not this layer');
  await handImage(layout, { layers: [layer], diffIds: [wrong], tags: ['bad:1'] });
  const archive = path.join(dir, 'bad.tar');
  for (const format of ['v1', 'oci'] as const) {
    const err = await writeDockerArchive(layout, archive, { format }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof UserError, String(err));
    assert.equal(err.code, 'EDIGEST');
    assert.match(err.message, new RegExp(`bad:1: layer 0 .*: the uncompressed layer hashes to ${sha256(layer)}, but the config's rootfs.diff_ids says ${wrong}`));
  }
  assert.deepEqual(await fs.readdir(dir), ['out'], 'no archive, no temporary file');
  // To stdout, the layers are spooled in TMPDIR: the folder goes, whatever happened.
  const tmp = path.join(dir, 'tmp');
  await fs.mkdir(tmp);
  const r = runBin(['to-docker', '-', '--layout', layout], { env: { TMPDIR: tmp } });
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '', 'not one byte of a broken archive on stdout');
  assert.match(r.stderr, /^oci-pack: bad:1: layer 0 .* hashes to/);
  assert.deepEqual(await fs.readdir(tmp), [], 'no spooled layer is left');
});

test('v1 to stdout: the same archive as to a file, and nothing left of the layers spooled in TMPDIR', async (t) => {
  const dir = await tempDir(t);
  const layout = path.join(dir, 'out');
  await helloLayout(layout);
  const tmp = path.join(dir, 'tmp');
  await fs.mkdir(tmp);
  const r = spawnSync(process.execPath, [BIN, 'to-docker', '-', '--layout', layout], { env: { ...process.env, TMPDIR: tmp } });
  assert.equal(r.status, 0, r.stderr.toString());
  await writeDockerArchive(layout, path.join(dir, 'file.tar'));
  assert.ok(r.stdout.equals(await fs.readFile(path.join(dir, 'file.tar'))), 'the same archive as to a file');
  assert.deepEqual(await fs.readdir(tmp), [], 'no spooled layer is left');
});

test('a layer tar without its end-of-archive marker (umoci #436) is a clear error', async (t) => {
  const dir = await tempDir(t);
  const layout = path.join(dir, 'out');
  const whole = await layerTar({ a: 'x', b: 'y' });
  const truncated = whole.subarray(0, whole.length - 1024);
  assert.ok(truncated.subarray(-1024).some((b) => b !== 0));
  await handImage(layout, { layers: [truncated], tags: ['cut:1'] });
  const r = await cli('to-docker', path.join(dir, 'cut.tar'), '--layout', layout);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cut:1: layer 0 .*: the layer tar ends after 2 entries without its end-of-archive marker .*umoci #436/);
  await handImage(layout, { layers: [whole.subarray(0, 300)], tags: ['short:1'] });
  const short = await cli('to-docker', path.join(dir, 'short.tar'), '--layout', layout, '--tag', 'short:1');
  assert.equal(short.status, 1);
  assert.match(short.stderr, /short:1: layer 0 .*: the layer tar is truncated: it ends inside entry 1/);
  // What umoci 0.4.7's insert writes: one header and the file's data, then nothing.
  await handImage(layout, { layers: [whole.subarray(0, 512 + 1)], tags: ['unpadded:1'] });
  const unpadded = await cli('to-docker', path.join(dir, 'unpadded.tar'), '--layout', layout, '--tag', 'unpadded:1');
  assert.equal(unpadded.status, 1);
  assert.match(unpadded.stderr, /unpadded:1: layer 0 .*: the layer tar stops right after the data of entry 1, with neither the padding .*umoci #436/);
  assert.deepEqual(await fs.readdir(dir), ['out']);
});

test('usage: a bad --format, a missing layout, a layout with nothing named', async (t) => {
  const dir = await tempDir(t);
  assert.equal((await cli('to-docker', path.join(dir, 'x.tar'), '--layout', dir, '--format', 'v2')).status, 2);
  const missing = await cli('to-docker', path.join(dir, 'x.tar'), '--layout', path.join(dir, 'nope'));
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /nope: not an OCI layout/);
  const layout = path.join(dir, 'out');
  await handImage(layout, { layers: [await layerTar({ a: 'b' })], tags: [] });
  const none = await cli('to-docker', path.join(dir, 'x.tar'), '--layout', layout);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /no image with a ref name in index.json to export/);
});

test('an artifact beside the images is left out with a warning, and refused when asked for', async (t) => {
  const dir = await tempDir(t);
  const layout = path.join(dir, 'out');
  await helloLayout(layout);
  const { Layout, MediaType } = await import('../../src/index.js');
  const { canonicalJson } = await import('../../src/json.js');
  const opened = await Layout.open(layout);
  const config = await opened.store.putBytes(Buffer.from('{}'), { mediaType: 'application/vnd.example.sbom.v1+json' });
  const manifest = { schemaVersion: 2, mediaType: MediaType.manifest, artifactType: 'application/vnd.example.sbom.v1+json', config, layers: [] };
  const desc = await opened.store.putBytes(canonicalJson(manifest), { mediaType: MediaType.manifest });
  await opened.addImage(desc, ['sbom:1']);
  const r = await cli('to-docker', path.join(dir, 'x.tar'), '--layout', layout);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /warning: sbom:1: manifest sha256:[0-9a-f]{64}: config media type application\/vnd.example.sbom.v1\+json is not an image config .*; left out/);
  assert.deepEqual((json(await archiveEntries(path.join(dir, 'x.tar')), 'manifest.json') as Array<{ RepoTags: string[] }>).map((m) => m.RepoTags), [['hello:latest']]);
  const asked = await cli('to-docker', path.join(dir, 'y.tar'), '--layout', layout, '--tag', 'sbom:1');
  assert.equal(asked.status, 1);
  assert.match(asked.stderr, /is not an image config/);
});

test('v1 into a file (layers written in place, later ones read ahead): the stream\'s bytes, whatever the concurrency', async (t) => {
  const dir = await tempDir(t);
  const layout = path.join(dir, 'out');
  const tars = await Promise.all([0, 1, 2, 3].map((i) => layerTar({ [`f${i}`]: `layer ${i} `.repeat(1000 * (i + 1)) })));
  await handImage(layout, { layers: tars, tags: ['many:1'] });
  // The same diff_ids as blobs of another compression: a second blob of a diff_id already written,
  // verified but not stored again; and the first image's layers again, shared.
  await handImage(layout, { layers: [tars[0]!, tars[2]!, await layerTar({ top: 'x' })], compression: 'none', tags: ['plain:1'] });
  await handImage(layout, { layers: tars.slice(0, 3), tags: ['shared:1'] });
  const stream = new PassThrough();
  const [expected] = await Promise.all([collect(stream), writeDockerArchive(layout, stream)]);
  for (const concurrency of [1, 2, 3]) {
    const file = path.join(dir, `c${concurrency}.tar`);
    const verified: string[] = [];
    await writeDockerArchive(layout, file, { concurrency, onEvent: (e) => e.type === 'layer-verified' && verified.push(e.diffId) });
    assert.ok((await fs.readFile(file)).equals(expected), `concurrency ${concurrency}`);
    assert.equal(verified.length, 7, 'every distinct blob verified once: 4 gzip, 3 plain');
  }
  assert.deepEqual((await fs.readdir(dir)).sort(), ['c1.tar', 'c2.tar', 'c3.tar', 'out'], 'no temporary file or spool is left');
});

test('v1 into a file: a bad layer met by the reader ahead or by the writer leaves no archive and no spool', async (t) => {
  const dir = await tempDir(t);
  const layout = path.join(dir, 'out');
  const tars = await Promise.all([0, 1, 2].map((i) => layerTar({ [`f${i}`]: `layer ${i} `.repeat(1000) })));
  for (const bad of [0, 2]) {
    const diffIds = tars.map((l) => sha256(l));
    diffIds[bad] = sha256('not this layer');
    await handImage(layout, { layers: tars, diffIds, tags: [`bad:${bad}`] });
    for (const concurrency of [1, 2]) {
      const err = await writeDockerArchive(layout, path.join(dir, 'x.tar'), { tags: [`bad:${bad}`], concurrency }).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof UserError, String(err));
      assert.equal(err.code, 'EDIGEST');
      assert.match(err.message, new RegExp(`bad:${bad}: layer ${bad} .*: the uncompressed layer hashes to ${sha256(tars[bad]!)}`));
      assert.deepEqual(await fs.readdir(dir), ['out'], `bad layer ${bad}, concurrency ${concurrency}: no archive, no temp file, no spool`);
    }
  }
});
