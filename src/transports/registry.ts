// A registry as a transport (`docker://HOST/REPO[:TAG|@sha256:…]`): a source whose documents are read
// whole and verified and whose blobs stream lazily, verified, resumed; a sink that pushes any node.
import { Readable } from 'node:stream';
import type { Descriptor } from '../descriptor.js';
import type { Digest } from '../digest.js';
import { UserError, usageError } from '../errors.js';
import { MAX_JSON_BYTES } from '../limits.js';
import type { Blob, ImageNode, ImageSink, ImageSource, SinkEntry, SinkResult } from '../model.js';
import { repositoryScope } from '../registry/auth.js';
import { openBlob, pushBlob, readBlob, type UploadOptions, type UploadOutcome } from '../registry/blobs.js';
import { RegistryClient, type RegistryOptions } from '../registry/client.js';
import { mapLimit } from '../registry/limit.js';
import { fetchManifest, getManifest, hasManifest, putManifest } from '../registry/manifests.js';
import { manifestReference, parseRegistryRef, shownName, taggedNames, type RegistryRef } from '../registry/reference.js';
import { isIndexType, isManifestType, MAX_INDEX_DEPTH } from '../resolve.js';
import type { BlobStore } from '../store.js';

export interface RegistrySourceOptions extends RegistryOptions {
  /**
   * A store to read through (the destination layout's staging): a document it has is read from it,
   * verified, and never requested from the registry. Blobs need no such help: their streams start
   * on the first read, and a sink that has a blob never reads it.
   */
  scratch?: BlobStore;
}

/** Bytes of documents kept after reading, so a resolver reading one twice asks the registry once. */
const MAX_CACHED_BYTES = 8 * 1024 * 1024;

export class RegistrySource implements ImageSource {
  readonly name: string;
  private readonly scopes: string[];
  private readonly documents = new Map<Digest, Buffer>();
  private cachedBytes = 0;

  private constructor(
    readonly ref: RegistryRef,
    readonly client: RegistryClient,
    private readonly scratch: BlobStore | undefined,
  ) {
    this.name = `docker://${shownName(ref)}`;
    this.scopes = [repositoryScope(ref.repository, 'pull')];
  }

  /** A session with the registry `reference` (docker:// optional) names: credentials found, /v2/ pinged. */
  static async open(reference: string, opts: RegistrySourceOptions = {}): Promise<RegistrySource> {
    const ref = parseRegistryRef(reference, 'source');
    return new RegistrySource(ref, await RegistryClient.connect(ref, opts), opts.scratch);
  }

  get repository(): string {
    return this.ref.repository;
  }

  /** The name the reference gives, with its tag, in docker's short form; none for a bare digest. */
  async refs(): Promise<string[]> {
    return taggedNames(this.ref);
  }

  /**
   * The manifest or index a tag or digest names: `ref` undefined, the reference's own (its digest,
   * else its tag, else latest); `ref` a TAG or @sha256:… of the same repository.
   */
  async lookup(ref: string | undefined): Promise<Descriptor[]> {
    const reference = ref === undefined || ref === '' ? manifestReference(this.ref) : ref.startsWith('@') ? ref.slice(1) : ref;
    const got = await fetchManifest(this.client, this.ref.repository, reference, this.scopes);
    this.remember(got.descriptor.digest, got.bytes);
    return [got.descriptor];
  }

  async read(desc: Descriptor): Promise<Buffer> {
    const cached = this.documents.get(desc.digest);
    if (cached && cached.length === desc.size) return cached;
    if (desc.size > MAX_JSON_BYTES) throw new UserError(`${this.name}: ${desc.digest} is ${desc.size} bytes, more than the ${MAX_JSON_BYTES} allowed for a document`, 'EINPUT');
    if (this.scratch && (await this.scratch.has(desc.digest, desc.size))) return this.scratch.read(desc, MAX_JSON_BYTES);
    let bytes: Buffer;
    if (isManifestType(desc.mediaType) || isIndexType(desc.mediaType)) {
      const got = await getManifest(this.client, this.ref.repository, desc.digest, this.scopes);
      if (got.bytes.length !== desc.size) throw new UserError(`${got.what}: ${got.bytes.length} bytes, its descriptor says ${desc.size}`, 'EDIGEST');
      bytes = got.bytes;
    } else {
      bytes = await readBlob(this.client, this.ref.repository, desc, this.scopes, MAX_JSON_BYTES);
    }
    this.remember(desc.digest, bytes);
    return bytes;
  }

  open(desc: Descriptor): Readable {
    return openBlob(this.client, this.ref.repository, desc, this.scopes);
  }

  async close(): Promise<void> {
    this.client.close();
  }

  /** Keep a document, dropping the oldest while the cache is over its budget. */
  private remember(digest: Digest, bytes: Buffer): void {
    if (this.documents.has(digest)) return;
    this.documents.set(digest, bytes);
    this.cachedBytes += bytes.length;
    for (const [d, b] of this.documents) {
      if (this.cachedBytes <= MAX_CACHED_BYTES || d === digest) break;
      this.documents.delete(d);
      this.cachedBytes -= b.length;
    }
  }
}

