// Where a FROM (or COPY --from) image comes from: a table of transports named as skopeo names them
// (oci:DIR[:REF], ...) and images tagged in the target layout; base layers are staged by digest.
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { MediaType, REF_NAME_ANNOTATION, isLayerMediaType, type Descriptor, type LayerDescriptor, type Platform } from '../descriptor.js';
import { parseDigest } from '../digest.js';
import { UserError, prefixError } from '../errors.js';
import type { ImageConfig, ImageManifest } from '../image.js';
import { configPlatform } from '../image.js';
import { parseJsonInput } from '../json.js';
import { MAX_INDEX_BYTES } from '../limits.js';
import { INDEX_FILE, LAYOUT_FILE, Layout, type ImageIndex } from '../layout.js';
import type { CompressionName } from '../compress.js';
import { openArchive } from '../docker/archive-read.js';
import { cleanPath } from '../entries.js';
import { readTar } from '../tar.js';
import { readWhole } from '../streams.js';
import { bestMatch, formatPlatform, hostPlatform, platformMatches } from '../platform.js';
import { familiarName, fullName, parseDockerRef, withDefaultTag } from '../ref.js';
import { checkInput } from '../schema.js';
import type { ImageLayers } from '../sources/image.js';
import type { BlobStore } from '../store.js';

/** An image found locally: its config, its layers and how to read them. */
export interface LocalImage extends ImageLayers {
  config: ImageConfig;
  platform: Platform;
}

export interface ResolveContext {
  /** The layout being built into: names tagged there are images too. */
  layout: Layout;
  /**
   * The build's staging store: archive transports unpack their blobs into it (what the image does
   * not use is dropped when the build publishes).
   */
  staging: BlobStore;
  /** How layers that must be compressed anew (a docker archive's plain tars) are stored. */
  compression?: CompressionName;
  compressionLevel?: number;
  /** The platform asked for (--platform, FROM --platform); undefined: this host's, for a multi-platform image. */
  platform?: Platform;
  /** How errors name the reference ("Dockerfile:1: FROM x"). */
  where: string;
}

/** Resolves the part after `NAME:` of a transport reference into an image. */
export type Transport = (reference: string, ctx: ResolveContext) => Promise<LocalImage>;

/**
 * The transports FROM understands. Adding one is one entry here: a function from its reference to
 * a LocalImage (config, layer descriptors with diff_ids, and an opener for each layer's bytes).
 */
export const TRANSPORTS: Readonly<Record<string, Transport>> = {
  oci: ociLayoutTransport,
  'oci-archive': ociArchiveTransport,
  'docker-archive': dockerArchiveTransport,
};

const MAX_INDEX_DEPTH = 4;
/** index.json and oci-layout of an archive are read into memory: no more than this. */
/** Docker's layer media types, and the OCI ones with the same bytes that our manifests name. */
const OCI_LAYER_TYPE: Readonly<Record<string, string>> = {
  [MediaType.dockerLayer]: MediaType.layer,
  [MediaType.dockerLayerGzip]: MediaType.layerGzip,
  [MediaType.dockerLayerZstd]: MediaType.layerZstd,
  [MediaType.layer]: MediaType.layer,
  [MediaType.layerGzip]: MediaType.layerGzip,
  [MediaType.layerZstd]: MediaType.layerZstd,
};

/** The image a FROM names: `TRANSPORT:REFERENCE` for a known transport, else a name tagged in the layout. */
export async function resolveImage(name: string, ctx: ResolveContext): Promise<LocalImage> {
  const m = /^([a-z][a-z0-9-]*):(.*)$/s.exec(name);
  const transport = m ? TRANSPORTS[m[1]!] : undefined;
  if (transport) return transport(m![2]!, ctx);
  return taggedInLayout(name, ctx);
}

/** The transports' names and forms, for messages. */
export function transportForms(): string {
  return 'oci:DIR[:REF], oci-archive:TAR[:REF], docker-archive:TAR[:NAME:TAG]';
}

