// `copy` handed to the real consumers: an oci-archive we write read by skopeo and loaded and run by
// podman, an index copied whole keeping its digest, and an oci-archive skopeo wrote unpacked by umoci.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { copyImage, sha256, type Digest } from '../../src/index.js';
import { CI, HELLO, HELLO_LINE, ROOT, cli, podmanRun, requireTool, run, tempDir } from '../helpers.js';
import { registryAvailable, REGISTRY_BIN, startRegistry } from './registry-server.js';

const NAME = `archive-copy-${process.pid}`;

async function helloLayout(t: TestContext): Promise<{ dir: string; layout: string; digest: Digest; multi: Digest }> {
  const dir = await tempDir(t, 'oci-pack-copy-');
  const layout = path.join(dir, 'out');
  for (const [arch, binary] of [['amd64', HELLO], ['arm64', path.join(ROOT, 'fixtures', 'hello', 'hello-arm64')]] as const) {
    const r = await cli('layout', layout, '--add', `${binary}:/hello`, '--cmd', '/hello', '--platform', `linux/${arch}`, '--tag', `hello:${arch}`, '-q');
    assert.equal(r.status, 0, r.stderr);
  }
  const r = await cli('index', layout, '--tag', 'hello:multi', 'hello:amd64', 'hello:arm64', '-q');
  assert.equal(r.status, 0, r.stderr);
  const index = JSON.parse(await fs.readFile(path.join(layout, 'index.json'), 'utf8')) as { manifests: { digest: Digest; annotations?: Record<string, string> }[] };
  const named = (ref: string) => index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === ref)!.digest;
  return { dir, layout, digest: named('hello:amd64'), multi: named('hello:multi') };
}

test('copy oci -> oci-archive: skopeo inspects and copies it, podman loads and runs it', async (t) => {
  if (!requireTool(t, 'skopeo') || !requireTool(t, 'podman')) return;
  const { dir, layout, digest } = await helloLayout(t);
  const tar = path.join(dir, 'hello.tar');
  const tag = `${NAME}:1`;
  const result = await copyImage(`oci:${layout}:hello:amd64`, `oci-archive:${tar}:${tag}`);
  assert.equal(result.digest, digest);
  const inspected = JSON.parse(await run('skopeo', ['inspect', `oci-archive:${tar}:${tag}`])) as { Digest: string; Architecture: string };
  assert.equal(inspected.Digest, digest);
  assert.equal(inspected.Architecture, 'amd64');
  await run('skopeo', ['copy', '-q', `oci-archive:${tar}:${tag}`, `oci:${dir}/by-skopeo:x`]);
  assert.equal(sha256(await fs.readFile(path.join(dir, 'by-skopeo', 'blobs', 'sha256', digest.slice(7)))), digest, 'skopeo kept the manifest byte for byte');

  t.after(() => run('podman', ['rmi', '-f', `localhost/${tag}`]).catch(() => undefined));
  assert.match(await run('podman', ['load', '-i', tar]), new RegExp(`Loaded image: localhost/${tag}`));
  const out = await podmanRun(t, `localhost/${tag}`);
  if (out !== undefined) assert.equal(out, `${HELLO_LINE}\n`);
});

