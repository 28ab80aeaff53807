// Docker v2 schema2 manifests and manifest lists as OCI manifests and indexes, as skopeo converts them
// for an OCI layout (which tools read only as OCI): media types change, configs and layers keep their
// bytes and digests, so only the manifests and the indexes above them get new digests.
import { MediaType, plainDescriptor, type Descriptor } from './descriptor.js';
import { sha256 } from './digest.js';
import { UserError } from './errors.js';
import type { ImageManifest } from './image.js';
import { canonicalJson, isPlainObject, parseJsonInput } from './json.js';
import type { ImageIndex } from './layout.js';
import { MAX_JSON_BYTES } from './limits.js';
import type { ArtifactNode, Image, ImageNode, IndexNode } from './model.js';
import { assertValid } from './schema.js';

/** Docker layer media types and their OCI equivalents (foreign layers become non-distributable ones). */
const LAYER_TYPES: Readonly<Record<string, string>> = {
  [MediaType.dockerLayer]: MediaType.layer,
  [MediaType.dockerLayerGzip]: MediaType.layerGzip,
  [MediaType.dockerLayerZstd]: MediaType.layerZstd,
  'application/vnd.docker.image.rootfs.foreign.diff.tar': 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.zstd': 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
};

/** The annotation by which an attestation names the image it is about (buildx). */
const REFERENCE_DIGEST = 'vnd.docker.reference.digest';

/**
 * The node as an OCI layout may hold it: Docker v2 manifests and manifest lists become OCI manifests
 * and indexes (children first, so an index names its children's new descriptors). A node with
 * nothing to convert comes back as the same object, so its digest survives.
 */
export function toOci(node: ImageNode): ImageNode {
  if (node.kind === 'image') return node.descriptor.mediaType === MediaType.dockerManifest ? imageToOci(node) : node;
  if (node.kind === 'artifact') return node.descriptor.mediaType === MediaType.dockerManifest ? artifactToOci(node) : node;
  return indexToOci(node);
}

/** The first Docker v2 manifest or manifest list in a node (depth first), which toOci would rewrite; undefined when none. */
export function dockerManifestIn(node: ImageNode): Descriptor | undefined {
  if (node.descriptor.mediaType === MediaType.dockerManifest || node.descriptor.mediaType === MediaType.dockerManifestList) return node.descriptor;
  if (node.kind !== 'index') return undefined;
  for (const child of node.children) {
    const found = dockerManifestIn(child);
    if (found) return found;
  }
  return undefined;
}

/**
 * What a sink that writes OCI layouts stores: `node` converted, or, when digests must be preserved,
 * `node` itself if it needs no conversion, else a one-line refusal naming the manifest.
 */
export function ociForLayout(node: ImageNode, preserveDigests: boolean, sink: string): ImageNode {
  if (!preserveDigests) return toOci(node);
  const docker = dockerManifestIn(node);
  if (docker === undefined) return node;
  throw new UserError(
    `${sink}: ${node.where}: ${docker.digest} is a Docker v2 ${docker.mediaType === MediaType.dockerManifestList ? 'manifest list' : 'manifest'}; an OCI layout holds OCI manifests only, and converting it changes its digest, which --preserve-digests refuses`,
    'EUNSUPPORTED',
  );
}

function imageToOci(image: Image): Image {
  const config = { ...image.configDescriptor, mediaType: configType(image.configDescriptor, image) };
  const layers = image.layers.map((l) => ({ ...l, descriptor: { ...l.descriptor, mediaType: layerType(l.descriptor, image) } }));
  const manifest = ociManifest(image.manifest, config, layers.map((l) => l.descriptor));
  const manifestBytes = serialise('image-manifest', manifest, image, 'manifest');
  return { ...image, descriptor: rewritten(image.descriptor, MediaType.manifest, manifestBytes), manifestBytes, manifest, configDescriptor: config, layers };
}

