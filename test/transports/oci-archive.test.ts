// The oci-archive transport: a round trip oci -> oci-archive -> oci that keeps every digest, the
// archive's fixed entry order and headers, and hostile archives refused in one line with nothing left.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage } from '../../src/build.js';
import { copyImage } from '../../src/copy.js';
import { sha256 } from '../../src/digest.js';
import { Layout } from '../../src/layout.js';
import { MAX_INDEX_BYTES } from '../../src/limits.js';
import { imagesOf } from '../../src/model.js';
import { resolve } from '../../src/resolve.js';
import { openSource } from '../../src/transports/index.js';
import { LayoutSource } from '../../src/transports/layout.js';
import { OciArchiveSink, OciArchiveSource } from '../../src/transports/oci-archive.js';
import { validate } from '../../src/validate.js';
import { tarOf, type TarItem } from '../corpus.js';
import { HELLO, listTar, snapshot, tempDir } from '../helpers.js';

import { AMD64, ARM64, helloMultiLayout } from '../images.js';

async function multiLayout(t: TestContext): Promise<string> {
  const dir = path.join(await tempDir(t, 'oci-pack-oa-'), 'src');
  await helloMultiLayout(dir);
  return dir;
}

/** The temp folders this process has in TMPDIR: a source's temporary store is one while it is open. */
async function ourTemps(): Promise<string[]> {
  return (await fs.readdir(os.tmpdir())).filter((n) => n.startsWith(`.oci-pack-${process.pid}-`));
}

test('oci -> oci-archive -> oci keeps the index, manifests and configs byte for byte', async (t) => {
  const from = await multiLayout(t);
  const dir = path.dirname(from);
  const tar = path.join(dir, 'multi.tar');
  const out = await copyImage(`oci:${from}:hello:multi`, `oci-archive:${tar}:multi`);
  const original = (await (await Layout.open(from)).find('hello:multi'))[0]!;
  assert.equal(out.digest, original.digest);
  assert.deepEqual(out.tags, ['multi']);
  assert.deepEqual(await fs.readdir(dir), ['multi.tar', 'src'], 'no temporary file is left beside the archive');

  const back = await copyImage(`oci-archive:${tar}:multi`, `oci:${dir}/back:again`);
  assert.equal(back.digest, original.digest);
  const [entry] = await (await Layout.open(path.join(dir, 'back'))).find('again');
  assert.equal(entry!.digest, original.digest);
  for (const digest of await (await Layout.open(path.join(dir, 'back'))).store.list()) {
    assert.deepEqual(await fs.readFile(path.join(dir, 'back', 'blobs', 'sha256', digest.slice(7))), await fs.readFile(path.join(from, 'blobs', 'sha256', digest.slice(7))), digest);
  }
  assert.deepEqual((await validate(path.join(dir, 'back'))).problems, []);
  assert.deepEqual((await validate(tar)).problems, []);
  assert.deepEqual(await ourTemps(), [], 'the archive unpacked into the layout staging, no temporary store');

  // One platform out of the archive.
  const arm = await copyImage(`oci-archive:${tar}:multi`, `oci:${dir}/arm:arm`, { platform: ARM64 });
  assert.equal(arm.platform?.architecture, 'arm64');
  assert.equal(arm.digest, imagesOf(await resolve(await LayoutSource.open(from), 'hello:multi', { all: true }))[1]!.descriptor.digest);
});

test('the archive: oci-layout and index.json first, then blobs children first, every header fixed, the same bytes every time', async (t) => {
  const from = await multiLayout(t);
  const dir = path.dirname(from);
  await copyImage(`oci:${from}:hello:multi`, `oci-archive:${dir}/a.tar:v1`);
  await copyImage(`oci:${from}:hello:multi`, `oci-archive:${dir}/b.tar:v1`);
  assert.equal(sha256(await fs.readFile(path.join(dir, 'a.tar'))), sha256(await fs.readFile(path.join(dir, 'b.tar'))));
  const entries = await listTar(path.join(dir, 'a.tar'));
  assert.deepEqual(entries.slice(0, 4).map((e) => e.name), ['oci-layout', 'index.json', 'blobs', 'blobs/sha256']);
  for (const e of entries) {
    assert.deepEqual([e.uid, e.gid, e.uname, e.gname, e.mtime, e.mode], [0, 0, '', '', 0, e.type === 'dir' ? 0o755 : 0o644], e.name);
  }
  const source = await LayoutSource.open(from);
  const node = await resolve(source, 'hello:multi', { all: true });
  const names = entries.slice(4).map((e) => `sha256:${e.name.slice('blobs/sha256/'.length)}`);
  assert.equal(names.at(-1), node.descriptor.digest, 'the index comes last');
  for (const image of imagesOf(node)) {
    const at = names.indexOf(image.descriptor.digest);
    assert.ok(names.indexOf(image.configDescriptor.digest) < at && image.layers.every((l) => names.indexOf(l.descriptor.digest) < at), 'children before their manifest');
  }
  assert.equal(new Set(names).size, names.length, 'each blob once');
  const archive = await OciArchiveSource.open(path.join(dir, 'a.tar'));
  try {
    assert.deepEqual(await archive.refs(), ['v1']);
    assert.equal(archive.index.manifests[0]!.digest, node.descriptor.digest);
    assert.equal((await archive.lookup('v1'))[0]!.digest, node.descriptor.digest);
    assert.equal((await archive.lookup(undefined))[0]!.digest, node.descriptor.digest);
    assert.equal((await ourTemps()).length, 1, 'no scratch given: a temporary store');
  } finally {
    await archive.close();
    await archive.close();
  }
  // Opened by its reference, the archive's REF is what a lookup with no ref finds (as FROM asks).
  const named = await openSource(`oci-archive:${dir}/a.tar:v1`);
  try {
    assert.equal((await named.lookup(undefined))[0]!.digest, node.descriptor.digest);
    await assert.rejects(named.lookup('v2'), /no image named "v2" \(it has "v1"\)$/);
  } finally {
    await named.close();
  }
  assert.deepEqual(await ourTemps(), [], 'close() removes the temporary store');
});

