// Reading manifests from a registry's bytes: media type from the document or the header, the shape
// when neither says, schema 1 refused, children with their digests parsed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sha256 } from '../../src/digest.js';
import { MediaType } from '../../src/descriptor.js';
import { isIndexType, parseManifest } from '../../src/registry/manifests.js';

const d1 = `sha256:${'1'.repeat(64)}`;
const d2 = `sha256:${'2'.repeat(64)}`;

function parse(doc: unknown, header?: string) {
  const bytes = Buffer.from(JSON.stringify(doc));
  return parseManifest(bytes, sha256(bytes), header, 'manifest x');
}

test('an image manifest: config then layers; the docker type kept', () => {
  const m = parse({ schemaVersion: 2, mediaType: MediaType.dockerManifest, config: { mediaType: MediaType.dockerConfig, digest: d1, size: 2 }, layers: [{ mediaType: MediaType.dockerLayerGzip, digest: d2, size: 3 }] });
  assert.equal(m.kind, 'image');
  assert.equal(m.descriptor.mediaType, MediaType.dockerManifest);
  assert.deepEqual(m.children.map((c) => c.digest), [d1, d2]);
});

test('an index without mediaType takes the Content-Type, or its shape', () => {
  const doc = { schemaVersion: 2, manifests: [{ mediaType: MediaType.manifest, digest: d1, size: 5, platform: { os: 'linux', architecture: 'amd64' } }] };
  assert.equal(parse(doc, MediaType.dockerManifestList).descriptor.mediaType, MediaType.dockerManifestList);
  const guessed = parse(doc, 'application/json');
  assert.equal(guessed.kind, 'index');
  assert.equal(guessed.descriptor.mediaType, MediaType.index);
  assert.ok(isIndexType(MediaType.dockerManifestList) && !isIndexType(MediaType.manifest));
});

test('refused: schema 1, neither shape, a bad digest inside', () => {
  assert.throws(() => parse({ schemaVersion: 1, fsLayers: [] }), /manifest x: a docker schema 1 manifest, which oci-pack does not read/);
  assert.throws(() => parse({ schemaVersion: 2, mediaType: 'application/vnd.example+json' }), /manifest x: media type "application\/vnd.example\+json" is neither an image manifest nor an index/);
  assert.throws(() => parse({ schemaVersion: 2, mediaType: MediaType.manifest, config: { mediaType: MediaType.config, digest: 'sha256:short', size: 1 }, layers: [] }), /manifest x/);
});
