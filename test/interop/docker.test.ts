// to-docker and from-docker against the real consumers and producers: docker 20.10, podman, skopeo,
// umoci and containerd's importer. Images get names unique to this process and are removed after.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage, writeDockerArchive } from '../../src/index.js';
import { legacyLayers } from '../../src/docker/legacy.js';
import { CI, HELLO, HELLO_LINE, podmanRun, ROOT, blobFile, busyboxRootfs, cli, dockerRunning, readImage, requireTool, run, tempDir } from '../helpers.js';
import { archiveEntries } from '../docker/make.js';

const NAME = `ocipack-docker-${process.pid}`;
const AMD64 = { os: 'linux', architecture: 'amd64' };
const CONTAINERD = '/var/run/docker/containerd/containerd.sock';
const ORACLE = path.join(ROOT, '..', 'shared', 'oracle');

function needDocker(t: TestContext): boolean {
  return requireTool(t, 'docker', dockerRunning);
}

/** Remove images from docker and podman after the test, whatever happened. */
function cleanup(t: TestContext, names: string[]): void {
  t.after(async () => {
    for (const n of names) {
      await run('docker', ['rmi', '-f', n]).catch(() => undefined);
      await run('podman', ['rmi', '-f', n]).catch(() => undefined);
    }
  });
}

/**
 * The independent checker in ../shared: CI has it, a user's clone does not. Without it only the
 * oracle's own step is left out (the test's other assertions still run); under CI it must be there.
 */
function oracle(t: TestContext, tool: 'check-layout' | 'check-docker-archive'): string | undefined {
  const file = path.join(ORACLE, tool);
  if (existsSync(file)) return file;
  if (CI) throw new Error(`${file} is missing, and CI=true allows no skip`);
  t.diagnostic(`${file} not found: the oracle's check is left out`);
  return undefined;
}

