// Multi-platform images: `oci-pack index` assembling an image index from a layout's images, and a
// Dockerfile built once per platform with BuildKit's automatic platform ARGs.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { buildImage } from '../src/build.js';
import { MediaType } from '../src/descriptor.js';
import { buildDockerfile } from '../src/dockerfile/build.js';
import { automaticPlatformArgs } from '../src/dockerfile/platform-args.js';
import { UserError } from '../src/errors.js';
import { assembleIndex } from '../src/image-index.js';
import { schemaProblems } from '../src/schema.js';
import { HELLO, ROOT, blobFile, cli, listTar, readJson, snapshot, tempDir } from './helpers.js';

const AMD64 = { os: 'linux', architecture: 'amd64' };
const ARM64 = { os: 'linux', architecture: 'arm64' };
const ARMV7 = { os: 'linux', architecture: 'arm', variant: 'v7' };
const HELLO_ARM64 = path.join(ROOT, 'fixtures', 'hello', 'hello-arm64');

interface IndexJson {
  manifests: Array<{ mediaType: string; digest: string; size: number; annotations?: Record<string, string>; platform?: Record<string, unknown> }>;
}

/** A layout holding the hello image tagged for each platform given (t:amd64, t:arm64, ...). */
async function layoutWith(t: TestContext, platforms: Array<{ os: string; architecture: string; variant?: string }>): Promise<string> {
  const layout = path.join(await tempDir(t, 'oci-pack-mp-'), 'out');
  for (const platform of platforms) {
    await buildImage({
      layout,
      layers: [{ kind: 'add', src: platform.architecture === 'arm64' ? HELLO_ARM64 : HELLO, dest: '/hello' }],
      config: { cmd: ['/hello'] },
      platform,
      tags: [`t:${platform.architecture}${platform.variant ?? ''}`],
    });
  }
  return layout;
}

async function topIndex(layout: string): Promise<IndexJson> {
  return (await readJson(path.join(layout, 'index.json'))) as IndexJson;
}

test('index: one entry per image with the platform of its config, tagged, valid, children in the store', async (t) => {
  const layout = await layoutWith(t, [AMD64, ARM64, ARMV7]);
  const before = await topIndex(layout);
  const byTag = (tag: string) => before.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === tag)!;
  const r = await cli('index', layout, '--tag', 'multi:1', 't:amd64', byTag('t:arm64').digest, 't:armv7', '--json');
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as { digest: string; mediaType: string; manifests: Array<{ digest: string; platform: unknown }> };
  assert.equal(summary.mediaType, MediaType.index);
  const doc = (await readJson(blobFile(layout, summary.digest))) as IndexJson & { mediaType: string };
  assert.deepEqual(schemaProblems('image-index', doc), []);
  assert.equal(doc.mediaType, MediaType.index);
  assert.deepEqual(doc.manifests.map((m) => [m.digest, m.mediaType, m.platform]), [
    [byTag('t:amd64').digest, MediaType.manifest, AMD64],
    [byTag('t:arm64').digest, MediaType.manifest, ARM64],
    [byTag('t:armv7').digest, MediaType.manifest, ARMV7],
  ]);
  for (const m of doc.manifests) assert.equal((await fs.stat(blobFile(layout, m.digest))).size, m.size);
  const after = await topIndex(layout);
  const entry = after.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === 'multi:1');
  assert.equal(entry?.digest, summary.digest);
  assert.equal(entry?.mediaType, MediaType.index);
  assert.equal(after.manifests.length, before.manifests.length + 1, 'the sources keep their tags');

  // The same inputs give the same bytes; the plain output is the digest.
  const again = await cli('index', layout, '--tag', 'multi:2', 't:amd64', byTag('t:arm64').digest, 't:armv7');
  assert.equal(again.stdout, `${summary.digest}\n`);
});

test('index: two images of one platform, an index as a source, unknown refs are refused and change nothing', async (t) => {
  const layout = await layoutWith(t, [AMD64, ARM64]);
  await buildImage({ layout, layers: [{ kind: 'add', src: HELLO, dest: '/other' }], platform: AMD64, tags: ['u:amd64'] });
  await assembleIndex({ layout, sources: ['t:amd64', 't:arm64'], tags: ['both:1'] });
  const before = await snapshot(layout);

  const dup = await cli('index', layout, '--tag', 'x:1', 't:amd64', 'u:amd64');
  assert.equal(dup.status, 1);
  assert.match(dup.stderr, /u:amd64: is for linux\/amd64, like t:amd64; an index holds one image per platform/);
  const nested = await cli('index', layout, '--tag', 'x:1', 'both:1');
  assert.equal(nested.status, 1);
  assert.match(nested.stderr, /both:1: is itself an image index/);
  const missing = await cli('index', layout, '--tag', 'x:1', 'nope:1');
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /nope:1: no image of that ref name/);
  const noBlob = await cli('index', layout, `sha256:${'0'.repeat(64)}`);
  assert.equal(noBlob.status, 1);
  assert.match(noBlob.stderr, /no such blob/);
  await assert.rejects(assembleIndex({ layout, sources: [] }), (err: unknown) => err instanceof UserError && err.code === 'EUSAGE');
  assert.deepEqual(await snapshot(layout), before);
});

