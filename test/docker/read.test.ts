// from-docker: round trips through both archive formats keep config digests and diff_ids, and
// every unsafe or inconsistent archive is refused by name with the layout left exactly as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { importDockerArchive, sha256, writeDockerArchive, MediaType, UserError } from '../../src/index.js';
import { blobFile, cli, readImage, runBin, snapshot, tempDir } from '../helpers.js';
import { handImage, layerTar, rawTar, type RawEntry } from './make.js';

import { AMD64, twoImageLayout } from '../images.js';

test('layout → to-docker → from-docker keeps config digests, diff_ids and tags, in both formats', async (t) => {
  const dir = await tempDir(t);
  const layout = path.join(dir, 'out');
  const built = await twoImageLayout(layout);
  for (const format of ['v1', 'oci'] as const) {
    const archive = path.join(dir, `${format}.tar`);
    await writeDockerArchive(layout, archive, { format });
    const back = path.join(dir, `back-${format}`);
    const r = await cli('from-docker', archive, back);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.split('\n').length, 3);
    for (const [i, tags] of [['hello:latest', 'example.com/x/hello:2'], ['again:1']].entries()) {
      for (const tag of tags) {
        const img = await readImage(back, tag);
        assert.equal(img.manifest.config.digest, built[i]!.configDescriptor.digest, `${format} ${tag}`);
        assert.deepEqual(img.config.rootfs.diff_ids, built[i]!.layers.map((l) => l.descriptor.diffId));
        assert.deepEqual(img.manifest.layers.map((l) => l.mediaType), built[i]!.layers.map(() => MediaType.layerGzip));
        // The same gzip as a build: even the manifest digest comes back.
        assert.equal(img.manifestDigest, built[i]!.descriptor.digest);
        assert.deepEqual(img.index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag)?.platform, AMD64);
      }
    }
    const blobs = (await fs.readdir(path.join(back, 'blobs', 'sha256'))).length;
    assert.equal(blobs, 2 * 2 + 2, `${format}: two layers, two configs, two manifests, nothing else`);
    assert.deepEqual((await fs.readdir(back)).sort(), ['blobs', 'index.json', 'oci-layout']);
  }
});

test('--compression none stores layers uncompressed (digest = diff_id); an archive streams from stdin', async (t) => {
  const dir = await tempDir(t);
  const layout = path.join(dir, 'out');
  const [one] = await twoImageLayout(layout);
  const archive = path.join(dir, 'a.tar');
  await writeDockerArchive(layout, archive, { tags: ['hello:latest'] });
  const back = path.join(dir, 'back');
  const r = runBin(['from-docker', '-', back, '--compression', 'none'], { input: await fs.readFile(archive) });
  assert.equal(r.status, 0, r.stderr);
  const img = await readImage(back, 'hello:latest');
  assert.equal(img.manifest.layers[0]!.digest, one!.layers[0]!.descriptor.diffId);
  assert.equal(img.manifest.layers[0]!.mediaType, MediaType.layer);
});

test('manifest.json first or last, layer.tar as a symlink (skopeo) or a hard link: all read', async (t) => {
  const dir = await tempDir(t);
  const layer = await layerTar({ hello: 'hi' });
  const diffId = sha256(layer);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } }));
  const cfgName = `${sha256(config).slice(7)}.json`;
  const manifest = (layers: string[]) => JSON.stringify([{ Config: cfgName, RepoTags: ['docker.io/library/x:1'], Layers: layers }]);
  const variants: Record<string, RawEntry[]> = {
    first: [{ name: 'manifest.json', data: manifest(['abc/layer.tar']) }, { name: 'abc/layer.tar', data: layer }, { name: cfgName, data: config }],
    symlink: [{ name: `${diffId.slice(7)}.tar`, data: layer }, { name: 'abc/layer.tar', type: 'symlink', linkname: `../${diffId.slice(7)}.tar` }, { name: cfgName, data: config }, { name: 'manifest.json', data: manifest(['abc/layer.tar']) }],
    hardlink: [{ name: 'one/layer.tar', data: layer }, { name: 'two/layer.tar', type: 'link', linkname: 'one/layer.tar' }, { name: cfgName, data: config }, { name: 'manifest.json', data: manifest(['two/layer.tar']) }],
    'docker 25': [{ name: `blobs/sha256/${diffId.slice(7)}`, data: layer }, { name: `blobs/sha256/${cfgName.slice(0, 64)}`, data: config }, { name: 'manifest.json', data: JSON.stringify([{ Config: `blobs/sha256/${cfgName.slice(0, 64)}`, RepoTags: ['x:1'], Layers: [`blobs/sha256/${diffId.slice(7)}`] }]) }],
  };
  for (const [name, entries] of Object.entries(variants)) {
    const back = path.join(dir, name);
    const result = await importDockerArchive(Readable.from([await rawTar(entries)]), back);
    assert.deepEqual(result.images.map((i) => [i.tags, i.image.configDescriptor.digest, i.image.layers.map((l) => l.descriptor.diffId)]), [[['x:1'], sha256(config), [diffId]]], name);
    assert.deepEqual(await fs.readFile(blobFile(back, sha256(config))), config, `${name}: the config byte for byte`);
  }
});