/** A temp dir whose path is all lowercase: podman pull reads oci:PATH as an image name. */
async function lowercaseDir(t: TestContext): Promise<string> {
  const dir = path.join(os.tmpdir(), `${NAME}-${Math.random().toString(36).slice(2)}`.toLowerCase());
  await fs.mkdir(dir);
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

async function helloLayout(layout: string, tags: string[]) {
  return buildImage({ layout, layers: [{ kind: 'add', src: HELLO, dest: '/hello' }], config: { cmd: ['/hello'] }, platform: AMD64, tags, sourceDateEpoch: 0 });
}

async function dockerBuild(t: TestContext, dir: string, tag: string): Promise<void> {
  const ctx = path.join(dir, 'ctx');
  await fs.mkdir(ctx, { recursive: true });
  await fs.copyFile(HELLO, path.join(ctx, 'hello'));
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY hello /hello\nCMD ["/hello"]\n');
  cleanup(t, [tag]);
  await run('env', ['DOCKER_BUILDKIT=0', 'docker', 'build', '-q', '-t', tag, ctx]);
}

test('the example: to-docker → docker load → docker run; image ID = config digest; podman load → run', async (t) => {
  if (!needDocker(t) || !requireTool(t, 'podman')) return;
  const dir = await tempDir(t);
  const tag = `${NAME}-hello:latest`;
  cleanup(t, [tag]);
  const built = await helloLayout(path.join(dir, 'out'), [tag]);
  const archive = path.join(dir, 'hello.tar');
  const r = await cli('to-docker', archive, '--layout', path.join(dir, 'out'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(await run('docker', ['load', '-i', archive]), new RegExp(`Loaded image: ${tag}`));
  assert.equal((await run('docker', ['image', 'inspect', '-f', '{{.Id}}', tag])).trim(), built.configDescriptor.digest);
  assert.equal(await run('docker', ['run', '--rm', '--network', 'none', tag]), `${HELLO_LINE}\n`);
  await run('podman', ['load', '-i', archive]);
  const fromPodman = await podmanRun(t, tag);
  if (fromPodman !== undefined) assert.equal(fromPodman, `${HELLO_LINE}\n`);
});

test('two images sharing a layer over a busybox base: stored once, skopeo\'s ids, both load and run', async (t) => {
  if (!needDocker(t) || !requireTool(t, 'skopeo')) return;
  const rootfs = await busyboxRootfs(t);
  if (!rootfs) return;
  const dir = await tempDir(t);
  const layout = path.join(dir, 'out');
  const scratch = `${NAME}-hello:scratch`;
  const alpine = `${NAME}-hello:alpine`;
  cleanup(t, [scratch, alpine]);
  const one = await helloLayout(layout, [scratch]);
  const two = await buildImage({
    layout,
    layers: [{ kind: 'tarball', path: rootfs }, { kind: 'add', src: HELLO, dest: '/hello' }],
    config: { cmd: ['/hello'] },
    platform: AMD64,
    tags: [alpine],
    sourceDateEpoch: 0,
  });
  assert.equal(two.layers[1]!.descriptor.diffId, one.layers[0]!.descriptor.diffId, 'the hello layer is the same in both');
  const archive = path.join(dir, 'both.tar');
  await writeDockerArchive(layout, archive);
  const entries = await archiveEntries(archive);
  const copies = [...entries].filter(([name, v]) => name.endsWith('/layer.tar') && Buffer.isBuffer(v));
  assert.equal(copies.length, 2, 'busybox and hello, each stored once');
  // skopeo derives the same legacy ids and json files for each image.
  for (const [i, tag] of [scratch, alpine].entries()) {
    const theirs = path.join(dir, `skopeo-${i}.tar`);
    await run('skopeo', ['copy', '-q', `oci:${layout}:${tag}`, `docker-archive:${theirs}:${tag}`]);
    const skopeo = await archiveEntries(theirs);
    const config = await fs.readFile(blobFile(layout, [one, two][i]!.configDescriptor.digest));
    for (const layer of legacyLayers([one, two][i]!.layers.map((l) => l.descriptor.diffId), config)) {
      assert.deepEqual(skopeo.get(`${layer.id}/json`), layer.json, `${tag}: ${layer.id}/json as skopeo writes it`);
      assert.deepEqual(entries.get(`${layer.id}/json`), layer.json);
    }
  }
  for (const n of [0, 1]) await run('skopeo', ['inspect', `docker-archive:${archive}:@${n}`]);
  await run('docker', ['load', '-i', archive]);
  assert.equal(await run('docker', ['run', '--rm', '--network', 'none', scratch]), `${HELLO_LINE}\n`);
  assert.equal(await run('docker', ['run', '--rm', '--network', 'none', alpine]), `${HELLO_LINE}\n`);
  assert.equal(await run('docker', ['run', '--rm', '--network', 'none', alpine, 'sh', '-c', 'echo busybox here']), 'busybox here\n');
});

test('to-docker - | docker load, and | podman load', async (t) => {
  if (!needDocker(t) || !requireTool(t, 'podman')) return;
  const dir = await tempDir(t);
  const tag = `${NAME}-piped:1`;
  cleanup(t, [tag]);
  await helloLayout(path.join(dir, 'out'), [tag]);
  const bin = path.join(ROOT, 'dist', 'src', 'cli', 'bin.js');
  const pipe = (consumer: string) => run('bash', ['-o', 'pipefail', '-c', `node ${bin} to-docker - --layout ${path.join(dir, 'out')} | ${consumer}`]);
  assert.match(await pipe('docker load'), new RegExp(`Loaded image: ${tag}`));
  assert.equal(await run('docker', ['run', '--rm', '--network', 'none', tag]), `${HELLO_LINE}\n`);
  await pipe('podman load');
  const fromPodman = await podmanRun(t, tag);
  if (fromPodman !== undefined) assert.equal(fromPodman, `${HELLO_LINE}\n`);
});

test('--format oci: docker 20.10 loads and runs it, skopeo and podman read it as oci-archive, containerd imports every name', async (t) => {
  if (!needDocker(t) || !requireTool(t, 'podman') || !requireTool(t, 'skopeo') || !requireTool(t, 'ctr')) return;
  const dir = await tempDir(t);
  const tag = `${NAME}-oci:latest`;
  const other = `example.com/${NAME}/hello:2`;
  cleanup(t, [tag, other]);
  const built = await helloLayout(path.join(dir, 'out'), [tag, other]);
  for (const format of ['oci', 'v1'] as const) {
    const archive = path.join(dir, `${format}.tar`);
    await writeDockerArchive(path.join(dir, 'out'), archive, { format });
    // containerd's importer (what docker 29's image store runs) under each full docker name.
    const ns = `${NAME}-${format}`;
    const ctr = ['--address', CONTAINERD, '-n', ns];
    t.after(async () => {
      await run('ctr', [...ctr, 'images', 'rm', '--sync', `docker.io/library/${tag}`, other]).catch(() => undefined);
      await run('ctr', ['--address', CONTAINERD, 'namespaces', 'rm', ns]).catch(() => undefined);
    });
    await run('ctr', [...ctr, 'images', 'import', '--all-platforms', archive]);
    const names = (await run('ctr', [...ctr, 'images', 'ls', '-q'])).split('\n').filter(Boolean).sort();
    assert.deepEqual(names, [`docker.io/library/${tag}`, other].sort(), format);
  }
  const archive = path.join(dir, 'oci.tar');
  const inspected = JSON.parse(await run('skopeo', ['inspect', `oci-archive:${archive}:latest`])) as { Digest: string };
  assert.equal(inspected.Digest, built.descriptor.digest, 'the manifest digest survives');
  await run('docker', ['load', '-i', archive]);
  assert.equal((await run('docker', ['image', 'inspect', '-f', '{{.Id}}', tag])).trim(), built.configDescriptor.digest);
  assert.equal(await run('docker', ['run', '--rm', '--network', 'none', tag]), `${HELLO_LINE}\n`);
  await run('podman', ['load', '-i', archive]);
  const fromPodman = await podmanRun(t, tag);
  if (fromPodman !== undefined) assert.equal(fromPodman, `${HELLO_LINE}\n`);
});

test('from-docker of docker save (FROM scratch): check-layout passes, the image ID and diff_ids survive', async (t) => {
  if (!needDocker(t)) return;
  const check = oracle(t, 'check-layout');
  const dir = await lowercaseDir(t);
  const tag = `${NAME}-built:1`;
  await dockerBuild(t, dir, tag);
  const archive = path.join(dir, 'save.tar');
  await run('docker', ['save', '-o', archive, tag]);
  const layout = path.join(dir, 'out');
  const r = await cli('from-docker', archive, layout);
  assert.equal(r.status, 0, r.stderr);
  const img = await readImage(layout, tag);
  const inspect = JSON.parse(await run('docker', ['image', 'inspect', tag])) as Array<{ Id: string; RootFS: { Layers: string[] } }>;
  assert.equal(img.manifest.config.digest, inspect[0]!.Id);
  assert.deepEqual(img.config.rootfs.diff_ids, inspect[0]!.RootFS.Layers);
  cleanup(t, [`localhost${layout}:latest`]); // the name podman pull gives what the oracle runs
  if (check) await run('bash', [check, layout, '--run', tag, '--expect', HELLO_LINE]);
  // Back again: the layout's image loads into docker as the same image.
  await run('docker', ['rmi', '-f', tag]);
  await writeDockerArchive(layout, path.join(dir, 'again.tar'));
  await run('docker', ['load', '-i', path.join(dir, 'again.tar')]);
  assert.equal((await run('docker', ['image', 'inspect', '-f', '{{.Id}}', tag])).trim(), inspect[0]!.Id);
});

test('from-docker of skopeo\'s docker-archive (layer.tar symlinks) and of podman save', async (t) => {
  if (!requireTool(t, 'skopeo') || !requireTool(t, 'podman')) return;
  const check = oracle(t, 'check-layout');
  const dir = await tempDir(t);
  const tag = `${NAME}-sk:1`;
  cleanup(t, [tag]);
  const built = await helloLayout(path.join(dir, 'src'), [tag]);
  const skopeoTar = path.join(dir, 'skopeo.tar');
  await run('skopeo', ['copy', '-q', `oci:${path.join(dir, 'src')}:${tag}`, `docker-archive:${skopeoTar}:${tag}`]);
  assert.ok([...(await archiveEntries(skopeoTar)).values()].some((v) => typeof v === 'string' && v.startsWith('-> ../')), 'skopeo wrote a symlink');
  await run('podman', ['load', '-i', skopeoTar]);
  const podmanTar = path.join(dir, 'podman.tar');
  await run('podman', ['save', '-o', podmanTar, tag]);
  for (const [what, archive] of [['skopeo', skopeoTar], ['podman', podmanTar]] as const) {
    const layout = path.join(dir, what);
    const r = await cli('from-docker', archive, layout);
    assert.equal(r.status, 0, `${what}: ${r.stderr}`);
    const img = await readImage(layout, tag);
    assert.equal(img.manifest.config.digest, built.configDescriptor.digest, what);
    assert.deepEqual(img.config.rootfs.diff_ids, [built.layers[0]!.descriptor.diffId], what);
    if (check) await run('bash', [check, layout, '--no-tools']);
  }
});

test('to-docker of layouts that skopeo and umoci wrote; umoci insert\'s truncated layer is a clear error', async (t) => {
  if (!needDocker(t) || !requireTool(t, 'skopeo') || !requireTool(t, 'umoci')) return;
  const dir = await tempDir(t);
  // skopeo: from docker's own image into a layout under the bare tag "v1".
  const built = `${NAME}-fromdocker:1`;
  await dockerBuild(t, dir, built);
  const sk = path.join(dir, 'skopeo-layout');
  await run('skopeo', ['copy', '-q', `docker-daemon:${built}`, `oci:${sk}:v1`]);
  const skName = `${NAME}-skopeo`;
  cleanup(t, [`${skName}:v1`]);
  const r1 = await cli('to-docker', path.join(dir, 'sk.tar'), '--layout', sk, '--name', skName);
  assert.equal(r1.status, 0, r1.stderr);
  await run('docker', ['load', '-i', path.join(dir, 'sk.tar')]);
  assert.equal(await run('docker', ['run', '--rm', '--network', 'none', `${skName}:v1`]), `${HELLO_LINE}\n`);
  // umoci: a layer made by repack, a command set by umoci config.
  const um = path.join(dir, 'umoci-layout');
  const bundle = path.join(dir, 'bundle');
  await run('umoci', ['init', '--layout', um]);
  await run('umoci', ['new', '--image', `${um}:v1`]);
  await run('umoci', ['unpack', '--image', `${um}:v1`, bundle]);
  await fs.copyFile(HELLO, path.join(bundle, 'rootfs', 'hello'));
  await run('umoci', ['repack', '--image', `${um}:v1`, bundle]);
  await run('umoci', ['config', '--image', `${um}:v1`, '--config.cmd', '/hello']);
  const umTag = `${NAME}-umoci:v1`;
  cleanup(t, [umTag]);
  const r2 = await cli('to-docker', path.join(dir, 'um.tar'), '--layout', um, '--tag', umTag);
  assert.equal(r2.status, 0, r2.stderr);
  await run('docker', ['load', '-i', path.join(dir, 'um.tar')]);
  assert.equal(await run('docker', ['run', '--rm', '--network', 'none', umTag]), `${HELLO_LINE}\n`);
  // umoci 0.4.7 insert: a layer tar with no padding and no end-of-archive marker (umoci #436).
  await run('umoci', ['insert', '--image', `${um}:v1`, HELLO, '/inserted']);
  const r3 = await cli('to-docker', path.join(dir, 'ins.tar'), '--layout', um, '--tag', umTag);
  assert.equal(r3.status, 1);
  assert.match(r3.stderr, /^oci-pack: .*umoci:v1: layer 1 \(sha256:[0-9a-f]{64}\): the layer tar stops right after the data of entry 1, .*umoci #436/);
  await assert.rejects(fs.stat(path.join(dir, 'ins.tar')));
});

test('the oracle passes on both formats of a two-image archive', async (t) => {
  if (!needDocker(t)) return;
  const check = oracle(t, 'check-docker-archive');
  if (!check) {
    t.skip('this test is the oracle\'s check alone');
    return;
  }
  const dir = await tempDir(t);
  const a = `${NAME}-orc:a`;
  const b = `${NAME}-orc:b`;
  cleanup(t, [a, b]);
  const layout = path.join(dir, 'out');
  await helloLayout(layout, [a]);
  await buildImage({ layout, layers: [{ kind: 'add', src: HELLO, dest: '/hello' }, { kind: 'add', src: HELLO, dest: '/bin/b' }], config: { cmd: ['/bin/b'] }, platform: AMD64, tags: [b] });
  for (const format of ['v1', 'oci'] as const) {
    const archive = path.join(dir, `${format}.tar`);
    await writeDockerArchive(layout, archive, { format });
    await run('bash', [check, archive, '--run', b, '--expect', HELLO_LINE]);
  }
});