test('automatic platform args: BuildKit names for the target and this host', () => {
  const args = automaticPlatformArgs(ARMV7, AMD64);
  assert.deepEqual(args, {
    TARGETPLATFORM: 'linux/arm/v7', TARGETOS: 'linux', TARGETARCH: 'arm', TARGETVARIANT: 'v7',
    BUILDPLATFORM: 'linux/amd64', BUILDOS: 'linux', BUILDARCH: 'amd64', BUILDVARIANT: '',
  });
});

test('Dockerfile: TARGETARCH and friends are global, and seen in a stage once declared', async (t) => {
  const ctx = await tempDir(t, 'oci-pack-mp-ctx-');
  await fs.mkdir(path.join(ctx, 'bin', 'arm64'), { recursive: true });
  await fs.writeFile(path.join(ctx, 'bin', 'arm64', 'app'), 'arm64 app\n');
  await fs.writeFile(
    path.join(ctx, 'Dockerfile'),
    'ARG TARGETOS\nFROM scratch\nLABEL before="[${TARGETARCH}]"\nARG TARGETARCH\nARG TARGETPLATFORM\nARG BUILDARCH\nARG TARGETVARIANT\n' +
      'COPY bin/${TARGETARCH}/app /app\nLABEL after="${TARGETPLATFORM} ${TARGETARCH} [${TARGETVARIANT}] ${BUILDARCH}"\n',
  );
  const layout = path.join(await tempDir(t), 'out');
  const r = await buildDockerfile({ layout, context: ctx, platform: ARM64, tags: ['t:1'] });
  const config = (await readJson(blobFile(layout, r.configDescriptor.digest))) as { architecture: string; config: { Labels: Record<string, string> } };
  assert.equal(config.architecture, 'arm64');
  const buildArch = process.arch === 'x64' ? 'amd64' : process.arch;
  assert.deepEqual(config.config.Labels, { before: '[]', after: `linux/arm64 arm64 [] ${buildArch}` });
});

test('layout --platform A,B: one image per platform, only the index tagged; a failure leaves index.json as it was', async (t) => {
  const ctx = await tempDir(t, 'oci-pack-mp-ctx-');
  for (const [arch, file] of [['amd64', HELLO], ['arm64', HELLO_ARM64]] as const) {
    await fs.mkdir(path.join(ctx, 'bin', arch), { recursive: true });
    await fs.copyFile(file, path.join(ctx, 'bin', arch, 'hello'));
  }
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nARG TARGETARCH\nCOPY bin/${TARGETARCH}/hello /hello\nCMD ["/hello"]\n');
  const layout = path.join(await tempDir(t), 'out');
  const r = await cli('layout', layout, '--context', ctx, '--platform', 'linux/amd64,linux/arm64', '--tag', 'mp:1', '-q');
  assert.equal(r.status, 0, r.stderr);
  const top = await topIndex(layout);
  assert.equal(top.manifests.length, 1);
  assert.equal(top.manifests[0]!.digest, r.stdout.trim());
  assert.equal(top.manifests[0]!.mediaType, MediaType.index);
  const doc = (await readJson(blobFile(layout, r.stdout.trim()))) as IndexJson;
  assert.deepEqual(doc.manifests.map((m) => m.platform), [AMD64, ARM64]);
  for (const [i, file] of [HELLO, HELLO_ARM64].entries()) {
    const manifest = (await readJson(blobFile(layout, doc.manifests[i]!.digest))) as { config: { digest: string }; layers: Array<{ digest: string }> };
    const config = (await readJson(blobFile(layout, manifest.config.digest))) as { architecture: string };
    assert.equal(config.architecture, i === 0 ? 'amd64' : 'arm64');
    assert.equal(manifest.layers.length, 1);
    // The layer holds the platform's own binary, byte for byte.
    const entries = await listTar(blobFile(layout, manifest.layers[0]!.digest));
    const hello = entries.find((e) => e.name.replace(/^\.?\//, '') === 'hello');
    const want = createHash('sha256').update(await fs.readFile(file)).digest('hex');
    assert.equal(hello?.sha256, want);
  }

  // arm/v7 has no binary in the context: the amd64 image built first must not stay behind.
  const before = await topIndex(layout);
  const bad = await cli('layout', layout, '--context', ctx, '--platform', 'linux/amd64,linux/arm/v7', '--tag', 'mp:2', '-q');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /bin\/arm\/hello/);
  assert.deepEqual(await topIndex(layout), before);

  const twice = await cli('layout', layout, '--context', ctx, '--platform', 'linux/amd64,linux/x86_64');
  assert.equal(twice.status, 2);
  assert.match(twice.stderr, /linux\/amd64 is named twice/);
  const mixed = await cli('layout', layout, '--add', `${HELLO}:/hello`, '--platform', 'linux/amd64,linux/arm64');
  assert.equal(mixed.status, 2);
});