/** A valid one-image archive's entries, to be broken one way or another. */
async function goodEntries(): Promise<{ entries: RawEntry[]; layer: Buffer; config: Buffer; cfgName: string }> {
  const layer = await layerTar({ hello: 'hi' });
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] }, history: [{ created_by: 'x' }] }));
  const cfgName = `${sha256(config).slice(7)}.json`;
  const entries: RawEntry[] = [
    { name: 'aaa/', type: 'directory' },
    { name: 'aaa/layer.tar', data: layer },
    { name: cfgName, data: config },
    { name: 'manifest.json', data: JSON.stringify([{ Config: cfgName, RepoTags: ['bad:1'], Layers: ['aaa/layer.tar'] }]) },
  ];
  return { entries, layer, config, cfgName };
}

function withConfig(base: Awaited<ReturnType<typeof goodEntries>>, config: Buffer | string): RawEntry[] {
  const cfgName = `${sha256(config).slice(7)}.json`;
  return [
    base.entries[1]!,
    { name: cfgName, data: config },
    { name: 'manifest.json', data: JSON.stringify([{ Config: cfgName, RepoTags: ['bad:1'], Layers: ['aaa/layer.tar'] }]) },
  ];
}

test('unsafe or inconsistent archives are refused by name, and the layout is as it was', async (t) => {
  const dir = await tempDir(t);
  const layout = path.join(dir, 'out');
  await handImage(layout, { layers: [await layerTar({ keep: 'me' })], tags: ['kept:1'] });
  const before = await snapshot(layout);
  const good = await goodEntries();
  const manifestOf = (item: object) => ({ name: 'manifest.json', data: JSON.stringify([item]) });
  const cases: Array<[string, RawEntry[], RegExp]> = [
    ['a .. path', [{ name: '../evil', data: 'x' }, ...good.entries], /entry "\.\.\/evil": a "\.\." component climbs out of the archive/],
    ['an absolute path', [{ name: '/etc/evil', data: 'x' }, ...good.entries], /entry "\/etc\/evil": an absolute path/],
    ['a symlink out', [{ name: 'x/layer.tar', type: 'symlink', linkname: '../../etc/passwd' }, ...good.entries], /entry "x\/layer.tar": a link to "\.\.\/\.\.\/etc\/passwd", outside the archive/],
    ['an absolute symlink', [{ name: 'x/layer.tar', type: 'symlink', linkname: '/etc/passwd' }, ...good.entries], /a link to "\/etc\/passwd", outside the archive/],
    ['a hard link to nothing', [{ name: 'x/layer.tar', type: 'link', linkname: 'nothing' }, ...good.entries], /a hard link to "nothing", which is not an earlier file/],
    ['a fifo', [{ name: 'pipe', type: 'fifo' }, ...good.entries], /entry "pipe": a fifo entry has no place/],
    ['duplicates that disagree', [...good.entries, { name: 'aaa/layer.tar', data: 'other bytes' }], /entry "aaa\/layer.tar": appears twice with different content/],
    ['a file named in manifest.json but missing', [...good.entries.slice(0, 3), manifestOf({ Config: good.cfgName, Layers: ['bbb/layer.tar'] })], /manifest.json\[0\].Layers\[0\]: "bbb\/layer.tar" is not a file of the archive/],
    ['a missing config', [good.entries[1]!, manifestOf({ Config: 'nope.json', Layers: ['aaa/layer.tar'] })], /manifest.json\[0\].Config: "nope.json" is not a file of the archive/],
    ['no manifest.json', good.entries.slice(0, 3), /no manifest.json: not a docker-save archive/],
    ['a huge manifest.json', [...good.entries.slice(0, 3), { name: 'manifest.json', data: `[${' '.repeat(1024 * 1024)}]` }], /manifest.json: more than the 1048576 bytes allowed/],
    ['a malformed manifest.json', [...good.entries.slice(0, 3), { name: 'manifest.json', data: '{"Config": 1}' }], /manifest.json: \/: must be array/],
    ['a manifest.json path with ..', [...good.entries.slice(0, 3), manifestOf({ Config: '../x.json', Layers: [] })], /manifest.json: \/0\/Config: must be a relative path inside the archive/],
    ['more Layers than diff_ids', [...good.entries.slice(0, 3), manifestOf({ Config: good.cfgName, Layers: ['aaa/layer.tar', 'aaa/layer.tar'] })], /manifest.json\[0\]: 2 Layers, but [0-9a-f]{64}.json rootfs.diff_ids lists 1/],
    ['a history that does not add up', withConfig(good, JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(good.layer)] }, history: [{ created_by: 'a' }, { created_by: 'b' }] })), /[0-9a-f]{64}.json: history has 2 entries that are not empty_layer, for 1 layers/],
    ['a config that is not JSON', withConfig(good, '{"architecture": "amd64",'), /[0-9a-f]{64}.json: not valid JSON/],
    ['a config that is a tar', [good.entries[1]!, manifestOf({ Config: 'aaa/layer.tar', Layers: ['aaa/layer.tar'] })], /aaa\/layer.tar: the config is not valid JSON/],
    ['a config missing rootfs', withConfig(good, JSON.stringify({ architecture: 'amd64', os: 'linux' })), /[0-9a-f]{64}.json: \/: must have required property 'rootfs'/],
    ['a wrong diff_id', withConfig(good, JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256('other')] } })), new RegExp(`Layers\\[0\\] "aaa/layer.tar": the uncompressed layer hashes to ${sha256(good.layer)}, but [0-9a-f]{64}.json rootfs.diff_ids\\[0\\] says ${sha256('other')}`)],
    ['a config named for another digest', [good.entries[1]!, { name: `${'a'.repeat(64)}.json`, data: good.config }, manifestOf({ Config: `${'a'.repeat(64)}.json`, Layers: ['aaa/layer.tar'] })], /manifest.json\[0\].Config: "a{64}.json" hashes to sha256:/],
    ['a bad RepoTag', [...good.entries.slice(0, 3), manifestOf({ Config: good.cfgName, RepoTags: ['UPPER:1'], Layers: ['aaa/layer.tar'] })], /manifest.json: \/0\/RepoTags\/0: must be NAME:TAG/],
    ['a corrupt gzip layer', [{ name: 'aaa/layer.tar', data: Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 1, 2, 3]) }, ...good.entries.slice(2)], /entry "aaa\/layer.tar": not valid compressed data/],
    ['not a tar at all', [], /./],
  ];
  for (const [what, entries, message] of cases) {
    const input = what === 'not a tar at all' ? Buffer.from('hello, not a tar archive at all, just some text that is long enough to be read'.repeat(10)) : await rawTar(entries);
    const err = await importDockerArchive(Readable.from([input]), layout, { where: 'in.tar' }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof UserError, `${what}: ${String((err as Error)?.stack ?? err)}`);
    assert.match(err.message, /^in.tar/, what);
    assert.match(err.message, message, what);
    assert.deepEqual(await snapshot(layout), before, `${what}: the layout is unchanged`);
  }
  // A new layout that fails is not left behind.
  const fresh = path.join(dir, 'fresh');
  const r = runBin(['from-docker', '-', fresh], { input: await rawTar([...good.entries, { name: 'aaa/layer.tar', data: 'other' }]) });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^oci-pack: stdin: entry "aaa\/layer.tar": appears twice with different content\n$/);
  await assert.rejects(fs.stat(fresh));
});

