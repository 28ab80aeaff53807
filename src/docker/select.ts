// Which images of a layout go into a docker archive, under which docker names: ref names read as
// docker references, bare tags named with --name, image indexes resolved to one platform.
import type { Digest } from '../digest.js';
import { MediaType, REF_NAME_ANNOTATION, type Descriptor, type Platform } from '../descriptor.js';
import { UserError, usageError } from '../errors.js';
import type { ImageConfig, ImageManifest } from '../image.js';
import { parseJsonInput } from '../json.js';
import type { Layout } from '../layout.js';
import { bestMatch, formatPlatform, hostPlatform } from '../platform.js';
import { familiarName, fullName, isBareTag, parseDockerRef, withDefaultTag, type DockerRef } from '../ref.js';
import { checkInput } from '../schema.js';
import { MAX_JSON_BYTES } from '../store.js';

/** How deep image indexes may nest before we call the layout hostile. */
const MAX_INDEX_DEPTH = 4;

export interface SelectOptions {
  /** Images to take, by ref name (`hello:latest`, or `app:v1` for an image whose ref name is the bare tag `v1`). */
  tags?: readonly string[];
  /** The repository for images whose ref name is a bare tag (`v1` becomes `NAME:v1`). */
  name?: string;
  /** The platform an image index is resolved to; default this host's. */
  platform?: Platform;
  warn?: (message: string) => void;
}

/** One image to export, with everything read from the layout but its layers' bytes. */
export interface SelectedImage {
  manifest: Descriptor;
  manifestBytes: Buffer;
  manifestDoc: ImageManifest;
  config: Descriptor;
  configBytes: Buffer;
  configDoc: ImageConfig;
  diffIds: Digest[];
  layers: Descriptor[];
  /** Normalised docker references, each with a tag, in the order they were asked for. */
  names: DockerRef[];
  platform?: Platform;
}

interface Wanted {
  /** How the image was named, for messages: a ref name of the layout or a --tag value. */
  label: string;
  entries: Descriptor[];
  name?: DockerRef;
}

export async function selectImages(layout: Layout, opts: SelectOptions): Promise<SelectedImage[]> {
  const index = await layout.readIndex();
  const warn = opts.warn ?? (() => undefined);
  const named = index.manifests.filter((d) => refNameOf(d) !== undefined);
  const wanted = opts.tags && opts.tags.length > 0 ? byTags(named, opts.tags, layout.root, index.manifests) : byRefNames(named, opts.name, warn);
  const none = () => new UserError(`${layout.root}: no image with a ref name in index.json to export (name one with --tag)`, 'ENOTFOUND');
  if (wanted.length === 0) throw none();
  const images = new Map<Digest, SelectedImage>();
  const owner = new Map<string, string>();
  const explicit = Boolean(opts.tags && opts.tags.length > 0);
  for (const w of wanted) {
    let manifest: Descriptor;
    let image: SelectedImage | undefined;
    try {
      manifest = await resolve(layout, w.entries, opts.platform, w.label);
      image = images.get(manifest.digest) ?? (await readImage(layout, manifest, w.label));
    } catch (err) {
      // An artifact beside the images (a signature, an SBOM) is left out unless it was asked for.
      if (explicit || !(err instanceof UserError) || err.code !== 'EUNSUPPORTED') throw err;
      warn(`${err.message}; left out`);
      continue;
    }
    images.set(manifest.digest, image);
    if (!w.name) continue;
    const full = fullName(w.name);
    const before = owner.get(full);
    if (before !== undefined && before !== manifest.digest) {
      throw new UserError(`${familiarName(w.name)}: names two different images in ${layout.root} (${before} and ${manifest.digest})`, 'EINPUT');
    }
    owner.set(full, manifest.digest);
    if (!image.names.some((n) => fullName(n) === full)) image.names.push(w.name);
  }
  if (images.size === 0) throw none();
  return [...images.values()];
}

function refNameOf(d: Descriptor): string | undefined {
  return d.annotations?.[REF_NAME_ANNOTATION];
}

/** A layout ref name as a docker reference with a tag, or undefined when it is not one. */
function asDockerName(ref: string): DockerRef | undefined {
  if (isBareTag(ref)) return undefined;
  try {
    const parsed = parseDockerRef(ref, 'ref name');
    return parsed.digest === undefined ? withDefaultTag(parsed) : undefined;
  } catch {
    return undefined;
  }
}