/** `oci:DIR[:REF]`: an image of another OCI layout (DIR relative to the working directory), as skopeo reads one. */
async function ociLayoutTransport(reference: string, ctx: ResolveContext): Promise<LocalImage> {
  const { file: dir, ref } = splitReference(reference, 'oci', 'DIR', ctx);
  let layout: Layout;
  try {
    layout = await Layout.open(path.resolve(dir));
  } catch (err) {
    throw prefixError(ctx.where, err);
  }
  const index = await layout.readIndex();
  const candidates = byRefName(index, ref, `oci:${dir}`, ctx);
  return imageOf(layout.store, candidates, { ...ctx, where: `${ctx.where}: oci:${reference}` });
}

/**
 * `oci-archive:TAR[:REF]`: an OCI layout packed in a tar (as skopeo and buildah write them). Its
 * blobs stream into the build's staging store, each checked against the digest its name gives;
 * index.json says which image REF is.
 */
async function ociArchiveTransport(reference: string, ctx: ResolveContext): Promise<LocalImage> {
  const { file, ref } = splitReference(reference, 'oci-archive', 'TAR', ctx);
  const where = `${ctx.where}: oci-archive:${file}`;
  let indexBytes: Buffer | undefined;
  let layoutBytes: Buffer | undefined;
  try {
    for await (const entry of readTar(await openArchive(path.resolve(file)), where)) {
      if (entry.type === 'directory') continue;
      const name = cleanPath(entry.path);
      const blob = name === undefined ? null : /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
      if (entry.type !== 'file' || name === undefined) {
        throw new UserError(`${where}: entry "${entry.name}": only files and folders belong in an OCI archive`, 'EINPUT');
      }
      if (blob) {
        const digest = parseDigest(`sha256:${blob[1]}`, where);
        await ctx.staging.put([entry.open!()], { mediaType: 'application/octet-stream', expected: { digest, size: entry.size } });
      } else if (name === INDEX_FILE || name === LAYOUT_FILE) {
        const bytes = await readWhole(entry.open!(), MAX_INDEX_BYTES, `${where}: ${name}`);
        if (name === INDEX_FILE) indexBytes = bytes;
        else layoutBytes = bytes;
      }
      // Anything else is not part of a layout: readTar skips the data of what is not opened.
    }
  } catch (err) {
    throw prefixError(where, err);
  }
  if (!layoutBytes || !indexBytes) throw new UserError(`${where}: not an OCI archive (no ${layoutBytes ? INDEX_FILE : LAYOUT_FILE} in it)`, 'EINPUT');
  const layoutDoc = parseJsonInput(layoutBytes, `${where}: ${LAYOUT_FILE}`, MAX_INDEX_BYTES);
  checkInput('oci-layout', layoutDoc, `${where}: ${LAYOUT_FILE}`);
  const index = parseJsonInput(indexBytes, `${where}: ${INDEX_FILE}`, MAX_INDEX_BYTES);
  checkInput('image-index', index, `${where}: ${INDEX_FILE}`);
  const candidates = byRefName(index as ImageIndex, ref, `oci-archive:${file}`, ctx);
  return imageOf(ctx.staging, candidates, { ...ctx, where: `${ctx.where}: oci-archive:${reference}` });
}

/**
 * `docker-archive:TAR[:NAME:TAG|:@N]`: an image of a docker-save archive (docker, podman, skopeo),
 * imported into the build's staging store by the same streamed pass as `oci-pack from-docker`:
 * layers compressed as the build asks, diff_ids verified, the config byte for byte.
 */