/** An artifact (not an image) with a Docker v2 manifest: the manifest's media types change, its blobs stay as they are. */
function artifactToOci(artifact: ArtifactNode): ArtifactNode {
  const doc = parseJsonInput(artifact.bytes, `${artifact.where}: manifest ${artifact.descriptor.digest}`, MAX_JSON_BYTES) as ImageManifest;
  const config = { ...doc.config, mediaType: doc.config.mediaType === MediaType.dockerConfig ? MediaType.config : doc.config.mediaType };
  const manifest = ociManifest(doc, config, doc.layers.map((l) => ({ ...l, mediaType: layerType(l, artifact) })));
  const bytes = serialise('image-manifest', manifest, artifact, 'manifest');
  return { ...artifact, descriptor: rewritten(artifact.descriptor, MediaType.manifest, bytes), bytes };
}

function indexToOci(node: IndexNode): IndexNode {
  const children = node.children.map(toOci);
  const changed = children.some((c, i) => c !== node.children[i]);
  if (!changed && node.descriptor.mediaType !== MediaType.dockerManifestList) return node;
  // An attestation names its image by digest: it follows the image to its new one.
  const renamed = new Map<string, string>();
  children.forEach((c, i) => renamed.set(node.children[i]!.descriptor.digest, c.descriptor.digest));
  const manifests = node.index.manifests.map((entry, i) => {
    const child = children[i]!;
    const out: Descriptor = plainDescriptor({ ...entry, mediaType: child.descriptor.mediaType, digest: child.descriptor.digest, size: child.descriptor.size });
    const about = out.annotations?.[REFERENCE_DIGEST];
    if (about !== undefined && renamed.has(about)) out.annotations = { ...out.annotations, [REFERENCE_DIGEST]: renamed.get(about)! };
    return out;
  });
  const index: ImageIndex = { ...node.index, mediaType: node.index.mediaType === MediaType.dockerManifestList ? MediaType.index : node.index.mediaType ?? MediaType.index, manifests };
  const bytes = serialise('image-index', index, node, 'index');
  const mediaType = node.descriptor.mediaType === MediaType.dockerManifestList ? MediaType.index : node.descriptor.mediaType;
  return { ...node, descriptor: rewritten(node.descriptor, mediaType, bytes), bytes, index, children };
}

/** An OCI manifest with what a Docker v2 one has (schemaVersion, config, layers) and any annotations. */
function ociManifest(doc: ImageManifest, config: Descriptor, layers: readonly Descriptor[]): ImageManifest {
  const m: ImageManifest = { schemaVersion: 2, mediaType: MediaType.manifest, config: plainDescriptor(config), layers: layers.map(plainDescriptor) };
  if (isPlainObject(doc.annotations) && Object.keys(doc.annotations).length > 0) m.annotations = { ...doc.annotations };
  if (doc.subject) m.subject = doc.subject;
  if (doc.artifactType) m.artifactType = doc.artifactType;
  return m;
}

function configType(d: Descriptor, image: Image): string {
  if (d.mediaType === MediaType.dockerConfig || d.mediaType === MediaType.config) return MediaType.config;
  throw unconvertible(image, 'config', d);
}

function layerType(d: Descriptor, node: ImageNode): string {
  if (d.mediaType.startsWith('application/vnd.oci.')) return d.mediaType;
  const mapped = LAYER_TYPES[d.mediaType];
  if (mapped === undefined) throw unconvertible(node, 'layer', d);
  return mapped;
}

function unconvertible(node: ImageNode, what: string, d: Descriptor): UserError {
  return new UserError(`${node.where}: manifest ${node.descriptor.digest}: ${what} ${d.digest} has media type ${d.mediaType}, which has no OCI equivalent to convert it to`, 'EUNSUPPORTED');
}

function serialise(schema: 'image-manifest' | 'image-index', doc: unknown, node: ImageNode, what: string): Buffer {
  assertValid(schema, doc, `${node.where}: ${what} ${node.descriptor.digest} converted to OCI`);
  return canonicalJson(doc);
}

/** The descriptor of rewritten bytes: its platform and annotations kept. */
function rewritten(d: Descriptor, mediaType: string, bytes: Buffer): Descriptor {
  return { ...d, mediaType, digest: sha256(bytes), size: bytes.length };
}
