// Writing Images as a docker-save archive, legacy (v1) or docker 25+ (oci): every layer verified
// (for v1, spooled uncompressed) first, then one tar whose manifest.json and repositories come last.
import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digestHex, type Digest } from '../digest.js';
import { MediaType, type Descriptor } from '../descriptor.js';
import type { Entry } from '../entries.js';
import { fileError, UserError } from '../errors.js';
import { canonicalJson } from '../json.js';
import { LAYOUT_VERSION, type ImageIndex } from '../layout.js';
import type { Image, Layer } from '../model.js';
import { familiarName, fullName, repositoryName, type DockerRef } from '../ref.js';
import { assertValid } from '../schema.js';
import { removeStaleTemps, syncDir, tempPath } from '../store.js';
import { onInterrupt } from '../cleanup.js';
import { WriteBehind } from '../write-behind.js';
import { counting } from '../streams.js';
import { entryHeader, tarStream, writeArchiveFile } from '../tar.js';
import { legacyLayers } from './legacy.js';
import { measureLayer, openUncompressed, writeAt, type LayerFile, type MeasuredLayer } from './layers.js';

export type DockerArchiveFormat = 'v1' | 'oci';

/** containerd's annotation for an image's full name, which docker 25+ archives carry. */
export const CONTAINERD_IMAGE_NAME = 'io.containerd.image.name';

export interface ArchiveWriteOptions {
  /** v1: docker before 25 (the default); oci: docker 25 and later, also an OCI layout. */
  format?: DockerArchiveFormat;
  /** How many layers are read at once in the measuring pass. */
  concurrency?: number;
  onEvent?: (event: DockerArchiveEvent) => void;
}

export type DockerArchiveEvent =
  | { type: 'warning'; message: string }
  | { type: 'layer-verified'; layer: string; diffId: Digest; size: number }
  /** Measuring a layer before writing: `bytes` of its blob's `total` read so far. */
  | { type: 'layer-measure'; layer: string; bytes: number; total: number }
  /** The archive being written: bytes out so far. */
  | { type: 'archive-progress'; bytes: number }
  | { type: 'archive-done'; bytes: number };

export interface DockerArchiveImage {
  /** The image ID docker reports: the config digest. */
  config: Digest;
  manifest: Digest;
  /** As manifest.json holds them (docker's familiar form: hello:latest). */
  repoTags: string[];
}

/** One image going into an archive, under these docker names (each with a tag), in this order. */
export interface ArchiveImage {
  image: Image;
  names: DockerRef[];
}

