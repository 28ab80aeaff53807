// `oci-archive:TAR[:REF]`, an OCI layout packed in a tar as skopeo and buildah write them: a source that
// streams the archive's blobs into a store (each verified against its name) and a sink that writes one.
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { onInterrupt } from '../cleanup.js';
import { ociForLayout } from '../convert.js';
import type { Descriptor } from '../descriptor.js';
import { digestHex, parseDigest, type Digest } from '../digest.js';
import type { Entry } from '../entries.js';
import { UserError, fileError, prefixError } from '../errors.js';
import { canonicalJson, parseJsonInput } from '../json.js';
import { INDEX_FILE, LAYOUT_FILE, LAYOUT_VERSION, emptyIndex, placeImage, type ImageIndex } from '../layout.js';
import { MAX_ARCHIVE_ENTRIES, MAX_INDEX_BYTES, MAX_JSON_BYTES } from '../limits.js';
import type { Blob, ImageNode, ImageSink, ImageSource, SinkEntry, SinkResult } from '../model.js';
import { assertValid, checkInput } from '../schema.js';
import { BlobStore, removeStaleTemps, tempPath } from '../store.js';
import { counting, readWhole } from '../streams.js';
import { archiveBytes, archiveDirectory, archiveEntryName, archiveFile, openArchiveFile, readTar, tarStream, writeArchiveFile } from '../tar.js';
import { lookupRef, refNames } from './layout.js';

/** What reading or writing an archive reports as it goes: bytes so far of `total` (when known). */
export interface ArchiveEvent {
  type: 'archive-read' | 'archive-write';
  file: string;
  bytes: number;
  total?: number;
  done: boolean;
}

export interface OciArchiveSourceOptions {
  /** The REF of `oci-archive:TAR:REF`: what lookup(undefined) finds. */
  ref?: string;
  /** Where the blobs go (a destination layout's staging); default a temporary store removed on close(). */
  scratch?: BlobStore;
  onEvent?: (e: ArchiveEvent) => void;
}

const BLOB_NAME = /^blobs\/sha256\/([a-f0-9]{64})$/;

/**
 * An OCI archive, read once when opened: its blobs stream into a store, each checked against the
 * digest its name gives; index.json and oci-layout are read bounded and checked against the schemas.
 * What is not part of a layout (another file) is skipped; links and devices are refused.
 */
export class OciArchiveSource implements ImageSource {
  private closed = false;

  private constructor(
    readonly name: string,
    readonly store: BlobStore,
    readonly index: ImageIndex,
    /** The blobs the archive holds. */
    private readonly present: ReadonlySet<Digest>,
    private readonly removeStore: (() => Promise<void>) | undefined,
    /** What the reference named, when it named something. */
    private readonly ref: string | undefined,
  ) {}

  static async open(file: string, opts: OciArchiveSourceOptions = {}, name = `oci-archive:${file}`): Promise<OciArchiveSource> {
    const temporary = opts.scratch ? undefined : await temporaryStore();
    const store = opts.scratch ?? temporary!.store;
    try {
      const { index, present } = await unpack(path.resolve(file), file, name, store, opts.onEvent ?? (() => undefined));
      return new OciArchiveSource(name, store, index, present, temporary?.remove, opts.ref);
    } catch (err) {
      await temporary?.remove();
      throw prefixError(name, err);
    }
  }

  async refs(): Promise<string[]> {
    return refNames(this.index.manifests);
  }

  /** `ref` (default the one the reference named) as in a layout: a ref name, docker's forms of it, `@sha256:…`. */
  async lookup(ref: string | undefined): Promise<Descriptor[]> {
    return lookupRef(this.index.manifests, ref ?? this.ref, this.name);
  }

  async read(desc: Descriptor): Promise<Buffer> {
    // A scratch store reads through to its layout, which may hold what the archive lacks: as good.
    if (!this.present.has(desc.digest) && !(await this.store.has(desc.digest, desc.size))) throw this.missing(desc);
    return this.store.read(desc, MAX_JSON_BYTES);
  }

  open(desc: Descriptor): Readable {
    if (this.present.has(desc.digest)) return this.store.open(desc);
    const err = this.missing(desc);
    return new Readable({ read() { this.destroy(err); } });
  }

