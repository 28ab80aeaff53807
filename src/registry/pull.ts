// Pulling from a registry into an OCI layout: a whole index or one platform's image, every blob
// verified while it streams into staging, nothing published or tagged until all of it is there.
import type { Digest } from '../digest.js';
import type { Descriptor, Platform } from '../descriptor.js';
import { UserError } from '../errors.js';
import { Layout } from '../layout.js';
import { bestMatch, formatPlatform, hostPlatform } from '../platform.js';
import { checkRefName } from '../ref.js';
import type { BlobStore } from '../store.js';
import { repositoryScope } from './auth.js';
import { fetchBlob } from './blobs.js';
import { RegistryClient, type RegistryOptions } from './client.js';
import { mapLimit } from './limit.js';
import { fetchManifest, parseManifest, type FetchedManifest } from './manifests.js';
import { manifestReference, parseRegistryRef, shownName, type RegistryRef } from './reference.js';

export interface PullImageOptions extends RegistryOptions {
  /** docker://HOST/REPO[:TAG|@sha256:…] (the docker:// is optional). */
  ref: string;
  /** The layout to write (created when missing or empty). */
  layout: string | Layout;
  /** The ref name in index.json; default the reference in docker's short form (none for a digest). */
  tag?: string;
  /** For an index: the platform to take (default this machine's), unless `all`. */
  platform?: Platform;
  /** For an index: take it whole, every manifest and blob, so its digest survives. */
  all?: boolean;
  /** Blobs fetched at once (default 4). */
  concurrency?: number;
  onEvent?: (e: PullEvent) => void;
}

export type PullEvent = { type: 'blob'; digest: Digest; size: number; outcome: 'fetched' | 'present' };

export interface PullResult {
  layout: string;
  /** What was recorded in index.json: the index (with all) or the image. */
  digest: Digest;
  mediaType: string;
  size: number;
  tags: string[];
  platform?: Platform;
  blobs: { fetched: number; present: number };
}

const MAX_DEPTH = 4;

export async function pullImage(opts: PullImageOptions): Promise<PullResult> {
  const src = parseRegistryRef(opts.ref, 'source');
  const tags = opts.tag !== undefined ? [opts.tag] : defaultTags(src);
  for (const t of tags) checkRefName(t, '--tag');
  const client = await RegistryClient.connect(src, opts);
  let target: Layout | undefined;
  let store: BlobStore | undefined;
  try {
    target = typeof opts.layout === 'string' ? await Layout.openOrCreate(opts.layout) : opts.layout;
    store = await target.store.stage();
    const puller = new Puller(client, src, store, opts);
    let top = await fetchManifest(client, src.repository, manifestReference(src), puller.scopes);
    let platform: Platform | undefined;
    if (top.kind === 'index' && !opts.all) {
      const want = opts.platform ?? hostPlatform();
      const chosen = bestMatch(want, top.children.filter((c) => c.platform));
      if (!chosen) {
        const have = top.children.map((c) => (c.platform ? formatPlatform(c.platform) : '?')).join(', ');
        throw new UserError(`${shownName(src)}: no image for ${formatPlatform(want)} in its index (it has ${have}; --all takes them all)`, 'ENOTFOUND');
      }
      platform = chosen.platform;
      top = await puller.manifest(chosen);
    }
    await puller.node(top, 0);
    await store.publish();
    const desc: Descriptor = { ...top.descriptor, ...(platform ? { platform } : {}) };
    await target.addImage(desc, tags);
    const result: PullResult = { layout: target.root, digest: desc.digest, mediaType: desc.mediaType, size: desc.size, tags, blobs: puller.counts };
    if (platform) result.platform = platform;
    return result;
  } catch (err) {
    await store?.discard();
    if (target && typeof opts.layout === 'string') await target.discardIfNew();
    throw err;
  } finally {
    client.close();
  }
}

function defaultTags(src: RegistryRef): string[] {
  return src.tag !== undefined ? [shownName({ ...src, digest: undefined } as RegistryRef)] : [];
}

class Puller {
  readonly counts = { fetched: 0, present: 0 };
  readonly scopes: string[];
  private readonly blobs = new Map<Digest, Promise<void>>();

  constructor(
    private readonly client: RegistryClient,
    private readonly src: RegistryRef,
    private readonly store: BlobStore,
    private readonly opts: PullImageOptions,
  ) {
    this.scopes = [repositoryScope(src.repository, 'pull')];
  }

  /** A child manifest by digest: from the layout when it has it, else from the registry. */
  async manifest(desc: Descriptor): Promise<FetchedManifest> {
    if (await this.store.has(desc.digest, desc.size)) {
      return parseManifest(await this.store.read(desc), desc.digest, desc.mediaType, `${this.store.root}: ${desc.digest}`);
    }
    const got = await fetchManifest(this.client, this.src.repository, desc.digest, this.scopes);
    if (got.descriptor.size !== desc.size) throw new UserError(`manifest ${desc.digest}: ${got.descriptor.size} bytes, its index says ${desc.size}`, 'EDIGEST');
    return got;
  }

  /** Everything a manifest names, then the manifest itself (children before parents). */
  async node(m: FetchedManifest, depth: number): Promise<void> {
    if (depth > MAX_DEPTH) throw new UserError(`${shownName(this.src)}: indexes nest more than ${MAX_DEPTH} deep`, 'EREGISTRY');
    if (m.kind === 'index') {
      for (const child of m.children) await this.node(await this.manifest(child), depth + 1);
    } else {
      await mapLimit(m.children, this.opts.concurrency ?? 4, (d) => this.blob(d));
    }
    await this.store.putBytes(m.bytes, { mediaType: m.descriptor.mediaType });
  }

  private blob(desc: Descriptor): Promise<void> {
    let pending = this.blobs.get(desc.digest);
    if (!pending) {
      pending = this.fetch(desc);
      this.blobs.set(desc.digest, pending);
    }
    return pending;
  }

  private async fetch(desc: Descriptor): Promise<void> {
    if (await this.store.has(desc.digest, desc.size)) {
      this.counts.present++;
      this.opts.onEvent?.({ type: 'blob', digest: desc.digest, size: desc.size, outcome: 'present' });
      return;
    }
    await fetchBlob(this.client, this.src.repository, desc, this.store, this.scopes);
    this.counts.fetched++;
    this.opts.onEvent?.({ type: 'blob', digest: desc.digest, size: desc.size, outcome: 'fetched' });
  }
}