/** One item of manifest.json. */
interface ManifestItem {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

/**
 * Write images as a docker-save archive into `output`: a file path (written under a temporary
 * name beside it and renamed, so a failure leaves no file) or a stream. Every layer is read and
 * verified before the first byte is written, so a bad source gives an error, not a broken
 * archive; what fails later (a blob changed meanwhile) destroys the stream with the error.
 */
export async function writeArchive(images: readonly ArchiveImage[], output: string | NodeJS.WritableStream, opts: ArchiveWriteOptions = {}): Promise<DockerArchiveImage[]> {
  // The format was checked by the sink, before anything was read.
  const format = opts.format ?? 'v1';
  const emit = opts.onEvent ?? (() => undefined);
  // v1 holds layers uncompressed: each is decompressed once, into a private folder beside the
  // output (in TMPDIR for a stream), and the archive is copied from there; into a file, the layer
  // being written goes straight to its place in the archive's temp file, and only those another
  // worker reads ahead meanwhile pass through the folder.
  const spool = format === 'v1' ? await makeSpool(output) : undefined;
  const forgetSpool = spool === undefined ? undefined : onInterrupt(() => fs.rm(spool, { recursive: true, force: true }));
  try {
    if (spool !== undefined && typeof output === 'string') {
      await writeLegacyInPlace(images, output, spool, opts.concurrency ?? 2, emit);
      // Written as the layers were verified, so there is no separate copy to show: just its size.
      const { size } = await fs.stat(output);
      emit({ type: 'archive-progress', bytes: size });
      emit({ type: 'archive-done', bytes: size });
    } else {
      const measured = await measureAll(images, opts.concurrency ?? 2, emit, spool);
      const entries = format === 'v1' ? streamedLegacyEntries(images, measured) : ociEntries(images);
      let written = 0;
      await writeTar(tarStream(entries), output, counting((bytes) => emit({ type: 'archive-progress', bytes: (written = bytes) })));
      emit({ type: 'archive-done', bytes: written });
    }
  } finally {
    if (spool !== undefined) await fs.rm(spool, { recursive: true, force: true });
    forgetSpool?.();
  }
  return images.map(({ image, names }) => ({ config: image.configDescriptor.digest, manifest: image.descriptor.digest, repoTags: names.map(familiarName) }));
}

/** A layer to verify, and how progress and messages name it. */
interface LayerJob {
  layer: Layer;
  where: string;
}

/** One layer verified (into `sink`, when given), with its progress told as it goes. */
async function verifyLayer(job: LayerJob, emit: (e: DockerArchiveEvent) => void, sink?: string | LayerFile): Promise<MeasuredLayer> {
  const total = job.layer.descriptor.size;
  emit({ type: 'layer-measure', layer: job.where, bytes: 0, total });
  const layer = await measureLayer(job.layer, job.where, sink, (bytes) => emit({ type: 'layer-measure', layer: job.where, bytes, total }));
  emit({ type: 'layer-verified', layer: job.where, diffId: layer.diffId, size: layer.size });
  return layer;
}

/** Every distinct layer (by blob digest) read once: diff_id checked, uncompressed size learnt. */
async function measureAll(
  images: readonly ArchiveImage[],
  concurrency: number,
  emit: (e: DockerArchiveEvent) => void,
  spool: string | undefined,
): Promise<Map<Digest, MeasuredLayer>> {
  const jobs = new Map<Digest, LayerJob>();
  for (const image of images) {
    image.image.layers.forEach((layer, i) => {
      if (!jobs.has(layer.descriptor.digest)) jobs.set(layer.descriptor.digest, { layer, where: layerName(image, i) });
    });
  }
  const out = new Map<Digest, MeasuredLayer>();
  const queue = [...jobs.values()];
  const worker = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const digest = job.layer.descriptor.digest;
      const file = spool === undefined ? undefined : path.join(spool, `${digestHex(digest)}.tar`);
      out.set(digest, await verifyLayer(job, emit, file));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, queue.length)) }, worker));
  return out;
}

/**
 * A new folder, readable by us alone, for the uncompressed layers: beside a file output, so on its
 * disk. Named as every temp file is (our pid in it), so a later run sweeps what a killed one left.
 */
async function makeSpool(output: string | NodeJS.WritableStream): Promise<string> {
  const dir = typeof output === 'string' ? path.dirname(path.resolve(output)) : os.tmpdir();
  try {
    await removeStaleTemps(dir);
    const spool = tempPath(dir);
    await fs.mkdir(spool, { mode: 0o700 });
    return spool;
  } catch (err) {
    throw fileError(dir, err);
  }
}

function layerName({ image, names }: ArchiveImage, i: number): string {
  const label = names[0] ? familiarName(names[0]) : image.descriptor.digest;
  return `${label}: layer ${i} (${image.layers[i]!.descriptor.digest})`;
}

const MTIME = 0;

function dirEntry(p: string): Entry {
  return { path: p, type: 'directory', mode: 0o755, uid: 0, gid: 0, uname: '', gname: '', mtime: MTIME, size: 0 };
}

function bytesEntry(p: string, data: Buffer): Entry {
  return { path: p, type: 'file', mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: MTIME, size: data.length, open: () => Readable.from([data]) };
}

function streamEntry(p: string, size: number, open: () => Readable): Entry {
  return { path: p, type: 'file', mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: MTIME, size, open };
}

function symlinkEntry(p: string, target: string): Entry {
  return { path: p, type: 'symlink', mode: 0o777, uid: 0, gid: 0, uname: '', gname: '', mtime: MTIME, size: 0, linkname: target };
}

/** Where a layer's uncompressed tar goes in the legacy form, its size not known before it is read. */
interface LayerSlot extends LayerJob {
  slot: true;
  path: string;
}