/** Every ref name of the layout, grouped (several entries may share one, one per platform). */
function byRefNames(named: Descriptor[], repo: string | undefined, warn: (m: string) => void): Wanted[] {
  const repoRef = repo === undefined ? undefined : parseRepository(repo);
  const out: Wanted[] = [];
  for (const [ref, entries] of groupByRef(named)) {
    const docker = asDockerName(ref);
    if (docker) {
      out.push({ label: ref, entries, name: docker });
    } else if (isBareTag(ref) && repoRef) {
      out.push({ label: ref, entries, name: checkedTag(repoRef, ref) });
    } else {
      warn(
        isBareTag(ref)
          ? `ref name ${JSON.stringify(ref)} is a bare tag with no repository: the image goes in untagged (name it with --name REPO or --tag REPO:${ref})`
          : `ref name ${JSON.stringify(ref)} is not a docker image name: the image goes in untagged (name it with --tag)`,
      );
      out.push({ label: ref, entries });
    }
  }
  return out;
}

/** The images --tag names: a ref name equal as a docker name, else one that is the bare tag. */
function byTags(named: Descriptor[], tags: readonly string[], root: string, all: readonly Descriptor[]): Wanted[] {
  const groups = groupByRef(named);
  const out: Wanted[] = [];
  for (const tag of tags) {
    if (tag.startsWith('@')) {
      out.push({ label: tag, entries: [byDigest(tag, all, root)] });
      continue;
    }
    const want = parseDockerRef(tag, '--tag');
    if (want.digest !== undefined) throw usageError(`--tag ${tag}: names a digest, not a tag`);
    const name = withDefaultTag(want);
    let entries = [...groups].filter(([ref]) => {
      const d = asDockerName(ref);
      return d !== undefined && fullName(d) === fullName(name);
    }).flatMap(([, e]) => e);
    if (entries.length === 0) entries = groups.get(name.tag!) ?? [];
    if (entries.length === 0) {
      const refs = [...groups.keys()];
      throw new UserError(
        `--tag ${tag}: no image in ${root} has that ref name${refs.length > 0 ? ` (it has ${refs.map((r) => JSON.stringify(r)).join(', ')})` : ' (it has no ref names)'}`,
        'ENOTFOUND',
      );
    }
    out.push({ label: tag, entries, name });
  }
  return out;
}

/**
 * `--tag @sha256:HEX` or `@HEX`, where HEX is a manifest digest of index.json or a prefix that only
 * one has: how an untagged image is exported (it goes into the archive untagged, loaded by its ID).
 */
function byDigest(tag: string, all: readonly Descriptor[], root: string): Descriptor {
  const hex = tag.slice(1).replace(/^sha256:/, '');
  if (!/^[a-f0-9]{1,64}$/.test(hex)) throw usageError(`--tag ${tag}: expected @sha256: and a manifest digest, or the first hex digits of one`);
  const digests = [...new Set(all.filter((d) => d.digest.slice('sha256:'.length).startsWith(hex)).map((d) => d.digest))];
  if (digests.length === 0) throw new UserError(`--tag ${tag}: no image in ${root} has a manifest digest starting sha256:${hex}`, 'ENOTFOUND');
  if (digests.length > 1) throw usageError(`--tag ${tag}: ${digests.length} images of ${root} have digests starting so (${digests.join(', ')}); give more digits`);
  return all.find((d) => d.digest === digests[0])!;
}

function groupByRef(named: Descriptor[]): Map<string, Descriptor[]> {
  const groups = new Map<string, Descriptor[]>();
  for (const d of named) {
    const ref = refNameOf(d)!;
    groups.set(ref, [...(groups.get(ref) ?? []), d]);
  }
  return groups;
}

function parseRepository(repo: string): DockerRef {
  const ref = parseDockerRef(repo, '--name');
  if (ref.tag !== undefined || ref.digest !== undefined) throw usageError(`--name ${repo}: a repository without tag or digest (e.g. myorg/app)`);
  return ref;
}

function checkedTag(repo: DockerRef, tag: string): DockerRef {
  return parseDockerRef(`${fullName(repo)}:${tag}`, `ref name ${JSON.stringify(tag)} with --name`);
}