  private missing(desc: Descriptor): UserError {
    return new UserError(`${this.name}: blob ${desc.digest} is not in the archive`, 'EINPUT');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.removeStore?.();
  }
}

/** A store in a private folder of TMPDIR, removed on close (or by a signal, or by a later run's sweep). */
async function temporaryStore(): Promise<{ store: BlobStore; remove: () => Promise<void> }> {
  const tmp = os.tmpdir();
  await removeStaleTemps(tmp);
  const root = tempPath(tmp);
  await fs.mkdir(root, { mode: 0o700 });
  const forget = onInterrupt(() => fs.rm(root, { recursive: true, force: true }));
  return {
    store: new BlobStore(root),
    remove: async () => {
      await fs.rm(root, { recursive: true, force: true });
      forget();
    },
  };
}

/** One pass over the archive: blobs into `store`, index.json returned once both documents are checked. */
async function unpack(file: string, shown: string, where: string, store: BlobStore, emit: (e: ArchiveEvent) => void): Promise<{ index: ImageIndex; present: Set<Digest> }> {
  const input = await openArchiveFile(file);
  const total = (await fs.stat(file)).size;
  let read = 0;
  const counter = counting((bytes) => {
    read = bytes;
    emit({ type: 'archive-read', file: shown, bytes, total, done: false });
  });
  // Destroyed whatever happens below: a refused entry must not leave the file open.
  pipeline(input, counter).catch(() => {
    // The same error reaches readTar through the counter.
  });
  const documents = new Map<string, Buffer>();
  const present = new Set<Digest>();
  let count = 0;
  try {
    for await (const entry of readTar(counter, where)) {
      if (++count > MAX_ARCHIVE_ENTRIES) throw new UserError(`${where}: more than ${MAX_ARCHIVE_ENTRIES} entries; not an OCI archive`, 'EINPUT');
      const name = archiveEntryName(entry, where);
      if (entry.type === 'directory') continue;
      if (entry.type !== 'file') throw new UserError(`${where}: entry ${JSON.stringify(entry.name)}: only files and folders belong in an OCI archive`, 'EINPUT');
      const blob = BLOB_NAME.exec(name);
      if (blob) {
        const digest = parseDigest(`sha256:${blob[1]}`, where);
        try {
          await store.put([entry.open!()], { mediaType: 'application/octet-stream', expected: { digest, size: entry.size } });
        } catch (err) {
          throw prefixError(`entry ${JSON.stringify(entry.name)}`, err);
        }
        present.add(digest);
      } else if (name === INDEX_FILE || name === LAYOUT_FILE) {
        if (documents.has(name)) throw new UserError(`${where}: ${name} appears twice`, 'EINPUT');
        documents.set(name, await readWhole(entry.open!(), MAX_INDEX_BYTES, `${where}: ${name}`));
      }
      // Anything else is not part of a layout: readTar skips the data of what is not opened.
    }
  } finally {
    counter.destroy();
  }
  emit({ type: 'archive-read', file: shown, bytes: read, total, done: true });
  const layoutBytes = documents.get(LAYOUT_FILE);
  const indexBytes = documents.get(INDEX_FILE);
  if (!layoutBytes || !indexBytes) throw new UserError(`${where}: not an OCI archive (no ${layoutBytes ? INDEX_FILE : LAYOUT_FILE} in it)`, 'EINPUT');
  checkInput('oci-layout', parseJsonInput(layoutBytes, `${where}: ${LAYOUT_FILE}`, MAX_INDEX_BYTES), `${where}: ${LAYOUT_FILE}`);
  const index = parseJsonInput(indexBytes, `${where}: ${INDEX_FILE}`, MAX_INDEX_BYTES);
  checkInput('image-index', index, `${where}: ${INDEX_FILE}`);
  return { index: index as ImageIndex, present };
}

// ---------------------------------------------------------------------------------------------
// The sink

export interface OciArchiveSinkOptions {
  onEvent?: (e: ArchiveEvent) => void;
  /** Refuse a Docker v2 manifest or manifest list rather than convert it to OCI (see LayoutSinkOptions.preserveDigests). */
  preserveDigests?: boolean;
}