function isSlot(item: Entry | LayerSlot): item is LayerSlot {
  return 'slot' in item;
}

/** The legacy entries with each layer slot filled from the measured (and spooled) layers. */
async function* streamedLegacyEntries(images: readonly ArchiveImage[], measured: Map<Digest, MeasuredLayer>): AsyncGenerator<Entry> {
  for await (const item of legacyEntries(images)) {
    if (!isSlot(item)) {
      yield item;
      continue;
    }
    const m = measured.get(item.layer.descriptor.digest)!;
    yield streamEntry(item.path, m.size, () => openUncompressed(m, item.where));
  }
}

/**
 * The legacy form: `<id>/{VERSION,json,layer.tar}` per layer (a layer whose bytes are already in
 * the archive is a relative symlink to its first copy), `<config hex>.json` per image, then
 * manifest.json and repositories.
 */
async function* legacyEntries(images: readonly ArchiveImage[]): AsyncGenerator<Entry | LayerSlot> {
  const written = new Set<string>();
  const firstCopy = new Map<Digest, string>();
  const manifest: ManifestItem[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const item of images) {
    const { image, names } = item;
    const legacy = legacyLayers(diffIdsOf(image), image.configBytes);
    for (const [i, layer] of legacy.entries()) {
      if (written.has(layer.id)) continue;
      written.add(layer.id);
      yield dirEntry(layer.id);
      yield bytesEntry(`${layer.id}/VERSION`, Buffer.from('1.0'));
      yield bytesEntry(`${layer.id}/json`, layer.json);
      const first = firstCopy.get(layer.diffId);
      if (first !== undefined) {
        yield symlinkEntry(`${layer.id}/layer.tar`, `../${first}/layer.tar`);
      } else {
        firstCopy.set(layer.diffId, layer.id);
        yield { slot: true, path: `${layer.id}/layer.tar`, layer: image.layers[i]!, where: layerName(item, i) };
      }
    }
    const configName = `${digestHex(image.configDescriptor.digest)}.json`;
    if (!written.has(configName)) {
      written.add(configName);
      yield bytesEntry(configName, image.configBytes);
    }
    manifest.push({ Config: configName, RepoTags: names.map(familiarName), Layers: legacy.map((l) => `${l.id}/layer.tar`) });
    const top = legacy[legacy.length - 1];
    for (const name of names) {
      if (top) (repositories[repositoryName(name, true)] ??= {})[name.tag!] = top.id;
    }
  }
  yield* closingDocuments(manifest, repositories);
}

/**
 * The docker 25+ form: an OCI layout whose blobs are the layout's own (layers as they are,
 * manifests byte for byte), index.json naming each tag as docker does, and a manifest.json whose
 * Config and Layers point into blobs/.
 */
async function* ociEntries(images: readonly ArchiveImage[]): AsyncGenerator<Entry> {
  const written = new Set<Digest>();
  const manifest: ManifestItem[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.index, manifests: [] };
  const blob = (d: Digest) => `blobs/sha256/${digestHex(d)}`;
  yield dirEntry('blobs');
  yield dirEntry('blobs/sha256');
  for (const { image, names } of images) {
    for (const layer of image.layers) {
      const d = layer.descriptor;
      if (written.has(d.digest)) continue;
      written.add(d.digest);
      yield streamEntry(blob(d.digest), d.size, () => layer.open());
    }
    for (const [d, bytes] of [[image.configDescriptor.digest, image.configBytes], [image.descriptor.digest, image.manifestBytes]] as const) {
      if (written.has(d)) continue;
      written.add(d);
      yield bytesEntry(blob(d), bytes);
    }
    manifest.push({ Config: blob(image.configDescriptor.digest), RepoTags: names.map(familiarName), Layers: image.layers.map((l) => blob(l.descriptor.digest)) });
    const entry: Descriptor = { mediaType: image.descriptor.mediaType, digest: image.descriptor.digest, size: image.descriptor.size, platform: image.descriptor.platform ?? image.platform };
    if (names.length === 0) index.manifests.push(entry);
    const diffIds = diffIdsOf(image);
    for (const name of names) {
      index.manifests.push({ ...entry, annotations: { [CONTAINERD_IMAGE_NAME]: fullName(name), 'org.opencontainers.image.ref.name': name.tag! } });
      const top = diffIds[diffIds.length - 1];
      if (top) (repositories[repositoryName(name, true)] ??= {})[name.tag!] = digestHex(top);
    }
  }
  assertValid('image-index', index, 'index.json of the archive');
  yield bytesEntry('index.json', canonicalJson(index));
  yield* closingDocuments(manifest, repositories, canonicalJson({ imageLayoutVersion: LAYOUT_VERSION }));
}