/** The one image manifest the entries stand for: an index is resolved to the wanted platform. */
async function resolve(layout: Layout, entries: Descriptor[], platform: Platform | undefined, label: string): Promise<Descriptor> {
  const candidates: Descriptor[] = [];
  for (const e of entries) candidates.push(...(await manifestsOf(layout, e, label, 0)));
  if (candidates.length === 1) return candidates[0]!;
  const want = platform ?? hostPlatform();
  const withPlatforms = await Promise.all(candidates.map(async (d) => (d.platform ? d : { ...d, platform: await configPlatform(layout, d, label) })));
  const chosen = bestMatch(want, withPlatforms);
  if (!chosen) {
    const have = withPlatforms.map((d) => (d.platform ? formatPlatform(d.platform) : 'unknown'));
    throw new UserError(`${label}: no image for ${formatPlatform(want)}; there are ${have.join(', ')} (choose one with --platform)`, 'ENOTFOUND');
  }
  return candidates[withPlatforms.indexOf(chosen)]!;
}

async function manifestsOf(layout: Layout, d: Descriptor, label: string, depth: number): Promise<Descriptor[]> {
  if (d.mediaType === MediaType.manifest || d.mediaType === MediaType.dockerManifest) return [d];
  if (d.mediaType !== MediaType.index && d.mediaType !== MediaType.dockerManifestList) {
    throw new UserError(`${label}: ${d.digest} has media type ${d.mediaType}, not an image manifest or index`, 'EUNSUPPORTED');
  }
  if (depth >= MAX_INDEX_DEPTH) throw new UserError(`${label}: image indexes nested more than ${MAX_INDEX_DEPTH} deep`, 'ELAYOUT');
  const doc = await readDoc(layout, d, `${label}: index ${d.digest}`, 'image-index');
  const out: Descriptor[] = [];
  for (const m of (doc as { manifests: Descriptor[] }).manifests) {
    // Attestations and other artifacts sit beside the images in buildx's indexes: not images.
    if (m.mediaType === MediaType.manifest || m.mediaType === MediaType.dockerManifest) {
      if (m.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') continue;
      out.push(m);
    } else if (m.mediaType === MediaType.index || m.mediaType === MediaType.dockerManifestList) {
      out.push(...(await manifestsOf(layout, m, label, depth + 1)));
    }
  }
  if (out.length === 0) throw new UserError(`${label}: index ${d.digest} holds no image manifest`, 'ENOTFOUND');
  return out;
}

async function configPlatform(layout: Layout, d: Descriptor, label: string): Promise<Platform | undefined> {
  const manifest = (await readDoc(layout, d, `${label}: manifest ${d.digest}`, 'image-manifest')) as ImageManifest;
  const config = (await readDoc(layout, manifest.config, `${label}: config ${manifest.config.digest}`, 'image-config')) as ImageConfig;
  return { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
}

async function readDoc(layout: Layout, d: Descriptor, where: string, schema: 'image-index' | 'image-manifest' | 'image-config'): Promise<unknown> {
  const bytes = await layout.store.read(d, MAX_JSON_BYTES);
  const doc = parseJsonInput(bytes, where, MAX_JSON_BYTES);
  checkInput(schema, doc, where);
  return doc;
}

async function readImage(layout: Layout, manifest: Descriptor, label: string): Promise<SelectedImage> {
  const manifestBytes = await layout.store.read(manifest, MAX_JSON_BYTES);
  const where = `${label}: manifest ${manifest.digest}`;
  const manifestDoc = parseJsonInput(manifestBytes, where, MAX_JSON_BYTES) as ImageManifest;
  checkInput('image-manifest', manifestDoc, where);
  const config = manifestDoc.config;
  if (config.mediaType !== MediaType.config && config.mediaType !== MediaType.dockerConfig) {
    throw new UserError(`${where}: config media type ${config.mediaType} is not an image config (an artifact, not an image)`, 'EUNSUPPORTED');
  }
  const configBytes = await layout.store.read(config, MAX_JSON_BYTES);
  const configWhere = `${label}: config ${config.digest}`;
  const configDoc = parseJsonInput(configBytes, configWhere, MAX_JSON_BYTES) as ImageConfig;
  checkInput('image-config', configDoc, configWhere);
  const diffIds = configDoc.rootfs.diff_ids;
  if (diffIds.length !== manifestDoc.layers.length) {
    throw new UserError(`${configWhere}: rootfs.diff_ids lists ${diffIds.length} layers, the manifest ${manifestDoc.layers.length}`, 'ELAYOUT');
  }
  const image: SelectedImage = {
    manifest,
    manifestBytes,
    manifestDoc,
    config,
    configBytes,
    configDoc,
    diffIds,
    layers: manifestDoc.layers,
    names: [],
  };
  const platform = manifest.platform ?? { os: configDoc.os, architecture: configDoc.architecture, ...(configDoc.variant ? { variant: configDoc.variant } : {}) };
  image.platform = platform;
  return image;
}
