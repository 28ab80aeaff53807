// A layer of many parallel-gzip blocks (deflated and stored) read by every consumer's own gunzip:
// GNU tar, gzip, umoci, skopeo, podman, docker load (of the gzip blob itself) and the oracle.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { GZIP_BLOCK_SIZE } from '../../src/compress.js';
import { CI, HELLO, HELLO_LINE, PODMAN_RUN, ROOT, blobFile, cli, dockerRunning, readImage, requireTool, run, tempDir } from '../helpers.js';

const NAME = `gzip-interop-${process.pid}`;
const TAG = `${NAME}:latest`;

/** Text, noise and text again: blocks that deflate and blocks that are stored, in one layer. */
function mixed(): Buffer {
  const noise: Buffer[] = [];
  for (let i = 0; i < (2 * GZIP_BLOCK_SIZE) / 32; i++) noise.push(createHash('sha256').update(`n${i}`).digest());
  const text = Buffer.from(Array.from({ length: 120_000 }, (_, i) => `line ${i} of a layer that compresses\n`).join(''));
  return Buffer.concat([text, ...noise, text.subarray(0, GZIP_BLOCK_SIZE + 12_345)]);
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A layout (in a lowercase path, as podman's oci: wants) holding /hello and /data/mixed. */
async function layout(t: TestContext): Promise<{ out: string; layer: string; data: Buffer; base: string }> {
  const base = await tempDir(t, 'ocipack-gzip-');
  const src = path.join(base, 'src');
  await fs.mkdir(path.join(src, 'data'), { recursive: true });
  const data = mixed();
  assert.ok(data.length > 4 * GZIP_BLOCK_SIZE);
  await fs.writeFile(path.join(src, 'data', 'mixed'), data);
  await fs.copyFile(HELLO, path.join(src, 'hello'));
  await fs.chmod(path.join(src, 'hello'), 0o755);
  const out = path.join(base, 'out');
  const r = await cli('layout', out, '--add', `${src}:/`, '--cmd', '/hello', '--tag', TAG, '-q');
  assert.equal(r.status, 0, r.stderr);
  const img = await readImage(out, TAG);
  return { out, layer: blobFile(out, img.manifest.layers[0]!.digest), data, base };
}

test('GNU tar and gzip read the layer blob', async (t) => {
  if (!requireTool(t, 'tar') || !requireTool(t, 'gzip')) return;
  const { layer, data } = await layout(t);
  await run('gzip', ['-t', layer]);
  const names = (await run('tar', ['-tzf', layer])).trim().split('\n').sort();
  assert.deepEqual(names, ['data/', 'data/mixed', 'hello']);
  const extracted = (await run('sh', ['-c', 'tar -xzOf "$1" data/mixed | sha256sum', 'sh', layer])).split(' ')[0];
  assert.equal(extracted, sha256(data));
});

test('umoci unpack and skopeo copy read it', async (t) => {
  if (!requireTool(t, 'umoci') || !requireTool(t, 'skopeo')) return;
  const { out, data, base } = await layout(t);
  const bundle = path.join(base, 'bundle');
  await run('umoci', ['unpack', '--image', `${out}:${TAG}`, bundle]);
  assert.equal(sha256(await fs.readFile(path.join(bundle, 'rootfs', 'data', 'mixed'))), sha256(data));
  // To a docker archive, skopeo decompresses every layer and checks it against its diff_id.
  const archive = path.join(base, 'skopeo.tar');
  await run('skopeo', ['copy', '--quiet', `oci:${out}:${TAG}`, `docker-archive:${archive}:${TAG}`]);
  assert.ok((await fs.stat(archive)).size > data.length);
  // from-docker compresses the archive's plain layer with the same compressor: the same digest.
  const back = path.join(base, 'back');
  const r = await cli('from-docker', archive, back);
  assert.equal(r.status, 0, r.stderr);
  const original = (await readImage(out, TAG)).manifest.layers[0]!.digest;
  const index = JSON.parse(await fs.readFile(path.join(back, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const manifest = JSON.parse(await fs.readFile(blobFile(back, index.manifests[0]!.digest), 'utf8')) as { layers: Array<{ digest: string }> };
  assert.equal(manifest.layers[0]?.digest, original);
});

test('podman pulls and runs it; docker loads the gzip blob itself and runs it', async (t) => {
  if (!requireTool(t, 'podman') || !requireTool(t, 'docker', dockerRunning)) return;
  const { out, base } = await layout(t);
  t.after(() => run('docker', ['rmi', '-f', TAG]).catch(() => undefined));
  const pulled = (await run('podman', ['pull', '-q', `oci:${out}:${TAG}`])).trim().split('\n').at(-1)!;
  t.after(() => run('podman', ['rmi', '-f', pulled]).catch(() => undefined));
  assert.equal(await run('podman', [...PODMAN_RUN, pulled]), `${HELLO_LINE}\n`);
  // A docker-save archive whose layer file is our gzip blob: docker load decompresses it with Go's
  // gzip and checks the result against the config's diff_id (to-docker would hand it plain tar).
  const img = await readImage(out, TAG);
  const blob = (d: string) => `blobs/sha256/${d.slice('sha256:'.length)}`;
  const manifest = [{ Config: blob(img.manifest.config.digest), RepoTags: [TAG], Layers: img.manifest.layers.map((l) => blob(l.digest)) }];
  await fs.writeFile(path.join(out, 'manifest.json'), JSON.stringify(manifest));
  const archive = path.join(base, 'gz-layers.tar');
  await run('tar', ['-cf', archive, '-C', out, 'manifest.json', 'blobs']);
  await fs.rm(path.join(out, 'manifest.json'));
  assert.match(await run('docker', ['load', '-i', archive]), new RegExp(`Loaded image: ${TAG}`));
  assert.equal(await run('docker', ['run', '--rm', '--network', 'none', TAG]), `${HELLO_LINE}\n`);
});

test('the oracle accepts the layout', async (t) => {
  const oracle = path.join(ROOT, '..', 'shared', 'oracle', 'check-layout');
  if (!existsSync(oracle)) {
    if (CI) throw new Error(`${oracle} is missing, and CI=true allows no skip`);
    t.skip(`${oracle} not found`);
    return;
  }
  const { out } = await layout(t);
  await run(oracle, [out]);
});
