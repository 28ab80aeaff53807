// Multi-platform image indexes: an OCI image index assembled from images already in a layout, each
// entry carrying the platform its config declares, written through the store and the index.json lock.
import { MediaType, REF_NAME_ANNOTATION, type Descriptor, type Platform } from './descriptor.js';
import { isDigest, type Digest } from './digest.js';
import { UserError } from './errors.js';
import type { ImageConfig } from './image.js';
import { canonicalJson } from './json.js';
import { Layout, type ImageIndex, type LockOptions } from './layout.js';
import type { Image } from './model.js';
import { formatPlatform, normalizePlatform } from './platform.js';
import { checkRefName } from './ref.js';
import { readImage } from './resolve.js';
import { assertValid } from './schema.js';
import type { BlobStore } from './store.js';
import { LayoutTransaction } from './transaction.js';
import { LayoutSource } from './transports/layout.js';

export interface AssembleIndexOptions extends LockOptions {
  /** The layout holding the images: a path or an open Layout. */
  layout: string | Layout;
  /** The images: ref names in the layout's index.json, or manifest digests (sha256:...). */
  sources: readonly string[];
  /** Ref names the index is recorded under (none: recorded untagged). */
  tags?: readonly string[];
  /** Annotations on the index itself. */
  annotations?: Record<string, string>;
}

export interface AssembleIndexResult {
  /** The index's descriptor (as recorded in index.json, without the ref name). */
  index: Descriptor;
  /** Its entries, in the order of `sources`, each with its platform. */
  manifests: Descriptor[];
  tags: string[];
  layout: string;
}

/**
 * Assemble an image index from single-platform images of a layout. A source that is itself an index
 * is refused rather than flattened: which of its entries (and attestations) to keep is the caller's
 * choice, made by naming their digests. Two entries for one platform are refused, since a runtime
 * would silently take the first.
 */
export async function assembleIndex(opts: AssembleIndexOptions): Promise<AssembleIndexResult> {
  const tags = [...(opts.tags ?? [])];
  for (const tag of tags) checkRefName(tag, '--tag');
  if (opts.sources.length === 0) throw new UserError('an index needs at least one image: name its tags or manifest digests', 'EUSAGE');
  const layout = typeof opts.layout === 'string' ? await Layout.open(opts.layout) : opts.layout;
  const top = await layout.readIndex();

  const images: Array<{ name: string; descriptor: Descriptor; platform: Platform }> = [];
  for (const source of opts.sources) {
    const entry = await sourceDescriptor(layout, top, source);
    images.push({ name: source, descriptor: entry, platform: await imagePlatform(layout, entry, source) });
  }
  const tx = await LayoutTransaction.begin(layout);
  try {
    const { descriptor, manifests } = await putIndex(tx.staging, images, opts.annotations);
    await tx.commit([{ descriptor, tags }], undefined, opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {});
    return { index: descriptor, manifests, tags, layout: layout.root };
  } finally {
    await tx.abort();
  }
}

/** The platform an image's config declares, as an index entry carries it: os, architecture, variant, os.version and os.features. */
export function indexPlatform(config: ImageConfig): Platform {
  const p: Platform = { architecture: config.architecture, os: config.os };
  if (config.variant) p.variant = config.variant;
  if (config['os.version']) p['os.version'] = config['os.version'];
  if (config['os.features'] && config['os.features'].length > 0) p['os.features'] = config['os.features'];
  return p;
}

/**
 * An OCI image index of built images, one entry per platform, put into `store`: the images of a
 * multi-platform build, staged in its transaction. Two images for one platform are refused.
 */
export async function putImageIndex(store: BlobStore, images: readonly Image[], annotations?: Record<string, string>): Promise<{ descriptor: Descriptor; manifests: Descriptor[] }> {
  return putIndex(store, images.map((i) => ({ name: i.where, descriptor: i.descriptor, platform: indexPlatform(i.config) })), annotations);
}

async function putIndex(store: BlobStore, images: ReadonlyArray<{ name: string; descriptor: Descriptor; platform: Platform }>, annotations?: Record<string, string>): Promise<{ descriptor: Descriptor; manifests: Descriptor[] }> {
  const manifests: Descriptor[] = [];
  const seen = new Map<string, string>();
  for (const { name, descriptor, platform } of images) {
    const key = `${formatPlatform(normalizePlatform(platform))} ${platform['os.version'] ?? ''}`;
    const before = seen.get(key);
    if (before !== undefined) {
      throw new UserError(`${name}: is for ${formatPlatform(platform)}, like ${before}; an index holds one image per platform`, 'EINPUT');
    }
    seen.set(key, name);
    manifests.push({ mediaType: MediaType.manifest, digest: descriptor.digest, size: descriptor.size, platform });
  }
  const doc: ImageIndex = { schemaVersion: 2, mediaType: MediaType.index, manifests };
  if (annotations && Object.keys(annotations).length > 0) doc.annotations = annotations;
  assertValid('image-index', doc, 'image index');
  const descriptor = await store.putBytes(canonicalJson(doc), { mediaType: MediaType.index });
  return { descriptor, manifests };
}

/** The manifest a source names: one entry of index.json by ref name, or a blob of the store by digest. */
async function sourceDescriptor(layout: Layout, top: ImageIndex, source: string): Promise<Descriptor> {
  let entry: Descriptor;
  if (isDigest(source)) {
    const listed = top.manifests.find((d) => d.digest === source);
    const size = listed?.size ?? (await layout.store.sizeOf(source as Digest));
    if (size === undefined) throw new UserError(`${source}: no such blob in ${layout.root}`, 'ENOTFOUND');
    const doc = (await layout.store.readJson({ digest: source as Digest, size }, source)) as { mediaType?: unknown };
    const mediaType = listed?.mediaType ?? (typeof doc.mediaType === 'string' ? doc.mediaType : MediaType.manifest);
    entry = { mediaType, digest: source as Digest, size };
  } else {
    const named = top.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] === source);
    if (named.length === 0) throw new UserError(`${source}: no image of that ref name in ${layout.root}/index.json (name a tag or a manifest digest)`, 'ENOTFOUND');
    if (named.length > 1) {
      throw new UserError(`${source}: names ${named.length} entries in ${layout.root}/index.json; name each by its digest (${named.map((d) => d.digest).join(', ')})`, 'EINPUT');
    }
    entry = named[0]!;
  }
  if (entry.mediaType === MediaType.index || entry.mediaType === MediaType.dockerManifestList) {
    throw new UserError(`${source}: is itself an image index; name the manifests it holds by their digests instead (indexes are not nested or flattened)`, 'EUNSUPPORTED');
  }
  if (entry.mediaType !== MediaType.manifest) {
    throw new UserError(`${source}: is a ${entry.mediaType}, not an OCI image manifest`, 'EUNSUPPORTED');
  }
  return entry;
}

/** The platform of the image `entry` names, read (and checked) by the one resolver. */
async function imagePlatform(layout: Layout, entry: Descriptor, source: string): Promise<Platform> {
  const image = await readImage(new LayoutSource(layout, layout.root), entry, source);
  if (image.manifest.mediaType !== undefined && image.manifest.mediaType !== MediaType.manifest) {
    throw new UserError(`${source}: manifest ${entry.digest} says it is a ${String(image.manifest.mediaType)}`, 'EINPUT');
  }
  return indexPlatform(image.config);
}
