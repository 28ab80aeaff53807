// The OCI layout as a transport (`oci:DIR[:REF]`): a source that reads its index.json and store, and a
// sink that stages every blob of the nodes it is given and names them in one LayoutTransaction.
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { REF_NAME_ANNOTATION, type Descriptor } from '../descriptor.js';
import type { Digest } from '../digest.js';
import { ociForLayout } from '../convert.js';
import { UserError, usageError } from '../errors.js';
import { Layout, type TagMove } from '../layout.js';
import { MAX_JSON_BYTES } from '../limits.js';
import type { ImageNode, ImageSink, ImageSource, SinkEntry, SinkResult } from '../model.js';
import { familiarName, fullName, parseDockerRef, withDefaultTag } from '../ref.js';
import { digestsOf } from '../resolve.js';
import type { BlobStore } from '../store.js';
import { LayoutTransaction } from '../transaction.js';
import { mapLimit } from '../registry/limit.js';

export class LayoutSource implements ImageSource {
  readonly name: string;

  constructor(readonly layout: Layout, name?: string) {
    this.name = name ?? `oci:${layout.root}`;
  }

  /** The layout at `dir`, which must exist. */
  static async open(dir: string, name = `oci:${dir}`): Promise<LayoutSource> {
    return new LayoutSource(await Layout.open(path.resolve(dir)), name);
  }

  async refs(): Promise<string[]> {
    return refNames((await this.layout.readIndex()).manifests);
  }

  /**
   * `ref` as a ref name of index.json: as written, then as docker normalises it (`base` is
   * `base:latest` and `docker.io/library/base:latest`); `@sha256:…` (or a unique prefix) is a
   * manifest digest; none: the layout's only entry.
   */
  async lookup(ref: string | undefined): Promise<Descriptor[]> {
    return lookupRef((await this.layout.readIndex()).manifests, ref, this.name);
  }

  read(desc: Descriptor): Promise<Buffer> {
    return this.layout.store.read(desc, MAX_JSON_BYTES);
  }

  open(desc: Descriptor): Readable {
    return this.layout.store.open(desc);
  }

  async close(): Promise<void> {
    // Nothing held: the layout is read in place.
  }
}

/** What a layout sink reports as it goes. */
export type LayoutSinkEvent =
  | { type: 'blob'; digest: Digest; size: number; outcome: 'written' | 'present' }
  | { type: 'tag-moved'; tag: string; from: Digest };

export interface LayoutSinkOptions {
  onEvent?: (e: LayoutSinkEvent) => void;
  /** Layers of one image copied at once (a registry source fetches them in parallel); default 1. */
  concurrency?: number;
  /**
   * Refuse a Docker v2 manifest or manifest list rather than convert it to OCI (which gives it a new
   * digest), as skopeo's --preserve-digests; default false: converted, as an OCI layout holds OCI only.
   */
  preserveDigests?: boolean;
}

/** Writes nodes into a layout: every blob staged and verified, then published and named at once. */
export class LayoutSink implements ImageSink {
  readonly name: string;
  private readonly emit: (e: LayoutSinkEvent) => void;
  private readonly concurrency: number;
  private readonly preserveDigests: boolean;

  private constructor(readonly tx: LayoutTransaction, opts: LayoutSinkOptions) {
    this.name = `oci:${tx.layout.root}`;
    this.emit = opts.onEvent ?? (() => undefined);
    this.concurrency = opts.concurrency ?? 1;
    this.preserveDigests = opts.preserveDigests ?? false;
  }

  /** The layout at `target` (created when missing or empty), staging from now on. */
  static async open(target: string | Layout, opts: LayoutSinkOptions = {}): Promise<LayoutSink> {
    return new LayoutSink(await LayoutTransaction.begin(target), opts);
  }

  /** The staging store: an archive source unpacks into it, so its blobs are not copied twice. */
  get staging(): BlobStore {
    return this.tx.staging;
  }

  /** Docker v2 manifests are written as OCI ones (see LayoutSinkOptions.preserveDigests); the result names what was written. */
  async write(given: readonly SinkEntry[]): Promise<SinkResult> {
    // Every entry converted (or refused) before anything is staged.
    const entries = given.map((e) => ({ node: ociForLayout(e.node, this.preserveDigests, this.name), tags: e.tags }));
    const keep = new Set<Digest>();
    for (const e of entries) {
      await putNode(this.tx.staging, e.node, this.emit, this.concurrency);
      for (const d of digestsOf(e.node)) keep.add(d);
    }
    const moved: TagMove[] = await this.tx.commit(entries.map((e) => ({ descriptor: e.node.descriptor, tags: e.tags })), keep);
    for (const m of moved) this.emit({ type: 'tag-moved', tag: m.tag, from: m.from });
    return { written: entries.map((e) => e.node.descriptor) };
  }

  async close(): Promise<void> {
    await this.tx.abort();
  }
}

