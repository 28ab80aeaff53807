// The one resolver: from a source and a ref to the image for a platform, or to the whole tree an
// index lists; documents checked against the schemas, attestations told apart from images.
import type { Readable } from 'node:stream';
import { MediaType, REF_NAME_ANNOTATION, type Descriptor, type LayerDescriptor, type Platform } from './descriptor.js';
import { parseDigest, type Digest } from './digest.js';
import { UserError, prefixError } from './errors.js';
import { configPlatform, type ImageConfig, type ImageManifest } from './image.js';
import { parseJsonInput } from './json.js';
import type { ImageIndex } from './layout.js';
import { MAX_JSON_BYTES } from './limits.js';
import { imagesOf, type ArtifactNode, type Blob, type Image, type ImageNode, type ImageSource, type IndexNode, type Layer } from './model.js';
import { bestMatch, formatPlatform, hostPlatform, platformMatches } from './platform.js';
import { checkInput, type SchemaName } from './schema.js';

/** How deep image indexes may nest before we call the input hostile. */
export const MAX_INDEX_DEPTH = 4;

export interface ResolveOptions {
  /** The platform an index is resolved to; default this host's. Ignored with `all`. */
  platform?: Platform;
  /** Keep an index whole (every manifest it lists, artifacts too) instead of choosing one image. */
  all?: boolean;
  /** How messages name what is resolved; default the source's name and the ref. */
  where?: string;
}

export function isIndexType(mediaType: string): boolean {
  return mediaType === MediaType.index || mediaType === MediaType.dockerManifestList;
}

export function isManifestType(mediaType: string): boolean {
  return mediaType === MediaType.manifest || mediaType === MediaType.dockerManifest;
}

export function isImageConfigType(mediaType: string): boolean {
  return mediaType === MediaType.config || mediaType === MediaType.dockerConfig;
}

/** buildx lists attestations in an index beside the images they describe: never candidates for a platform. */
export function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';
}

/** What `ref` names in `source`: one image for the platform, or (with `all`) the whole tree. */
export async function resolve(source: ImageSource, ref: string | undefined, opts: ResolveOptions = {}): Promise<ImageNode> {
  const where = opts.where ?? (ref === undefined || ref === '' ? source.name : `${source.name}:${ref}`);
  // The names a source gives its entries are the source's: a sink names what it writes itself.
  const top = (await source.lookup(ref)).map(withoutName);
  if (top.length === 0) throw new UserError(`${where}: no such image`, 'ENOTFOUND');
  if (opts.all) {
    if (top.length > 1) {
      // One ref name on an entry per platform (as umoci and oci-pack index write): each is kept.
      const have = top.map((d) => (d.platform ? formatPlatform(d.platform) : d.digest)).join(', ');
      throw new UserError(`${where}: names ${top.length} entries (${have}); copy one with --platform`, 'EINPUT');
    }
    return readNode(source, top[0]!, where, 0);
  }
  return chooseImage(source, top, opts.platform, where, 0);
}

function withoutName(d: Descriptor): Descriptor {
  if (d.annotations?.[REF_NAME_ANNOTATION] === undefined) return d;
  const { [REF_NAME_ANNOTATION]: _name, ...rest } = d.annotations;
  const out: Descriptor = { ...d };
  if (Object.keys(rest).length > 0) out.annotations = rest;
  else delete out.annotations;
  return out;
}

/** The one image `ref` names for `platform` (default this host's): an index is walked down to it. */
export async function resolveImage(source: ImageSource, ref: string | undefined, opts: Omit<ResolveOptions, 'all'> = {}): Promise<Image> {
  const node = await resolve(source, ref, { ...opts, all: false });
  return node as Image;
}

/**
 * Among candidate descriptors (entries of index.json that share a name, say), the image for the
 * platform (default this host's), recursing into indexes: what `resolveImage` does after lookup.
 */
export async function resolveAmong(source: ImageSource, candidates: readonly Descriptor[], opts: { platform?: Platform; where: string }): Promise<Image> {
  if (candidates.length === 0) throw new UserError(`${opts.where}: no such image`, 'ENOTFOUND');
  return chooseImage(source, candidates, opts.platform, opts.where, 0);
}

/**
 * The one image of a node already read, for a sink that holds single-platform images (a docker
 * archive): an index is resolved to `platform` (default this host's) as `resolveImage` would.
 */
