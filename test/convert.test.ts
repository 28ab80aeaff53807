// Docker v2 manifests and manifest lists converted to OCI for the sinks that write OCI layouts: config
// and layer digests kept, media types mapped, an index naming its children's new descriptors; OCI
// nodes untouched; with preserveDigests a conversion is refused and nothing is written.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { buildImage } from '../src/build.js';
import { toOci } from '../src/convert.js';
import { MediaType, type Descriptor } from '../src/descriptor.js';
import { sha256 } from '../src/digest.js';
import { assembleIndex } from '../src/image-index.js';
import { canonicalJson } from '../src/json.js';
import { Layout } from '../src/layout.js';
import type { Image, ImageNode, IndexNode } from '../src/model.js';
import { resolve, resolveImage } from '../src/resolve.js';
import { schemaProblems } from '../src/schema.js';
import { LayoutSink, LayoutSource } from '../src/transports/layout.js';
import { OciArchiveSink } from '../src/transports/oci-archive.js';
import { validate } from '../src/validate.js';
import { HELLO, ROOT, snapshot, tempDir } from './helpers.js';

const AMD64 = { os: 'linux', architecture: 'amd64' };
const ARM64 = { os: 'linux', architecture: 'arm64' };

async function ociLayout(t: TestContext): Promise<{ dir: string; source: LayoutSource }> {
  const dir = path.join(await tempDir(t, 'oci-pack-convert-'), 'src');
  await buildImage({ layout: dir, platform: AMD64, tags: ['hello:amd64'], layers: [{ kind: 'add', src: HELLO, dest: '/hello' }, { kind: 'add', src: HELLO, dest: '/again' }], config: { cmd: ['/hello'] } });
  await buildImage({ layout: dir, platform: ARM64, tags: ['hello:arm64'], layers: [{ kind: 'add', src: path.join(ROOT, 'fixtures', 'hello', 'hello-arm64'), dest: '/hello' }], config: { cmd: ['/hello'] } });
  await assembleIndex({ layout: dir, tags: ['hello:multi'], sources: ['hello:amd64', 'hello:arm64'] });
  return { dir, source: await LayoutSource.open(dir) };
}

const DOCKER_LAYER: Record<string, string> = { [MediaType.layerGzip]: MediaType.dockerLayerGzip, [MediaType.layer]: MediaType.dockerLayer, [MediaType.layerZstd]: MediaType.dockerLayerZstd };

/** The image as a registry that got it by `docker push` holds it: a Docker v2 manifest over the same config and layers. */
function dockerised(image: Image): Image {
  const configDescriptor = { ...image.configDescriptor, mediaType: MediaType.dockerConfig };
  const layers = image.layers.map((l) => ({ ...l, descriptor: { ...l.descriptor, mediaType: DOCKER_LAYER[l.descriptor.mediaType]! } }));
  const manifest = {
    schemaVersion: 2 as const,
    mediaType: MediaType.dockerManifest,
    config: { mediaType: configDescriptor.mediaType, digest: configDescriptor.digest, size: configDescriptor.size },
    layers: layers.map((l) => ({ mediaType: l.descriptor.mediaType, digest: l.descriptor.digest, size: l.descriptor.size })),
  };
  // Docker writes its manifests indented: not our bytes, so the digest has to change.
  const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 3));
  const descriptor: Descriptor = { ...image.descriptor, mediaType: MediaType.dockerManifest, digest: sha256(manifestBytes), size: manifestBytes.length };
  return { ...image, descriptor, manifestBytes, manifest, configDescriptor, layers };
}

function dockerList(children: Image[], where: string): IndexNode {
  const index = {
    schemaVersion: 2 as const,
    mediaType: MediaType.dockerManifestList,
    manifests: children.map((c) => ({ mediaType: c.descriptor.mediaType, digest: c.descriptor.digest, size: c.descriptor.size, platform: c.platform })),
  };
  const bytes = Buffer.from(JSON.stringify(index, null, 3));
  return { kind: 'index', descriptor: { mediaType: MediaType.dockerManifestList, digest: sha256(bytes), size: bytes.length }, bytes, index, children, where };
}

test('toOci: a Docker v2 manifest becomes the OCI manifest over the same config and layers', async (t) => {
  const { source } = await ociLayout(t);
  const oci = await resolveImage(source, 'hello:amd64');
  const docker = dockerised(oci);
  assert.notEqual(docker.descriptor.digest, oci.descriptor.digest);
  const converted = toOci(docker) as Image;
  assert.equal(converted.kind, 'image');
  assert.equal(converted.descriptor.mediaType, MediaType.manifest);
  assert.equal(converted.configDescriptor.mediaType, MediaType.config);
  assert.equal(converted.configDescriptor.digest, oci.configDescriptor.digest);
  assert.equal(converted.configBytes, oci.configBytes);
  assert.deepEqual(converted.layers.map((l) => [l.descriptor.mediaType, l.descriptor.digest, l.descriptor.diffId]), oci.layers.map((l) => [MediaType.layerGzip, l.descriptor.digest, l.descriptor.diffId]));
  assert.deepEqual(schemaProblems('image-manifest', JSON.parse(converted.manifestBytes.toString())), []);
  assert.equal(converted.descriptor.digest, sha256(converted.manifestBytes));
  assert.equal(converted.descriptor.size, converted.manifestBytes.length);
  assert.deepEqual(converted.manifestBytes, canonicalJson(converted.manifest));
  // Serialised as we serialise what we build: the very manifest the build wrote, to the byte.
  assert.deepEqual(converted.manifestBytes, oci.manifestBytes);
  assert.equal(converted.descriptor.digest, oci.descriptor.digest);
  assert.deepEqual(converted.platform, AMD64);
});

