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
import { Layout, type ImageIndex } from '../layout.js';
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
  'oci-archive': notYetSupported('oci-archive', 'TAR[:REF]'),
  'docker-archive': notYetSupported('docker-archive', 'TAR[:NAME:TAG]'),
};

const MAX_INDEX_DEPTH = 4;
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

function notYetSupported(name: string, form: string): Transport {
  return async (_reference, ctx) => {
    throw new UserError(
      `${ctx.where}: the ${name}:${form} transport is not supported yet; copy the image into an OCI layout ` +
        `(skopeo copy ${name}:... oci:DIR:REF) and use FROM oci:DIR:REF`,
      'EUNSUPPORTED',
    );
  };
}

/** `oci:DIR[:REF]`: an image of another OCI layout (DIR relative to the working directory), as skopeo reads one. */
async function ociLayoutTransport(reference: string, ctx: ResolveContext): Promise<LocalImage> {
  const colon = reference.indexOf(':');
  const dir = colon < 0 ? reference : reference.slice(0, colon);
  const ref = colon < 0 ? undefined : reference.slice(colon + 1);
  if (dir === '') throw new UserError(`${ctx.where}: oci:${reference}: the layout directory is empty`, 'EUSAGE');
  let layout: Layout;
  try {
    layout = await Layout.open(path.resolve(dir));
  } catch (err) {
    throw prefixError(ctx.where, err);
  }
  const index = await layout.readIndex();
  let candidates: Descriptor[];
  if (ref === undefined || ref === '') {
    candidates = index.manifests;
    if (candidates.length !== 1) {
      throw new UserError(`${ctx.where}: ${dir} holds ${candidates.length} images; name one: oci:${dir}:REF${tagList(index)}`, 'ENOTFOUND');
    }
  } else {
    candidates = index.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] === ref);
    if (candidates.length === 0) throw new UserError(`${ctx.where}: ${dir} has no image tagged ${ref}${tagList(index)}`, 'ENOTFOUND');
  }
  return imageOf(layout, candidates, { ...ctx, where: `${ctx.where}: oci:${reference}` });
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
    if (found.length > 0) return imageOf(ctx.layout, found, ctx);
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
async function imageOf(layout: Layout, candidates: Descriptor[], ctx: ResolveContext): Promise<LocalImage> {
  let desc = candidates[0]!;
  if (candidates.length > 1) {
    const chosen = bestMatch(ctx.platform ?? hostPlatform(), candidates);
    if (!chosen) throw new UserError(`${ctx.where}: no entry for ${formatPlatform(ctx.platform ?? hostPlatform())}`, 'ENOTFOUND');
    desc = chosen;
  }
  for (let depth = 0; ; depth++) {
    if (desc.mediaType === MediaType.index || desc.mediaType === MediaType.dockerManifestList) {
      if (depth >= MAX_INDEX_DEPTH) throw new UserError(`${ctx.where}: image indexes nested more than ${MAX_INDEX_DEPTH} deep`, 'EINPUT');
      const index = (await readDocument(layout.store, desc, 'image-index', ctx.where)) as ImageIndex;
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
    return manifestImage(layout.store, desc, ctx);
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