test('duplicates that agree are fine; files manifest.json does not use stay out of the layout', async (t) => {
  const dir = await tempDir(t);
  const good = await goodEntries();
  const back = path.join(dir, 'back');
  const extra: RawEntry[] = [{ name: 'junk.bin', data: 'not used by any image' }, { name: 'aaa/json', data: '{"id":"aaa"}' }, { name: 'aaa/VERSION', data: '1.0' }];
  const result = await importDockerArchive(Readable.from([await rawTar([...good.entries, ...good.entries.slice(1, 3), ...extra])]), back);
  assert.deepEqual(result.images[0]?.tags, ['bad:1']);
  const blobs = (await fs.readdir(path.join(back, 'blobs', 'sha256'))).sort();
  assert.deepEqual(blobs, [result.images[0]!.image.descriptor.digest, result.images[0]!.image.configDescriptor.digest, result.images[0]!.image.layers[0]!.descriptor.digest].map((d) => d.slice(7)).sort());
  assert.deepEqual((await fs.readdir(back)).sort(), ['blobs', 'index.json', 'oci-layout'], 'no staging or scratch folder left');
});

test('an archive file that is missing or a directory', async (t) => {
  const dir = await tempDir(t);
  const missing = await cli('from-docker', path.join(dir, 'nope.tar'), path.join(dir, 'out'));
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /nope.tar: no such file or directory/);
  const isDir = await cli('from-docker', dir, path.join(dir, 'out'));
  assert.equal(isDir.status, 1);
  assert.match(isDir.stderr, /is a directory, not an archive/);
  await assert.rejects(fs.stat(path.join(dir, 'out')));
});