test('toOci: OCI nodes come back as they are; a foreign layer becomes non-distributable, an unknown one is refused', async (t) => {
  const { source } = await ociLayout(t);
  const image = await resolveImage(source, 'hello:amd64');
  assert.equal(toOci(image), image);
  const whole = await resolve(source, 'hello:multi', { all: true });
  assert.equal(toOci(whole), whole);

  const docker = dockerised(image);
  const foreignType = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';
  const foreign = { ...docker, layers: docker.layers.map((l, i) => (i === 0 ? { ...l, descriptor: { ...l.descriptor, mediaType: foreignType, urls: ['https://example.com/layer'] } } : l)) };
  const converted = toOci(foreign) as Image;
  assert.equal(converted.manifest.layers[0]!.mediaType, 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip');
  assert.deepEqual(converted.manifest.layers[0]!.urls, ['https://example.com/layer']);
  const odd = { ...docker, layers: docker.layers.map((l) => ({ ...l, descriptor: { ...l.descriptor, mediaType: 'application/x-odd' } })) };
  assert.throws(() => toOci(odd), /layer sha256:[0-9a-f]{64} has media type application\/x-odd, which has no OCI equivalent/);
});

test('toOci: a manifest list becomes an OCI index naming its converted children, platforms kept', async (t) => {
  const { source } = await ociLayout(t);
  const amd = await resolveImage(source, 'hello:amd64');
  const arm = await resolveImage(source, 'hello:arm64');
  const list = dockerList([dockerised(amd), dockerised(arm)], 'docker://example/hello');
  const converted = toOci(list) as IndexNode;
  assert.equal(converted.kind, 'index');
  assert.equal(converted.descriptor.mediaType, MediaType.index);
  assert.equal(converted.index.mediaType, MediaType.index);
  assert.deepEqual(schemaProblems('image-index', JSON.parse(converted.bytes.toString())), []);
  assert.equal(converted.descriptor.digest, sha256(converted.bytes));
  assert.deepEqual(converted.index.manifests.map((m) => [m.mediaType, m.digest, m.size, m.platform?.architecture]), [
    [MediaType.manifest, amd.descriptor.digest, amd.descriptor.size, 'amd64'],
    [MediaType.manifest, arm.descriptor.digest, arm.descriptor.size, 'arm64'],
  ]);
  assert.deepEqual(converted.children.map((c) => c.descriptor.digest), [amd.descriptor.digest, arm.descriptor.digest]);
});

test('the layout and oci-archive sinks write a Docker v2 image as OCI; with preserveDigests they refuse it and write nothing', async (t) => {
  const { dir, source } = await ociLayout(t);
  const image = await resolveImage(source, 'hello:amd64');
  const node: ImageNode = dockerised(image);
  const to = path.join(path.dirname(dir), 'dst');
  const sink = await LayoutSink.open(to);
  let written: Descriptor[];
  try {
    ({ written } = await sink.write([{ node, tags: ['docker'] }]));
  } finally {
    await sink.close();
  }
  assert.equal(written[0]!.digest, image.descriptor.digest);
  assert.equal(written[0]!.mediaType, MediaType.manifest);
  const [entry] = await (await Layout.open(to)).find('docker');
  assert.equal(entry!.digest, image.descriptor.digest);
  const report = await validate(to);
  assert.equal(report.problems.length, 0, JSON.stringify(report.problems));

  const before = await snapshot(to);
  const strict = await LayoutSink.open(to, { preserveDigests: true });
  try {
    await assert.rejects(strict.write([{ node, tags: ['kept'] }]), (err: Error) => {
      assert.match(err.message, new RegExp(`${node.descriptor.digest} is a Docker v2 manifest; .*--preserve-digests refuses`));
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
  } finally {
    await strict.close();
  }
  assert.deepEqual(await snapshot(to), before);

  const tar = path.join(path.dirname(dir), 'docker.tar');
  const archive = await OciArchiveSink.open(tar);
  assert.equal((await archive.write([{ node, tags: ['docker'] }])).written[0]!.digest, image.descriptor.digest);
  const strictArchive = await OciArchiveSink.open(path.join(path.dirname(dir), 'strict.tar'), { preserveDigests: true });
  await assert.rejects(strictArchive.write([{ node, tags: ['docker'] }]), /--preserve-digests refuses/);
  await assert.rejects(fs.stat(path.join(path.dirname(dir), 'strict.tar')), { code: 'ENOENT' });
});