export function imageOfNode(node: ImageNode, platform?: Platform): Image {
  if (node.kind === 'image') return node;
  if (node.kind === 'artifact') {
    throw new UserError(`${node.where}: ${node.descriptor.digest} is an artifact (no image config), not an image`, 'EUNSUPPORTED');
  }
  const images = imagesOf(node);
  if (images.length === 0) throw new UserError(`${node.where}: holds no image manifest`, 'ENOTFOUND');
  if (images.length === 1 && platform === undefined) return images[0]!;
  const want = platform ?? hostPlatform();
  const chosen = bestMatch(want, images.map((i) => i.descriptor));
  if (!chosen) throw noImageFor(node.where, want, images.map((i) => i.descriptor));
  return images.find((i) => i.descriptor === chosen)!;
}

function noImageFor(where: string, want: Platform, have: readonly Descriptor[]): UserError {
  const list = have.map((d) => (d.platform ? formatPlatform(d.platform) : 'unknown')).join(', ');
  return new UserError(`${where}: no image for ${formatPlatform(want)} (it has ${list}); choose one with --platform`, 'ENOTFOUND');
}

/** Among candidate descriptors (index entries), the image for the platform, recursing into indexes. */
async function chooseImage(source: ImageSource, candidates: readonly Descriptor[], platform: Platform | undefined, where: string, depth: number): Promise<Image> {
  if (depth > MAX_INDEX_DEPTH) throw new UserError(`${where}: image indexes nested more than ${MAX_INDEX_DEPTH} deep`, 'EINPUT');
  const images: Descriptor[] = [];
  for (const d of candidates) {
    if (isIndexType(d.mediaType)) {
      const index = await readIndex(source, d, where);
      images.push(...(await flatten(source, index, where, depth + 1)));
    } else if (isManifestType(d.mediaType)) {
      if (!isAttestation(d)) images.push(d);
    } else {
      throw new UserError(`${where}: ${d.digest} has media type ${d.mediaType}, not an image manifest or index`, 'EUNSUPPORTED');
    }
  }
  if (images.length === 0) throw new UserError(`${where}: holds no image manifest`, 'ENOTFOUND');
  if (images.length === 1 && platform === undefined) return readImage(source, images[0]!, where);
  const want = platform ?? hostPlatform();
  // An entry with no platform in its descriptor is placed by its config, as docker and skopeo do.
  const placed = await Promise.all(images.map(async (d) => (d.platform ? d : { ...d, platform: await configPlatformOf(source, d, where) })));
  const chosen = bestMatch(want, placed);
  if (!chosen) throw noImageFor(where, want, placed);
  const image = await readImage(source, images[placed.indexOf(chosen)]!, where);
  if (platform && !platformMatches(platform, image.platform)) {
    throw new UserError(`${where}: the image is for ${formatPlatform(image.platform)}, not ${formatPlatform(platform)}`, 'ENOTFOUND');
  }
  return image;
}

/** The image manifests below an index (nested indexes flattened), attestations left out. */
async function flatten(source: ImageSource, index: { doc: ImageIndex }, where: string, depth: number): Promise<Descriptor[]> {
  if (depth > MAX_INDEX_DEPTH) throw new UserError(`${where}: image indexes nested more than ${MAX_INDEX_DEPTH} deep`, 'EINPUT');
  const out: Descriptor[] = [];
  for (const m of index.doc.manifests) {
    if (isManifestType(m.mediaType) && !isAttestation(m)) out.push(m);
    else if (isIndexType(m.mediaType)) out.push(...(await flatten(source, await readIndex(source, m, where), where, depth + 1)));
  }
  return out;
}

/** A descriptor and everything below it, as the source holds it: indexes whole, artifacts as blobs. */
export async function readNode(source: ImageSource, d: Descriptor, where: string, depth = 0): Promise<ImageNode> {
  if (depth > MAX_INDEX_DEPTH) throw new UserError(`${where}: image indexes nested more than ${MAX_INDEX_DEPTH} deep`, 'EINPUT');
  if (isIndexType(d.mediaType)) {
    const { bytes, doc } = await readIndex(source, d, where);
    const children: ImageNode[] = [];
    for (const m of doc.manifests) children.push(await readNode(source, m, where, depth + 1));
    const node: IndexNode = { kind: 'index', descriptor: d, bytes, index: doc, children, where };
    return node;
  }
  if (!isManifestType(d.mediaType)) {
    throw new UserError(`${where}: ${d.digest} has media type ${d.mediaType}, not an image manifest or index`, 'EUNSUPPORTED');
  }
  const { bytes, doc } = await readManifest(source, d, where);
  if (!isImageConfigType(doc.config.mediaType) || isAttestation(d)) {
    const blobs = [doc.config, ...doc.layers].map((b) => blobOf(source, b));
    const node: ArtifactNode = { kind: 'artifact', descriptor: d, bytes, blobs, where };
    return node;
  }
  return imageFrom(source, d, bytes, doc, where);
}