test('an index copied whole through an oci-archive keeps its digest: skopeo inspect --raw and skopeo copy --all agree', async (t) => {
  if (!requireTool(t, 'skopeo')) return;
  const { dir, layout, multi } = await helloLayout(t);
  const tar = path.join(dir, 'multi.tar');
  const r = await cli('copy', `oci:${layout}:hello:multi`, `oci-archive:${tar}:multi`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${multi} multi\n`);
  const raw = await run('skopeo', ['inspect', '--raw', `oci-archive:${tar}:multi`]);
  assert.equal(sha256(raw), multi, 'the index bytes are the same');
  const arm = JSON.parse(await run('skopeo', ['inspect', '--override-arch', 'arm64', `oci-archive:${tar}:multi`])) as { Architecture: string };
  assert.equal(arm.Architecture, 'arm64');
  // skopeo copies it whole into a layout; ours back from skopeo's archive keeps the digest too.
  await run('skopeo', ['copy', '-q', '--all', `oci-archive:${tar}:multi`, `oci-archive:${dir}/by-skopeo.tar:m`]);
  const back = await cli('copy', '--json', `oci-archive:${dir}/by-skopeo.tar:m`, `oci:${dir}/back:m`);
  assert.equal(back.status, 0, back.stderr);
  assert.equal((JSON.parse(back.stdout) as { digest: string }).digest, multi);
});

test('copy of an oci-archive skopeo wrote into a layout: umoci unpacks it and the file is the one put in', async (t) => {
  if (!requireTool(t, 'skopeo') || !requireTool(t, 'umoci')) return;
  const { dir, layout, digest } = await helloLayout(t);
  const tar = path.join(dir, 'skopeo.tar');
  await run('skopeo', ['copy', '-q', `oci:${layout}:hello:amd64`, `oci-archive:${tar}:hello`]);
  const r = await cli('copy', `oci-archive:${tar}:hello`, `oci:${dir}/ours:hello`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${digest} hello\n`);
  const bundle = path.join(dir, 'bundle');
  await run('umoci', ['unpack', '--rootless', '--image', `${dir}/ours:hello`, bundle]);
  assert.deepEqual(await fs.readFile(path.join(bundle, 'rootfs', 'hello')), await fs.readFile(HELLO));
  // And ours, written by copy, is what umoci reads after unpacking the tar.
  const again = path.join(dir, 'again.tar');
  assert.equal((await cli('copy', `oci:${dir}/ours:hello`, `oci-archive:${again}:hello`)).status, 0);
  const unpacked = path.join(dir, 'unpacked');
  await fs.mkdir(unpacked);
  await run('tar', ['-xf', again, '-C', unpacked]);
  await run('umoci', ['unpack', '--rootless', '--image', `${unpacked}:hello`, path.join(dir, 'bundle2')]);
  assert.deepEqual(await fs.readFile(path.join(dir, 'bundle2', 'rootfs', 'hello')), await fs.readFile(HELLO));
});

test('copy oci-archive -> docker:// and docker:// -> oci-archive: the index digest survives, skopeo reads both ends', async (t) => {
  if (!registryAvailable()) {
    if (CI) throw new Error(`${REGISTRY_BIN} is missing, and CI=true allows no skip (run ../shared/oracle/install-tools)`);
    t.skip('docker-registry not installed');
    return;
  }
  if (!requireTool(t, 'skopeo')) return;
  const reg = await startRegistry(t);
  const { dir, layout, multi } = await helloLayout(t);
  const tar = path.join(dir, 'multi.tar');
  assert.equal((await cli('copy', '-q', `oci:${layout}:hello:multi`, `oci-archive:${tar}:multi`)).status, 0);
  const remote = `docker://${reg.host}/archive-copy/multi:v1`;
  const up = await cli('copy', '--json', `oci-archive:${tar}:multi`, remote);
  assert.equal(up.status, 0, up.stderr);
  assert.equal((JSON.parse(up.stdout) as { digest: string }).digest, multi);
  assert.equal(sha256(await run('skopeo', ['inspect', '--tls-verify=false', '--raw', remote])), multi, 'the registry serves the same index bytes');
  const down = path.join(dir, 'down.tar');
  const r = await cli('copy', remote, `oci-archive:${down}:m`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${multi} m\n`);
  assert.equal(sha256(await run('skopeo', ['inspect', '--raw', `oci-archive:${down}:m`])), multi);
  const arm = await cli('copy', '--json', '--platform', 'linux/arm64', remote, `oci-archive:${dir}/arm.tar:arm`);
  assert.equal(arm.status, 0, arm.stderr);
  const inspected = JSON.parse(await run('skopeo', ['inspect', `oci-archive:${dir}/arm.tar:arm`])) as { Architecture: string; Digest: string };
  assert.equal(inspected.Architecture, 'arm64');
  assert.equal(inspected.Digest, (JSON.parse(arm.stdout) as { digest: string }).digest);
});
