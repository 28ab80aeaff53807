// copyImage with a real registry (Debian's docker-registry on 127.0.0.1) at either end: an index
// from a layout up whole and back down whole or as one platform, and between two repositories of
// one registry, where every blob is mounted; a proxy in front counts what crosses the wire.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { buildImage } from '../../src/build.js';
import { copyImage } from '../../src/copy.js';
import { assembleIndex } from '../../src/image-index.js';
import { Layout } from '../../src/layout.js';
import { validate } from '../../src/validate.js';
import { HELLO, ROOT, requireTool, run, tempDir } from '../helpers.js';
import { needRegistry, startProxy, startRegistry } from './registry-server.js';

const PREFIX = 'registry-copy-test';
const AMD64 = { os: 'linux', architecture: 'amd64' };
const ARM64 = { os: 'linux', architecture: 'arm64' };


/** A layout with an amd64 and an arm64 image and an index of both, tagged hello:multi. */
async function multiLayout(t: TestContext): Promise<{ dir: string; index: string; amd: string; arm: string }> {
  const dir = path.join(await tempDir(t, 'oci-pack-regcopy-'), 'src');
  await buildImage({ layout: dir, platform: AMD64, tags: ['hello:amd64'], layers: [{ kind: 'add', src: HELLO, dest: '/hello' }], config: { cmd: ['/hello'] }, sourceDateEpoch: 0 });
  await buildImage({ layout: dir, platform: ARM64, tags: ['hello:arm64'], layers: [{ kind: 'add', src: path.join(ROOT, 'fixtures', 'hello', 'hello-arm64'), dest: '/hello' }], config: { cmd: ['/hello'] }, sourceDateEpoch: 0 });
  await assembleIndex({ layout: dir, tags: ['hello:multi'], sources: ['hello:amd64', 'hello:arm64'] });
  const l = await Layout.open(dir);
  const one = async (ref: string): Promise<string> => (await l.find(ref))[0]!.digest;
  return { dir, index: await one('hello:multi'), amd: await one('hello:amd64'), arm: await one('hello:arm64') };
}

async function layerDigests(dir: string, manifests: string[]): Promise<string[]> {
  const l = await Layout.open(dir);
  const out: string[] = [];
  for (const m of manifests) {
    const doc = JSON.parse((await l.store.read({ digest: m as never })).toString()) as { layers: { digest: string }[] };
    out.push(...doc.layers.map((x) => x.digest));
  }
  assert.equal(out.length, 2);
  return out;
}

async function topDigest(layout: string, ref: string): Promise<string> {
  const found = await (await Layout.open(layout)).find(ref);
  assert.equal(found.length, 1, `${ref} in ${layout}`);
  return found[0]!.digest;
}

test('copyImage: oci -> docker:// keeps an index whole, docker:// -> oci whole or one platform, docker:// -> docker:// mounts', async (t) => {
  if (!needRegistry(t) || !requireTool(t, 'skopeo')) return;
  const reg = await startRegistry(t);
  const proxy = await startProxy(t, reg.port);
  const src = await multiLayout(t);
  const up = `docker://${reg.host}/${PREFIX}/multi:v1`;

  await t.test('oci -> docker://: the index goes up byte for byte, its digest kept', async () => {
    const result = await copyImage(`oci:${src.dir}:hello:multi`, up);
    assert.equal(result.digest, src.index);
    const raw = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', up]);
    const local = await (await Layout.open(src.dir)).store.read({ digest: src.index as never });
    assert.equal(raw, local.toString('utf8'));
    const arm = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', '--override-arch', 'arm64', up])) as { Architecture: string };
    assert.equal(arm.Architecture, 'arm64');
    const armRaw = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${reg.host}/${PREFIX}/multi@${src.arm}`]);
    assert.equal(armRaw, (await (await Layout.open(src.dir)).store.read({ digest: src.arm as never })).toString('utf8'));
  });

  await t.test('docker:// -> oci: the index whole (valid layout, same digest), then one platform', async (tt) => {
    const out = path.join(await tempDir(tt, 'oci-pack-regcopy-down-'), 'layout');
    const whole = await copyImage(up, `oci:${out}:down`);
    assert.equal(whole.digest, src.index);
    assert.equal(await topDigest(out, 'down'), src.index);
    const report = await validate(out);
    assert.deepEqual(report.problems, []);
    const one = await copyImage(up, `oci:${out}:arm-only`, { platform: ARM64 });
    assert.equal(one.digest, src.arm);
    assert.equal(one.platform?.architecture, 'arm64');
    assert.equal(await topDigest(out, 'arm-only'), src.arm);

    // Through the proxy: what the layout has already is never asked of the registry.
    proxy.seen.length = 0;
    const again = await copyImage(`docker://${proxy.host}/${PREFIX}/multi:v1`, `oci:${out}:again`);
    assert.equal(again.digest, src.index);
    assert.deepEqual(proxy.seen.filter((s) => s.startsWith('GET') && s.includes('/blobs/')), [], 'no blob fetched');
    assert.deepEqual(proxy.seen.filter((s) => s.includes('/manifests/sha256:')), [], 'no manifest the layout has fetched');
  });

  await t.test('docker:// -> docker:// on one registry: every blob mounted, none downloaded or uploaded', async () => {
    proxy.seen.length = 0;
    const other = `docker://${proxy.host}/${PREFIX}/other:v2`;
    const result = await copyImage(`docker://${proxy.host}/${PREFIX}/multi:v1`, other);
    assert.equal(result.digest, src.index);
    const mounts = proxy.seen.filter((s) => s.startsWith('POST') && s.includes('mount='));
    assert.equal(mounts.length, 4, `two configs and two layers mounted: ${proxy.seen.join(' ')}`);
    assert.ok(mounts.every((s) => s.includes(`from=${encodeURIComponent(`${PREFIX}/multi`)}`)));
    // The resolver reads the two configs (documents it checks); no layer crosses the wire.
    const layers = await layerDigests(src.dir, [src.amd, src.arm]);
    assert.deepEqual(proxy.seen.filter((s) => s.startsWith('GET') && layers.some((d) => s.endsWith(`/blobs/${d}`))), [], 'no layer downloaded');
    assert.deepEqual(proxy.seen.filter((s) => /^(PATCH|PUT) .*\/blobs\/uploads\//.test(s)), [], 'no blob uploaded');
    const raw = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${reg.host}/${PREFIX}/other:v2`]);
    assert.equal(raw, (await (await Layout.open(src.dir)).store.read({ digest: src.index as never })).toString('utf8'));
  });
});
