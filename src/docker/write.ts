// to-docker: a layout's images as a docker-save archive, composed of a layout source, the one
// resolver and the docker-archive sink; here only which images go in, under which docker names.
import type { Descriptor, Platform } from '../descriptor.js';
import { REF_NAME_ANNOTATION } from '../descriptor.js';
import { UserError, usageError } from '../errors.js';
import type { Layout } from '../layout.js';
import type { SinkEntry } from '../model.js';
import { familiarName, fullName, isBareTag, parseDockerRef, withDefaultTag, type DockerRef } from '../ref.js';
import { resolveAmong } from '../resolve.js';
import { DockerArchiveSink } from '../transports/docker-archive.js';
import { LayoutSource } from '../transports/layout.js';
import type { ArchiveWriteOptions, DockerArchiveFormat, DockerArchiveImage } from './archive-write.js';

export { CONTAINERD_IMAGE_NAME } from './archive-write.js';
export type { DockerArchiveEvent, DockerArchiveFormat, DockerArchiveImage } from './archive-write.js';

export interface DockerArchiveOptions extends ArchiveWriteOptions {
  /** Images to take, by ref name (`hello:latest`, or `app:v1` for an image whose ref name is the bare tag `v1`); `@sha256:…` an untagged one. */
  tags?: readonly string[];
  /** The repository for bare-tag ref names (`v1` becomes `NAME:v1`). */
  name?: string;
  /** The platform an image index is resolved to; default this host's. */
  platform?: Platform;
}

export interface DockerArchiveResult {
  format: DockerArchiveFormat;
  images: DockerArchiveImage[];
}

/**
 * Write the layout's images (every one with a ref name, or those `tags` names) as a docker-save
 * archive into `output`: a file path (written under a temporary name and renamed, so a failure
 * leaves no file) or a stream. Every layer is verified before the first byte is written.
 */
export async function writeDockerArchive(layout: string | Layout, output: string | NodeJS.WritableStream, opts: DockerArchiveOptions = {}): Promise<DockerArchiveResult> {
  const format = opts.format ?? 'v1';
  const sink = new DockerArchiveSink(output, {
    format,
    ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
    ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
  });
  const source = typeof layout === 'string' ? await LayoutSource.open(layout) : new LayoutSource(layout);
  try {
    const emit = opts.onEvent ?? (() => undefined);
    const entries = await selectImages(source, { ...opts, warn: (message) => emit({ type: 'warning', message }) });
    const result = await sink.write(entries);
    return { format, images: result.images };
  } finally {
    await source.close();
    await sink.close();
  }
}

interface SelectOptions {
  tags?: readonly string[];
  name?: string;
  platform?: Platform;
  warn: (message: string) => void;
}

/** What goes in, as the ref names ask: how it was named (for messages), its index.json entries, its docker name. */
interface Wanted {
  label: string;
  entries: Descriptor[];
  name?: DockerRef;
}

/** The images to export, each resolved to one platform by the resolver, with the docker name it goes in under. */
async function selectImages(source: LayoutSource, opts: SelectOptions): Promise<SinkEntry[]> {
  const root = source.layout.root;
  const index = await source.layout.readIndex();
  const named = index.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] !== undefined);
  const explicit = Boolean(opts.tags && opts.tags.length > 0);
  const wanted = explicit ? byTags(named, opts.tags!, root, index.manifests) : byRefNames(named, opts.name, opts.warn);
  const none = () => new UserError(`${root}: no image with a ref name in index.json to export (name one with --tag)`, 'ENOTFOUND');
  if (wanted.length === 0) throw none();
  const out: SinkEntry[] = [];
  for (const w of wanted) {
    try {
      const image = await resolveAmong(source, w.entries, { ...(opts.platform ? { platform: opts.platform } : {}), where: w.label });
      out.push({ node: image, tags: w.name ? [familiarName(w.name)] : [] });
    } catch (err) {
      // An artifact beside the images (a signature, an SBOM) is left out unless it was asked for.
      if (explicit || !(err instanceof UserError) || err.code !== 'EUNSUPPORTED') throw err;
      opts.warn(`${err.message}; left out`);
    }
  }
  if (out.length === 0) throw none();
  return out;
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
    const ref = d.annotations![REF_NAME_ANNOTATION]!;
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
