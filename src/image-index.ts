// Multi-platform image indexes: an OCI image index assembled from images already in a layout, each
// entry carrying the platform its config declares, written through the store and the index.json lock.
import { MediaType, REF_NAME_ANNOTATION, type Descriptor, type Platform } from './descriptor.js';
import { isDigest, type Digest } from './digest.js';
import { UserError } from './errors.js';
import type { ImageConfig, ImageManifest } from './image.js';
import { canonicalJson } from './json.js';
import { Layout, placeImage, refNameOf, type ImageIndex, type LockOptions } from './layout.js';
import { formatPlatform, normalizePlatform } from './platform.js';
import { checkRefName } from './ref.js';
import { assertValid, checkInput } from './schema.js';

export interface AssembleIndexOptions extends LockOptions {
  /** The layout holding the images: a path or an open Layout. */
  layout: string | Layout;
  /** The images: ref names in the layout's index.json, or manifest digests (sha256:...). */
  sources: readonly string[];
  /** Ref names the index is recorded under (none: recorded untagged). */
  tags?: readonly string[];
  /** Annotations on the index itself. */
  annotations?: Record<string, string>;
  /**
   * Manifests whose untagged index.json entries go in the same locked update: a multi-platform
   * build records its per-platform images that way and, as buildx's OCI exporter does, leaves
   * only the tagged index at the top.
   */
  absorbUntagged?: readonly Digest[];
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

  const manifests: Descriptor[] = [];
  const seen = new Map<string, string>();
  for (const source of opts.sources) {
    const entry = await sourceDescriptor(layout, top, source);
    const platform = await imagePlatform(layout, entry, source);
    const key = `${formatPlatform(normalizePlatform(platform))} ${platform['os.version'] ?? ''}`;
    const before = seen.get(key);
    if (before !== undefined) {
      throw new UserError(`${source}: is for ${formatPlatform(platform)}, like ${before}; an index holds one image per platform`, 'EINPUT');
    }
    seen.set(key, source);
    manifests.push({ mediaType: MediaType.manifest, digest: entry.digest, size: entry.size, platform });
  }

  const doc: ImageIndex = { schemaVersion: 2, mediaType: MediaType.index, manifests };
  if (opts.annotations && Object.keys(opts.annotations).length > 0) doc.annotations = opts.annotations;
  assertValid('image-index', doc, 'image index');
  const staging = await layout.store.stage();
  let desc: Descriptor;
  try {
    desc = await staging.putBytes(canonicalJson(doc), { mediaType: MediaType.index });
    await staging.publish();
  } catch (err) {
    await staging.discard();
    throw err;
  }
  const absorbed = new Set<Digest>(opts.absorbUntagged ?? []);
  const lock: LockOptions = opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {};
  await layout.updateIndex((index) => {
    const rest = index.manifests.filter((d) => !(refNameOf(d) === undefined && absorbed.has(d.digest)));
    index.manifests = placeImage(rest, desc, tags);
    return index;
  }, lock);
  return { index: desc, manifests, tags, layout: layout.root };
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

/** The platform an image's config declares: os, architecture, variant, os.version and os.features. */
async function imagePlatform(layout: Layout, entry: Descriptor, source: string): Promise<Platform> {
  const manifest = await layout.store.readJson(entry, `${source}: manifest`);
  checkInput('image-manifest', manifest, `${source}: manifest ${entry.digest}`);
  const m = manifest as ImageManifest;
  if (m.mediaType !== undefined && m.mediaType !== MediaType.manifest) {
    throw new UserError(`${source}: manifest ${entry.digest} says it is a ${String(m.mediaType)}`, 'EINPUT');
  }
  if (m.config.mediaType !== MediaType.config) {
    throw new UserError(`${source}: an artifact (config ${m.config.mediaType}), not an image; an index entry needs an image's platform`, 'EUNSUPPORTED');
  }
  const config = await layout.store.readJson(m.config, `${source}: config`);
  checkInput('image-config', config, `${source}: config ${m.config.digest}`);
  const c = config as ImageConfig;
  const p: Platform = { architecture: c.architecture, os: c.os };
  if (c.variant) p.variant = c.variant;
  if (c['os.version']) p['os.version'] = c['os.version'];
  if (c['os.features'] && c['os.features'].length > 0) p['os.features'] = c['os.features'];
  return p;
}