/**
 * Every blob of a node into `store`, children before the documents that name them; a blob the
 * store (or the layout behind it) has already is not copied again. Each is verified as it streams.
 */
export async function putNode(store: BlobStore, node: ImageNode, emit: (e: LayoutSinkEvent) => void = () => undefined, concurrency = 1): Promise<void> {
  if (node.kind === 'index') {
    for (const child of node.children) await putNode(store, child, emit, concurrency);
    await putBlob(store, node.descriptor, () => node.bytes, emit);
  } else if (node.kind === 'artifact') {
    for (const b of node.blobs) await putBlob(store, b.descriptor, () => b.open(), emit);
    await putBlob(store, node.descriptor, () => node.bytes, emit);
  } else {
    await putBlob(store, node.configDescriptor, () => node.configBytes, emit);
    await mapLimit(node.layers, concurrency, (l) => putBlob(store, l.descriptor, () => l.open(), emit));
    await putBlob(store, node.descriptor, () => node.manifestBytes, emit);
  }
}

/**
 * One blob into `store`, verified as it streams; a blob the store (or the layout behind it) has
 * already is pinned, not copied, and its source is not opened.
 */
export async function putBlob(store: BlobStore, d: Descriptor, open: () => Readable | Buffer, emit: (e: LayoutSinkEvent) => void = () => undefined): Promise<void> {
  const expected = { digest: d.digest, size: d.size };
  if (await store.has(d.digest, d.size)) {
    // put() pins a blob the layout has into the staging (gc cannot take it meanwhile) without
    // reading it, so the source is not opened; only when the blob went meanwhile is it copied.
    try {
      await store.put([Readable.from([])], { mediaType: d.mediaType, expected });
      emit({ type: 'blob', digest: d.digest, size: d.size, outcome: 'present' });
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EDIGEST') throw err;
    }
  }
  const data = open();
  if (Buffer.isBuffer(data)) await store.putBytes(data, { mediaType: d.mediaType });
  else await store.put([data], { mediaType: d.mediaType, expected });
  emit({ type: 'blob', digest: d.digest, size: d.size, outcome: 'written' });
}

function refCandidates(name: string): string[] {
  const out = [name];
  try {
    const ref = withDefaultTag(parseDockerRef(name, 'reference'));
    if (ref.digest === undefined) out.push(familiarName(ref), fullName(ref));
  } catch {
    // Not a docker reference: only the name as written can be a ref name.
  }
  return [...new Set(out)];
}

function refList(manifests: readonly Descriptor[]): string {
  const refs = refNames(manifests);
  return refs.length > 0 ? ` (it has ${refs.slice(0, 10).map((r) => JSON.stringify(r)).join(', ')}${refs.length > 10 ? ', ...' : ''})` : ' (it has no ref names)';
}

/** `@sha256:HEX` or `@HEX`: a manifest digest of index.json, or a prefix only one has. */
function byDigest(ref: string, all: readonly Descriptor[], name: string): Descriptor {
  const hex = ref.slice(1).replace(/^sha256:/, '');
  if (!/^[a-f0-9]{1,64}$/.test(hex)) throw usageError(`${name}: ${ref}: expected @sha256: and a manifest digest, or the first hex digits of one`);
  const digests = [...new Set(all.filter((d) => d.digest.slice('sha256:'.length).startsWith(hex)).map((d) => d.digest))];
  if (digests.length === 0) throw new UserError(`${name}: no image has a manifest digest starting sha256:${hex}`, 'ENOTFOUND');
  if (digests.length > 1) throw usageError(`${name}: ${digests.length} images have digests starting sha256:${hex}; give more digits`);
  return all.find((d) => d.digest === digests[0])!;
}

/**
 * The entries of an index.json that `ref` names: as written, then as docker normalises it (`base`
 * is `base:latest` and `docker.io/library/base:latest`); `@sha256:…` (or a unique prefix) is a
 * manifest digest; none: the only entry. `name` is the source, for messages.
 */
export function lookupRef(manifests: readonly Descriptor[], ref: string | undefined, name: string): Descriptor[] {
  if (ref === undefined || ref === '') {
    if (manifests.length === 1) return [...manifests];
    throw new UserError(`${name}: holds ${manifests.length} images; name one (${name}:REF)${refList(manifests)}`, 'ENOTFOUND');
  }
  if (ref.startsWith('@')) return [byDigest(ref, manifests, name)];
  for (const candidate of refCandidates(ref)) {
    const found = manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] === candidate);
    if (found.length > 0) return found;
  }
  throw new UserError(`${name}: no image named ${JSON.stringify(ref)}${refList(manifests)}`, 'ENOTFOUND');
}

/** The ref names of an index.json's entries, each once, in order. */
export function refNames(manifests: readonly Descriptor[]): string[] {
  return [...new Set(manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION]).filter((r): r is string => r !== undefined))];
}