test('a layer whose bytes start like JSON is still read as a layer when manifest.json says so', async (t) => {
  const dir = await tempDir(t);
  const layer = await layerTar({ '{looks-like-json}': 'x' });
  assert.equal(layer[0], 0x7b);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }));
  const cfgName = `${sha256(config).slice(7)}.json`;
  const archive = await rawTar([{ name: 'l/layer.tar', data: layer }, { name: cfgName, data: config }, { name: 'manifest.json', data: JSON.stringify([{ Config: cfgName, RepoTags: ['j:1'], Layers: ['l/layer.tar'] }]) }]);
  const back = path.join(dir, 'back');
  const result = await importDockerArchive(Readable.from([archive]), back, { compression: 'none' });
  assert.equal(result.images[0]?.image.layers[0]?.descriptor.digest, sha256(layer));
  assert.deepEqual(await fs.readFile(blobFile(back, sha256(layer))), layer);
});

test('a docker archive truncated at any offset is a one-line error, never a crash, and leaves nothing behind', async (t) => {
  const dir = await tempDir(t);
  const good = await goodEntries();
  const full = await rawTar(good.entries);
  const existing = path.join(dir, 'existing');
  await handImage(existing, { layers: [await layerTar({ keep: 'me' })], tags: ['kept:1'] });
  const before = await snapshot(existing);
  // Cut before the end-of-archive blocks (without them the archive is whole: readers accept that).
  const whole = full.length - 1024;
  const offsets = new Set<number>();
  for (let n = 0; n < whole; n += 293) offsets.add(n);
  for (const n of [1, 511, 512, 513, 1023, 1024, 1025, whole - 1]) offsets.add(n);
  for (const n of offsets) {
    const file = path.join(dir, `cut-${n}.tar`);
    await fs.writeFile(file, full.subarray(0, n));
    const fresh = path.join(dir, `fresh-${n}`);
    const r = await cli('from-docker', file, fresh);
    assert.equal(r.status, 1, `cut at ${n}: ${r.stderr}`);
    assert.match(r.stderr, /^oci-pack: [^\n]+\n$/, `cut at ${n}: one line`);
    await assert.rejects(fs.stat(fresh), { code: 'ENOENT' }, `cut at ${n}: the new layout was left behind`);
    const again = await cli('from-docker', file, existing);
    assert.equal(again.status, 1, `cut at ${n} into a layout: ${again.stderr}`);
    assert.deepEqual(await snapshot(existing), before, `cut at ${n}: the layout changed or kept a staging folder`);
  }
  // And through the executable, whose exit status is the contract.
  for (const n of [1100]) {
    const r = runBin(['from-docker', '-', path.join(dir, `bin-${n}`)], { input: full.subarray(0, n) });
    assert.equal(r.status, 1, `cut at ${n}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /Unhandled|internal error|\n {4}at /);
  }
});