test('an archive sink with no ref writes an untagged entry; a missing folder or a folder as target is refused before reading', async (t) => {
  const from = await multiLayout(t);
  const dir = path.dirname(from);
  await copyImage(`oci:${from}:hello:amd64`, `oci-archive:${dir}/plain.tar`);
  const source = await OciArchiveSource.open(path.join(dir, 'plain.tar'));
  try {
    assert.deepEqual(await source.refs(), []);
    assert.equal(source.index.manifests[0]!.platform?.architecture, 'amd64');
  } finally {
    await source.close();
  }
  await assert.rejects(OciArchiveSink.open(path.join(dir, 'nowhere', 'x.tar')), /nowhere: no such file or directory$/);
  await assert.rejects(OciArchiveSink.open(dir), /: is a directory$/);
});

/** The files of a layout as tar items, with `change` applied to the list. */
async function layoutItems(layout: string): Promise<TarItem[]> {
  const items: TarItem[] = [
    { name: 'oci-layout', data: await fs.readFile(path.join(layout, 'oci-layout')) },
    { name: 'index.json', data: await fs.readFile(path.join(layout, 'index.json')) },
    { name: 'blobs/', type: 'directory' },
    { name: 'blobs/sha256/', type: 'directory' },
  ];
  for (const name of (await fs.readdir(path.join(layout, 'blobs', 'sha256'))).sort()) {
    items.push({ name: `blobs/sha256/${name}`, data: await fs.readFile(path.join(layout, 'blobs', 'sha256', name)) });
  }
  return items;
}

async function oneImage(t: TestContext): Promise<{ dir: string; layout: string; layer: string }> {
  const dir = await tempDir(t, 'oci-pack-oa-');
  const layout = path.join(dir, 'src');
  await buildImage({ layout, platform: AMD64, tags: ['hello'], layers: [{ kind: 'add', src: HELLO, dest: '/hello' }] });
  const [top] = await (await Layout.open(layout)).find('hello');
  const manifest = JSON.parse(await fs.readFile(path.join(layout, 'blobs', 'sha256', top!.digest.slice(7)), 'utf8')) as { layers: { digest: string }[] };
  return { dir, layout, layer: manifest.layers[0]!.digest.slice(7) };
}

/** Copying the hostile archive into a layout and into another archive fails with `message`, in one line, leaving nothing. */
async function refused(dir: string, items: TarItem[], message: RegExp): Promise<void> {
  const tar = path.join(dir, 'hostile.tar');
  await fs.writeFile(tar, await tarOf(items));
  for (const dst of [`oci:${dir}/dst`, `oci-archive:${dir}/dst.tar`]) {
    const err = await copyImage(`oci-archive:${tar}:hello`, dst).then(() => undefined, (e: unknown) => e as Error);
    assert.ok(err, `${dst}: the copy must fail`);
    assert.match(err.message, message, dst);
    assert.equal(err.name, 'UserError', err.stack);
    assert.ok(!err.message.includes('\n'), 'one line');
    assert.deepEqual((await fs.readdir(dir)).sort(), ['hostile.tar', 'src'], `${dst}: nothing left behind`);
    assert.deepEqual(await ourTemps(), [], 'no temporary store left');
  }
}

test('hostile archives: a blob that does not match its name, a missing blob, ".." and absolute names, a link, an oversized index.json', async (t) => {
  const { dir, layout, layer } = await oneImage(t);
  const before = await snapshot(layout);
  const good = await layoutItems(layout);

  const tampered = good.map((it) => (it.name === `blobs/sha256/${layer}` ? { ...it, data: Buffer.concat([Buffer.from(it.data!), Buffer.from('x')]) } : it));
  await refused(dir, tampered, new RegExp(`entry "blobs/sha256/${layer}": content for sha256:${layer} (hashes to|is \\d+ bytes)`));

  await refused(dir, good.filter((it) => it.name !== `blobs/sha256/${layer}`), new RegExp(`blob sha256:${layer} is not in the archive`));
  await refused(dir, [...good, { name: '../evil', data: 'x' }], /entry "\.\.\/evil": a "\.\." component climbs out of the archive$/);
  await refused(dir, [...good, { name: '/etc/evil', data: 'x' }], /entry "\/etc\/evil": an absolute path$/);
  await refused(dir, [...good, { name: 'blobs/sha256/link', type: 'symlink', linkname: '/etc/passwd' }], /entry "blobs\/sha256\/link": only files and folders belong in an OCI archive$/);
  const huge = good.map((it) => (it.name === 'index.json' ? { ...it, data: Buffer.alloc(MAX_INDEX_BYTES + 1, 0x20) } : it));
  await refused(dir, huge, /index\.json.*more than/);
  await refused(dir, good.filter((it) => it.name !== 'oci-layout'), /not an OCI archive \(no oci-layout in it\)$/);
  await refused(dir, [...good, { name: 'index.json', data: '{}' }], /index\.json appears twice$/);
  const badIndex = good.map((it) => (it.name === 'index.json' ? { ...it, data: '{"schemaVersion":2,"manifests":[{"digest":"nope"}]}' } : it));
  await refused(dir, badIndex, /index\.json/);
  assert.deepEqual(await snapshot(layout), before);
});