/** The image a manifest descriptor names, its config read and checked against the manifest. */
export async function readImage(source: ImageSource, d: Descriptor, where: string): Promise<Image> {
  if (!isManifestType(d.mediaType)) {
    throw new UserError(`${where}: ${d.digest} has media type ${d.mediaType}, not an image manifest`, 'EUNSUPPORTED');
  }
  const { bytes, doc } = await readManifest(source, d, where);
  return imageFrom(source, d, bytes, doc, where);
}

async function imageFrom(source: ImageSource, d: Descriptor, manifestBytes: Buffer, manifest: ImageManifest, where: string): Promise<Image> {
  const configDescriptor = manifest.config;
  if (!isImageConfigType(configDescriptor.mediaType)) {
    throw new UserError(`${where}: manifest ${d.digest}: config media type ${configDescriptor.mediaType} is not an image config (an artifact, not an image)`, 'EUNSUPPORTED');
  }
  const configWhere = `${where}: config ${configDescriptor.digest}`;
  const configBytes = await readChecked(source, configDescriptor, configWhere);
  const config = parseJsonInput(configBytes, configWhere, MAX_JSON_BYTES) as ImageConfig;
  checkInput('image-config', config, configWhere);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw new UserError(`${configWhere}: rootfs.diff_ids lists ${diffIds.length} layers, the manifest ${manifest.layers.length}`, 'EINPUT');
  }
  const layers: Layer[] = manifest.layers.map((l, i) => {
    const descriptor: LayerDescriptor = { ...l, digest: parseDigest(l.digest, `${where}: layer ${i + 1}`), diffId: parseDigest(diffIds[i]!, `${configWhere}: diff_id ${i + 1}`) };
    return { descriptor, open: () => source.open(l) };
  });
  const platform = configPlatform(config);
  return {
    kind: 'image',
    descriptor: { ...d, platform: d.platform ?? platform },
    manifestBytes,
    manifest,
    configDescriptor,
    configBytes,
    config,
    platform,
    layers,
    where,
  };
}


async function configPlatformOf(source: ImageSource, d: Descriptor, where: string): Promise<Platform | undefined> {
  const { doc } = await readManifest(source, d, where);
  if (!isImageConfigType(doc.config.mediaType)) return undefined;
  const configWhere = `${where}: config ${doc.config.digest}`;
  const config = parseJsonInput(await readChecked(source, doc.config, configWhere), configWhere, MAX_JSON_BYTES) as ImageConfig;
  checkInput('image-config', config, configWhere);
  return configPlatform(config);
}

function blobOf(source: ImageSource, d: Descriptor): Blob {
  return { descriptor: d, open: (): Readable => source.open(d) };
}

async function readIndex(source: ImageSource, d: Descriptor, where: string): Promise<{ bytes: Buffer; doc: ImageIndex }> {
  const what = `${where}: index ${d.digest}`;
  const bytes = await readChecked(source, d, what);
  return { bytes, doc: parseDocument(bytes, what, 'image-index') as ImageIndex };
}

async function readManifest(source: ImageSource, d: Descriptor, where: string): Promise<{ bytes: Buffer; doc: ImageManifest }> {
  const what = `${where}: manifest ${d.digest}`;
  const bytes = await readChecked(source, d, what);
  // The schema refuses a manifest that also has "manifests" (CVE-2021-41190's ambiguity).
  return { bytes, doc: parseDocument(bytes, what, 'image-manifest') as ImageManifest };
}

async function readChecked(source: ImageSource, d: Descriptor, what: string): Promise<Buffer> {
  if (d.size > MAX_JSON_BYTES) throw new UserError(`${what}: ${d.size} bytes, more than the ${MAX_JSON_BYTES} allowed for a document`, 'EINPUT');
  try {
    return await source.read(d);
  } catch (err) {
    throw prefixError(what, err);
  }
}

function parseDocument(bytes: Buffer, what: string, schema: SchemaName): unknown {
  const doc = parseJsonInput(bytes, what, MAX_JSON_BYTES);
  checkInput(schema, doc, what);
  return doc;
}

/** The digests of every blob and manifest a node names, children first (what a sink must hold). */
export function digestsOf(node: ImageNode): Set<Digest> {
  const out = new Set<Digest>();
  const walk = (n: ImageNode): void => {
    if (n.kind === 'index') n.children.forEach(walk);
    else if (n.kind === 'artifact') n.blobs.forEach((b) => out.add(b.descriptor.digest));
    else {
      out.add(n.configDescriptor.digest);
      n.layers.forEach((l) => out.add(l.descriptor.digest));
    }
    out.add(n.descriptor.digest);
  };
  walk(node);
  return out;
}