async function dockerArchiveTransport(reference: string, ctx: ResolveContext): Promise<LocalImage> {
  const { file, ref } = splitReference(reference, 'docker-archive', 'TAR', ctx);
  let manifest: Descriptor;
  try {
    const { DockerArchiveSource } = await import('../transports/docker-archive.js');
    const source = await DockerArchiveSource.open(file, {
      scratch: ctx.staging,
      ...(ctx.compression ? { compression: ctx.compression } : {}),
      ...(ctx.compressionLevel !== undefined ? { compressionLevel: ctx.compressionLevel } : {}),
    });
    [manifest] = (await source.lookup(ref)) as [Descriptor];
    await source.close();
  } catch (err) {
    throw prefixError(ctx.where, err);
  }
  return manifestImage(ctx.staging, manifest, { ...ctx, where: `${ctx.where}: docker-archive:${reference}` });
}

/** "FILE[:REF]" split at the first ":", as skopeo splits its transports' references. */
function splitReference(reference: string, transport: string, what: string, ctx: ResolveContext): { file: string; ref: string | undefined } {
  const colon = reference.indexOf(':');
  const file = colon < 0 ? reference : reference.slice(0, colon);
  if (file === '') throw new UserError(`${ctx.where}: ${transport}:${reference}: the ${what} is empty`, 'EUSAGE');
  return { file, ref: colon < 0 ? undefined : reference.slice(colon + 1) };
}

/** The entries of an index named `ref` (or its only entry when `ref` is not given). */
function byRefName(index: ImageIndex, ref: string | undefined, source: string, ctx: ResolveContext): Descriptor[] {
  if (ref === undefined || ref === '') {
    if (index.manifests.length !== 1) {
      throw new UserError(`${ctx.where}: ${source} holds ${index.manifests.length} images; name one: ${source}:REF${tagList(index)}`, 'ENOTFOUND');
    }
    return index.manifests;
  }
  const found = index.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] === ref);
  if (found.length === 0) throw new UserError(`${ctx.where}: ${source} has no image tagged ${ref}${tagList(index)}`, 'ENOTFOUND');
  return found;
}


/**
 * A name tagged in the target layout: as written, or as docker normalises it (`base` is
 * `base:latest`, `docker.io/library/base:latest`). Anything else would have to come from a
 * registry, which this tool does not reach.
 */
async function taggedInLayout(name: string, ctx: ResolveContext): Promise<LocalImage> {
  const index = await ctx.layout.readIndex();
  for (const candidate of refCandidates(name)) {
    const found = index.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] === candidate);
    if (found.length > 0) return imageOf(ctx.layout.store, found, ctx);
  }
  throw new UserError(
    `${ctx.where}: ${name} is not an image in ${ctx.layout.root}, and oci-pack does not pull from registries; ` +
      `use a local image: ${transportForms()}, or a name tagged in the layout ` +
      `(e.g. skopeo copy docker://${name} oci:base-layout:${name.replace(/^.*\//, '')} and FROM oci:base-layout:${name.replace(/^.*\//, '')})`,
    'ENOTFOUND',
  );
}

function refCandidates(name: string): string[] {
  const out = [name];
  try {
    const ref = withDefaultTag(parseDockerRef(name, 'FROM'));
    out.push(familiarName(ref), fullName(ref));
  } catch {
    // Not a docker reference: only the name as written can be a tag in the layout.
  }
  return [...new Set(out)];
}

function tagList(index: ImageIndex): string {
  const tags = index.manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION]).filter((t): t is string => t !== undefined);
  return tags.length > 0 ? ` (tags: ${tags.slice(0, 10).join(', ')}${tags.length > 10 ? ', ...' : ''})` : '';
}