function* closingDocuments(manifest: ManifestItem[], repositories: Record<string, Record<string, string>>, ociLayout?: Buffer): Generator<Entry> {
  assertValid('docker-manifest', manifest, 'manifest.json');
  yield bytesEntry('manifest.json', canonicalJson(manifest));
  if (ociLayout) yield bytesEntry('oci-layout', ociLayout);
  if (Object.keys(repositories).length > 0) {
    assertValid('docker-repositories', repositories, 'repositories');
    yield bytesEntry('repositories', canonicalJson(repositories));
  }
}

/** The tar into a file (temporary name, fsync, rename) or into a stream. */
async function writeTar(tar: Readable, output: string | NodeJS.WritableStream, counter: Transform): Promise<void> {
  if (typeof output !== 'string') await pipeline(tar, counter, output);
  else await writeArchiveFile(tar, output, counter);
}

// ---------------------------------------------------------------------------------------------
// v1 into a file: each layer decompressed once, straight into its place

/**
 * The legacy archive written into a temp file beside `output` and renamed into place, so nothing
 * reaches `output` before every layer is verified. A layer's bytes are written where they belong
 * as they are verified, and its header, which needs their size, after them; the bytes of the
 * other entries are those tarStream writes (entryHeader), so the archive is the one a stream gets.
 */
