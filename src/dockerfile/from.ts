// Where a base image (FROM, COPY --from, `layout --from`) comes from: a transport reference opened
// with openSource (oci:, oci-archive:, docker-archive:, docker://), or a plain name: tagged in the
// target layout, else pulled from its registry (--pull). The one resolver picks the image; its
// layers are staged into the build's staging by digest, so they are published only with the build.
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { REF_NAME_ANNOTATION, type Descriptor, type Platform } from '../descriptor.js';
import { parseDigest } from '../digest.js';
import { UserError, prefixError, usageError } from '../errors.js';
import { parseJsonInput } from '../json.js';
import { MAX_INDEX_BYTES, MAX_JSON_BYTES } from '../limits.js';
import { INDEX_FILE, LAYOUT_FILE, type ImageIndex, type Layout } from '../layout.js';
import { compressor as makeCompressor, type CompressionName } from '../compress.js';
import { openArchive, stageDockerArchive } from '../docker/read.js';
import { cleanPath } from '../entries.js';
import type { Image, ImageSource } from '../model.js';
import { familiarName, fullName, parseDockerRef, withDefaultTag } from '../ref.js';
import type { RegistryOptions } from '../registry/client.js';
import { resolveImage } from '../resolve.js';
import { checkInput } from '../schema.js';
import type { BlobStore } from '../store.js';
import { readWhole } from '../streams.js';
import { readTar } from '../tar.js';
import { TRANSPORTS, hasTransport, openSource, parseTransportRef, type TransportOptions, type TransportRef } from '../transports/index.js';
import { LayoutSource } from '../transports/layout.js';
import { stageLayers } from '../build.js';

/** When a plain name is asked of its registry: never, when the layout has no such tag (default), or always. */
export type PullPolicy = 'never' | 'missing' | 'always';

export const PULL_POLICIES: readonly PullPolicy[] = ['never', 'missing', 'always'];

/** How base images are found: what `layout` passes to FROM, COPY --from and --from alike. */
export interface FromOptions {
  /** Plain names: the layout's tag, else the registry (missing, the default); never the registry; always the registry. */
  pull?: PullPolicy;
  /** Credentials, TLS and timeouts for registries (docker:// and pulled plain names). */
  registry?: RegistryOptions;
}

export interface FromContext extends FromOptions {
  /** The layout being built into: names tagged there are images too. */
  layout: Layout;
  /** The build's staging: archives unpack into it and base layers are copied into it. */
  staging: BlobStore;
  /** How layers that must be compressed anew (a docker archive's plain tars) are stored. */
  compression?: CompressionName;
  compressionLevel?: number;
  /** The platform asked for; undefined: this host's, for a multi-platform image. */
  platform?: Platform;
  /** How errors name the reference ("Dockerfile:1: FROM x", "--from"). */
  where: string;
}

/** The transports' forms, for messages. */
export const BASE_FORMS = 'oci:DIR[:REF], oci-archive:TAR[:REF], docker-archive:TAR[:NAME:TAG|:@N], docker://NAME, or a plain NAME[:TAG]';

/**
 * The image `name` names, for the context's platform, with its layers staged (verified, by digest,
 * those the layout has pinned rather than copied) and read from the staging from now on; the source
 * it came from is closed before this returns.
 */
export async function stageBaseImage(name: string, ctx: FromContext): Promise<Image> {
  return withBaseImage(name, ctx, async (image) => {
    await stageLayers(ctx.staging, image);
    return { ...image, layers: image.layers.map((l) => ({ descriptor: l.descriptor, open: () => ctx.staging.open(l.descriptor) })) };
  });
}

