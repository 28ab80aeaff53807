// `layout --from SRC` (crane append style): an --add/--layer build on a base image from any
// transport, its layers copied by digest; and --pull on plain names, which never reach a registry here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { buildImage, writeDockerArchive } from '../src/index.js';
import { HELLO, blobFile, cli, readImage, snapshot, tempDir } from './helpers.js';

const AMD64 = { os: 'linux', architecture: 'amd64' };

async function baseLayout(dir: string): Promise<Awaited<ReturnType<typeof buildImage>>> {
  return buildImage({ layout: dir, layers: [{ kind: 'add', src: HELLO, dest: '/hello' }], config: { cmd: ['/hello'], env: ['A=1'] }, tags: ['base:1'], platform: AMD64 });
}

test('layout --from oci:DIR:REF appends layers to that image, its layers copied byte for byte, that layout left alone', async (t) => {
  const dir = await tempDir(t);
  const src = path.join(dir, 'src');
  const base = await baseLayout(src);
  const before = await snapshot(src);
  const out = path.join(dir, 'out');
  const r = await cli('layout', out, '--from', `oci:${src}:base:1`, '--add', `${HELLO}:/bin/again`, '--env', 'B=2', '--tag', 'app:1', '--json');
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as { digest: string; layers: Array<{ digest: string; diff_id: string }> };
  assert.equal(summary.layers.length, 2);
  assert.equal(summary.layers[0]!.digest, base.layers[0]!.descriptor.digest, 'the base layer, not recompressed');
  const baseLayer = base.layers[0]!.descriptor.digest;
  assert.deepEqual(await fs.readFile(blobFile(out, baseLayer)), await fs.readFile(blobFile(src, baseLayer)));
  const img = await readImage(out, 'app:1');
  assert.equal(img.manifestDigest, summary.digest);
  assert.deepEqual(img.config.config, { Cmd: ['/hello'], Env: ['A=1', 'B=2'] }, 'the base config, with the flags on top');
  assert.equal(img.config.history?.length, 2);
  assert.deepEqual(await snapshot(src), before);
  assert.equal((await cli('validate', out)).status, 0);
  // The blobs are exactly the image's: base layer, new layer, config, manifest.
  assert.equal((await fs.readdir(path.join(out, 'blobs', 'sha256'))).length, 4);
});

test('layout --from docker-archive:TAR builds on a docker-save archive; --from with no layer flags changes only the config', async (t) => {
  const dir = await tempDir(t);
  const src = path.join(dir, 'src');
  const base = await baseLayout(src);
  const tar = path.join(dir, 'base.tar');
  await writeDockerArchive(src, tar);
  const out = path.join(dir, 'out');
  const r = await cli('layout', out, '--from', `docker-archive:${tar}:base:1`, '--layer', tar, '--tag', 'app:1', '--json');
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as { layers: Array<{ digest: string; diff_id: string; mediaType: string }> };
  assert.equal(summary.layers[0]!.diff_id, base.layers[0]!.descriptor.diffId, 'the archive\'s layer, same content');
  assert.ok(summary.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+gzip'), 'docker layer types become the OCI ones');
  assert.equal((await cli('validate', out)).status, 0);

  const retag = await cli('layout', out, '--from', `oci:${out}:app:1`, '--cmd', '/bin/true', '--tag', 'app:2', '--json');
  assert.equal(retag.status, 0, retag.stderr);
  const two = JSON.parse(retag.stdout) as { layers: Array<{ digest: string }> };
  assert.deepEqual(two.layers.map((l) => l.digest), summary.layers.map((l) => l.digest));
  assert.deepEqual((await readImage(out, 'app:2')).config.config.Cmd, ['/bin/true']);
});

test('layout --from: a plain name tagged in the layout; --pull never refuses one that is not, naming --pull, the layout unchanged', async (t) => {
  const dir = await tempDir(t);
  const out = path.join(dir, 'out');
  const base = await baseLayout(out);
  const r = await cli('layout', out, '--from', 'base:1', '--add', `${HELLO}:/again`, '--tag', 'app:1', '--json', '--pull', 'never');
  assert.equal(r.status, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { layers: Array<{ digest: string }> }).layers[0]!.digest, base.layers[0]!.descriptor.digest);
  const before = await snapshot(out);
  const missing = await cli('layout', out, '--from', 'nothere:1', '--add', `${HELLO}:/again`, '--pull', 'never');
  assert.equal(missing.status, 1);
  assert.equal(missing.stderr, `oci-pack: --from nothere:1: nothere:1 is not tagged in ${out}, and --pull never does not ask its registry (docker://docker.io/library/nothere:1)\n`);
  assert.deepEqual(await snapshot(out), before);
  const fresh = path.join(dir, 'fresh');
  assert.equal((await cli('layout', fresh, '--from', 'nothere:1', '--add', `${HELLO}:/x`, '--pull', 'never')).status, 1);
  await assert.rejects(fs.stat(fresh), { code: 'ENOENT' }, 'a layout the failed build created is removed');
});

test('layout --from and --pull: bad values are usage errors (exit 2, one line)', async (t) => {
  const out = path.join(await tempDir(t), 'out');
  const bad = await cli('layout', out, '--add', `${HELLO}:/x`, '--pull', 'sometimes');
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr, 'oci-pack: --pull sometimes: expected never, missing or always\n');
  const mixed = await cli('layout', out, '--from', 'oci:x', '--file', 'Dockerfile');
  assert.equal(mixed.status, 2);
  assert.match(mixed.stderr, /^oci-pack: --file: a Dockerfile option, and --from\/--add\/--layer build without a Dockerfile; give one or the other\n$/);
  const platforms = await cli('layout', out, '--from', 'oci:x', '--platform', 'linux/amd64,linux/arm64');
  assert.equal(platforms.status, 2);
  const noDir = await cli('layout', out, '--from', 'oci:', '--add', `${HELLO}:/x`);
  assert.equal(noDir.status, 2);
  assert.match(noDir.stderr, /^oci-pack: --from oci:.*the directory is empty\n$/);
  await assert.rejects(fs.stat(out), { code: 'ENOENT' });
});