/** The image among index entries (one per platform, or an index): the platform asked for, read and checked. */
async function imageOf(store: BlobStore, candidates: Descriptor[], ctx: ResolveContext): Promise<LocalImage> {
  let desc = candidates[0]!;
  if (candidates.length > 1) {
    const chosen = bestMatch(ctx.platform ?? hostPlatform(), candidates);
    if (!chosen) throw new UserError(`${ctx.where}: no entry for ${formatPlatform(ctx.platform ?? hostPlatform())}`, 'ENOTFOUND');
    desc = chosen;
  }
  for (let depth = 0; ; depth++) {
    if (desc.mediaType === MediaType.index || desc.mediaType === MediaType.dockerManifestList) {
      if (depth >= MAX_INDEX_DEPTH) throw new UserError(`${ctx.where}: image indexes nested more than ${MAX_INDEX_DEPTH} deep`, 'EINPUT');
      const index = (await readDocument(store, desc, 'image-index', ctx.where)) as ImageIndex;
      const want = ctx.platform ?? hostPlatform();
      const chosen = bestMatch(want, index.manifests);
      if (!chosen) {
        const have = index.manifests.map((d) => (d.platform ? formatPlatform(d.platform) : '?')).join(', ');
        throw new UserError(`${ctx.where}: no image for ${formatPlatform(want)} in its index (it has ${have}); choose one with --platform`, 'ENOTFOUND');
      }
      desc = chosen;
      continue;
    }
    if (desc.mediaType !== MediaType.manifest && desc.mediaType !== MediaType.dockerManifest) {
      throw new UserError(`${ctx.where}: ${desc.digest} is a ${desc.mediaType}, not an image manifest or index`, 'EINPUT');
    }
    return manifestImage(store, desc, ctx);
  }
}

async function manifestImage(store: BlobStore, desc: Descriptor, ctx: ResolveContext): Promise<LocalImage> {
  const manifest = (await readDocument(store, desc, 'image-manifest', ctx.where)) as ImageManifest;
  const config = (await readDocument(store, manifest.config, 'image-config', ctx.where)) as ImageConfig;
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw new UserError(`${ctx.where}: the manifest has ${manifest.layers.length} layers and its config ${diffIds.length} diff_ids`, 'EINPUT');
  }
  const layers: LayerDescriptor[] = manifest.layers.map((l, i) => {
    const mediaType = OCI_LAYER_TYPE[l.mediaType];
    if (mediaType === undefined) {
      const why = isLayerMediaType(l.mediaType) ? 'a foreign or non-distributable layer, which cannot be copied' : 'not a layer media type';
      throw new UserError(`${ctx.where}: layer ${i + 1} is ${l.mediaType}: ${why}`, 'EUNSUPPORTED');
    }
    const layer: LayerDescriptor = { mediaType, digest: parseDigest(l.digest, `${ctx.where}: layer ${i + 1}`), size: l.size, diffId: parseDigest(diffIds[i], `${ctx.where}: diff_id ${i + 1}`) };
    if (l.annotations && Object.keys(l.annotations).length > 0) layer.annotations = l.annotations;
    return layer;
  });
  const platform = configPlatform(config);
  if (ctx.platform && !platformMatches(ctx.platform, platform)) {
    throw new UserError(`${ctx.where}: the image is for ${formatPlatform(platform)}, not ${formatPlatform(ctx.platform)}`, 'ENOTFOUND');
  }
  return { config, layers, platform, open: (l) => store.open(l), where: ctx.where };
}

async function readDocument(store: BlobStore, desc: Descriptor, schema: 'image-index' | 'image-manifest' | 'image-config', where: string): Promise<unknown> {
  let bytes: Buffer;
  try {
    bytes = await store.read(desc);
  } catch (err) {
    throw prefixError(where, err);
  }
  const what = `${where}: ${schema.replace('image-', '')} ${desc.digest}`;
  const doc = parseJsonInput(bytes, what, bytes.length);
  checkInput(schema, doc, what);
  return doc;
}

/**
 * The image with its layers copied into `staging` by digest (verified, not recompressed; those
 * already in the layout are not copied), read from there from now on.
 */
export async function stageImage(image: LocalImage, staging: BlobStore): Promise<LocalImage> {
  for (const layer of image.layers) {
    try {
      await staging.put([image.open(layer) as Readable], { mediaType: layer.mediaType, expected: { digest: layer.digest, size: layer.size } });
    } catch (err) {
      throw prefixError(`${image.where}: layer ${layer.digest}`, err);
    }
  }
  return { ...image, open: (l) => staging.open(l) };
}