async function writeLegacyInPlace(
  images: readonly ArchiveImage[],
  output: string,
  spool: string,
  concurrency: number,
  emit: (e: DockerArchiveEvent) => void,
): Promise<void> {
  const items: (Entry | LayerSlot)[] = [];
  for await (const item of legacyEntries(images)) items.push(item);
  const slots = items.filter(isSlot);
  // Blobs no slot reads (a second blob of a diff_id already written) are verified all the same.
  const inSlots = new Set(slots.map((s) => s.layer.descriptor.digest));
  const others = new Map<Digest, LayerJob>();
  for (const image of images) {
    image.image.layers.forEach((layer, i) => {
      const digest = layer.descriptor.digest;
      if (!inSlots.has(digest) && !others.has(digest)) others.set(digest, { layer, where: layerName(image, i) });
    });
  }
  const dir = path.dirname(path.resolve(output));
  await removeStaleTemps(dir);
  const tmp = tempPath(dir);
  const forget = onInterrupt(() => fs.rm(tmp, { force: true }));
  let handle: FileHandle | undefined;
  let behind: WriteBehind | undefined;
  // The slots a reader-ahead took, from the last one back, spooled: [slot index] → its layer.
  const ahead = new Map<number, Promise<MeasuredLayer>>();
  let next = 0;
  let stop = false;
  const verifyOthers = async () => {
    for (const other of others.values()) {
      if (stop) return;
      others.delete(other.layer.descriptor.digest);
      await verifyLayer(other, emit);
    }
  };
  const readAhead = async () => {
    await verifyOthers();
    for (let last = slots.length - 1; !stop && last > next; last--) {
      if (ahead.has(last)) continue;
      const slot = slots[last]!;
      const job = verifyLayer(slot, emit, path.join(spool, `${last}.tar`));
      ahead.set(last, job);
      await job;
    }
  };
  // A layer's error is reported as it is; only the archive file's own are named after `output`.
  const fromLayers = new WeakSet<object>();
  const tracked = <T>(p: Promise<T>): Promise<T> =>
    p.catch((err: unknown) => {
      if (typeof err === 'object' && err !== null) fromLayers.add(err);
      throw err;
    });
  const readers = Array.from({ length: Math.max(0, concurrency - 1) }, () => tracked(readAhead()));
  // A reader's failure ends the writing at its next layer; the writer's stops the readers taking more.
  let failure: unknown;
  const readersDone = Promise.all(readers);
  readersDone.catch((err: unknown) => {
    failure ??= err;
  });
  try {
    // Read as well as written: a layer past 8 GiB is moved up in place to make room for its PAX header.
    handle = await fs.open(tmp, 'wx+', 0o644);
    const out = handle;
    behind = new WriteBehind(out);
    const wrote = behind.wrote.bind(behind);
    let position = 0;
    let pending: Buffer[] = [];
    let pendingLength = 0;
    const add = (b: Buffer) => {
      pending.push(b);
      pendingLength += b.length;
    };
    const flush = async () => {
      if (pendingLength === 0) return;
      await writeAt(out, Buffer.concat(pending, pendingLength), position);
      position += pendingLength;
      pending = [];
      pendingLength = 0;
    };
    for (const item of items) {
      if (!isSlot(item)) {
        add(entryHeader(item));
        if (item.type === 'file' && item.open) {
          const data = await readWhole(item.open(), item.size, item.path);
          add(data);
          add(Buffer.alloc(padding(data.length)));
        }
        continue;
      }
      await flush();
      if (failure !== undefined) throw failure;
      const index = next++;
      const at = position + BLOCK;
      let size: number;
      const spooled = ahead.get(index);
      if (spooled) {
        const m = await tracked(spooled);
        let to = at;
        for await (const chunk of createReadStream(m.file!, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
          await writeAt(out, chunk, to);
          to += chunk.length;
          wrote(chunk.length);
        }
        await fs.rm(m.file!, { force: true });
        size = m.size;
      } else {
        ahead.set(index, Promise.resolve(undefined as unknown as MeasuredLayer));
        const m = await tracked(verifyLayer(item, emit, { handle: out, position: at, name: output, wrote }));
        size = m.size;
      }
      const header = entryHeader(streamEntry(item.path, size, () => Readable.from([])));
      // Past 8 GiB the size needs a PAX record before the header: the bytes move up to make room.
      if (header.length > BLOCK) await moveUp(out, at, size, header.length - BLOCK);
      await writeAt(out, header, position);
      position += header.length + size;
      add(Buffer.alloc(padding(size)));
    }
    add(Buffer.alloc(2 * BLOCK));
    await flush();
    // With no reader ahead (concurrency 1), the blobs no slot read are verified now.
    await tracked(verifyOthers());
    await readersDone;
    await behind.sync();
    await out.close();
    handle = undefined;
    await fs.rename(tmp, output);
    await syncDir(dir);
  } catch (err) {
    stop = true;
    await Promise.allSettled(readers);
    await behind?.settle();
    await handle?.close().catch(() => undefined);
    await fs.rm(tmp, { force: true });
    if (err instanceof UserError || (typeof err === 'object' && err !== null && fromLayers.has(err))) throw err;
    throw fileError(output, err);
  } finally {
    forget();
  }
}

const BLOCK = 512;

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** `length` bytes at `from` moved `by` bytes further into the file, the last ones first. */
async function moveUp(handle: FileHandle, from: number, length: number, by: number): Promise<void> {
  const buf = Buffer.allocUnsafe(1024 * 1024);
  for (let end = from + length; end > from; ) {
    const start = Math.max(from, end - buf.length);
    const { bytesRead } = await handle.read(buf, 0, end - start, start);
    if (bytesRead !== end - start) throw new Error(`short read moving a layer in the archive (${bytesRead} of ${end - start} bytes)`);
    await writeAt(handle, buf.subarray(0, bytesRead), start + by);
    end = start;
  }
}

async function readWhole(data: Readable, size: number, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of data as AsyncIterable<Buffer>) chunks.push(chunk);
  const out = Buffer.concat(chunks);
  if (out.length !== size) throw new Error(`${name}: ${out.length} bytes, the entry says ${size}`);
  return out;
}

function diffIdsOf(image: Image): Digest[] {
  return image.layers.map((l) => l.descriptor.diffId);
}
