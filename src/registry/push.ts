// Pushing an image or an index from an OCI layout to a registry: blobs the registry lacks (HEAD,
// mount, upload) a few at a time, each manifest after its blobs, an index after its manifests.
import { parseDigest, type Digest } from '../digest.js';
import { REF_NAME_ANNOTATION, type Descriptor } from '../descriptor.js';
import { isBareTag, parseDockerRef } from '../ref.js';
import { UserError, usageError } from '../errors.js';
import { Layout } from '../layout.js';
import { readNode } from '../resolve.js';
import { LayoutSource } from '../transports/layout.js';
import { RegistrySink, type RegistrySinkEvent } from '../transports/registry.js';
import type { UploadOptions, UploadOutcome } from './blobs.js';
import type { RegistryOptions } from './client.js';
import { parseManifest } from './manifests.js';
import { parseRegistryRef, shownName, type RegistryRef } from './reference.js';

export interface PushImageOptions extends RegistryOptions, UploadOptions {
  /** The layout to read (a path or an open Layout). */
  layout: string | Layout;
  /** The image in the layout: a ref name of index.json, or a digest (sha256:… or @sha256:…). */
  ref: string;
  /** docker://HOST/REPO[:TAG|@sha256:…]; the tag defaults to latest. Blobs are mounted from `mountFrom`
   * and from repositories of the same registry that the layout's ref names come from. */
  dest: string;
  /** Blobs uploaded at once (default 4). */
  concurrency?: number;
  onEvent?: (e: PushEvent) => void;
}

export type PushEvent = RegistrySinkEvent;

export interface PushResult {
  /** The pushed manifest or index. */
  digest: Digest;
  mediaType: string;
  size: number;
  /** Where it went, in docker's short form, with the digest: localhost:5000/app:v1@sha256:… */
  dest: string;
  blobs: Record<UploadOutcome, number>;
}

/** Push the image (or index) `ref` of a layout to `dest`: the layout source, the whole tree it names, the registry sink. */
export async function pushImage(opts: PushImageOptions): Promise<PushResult> {
  const dest = parseRegistryRef(opts.dest, 'destination');
  const layout = typeof opts.layout === 'string' ? await Layout.open(opts.layout) : opts.layout;
  const source = new LayoutSource(layout, `oci:${typeof opts.layout === 'string' ? opts.layout : layout.root}`);
  const top = await resolveLocal(layout, opts.ref, source);
  if (dest.digest && dest.digest !== top.digest) {
    throw usageError(`destination ${opts.dest}: names ${dest.digest}, but ${opts.ref} is ${top.digest}`);
  }
  const node = await readNode(source, top, `${source.name}:${opts.ref}`);
  const mountFrom = [...new Set([...(opts.mountFrom ?? []), ...(await siblingRepositories(layout, dest))])];
  const sink = await RegistrySink.open(opts.dest, { ...opts, mountFrom });
  try {
    await sink.write([{ node, tags: [] }]);
    const shown = shownName({ ...dest, ...(dest.tag || dest.digest ? {} : { tag: 'latest' }), digest: top.digest });
    return { digest: top.digest, mediaType: top.mediaType, size: top.size, dest: shown, blobs: { ...sink.counts } };
  } finally {
    await sink.close();
  }
}

/**
 * The descriptor of the image a layout names `ref`: a ref name (as the layout source finds it), or
 * a digest, listed in index.json or only in the store (a manifest an index lists).
 */
export async function resolveLocal(layout: Layout, ref: string, source = new LayoutSource(layout)): Promise<Descriptor> {
  const digestText = ref.startsWith('@') ? ref.slice(1) : ref;
  if (digestText.startsWith('sha256:')) {
    const digest = parseDigest(digestText, 'image');
    const listed = (await layout.readIndex()).manifests.find((d) => d.digest === digest);
    if (listed) return listed;
    const size = await layout.store.sizeOf(digest);
    if (size === undefined) throw new UserError(`${layout.root}: no blob ${digest}`, 'ENOTFOUND');
    const bytes = await layout.store.read({ digest, size });
    return parseManifest(bytes, digest, undefined, `${layout.root}: ${digest}`).descriptor;
  }
  const found = await source.lookup(ref);
  const digests = new Set(found.map((d) => d.digest));
  if (digests.size > 1) throw new UserError(`${source.name}: ${JSON.stringify(ref)} names ${digests.size} different images; push one by digest`, 'EINPUT');
  return found[0]!;
}

/** Repositories, found in the layout's ref names, that a push tries to mount from. */
const MAX_SIBLINGS = 3;

/**
 * Repositories of the destination's registry that the layout's ref names come from (a pull tags
 * `HOST/REPO:TAG`): a base pulled from there has its layers there, so they can be mounted.
 */
async function siblingRepositories(layout: Layout, dest: RegistryRef): Promise<string[]> {
  const out: string[] = [];
  for (const d of (await layout.readIndex()).manifests) {
    const name = d.annotations?.[REF_NAME_ANNOTATION];
    if (name === undefined || isBareTag(name)) continue;
    let ref;
    try {
      ref = parseDockerRef(name, 'ref name');
    } catch {
      continue;
    }
    if (ref.domain === dest.registry && ref.path !== dest.repository && !out.includes(ref.path)) out.push(ref.path);
    if (out.length === MAX_SIBLINGS) break;
  }
  return out;
}