/** Open the source `name` names, resolve its image for the platform, let `use` read it, then close the source. */
export async function withBaseImage<T>(name: string, ctx: FromContext, use: (image: Image) => Promise<T>): Promise<T> {
  const { source, ref } = await openBase(name, ctx);
  try {
    let image: Image;
    try {
      image = await resolveImage(source, ref, { ...(ctx.platform ? { platform: ctx.platform } : {}), where: ctx.where });
    } catch (err) {
      throw prefixError(ctx.where, err);
    }
    return await use(image);
  } finally {
    await source.close();
  }
}

/** The source a base name opens, and the ref to resolve in it. */
async function openBase(name: string, ctx: FromContext): Promise<{ source: ImageSource; ref: string | undefined }> {
  const opts: TransportOptions = {
    ...ctx.registry,
    scratch: ctx.staging,
    ...(ctx.compression !== undefined ? { compression: ctx.compression } : {}),
    ...(ctx.compressionLevel !== undefined ? { compressionLevel: ctx.compressionLevel } : {}),
  };
  try {
    if (hasTransport(name)) {
      const parsed = parseTransportRef(name, ctx.where);
      const source = TRANSPORTS[parsed.transport] ? await openSource(parsed, opts) : await archiveSource(parsed, ctx);
      // A layout's ref is looked up in it; an archive's and a registry's reference was given at opening.
      return { source, ref: parsed.transport === 'oci' ? parsed.ref : undefined };
    }
    return await plainName(name, ctx, opts);
  } catch (err) {
    throw prefixError(ctx.where, err);
  }
}

/**
 * A name with no transport: a ref name of the target layout (as written or as docker normalises
 * it), unless --pull always; else, unless --pull never, the image its registry has under it
 * (`alpine:3.20` is docker.io/library/alpine:3.20).
 */
async function plainName(name: string, ctx: FromContext, opts: TransportOptions): Promise<{ source: ImageSource; ref: string | undefined }> {
  const pull = ctx.pull ?? 'missing';
  if (pull !== 'always') {
    const local = new LayoutSource(ctx.layout, ctx.layout.root);
    if (await local.lookup(name).then(() => true, (err: unknown) => (err instanceof UserError && err.code === 'ENOTFOUND' ? false : Promise.reject(err)))) {
      return { source: local, ref: name };
    }
  }
  let full: string;
  try {
    full = fullName(withDefaultTag(parseDockerRef(name, 'image name')));
  } catch {
    throw new UserError(`${name} is not a name tagged in ${ctx.layout.root} nor a registry reference; use ${BASE_FORMS}`, 'ENOTFOUND');
  }
  if (pull === 'never') {
    throw new UserError(`${name} is not tagged in ${ctx.layout.root}, and --pull never does not ask its registry (docker://${full})`, 'ENOTFOUND');
  }
  return { source: await openSource(`docker://${full}`, opts), ref: undefined };
}

/**
 * oci-archive: and docker-archive: until their transports are in TRANSPORTS: the archive is
 * unpacked into the staging by the existing readers, and read from there as a source.
 */
async function archiveSource(ref: TransportRef, ctx: FromContext): Promise<ImageSource> {
  if (ref.transport === 'oci-archive') return ociArchive(ref, ctx);
  if (ref.transport === 'docker-archive') return dockerArchive(ref, ctx);
  throw usageError(`${ref.text}: the ${ref.transport} transport is not available`);
}

/** An ImageSource over blobs unpacked into a store, with its own lookup. */
function storeSource(name: string, store: BlobStore, refs: string[], lookup: (ref: string | undefined) => Descriptor[]): ImageSource {
  return {
    name,
    refs: () => Promise.resolve(refs),
    lookup: (r) => Promise.resolve(lookup(r)),
    read: (d) => store.read(d, MAX_JSON_BYTES),
    open: (d): Readable => store.open(d),
    close: () => Promise.resolve(),
  };
}

