// The docker-archive transport against the real tools: copyImage oci -> docker-archive loaded and
// run by docker; docker save -> docker-archive -> oci read by skopeo and unpacked by umoci.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { buildImage } from '../../src/build.js';
import { copyImage } from '../../src/copy.js';
import { assembleIndex } from '../../src/image-index.js';
import { HELLO, HELLO_LINE, ROOT, dockerRunning, readImage, requireTool, run, tempDir } from '../helpers.js';

const NAME = `docker-model-${process.pid}`;
const AMD64 = { os: 'linux', architecture: 'amd64' };
const ARM64 = { os: 'linux', architecture: 'arm64' };

function needDocker(t: TestContext): boolean {
  return requireTool(t, 'docker', dockerRunning);
}

function removeAfter(t: TestContext, names: string[]): void {
  t.after(async () => {
    for (const n of names) await run('docker', ['rmi', '-f', n]).catch(() => undefined);
  });
}

test('copy oci -> docker-archive (both forms, and an index resolved to this host): docker load and run it', async (t) => {
  if (!needDocker(t)) return;
  const dir = await tempDir(t, 'docker-model-');
  const layout = path.join(dir, 'src');
  const built = await buildImage({ layout, layers: [{ kind: 'add', src: HELLO, dest: '/hello' }], config: { cmd: ['/hello'] }, platform: AMD64, tags: ['hello:amd64'], sourceDateEpoch: 0 });
  await buildImage({ layout, layers: [{ kind: 'add', src: path.join(ROOT, 'fixtures', 'hello', 'hello-arm64'), dest: '/hello' }], config: { cmd: ['/hello'] }, platform: ARM64, tags: ['hello:arm64'], sourceDateEpoch: 0 });
  await assembleIndex({ layout, tags: ['hello:multi'], sources: ['hello:amd64', 'hello:arm64'] });
  const cases = [
    { ref: 'hello:amd64', format: 'v1', tag: `${NAME}-v1:1` },
    { ref: 'hello:amd64', format: 'oci', tag: `${NAME}-oci:1` },
    // Copied whole by default: the sink resolves the index to this machine's platform.
    { ref: 'hello:multi', format: 'v1', tag: `${NAME}-multi:1` },
  ] as const;
  removeAfter(t, cases.map((c) => c.tag));
  for (const c of cases) {
    if (c.ref === 'hello:multi' && process.arch !== 'x64') continue;
    const archive = path.join(dir, `${c.format}-${c.ref.replace(':', '-')}.tar`);
    await copyImage(`oci:${layout}:${c.ref}`, `docker-archive:${archive}:${c.tag}`, { dockerFormat: c.format });
    assert.match(await run('docker', ['load', '-i', archive]), new RegExp(`Loaded image: ${c.tag}`));
    assert.equal((await run('docker', ['image', 'inspect', '-f', '{{.Id}}', c.tag])).trim(), built.configDescriptor.digest, `${c.format} ${c.ref}: the image ID is the config digest`);
    assert.equal(await run('docker', ['run', '--rm', '--network', 'none', c.tag]), `${HELLO_LINE}\n`);
  }
});

test('docker save -> copy docker-archive -> oci: skopeo reads it, umoci unpacks it, the image ID and diff_ids survive', async (t) => {
  if (!needDocker(t) || !requireTool(t, 'skopeo') || !requireTool(t, 'umoci')) return;
  const dir = await tempDir(t, 'docker-model-');
  const tag = `${NAME}-saved:1`;
  const ctx = path.join(dir, 'ctx');
  await fs.mkdir(ctx);
  await fs.copyFile(HELLO, path.join(ctx, 'hello'));
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY hello /hello\nCMD ["/hello"]\n');
  removeAfter(t, [tag]);
  await run('env', ['DOCKER_BUILDKIT=0', 'docker', 'build', '-q', '-t', tag, ctx]);
  const archive = path.join(dir, 'saved.tar');
  await run('docker', ['save', '-o', archive, tag]);
  const inspect = JSON.parse(await run('docker', ['image', 'inspect', tag])) as Array<{ Id: string; RootFS: { Layers: string[] } }>;

  const layout = path.join(dir, 'layout');
  const copied = await copyImage(`docker-archive:${archive}:${tag}`, `oci:${layout}:saved`);
  const img = await readImage(layout, 'saved');
  assert.equal(img.manifest.config.digest, inspect[0]!.Id);
  assert.deepEqual(img.config.rootfs.diff_ids, inspect[0]!.RootFS.Layers);

  const seen = JSON.parse(await run('skopeo', ['inspect', `oci:${layout}:saved`])) as { Digest: string; Architecture: string; Layers: string[] };
  assert.equal(seen.Digest, copied.digest);
  assert.equal(seen.Architecture, 'amd64');
  assert.deepEqual(seen.Layers, img.manifest.layers.map((l) => l.digest));
  // skopeo copies it on to a docker archive, checking each layer against its diff_id on the way.
  await run('skopeo', ['copy', '-q', `oci:${layout}:saved`, `docker-archive:${path.join(dir, 'skopeo.tar')}:${tag}`]);

  const bundle = path.join(dir, 'bundle');
  await run('umoci', ['unpack', '--image', `${layout}:saved`, bundle]);
  assert.deepEqual(await fs.readFile(path.join(bundle, 'rootfs', 'hello')), await fs.readFile(HELLO));
});
