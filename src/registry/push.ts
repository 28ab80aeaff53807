// Pushing an image or an index from an OCI layout to a registry: blobs the registry lacks (HEAD,
// mount, upload) a few at a time, each manifest after its blobs, an index after its manifests.
import { createReadStream } from 'node:fs';
import { parseDigest, type Digest } from '../digest.js';
import { REF_NAME_ANNOTATION, type Descriptor } from '../descriptor.js';
import { isBareTag, parseDockerRef } from '../ref.js';
import { UserError, usageError } from '../errors.js';
import { Layout } from '../layout.js';
import { pushBlob, type UploadOptions, type UploadOutcome } from './blobs.js';
import { RegistryClient, type RegistryOptions } from './client.js';
import { hasManifest, parseManifest, putManifest } from './manifests.js';
import { parseRegistryRef, shownName, type RegistryRef } from './reference.js';
import { repositoryScope } from './auth.js';
import { mapLimit } from './limit.js';

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

export type PushEvent =
  | { type: 'blob'; digest: Digest; size: number; outcome: UploadOutcome }
  | { type: 'manifest'; digest: Digest; reference: string };

export interface PushResult {
  /** The pushed manifest or index. */
  digest: Digest;
  mediaType: string;
  size: number;
  /** Where it went, in docker's short form, with the digest: localhost:5000/app:v1@sha256:… */
  dest: string;
  blobs: Record<UploadOutcome, number>;
}

/** Push the image (or index) `ref` of a layout to `dest`. */
export async function pushImage(opts: PushImageOptions): Promise<PushResult> {
  const dest = parseRegistryRef(opts.dest, 'destination');
  const layout = typeof opts.layout === 'string' ? await Layout.open(opts.layout) : opts.layout;
  const top = await resolveLocal(layout, opts.ref);
  if (dest.digest && dest.digest !== top.digest) {
    throw usageError(`destination ${opts.dest}: names ${dest.digest}, but ${opts.ref} is ${top.digest}`);
  }
  const reference = dest.tag ?? dest.digest ?? 'latest';
  const mountFrom = [...new Set([...(opts.mountFrom ?? []), ...(await siblingRepositories(layout, dest))])];
  const client = await RegistryClient.connect(dest, opts);
  try {
    const pusher = new Pusher(client, layout, dest, { ...opts, mountFrom });
    await pusher.node(top, reference, 0);
    const shown = shownName({ ...dest, ...(dest.tag || dest.digest ? {} : { tag: 'latest' }), digest: top.digest });
    return { digest: top.digest, mediaType: top.mediaType, size: top.size, dest: shown, blobs: pusher.counts };
  } finally {
    client.close();
  }
}

/** The descriptor of the image a layout names `ref` (a ref name, or a digest it holds). */
export async function resolveLocal(layout: Layout, ref: string): Promise<Descriptor> {
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
  const found = await layout.find(ref);
  const digests = new Set(found.map((d) => d.digest));
  if (digests.size === 0) throw new UserError(`${layout.root}: no image named ${JSON.stringify(ref)} in index.json`, 'ENOTFOUND');
  if (digests.size > 1) throw new UserError(`${layout.root}: ${JSON.stringify(ref)} names ${digests.size} different images; push one by digest`, 'EINPUT');
  return found[0]!;
}

const MAX_DEPTH = 4;
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

class Pusher {
  readonly counts: Record<UploadOutcome, number> = { exists: 0, mounted: 0, pushed: 0 };
  private readonly blobs = new Map<Digest, Promise<void>>();
  private readonly scopes: string[];

  constructor(
    private readonly client: RegistryClient,
    private readonly layout: Layout,
    private readonly dest: RegistryRef,
    private readonly opts: PushImageOptions,
  ) {
    this.scopes = [repositoryScope(dest.repository, 'pull,push')];
  }

  async node(desc: Descriptor, reference: string, depth: number): Promise<void> {
    if (depth > MAX_DEPTH) throw new UserError(`${this.layout.root}: indexes nest more than ${MAX_DEPTH} deep under ${desc.digest}`, 'ELAYOUT');
    const bytes = await this.layout.store.read(desc);
    const doc = parseManifest(bytes, desc.digest, desc.mediaType, `${this.layout.root}: ${desc.digest}`);
    if (doc.kind === 'index') {
      for (const child of doc.children) {
        // A manifest the repository has by digest comes with its blobs: nothing under it to send.
        if (await hasManifest(this.client, this.dest.repository, child.digest, this.scopes)) continue;
        await this.node(child, child.digest, depth + 1);
      }
    } else {
      await mapLimit(doc.children, this.opts.concurrency ?? 4, (blob) => this.blob(blob));
    }
    await putManifest(this.client, this.dest.repository, reference, doc.descriptor, bytes, this.scopes);
    this.opts.onEvent?.({ type: 'manifest', digest: desc.digest, reference });
  }

  private blob(desc: Descriptor): Promise<void> {
    let pending = this.blobs.get(desc.digest);
    if (!pending) {
      pending = this.upload(desc);
      this.blobs.set(desc.digest, pending);
    }
    return pending;
  }

  private async upload(desc: Descriptor): Promise<void> {
    const store = this.layout.store;
    if (!(await store.has(desc.digest, desc.size))) {
      // A foreign layer (urls, non-distributable) is fetched by its users from elsewhere.
      if (desc.urls && desc.urls.length > 0) return;
      throw new UserError(`${this.layout.root}: blob ${desc.digest} (${desc.size} bytes) is missing`, 'ELAYOUT');
    }
    const file = store.blobPath(desc.digest);
    const outcome = await pushBlob(
      this.client,
      this.dest.repository,
      { desc, open: () => store.open(desc), openRange: (start, end) => createReadStream(file, { start, end }) },
      this.scopes,
      this.opts,
    );
    this.counts[outcome]++;
    this.opts.onEvent?.({ type: 'blob', digest: desc.digest, size: desc.size, outcome });
  }
}