async function ociArchive(ref: TransportRef, ctx: FromContext): Promise<ImageSource> {
  const name = `oci-archive:${ref.target}`;
  let indexBytes: Buffer | undefined;
  let layoutBytes: Buffer | undefined;
  for await (const entry of readTar(await openArchive(path.resolve(ref.target)), name)) {
    if (entry.type === 'directory') continue;
    const file = cleanPath(entry.path);
    const blob = file === undefined ? null : /^blobs\/sha256\/([a-f0-9]{64})$/.exec(file);
    if (entry.type !== 'file' || file === undefined) throw new UserError(`${name}: entry "${entry.name}": only files and folders belong in an OCI archive`, 'EINPUT');
    if (blob) {
      const digest = parseDigest(`sha256:${blob[1]}`, name);
      await ctx.staging.put([entry.open!()], { mediaType: 'application/octet-stream', expected: { digest, size: entry.size } });
    } else if (file === INDEX_FILE || file === LAYOUT_FILE) {
      const bytes = await readWhole(entry.open!(), MAX_INDEX_BYTES, `${name}: ${file}`);
      if (file === INDEX_FILE) indexBytes = bytes;
      else layoutBytes = bytes;
    }
  }
  if (!layoutBytes || !indexBytes) throw new UserError(`${name}: not an OCI archive (no ${layoutBytes ? INDEX_FILE : LAYOUT_FILE} in it)`, 'EINPUT');
  checkInput('oci-layout', parseJsonInput(layoutBytes, `${name}: ${LAYOUT_FILE}`, MAX_INDEX_BYTES), `${name}: ${LAYOUT_FILE}`);
  const index = parseJsonInput(indexBytes, `${name}: ${INDEX_FILE}`, MAX_INDEX_BYTES) as ImageIndex;
  checkInput('image-index', index, `${name}: ${INDEX_FILE}`);
  const tags = [...new Set(index.manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION]).filter((t): t is string => t !== undefined))];
  const shown = tags.length > 0 ? ` (it has ${tags.slice(0, 10).map((t) => JSON.stringify(t)).join(', ')})` : '';
  return storeSource(name, ctx.staging, tags, () => {
    const wanted = ref.ref;
    if (wanted === undefined) {
      if (index.manifests.length !== 1) throw new UserError(`${name}: holds ${index.manifests.length} images; name one (${name}:REF)${shown}`, 'ENOTFOUND');
      return index.manifests;
    }
    const found = index.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] === wanted);
    if (found.length === 0) throw new UserError(`${name}: no image named ${JSON.stringify(wanted)}${shown}`, 'ENOTFOUND');
    return found;
  });
}

async function dockerArchive(ref: TransportRef, ctx: FromContext): Promise<ImageSource> {
  const name = `docker-archive:${ref.target}`;
  const compressor = makeCompressor(ctx.compression ?? 'gzip', ctx.compressionLevel);
  const images = await stageDockerArchive(await openArchive(path.resolve(ref.target)), ctx.staging, { where: ref.target, compressor });
  const tags = images.flatMap((i) => i.tags);
  const shown = tags.length > 0 ? ` (it has ${tags.slice(0, 10).join(', ')})` : '';
  return storeSource(name, ctx.staging, tags, () => {
    const wanted = ref.ref;
    if (wanted === undefined) {
      if (images.length !== 1) throw new UserError(`${name}: holds ${images.length} images; name one (${name}:NAME:TAG or :@N)${shown}`, 'ENOTFOUND');
      return [images[0]!.manifest];
    }
    if (/^@\d+$/.test(wanted)) {
      const image = images[Number(wanted.slice(1))];
      if (!image) throw new UserError(`${name}: no image @${wanted.slice(1)}: it holds ${images.length} (@0 to @${images.length - 1})`, 'ENOTFOUND');
      return [image.manifest];
    }
    const familiar = familiarName(withDefaultTag(parseDockerRef(wanted, name)));
    const image = images.find((i) => i.tags.includes(familiar));
    if (!image) throw new UserError(`${name}: no image tagged ${familiar}${shown}`, 'ENOTFOUND');
    return [image.manifest];
  });
}