/** What a registry sink reports as it goes. */
export type RegistrySinkEvent =
  | { type: 'blob'; digest: Digest; size: number; outcome: UploadOutcome }
  | { type: 'manifest'; digest: Digest; reference: string };

export interface RegistrySinkOptions extends RegistryOptions, UploadOptions {
  /** Blobs uploaded at once (default 4). */
  concurrency?: number;
  onEvent?: (e: RegistrySinkEvent) => void;
}

/**
 * Pushes nodes to one repository: blobs it lacks (HEAD, then a mount from a sibling repository, then
 * an upload streamed from the node's own blobs) a few at a time, each manifest after its blobs, an
 * index after its manifests, and the tag last: a failure leaves the tag where it was.
 */
export class RegistrySink implements ImageSink {
  readonly name: string;
  readonly counts: Record<UploadOutcome, number> = { exists: 0, mounted: 0, pushed: 0 };
  private readonly scopes: string[];
  private readonly mountFrom: string[];
  private readonly blobs = new Map<Digest, Promise<void>>();

  private constructor(
    readonly ref: RegistryRef,
    readonly client: RegistryClient,
    private readonly opts: RegistrySinkOptions,
  ) {
    this.name = `docker://${shownName(ref)}`;
    this.scopes = [repositoryScope(ref.repository, 'pull,push')];
    this.mountFrom = [...(opts.mountFrom ?? [])];
  }

  /** A session with the registry `reference` (docker:// optional) names, to push to. */
  static async open(reference: string, opts: RegistrySinkOptions = {}): Promise<RegistrySink> {
    const ref = parseRegistryRef(reference, 'destination');
    return new RegistrySink(ref, await RegistryClient.connect(ref, opts), opts);
  }

  /** Also try mounting blobs from these repositories of the same registry (their pull scope is asked for). */
  addMountSources(repositories: readonly string[]): void {
    for (const r of repositories) if (r !== this.ref.repository && !this.mountFrom.includes(r)) this.mountFrom.push(r);
  }

  /** When `source` reads another repository of this registry, its blobs are mounted from there, not uploaded. */
  mountFromSource(source: ImageSource): void {
    if (source instanceof RegistrySource && source.ref.registry === this.ref.registry) this.addMountSources([source.ref.repository]);
  }

  /** Each entry under its tags, or else under the reference's own tag (or digest, or latest). */
  async write(entries: readonly SinkEntry[]): Promise<SinkResult> {
    const written: Descriptor[] = [];
    for (const e of entries) {
      const top = e.node.descriptor;
      if (this.ref.digest !== undefined && this.ref.digest !== top.digest) {
        throw usageError(`destination ${this.name}: names ${this.ref.digest}, but the image is ${top.digest}`);
      }
      const [first, ...more] = e.tags.length > 0 ? e.tags : [this.ref.digest ?? this.ref.tag ?? 'latest'];
      await this.node(e.node, first!, 0);
      for (const tag of more) await this.putManifest(e.node, tag);
      written.push(top);
    }
    return { written };
  }

  async close(): Promise<void> {
    this.client.close();
  }

  private async node(node: ImageNode, reference: string, depth: number): Promise<void> {
    if (depth > MAX_INDEX_DEPTH) throw new UserError(`${node.where}: image indexes nested more than ${MAX_INDEX_DEPTH} deep`, 'EINPUT');
    if (node.kind === 'index') {
      for (const child of node.children) {
        // A manifest the repository has by digest comes with its blobs: nothing under it to send.
        if (await hasManifest(this.client, this.ref.repository, child.descriptor.digest, this.scopes)) continue;
        await this.node(child, child.descriptor.digest, depth + 1);
      }
    } else {
      const blobs: Blob[] = node.kind === 'artifact' ? [...node.blobs] : [bytesBlob(node.configDescriptor, node.configBytes), ...node.layers];
      await mapLimit(blobs, this.opts.concurrency ?? 4, (b) => this.blob(b));
    }
    await this.putManifest(node, reference);
  }

  private async putManifest(node: ImageNode, reference: string): Promise<void> {
    const bytes = node.kind === 'image' ? node.manifestBytes : node.bytes;
    await putManifest(this.client, this.ref.repository, reference, node.descriptor, bytes, this.scopes);
    this.opts.onEvent?.({ type: 'manifest', digest: node.descriptor.digest, reference });
  }

  private blob(b: Blob): Promise<void> {
    let pending = this.blobs.get(b.descriptor.digest);
    if (!pending) {
      pending = this.upload(b);
      this.blobs.set(b.descriptor.digest, pending);
    }
    return pending;
  }

  private async upload(b: Blob): Promise<void> {
    const desc = b.descriptor;
    // A foreign layer (non-distributable, with urls) is fetched by its users from where it lives, as docker and skopeo leave it.
    if (desc.urls && desc.urls.length > 0 && desc.mediaType.includes('nondistributable')) return;
    const outcome = await pushBlob(this.client, this.ref.repository, { desc, open: () => b.open() }, this.scopes, { ...this.opts, mountFrom: this.mountFrom });
    this.counts[outcome]++;
    this.opts.onEvent?.({ type: 'blob', digest: desc.digest, size: desc.size, outcome });
  }
}

function bytesBlob(descriptor: Descriptor, bytes: Buffer): Blob {
  return { descriptor, open: () => Readable.from([bytes]) };
}