/**
 * Writes an OCI archive: oci-layout and index.json first (each entry named by its tags, as
 * org.opencontainers.image.ref.name), then blobs/sha256/*, children before the documents that name
 * them, each once; every header fixed, so the same images give the same bytes. The tar goes to a
 * temporary name beside the target and is renamed into place only when complete.
 */
export class OciArchiveSink implements ImageSink {
  readonly name: string;
  private readonly emit: (e: ArchiveEvent) => void;
  private readonly preserveDigests: boolean;

  private constructor(readonly file: string, opts: OciArchiveSinkOptions) {
    this.name = `oci-archive:${file}`;
    this.emit = opts.onEvent ?? (() => undefined);
    this.preserveDigests = opts.preserveDigests ?? false;
  }

  /** Checked before any image is read: the folder must exist and the target must not be a folder. */
  static async open(file: string, opts: OciArchiveSinkOptions = {}): Promise<OciArchiveSink> {
    const dir = path.dirname(path.resolve(file));
    const parent = await fs.stat(dir).catch((err: unknown) => {
      throw fileError(dir, err);
    });
    if (!parent.isDirectory()) throw new UserError(`${dir}: not a directory`, 'ENOENT');
    if ((await fs.stat(file).catch(() => undefined))?.isDirectory()) throw new UserError(`oci-archive:${file}: is a directory`, 'EINPUT');
    return new OciArchiveSink(file, opts);
  }

  /** Docker v2 manifests are written as OCI ones, or refused with preserveDigests; the result names what was written. */
  async write(given: readonly SinkEntry[]): Promise<SinkResult> {
    const entries = given.map((e) => ({ node: ociForLayout(e.node, this.preserveDigests, this.name), tags: e.tags }));
    let index = emptyIndex();
    for (const e of entries) index.manifests = placeImage(index.manifests, e.node.descriptor, e.tags);
    assertValid('image-index', index, `${this.name}: index.json`);
    const files = archiveEntries(index, uniqueBlobs(entries.map((e) => e.node)));
    // The archive's size, for progress: a header and whole blocks of data per entry, two blocks at the end.
    const total = files.reduce((sum, f) => sum + 512 + Math.ceil(f.size / 512) * 512, 1024);
    const tar = tarStream(fromList(files));
    const counter = counting((bytes) => this.emit({ type: 'archive-write', file: this.file, bytes, total, done: false }));
    await writeArchiveFile(tar, this.file, counter).catch((err: unknown) => {
      throw prefixError(this.name, err);
    });
    this.emit({ type: 'archive-write', file: this.file, bytes: (await fs.stat(this.file)).size, total, done: true });
    return { written: entries.map((e) => e.node.descriptor) };
  }

  async close(): Promise<void> {
    // Nothing held: a failed write has removed its temporary file already.
  }
}

function archiveEntries(index: ImageIndex, blobs: readonly Blob[]): Entry[] {
  return [
    archiveBytes(LAYOUT_FILE, canonicalJson({ imageLayoutVersion: LAYOUT_VERSION })),
    archiveBytes(INDEX_FILE, canonicalJson(index)),
    archiveDirectory('blobs'),
    archiveDirectory('blobs/sha256'),
    ...blobs.map((b) => archiveFile(`blobs/sha256/${digestHex(b.descriptor.digest)}`, b.descriptor.size, () => b.open())),
  ];
}

async function* fromList<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}

/** Every blob the nodes name, each once, children before the documents that name them. */
export function uniqueBlobs(nodes: readonly ImageNode[]): Blob[] {
  const seen = new Set<Digest>();
  const out: Blob[] = [];
  const add = (b: Blob): void => {
    if (seen.has(b.descriptor.digest)) return;
    seen.add(b.descriptor.digest);
    out.push(b);
  };
  const bytes = (descriptor: Descriptor, data: Buffer): Blob => ({ descriptor, open: () => Readable.from([data]) });
  const walk = (n: ImageNode): void => {
    if (n.kind === 'index') {
      n.children.forEach(walk);
      add(bytes(n.descriptor, n.bytes));
    } else if (n.kind === 'artifact') {
      n.blobs.forEach(add);
      add(bytes(n.descriptor, n.bytes));
    } else {
      add(bytes(n.configDescriptor, n.configBytes));
      n.layers.forEach(add);
      add(bytes(n.descriptor, n.manifestBytes));
    }
  };
  nodes.forEach(walk);
  return out;
}
