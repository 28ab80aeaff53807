// Writing a layout's images as a docker-save archive, legacy (v1) or docker 25+ (oci): every layer
// verified (for v1, spooled uncompressed) first, then one tar whose manifest.json and repositories come last.
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digestHex, type Digest } from '../digest.js';
import { MediaType, type Descriptor, type Platform } from '../descriptor.js';
import type { Entry } from '../entries.js';
import { fileError, UserError } from '../errors.js';
import { canonicalJson } from '../json.js';
import { Layout, LAYOUT_VERSION, type ImageIndex } from '../layout.js';
import { familiarName, fullName, repositoryName } from '../ref.js';
import { assertValid } from '../schema.js';
import { removeStaleTemps, syncDir, tempPath, type BlobStore } from '../store.js';
import { onInterrupt } from '../cleanup.js';
import { counting } from '../streams.js';
import { tarStream } from '../tar.js';
import { legacyLayers } from './legacy.js';
import { measureLayer, openUncompressed, type MeasuredLayer } from './layers.js';
import { selectImages, type SelectedImage } from './select.js';

export type DockerArchiveFormat = 'v1' | 'oci';

/** containerd's annotation for an image's full name, which docker 25+ archives carry. */
export const CONTAINERD_IMAGE_NAME = 'io.containerd.image.name';

export interface DockerArchiveOptions {
  /** Images to take, by ref name; default every image with a ref name. */
  tags?: readonly string[];
  /** The repository for bare-tag ref names (`v1` becomes `NAME:v1`). */
  name?: string;
  /** The platform an image index is resolved to; default this host's. */
  platform?: Platform;
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

export interface DockerArchiveResult {
  format: DockerArchiveFormat;
  images: DockerArchiveImage[];
}

/** One item of manifest.json. */
interface ManifestItem {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

/**
 * Write the layout's images as a docker-save archive into `output`: a file path (written under a
 * temporary name beside it and renamed, so a failure leaves no file) or a stream. Every layer is
 * read and verified before the first byte is written, so a bad layout gives an error, not a
 * broken archive; what fails later (a blob changed meanwhile) destroys the stream with the error.
 */
export async function writeDockerArchive(
  layout: string | Layout,
  output: string | NodeJS.WritableStream,
  opts: DockerArchiveOptions = {},
): Promise<DockerArchiveResult> {
  const format = opts.format ?? 'v1';
  if (format !== 'v1' && format !== 'oci') throw new UserError(`--format ${String(format)}: expected v1 or oci`, 'EUSAGE');
  const emit = opts.onEvent ?? (() => undefined);
  const opened = typeof layout === 'string' ? await Layout.open(layout) : layout;
  const images = await selectImages(opened, {
    ...(opts.tags ? { tags: opts.tags } : {}),
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    ...(opts.platform ? { platform: opts.platform } : {}),
    warn: (message) => emit({ type: 'warning', message }),
  });
  // v1 holds layers uncompressed: each is decompressed once, into a private folder beside the
  // output (in TMPDIR for a stream), and the archive is copied from there.
  const spool = format === 'v1' ? await makeSpool(output) : undefined;
  const forgetSpool = spool === undefined ? undefined : onInterrupt(() => fs.rm(spool, { recursive: true, force: true }));
  try {
    const measured = await measureAll(opened.store, images, opts.concurrency ?? 2, emit, spool);
    const entries = format === 'v1' ? legacyEntries(opened.store, images, measured) : ociEntries(opened.store, images);
    let written = 0;
    await writeTar(tarStream(entries), output, counting((bytes) => emit({ type: 'archive-progress', bytes: (written = bytes) })));
    emit({ type: 'archive-done', bytes: written });
  } finally {
    if (spool !== undefined) await fs.rm(spool, { recursive: true, force: true });
    forgetSpool?.();
  }
  return {
    format,
    images: images.map((i) => ({ config: i.config.digest, manifest: i.manifest.digest, repoTags: i.names.map(familiarName) })),
  };
}

/** Every distinct layer (by blob digest) read once: diff_id checked, uncompressed size learnt. */
async function measureAll(
  store: BlobStore,
  images: SelectedImage[],
  concurrency: number,
  emit: (e: DockerArchiveEvent) => void,
  spool: string | undefined,
): Promise<Map<Digest, MeasuredLayer>> {
  const jobs = new Map<Digest, { blob: Descriptor; diffId: Digest; where: string }>();
  for (const image of images) {
    image.layers.forEach((blob, i) => {
      if (!jobs.has(blob.digest)) jobs.set(blob.digest, { blob, diffId: image.diffIds[i]!, where: layerName(image, i) });
    });
  }
  const out = new Map<Digest, MeasuredLayer>();
  const queue = [...jobs.values()];
  const worker = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const file = spool === undefined ? undefined : path.join(spool, `${digestHex(job.blob.digest)}.tar`);
      emit({ type: 'layer-measure', layer: job.where, bytes: 0, total: job.blob.size });
      const layer = await measureLayer(store, job.blob, job.diffId, job.where, file, (bytes) => emit({ type: 'layer-measure', layer: job.where, bytes, total: job.blob.size }));
      out.set(job.blob.digest, layer);
      emit({ type: 'layer-verified', layer: job.where, diffId: layer.diffId, size: layer.size });
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

function layerName(image: SelectedImage, i: number): string {
  const label = image.names[0] ? familiarName(image.names[0]) : image.manifest.digest;
  return `${label}: layer ${i} (${image.layers[i]!.digest})`;
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

/**
 * The legacy form: `<id>/{VERSION,json,layer.tar}` per layer (a layer whose bytes are already in
 * the archive is a relative symlink to its first copy), `<config hex>.json` per image, then
 * manifest.json and repositories.
 */
async function* legacyEntries(store: BlobStore, images: SelectedImage[], measured: Map<Digest, MeasuredLayer>): AsyncGenerator<Entry> {
  const written = new Set<string>();
  const firstCopy = new Map<Digest, string>();
  const manifest: ManifestItem[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const image of images) {
    const legacy = legacyLayers(image.diffIds, image.configBytes);
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
        const m = measured.get(image.layers[i]!.digest)!;
        yield streamEntry(`${layer.id}/layer.tar`, m.size, () => openUncompressed(store, m, layerName(image, i)));
      }
    }
    const configName = `${digestHex(image.config.digest)}.json`;
    if (!written.has(configName)) {
      written.add(configName);
      yield bytesEntry(configName, image.configBytes);
    }
    manifest.push({ Config: configName, RepoTags: image.names.map(familiarName), Layers: legacy.map((l) => `${l.id}/layer.tar`) });
    const top = legacy[legacy.length - 1];
    for (const name of image.names) {
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
async function* ociEntries(store: BlobStore, images: SelectedImage[]): AsyncGenerator<Entry> {
  const written = new Set<Digest>();
  const manifest: ManifestItem[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.index, manifests: [] };
  const blob = (d: Digest) => `blobs/sha256/${digestHex(d)}`;
  yield dirEntry('blobs');
  yield dirEntry('blobs/sha256');
  for (const image of images) {
    for (const layer of image.layers) {
      if (written.has(layer.digest)) continue;
      written.add(layer.digest);
      yield streamEntry(blob(layer.digest), layer.size, () => store.open(layer));
    }
    for (const [d, bytes] of [[image.config.digest, image.configBytes], [image.manifest.digest, image.manifestBytes]] as const) {
      if (written.has(d)) continue;
      written.add(d);
      yield bytesEntry(blob(d), bytes);
    }
    manifest.push({ Config: blob(image.config.digest), RepoTags: image.names.map(familiarName), Layers: image.layers.map((l) => blob(l.digest)) });
    const entry: Descriptor = { mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size };
    if (image.platform) entry.platform = image.platform;
    if (image.names.length === 0) index.manifests.push(entry);
    for (const name of image.names) {
      index.manifests.push({ ...entry, annotations: { [CONTAINERD_IMAGE_NAME]: fullName(name), 'org.opencontainers.image.ref.name': name.tag! } });
      const top = image.diffIds[image.diffIds.length - 1];
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
  if (typeof output !== 'string') {
    await pipeline(tar, counter, output);
    return;
  }
  const dir = path.dirname(path.resolve(output));
  // What killed runs (SIGKILL, a power cut) left beside the output: their pid in the name is gone.
  await removeStaleTemps(dir);
  const tmp = tempPath(dir);
  const forget = onInterrupt(() => fs.rm(tmp, { force: true }));
  try {
    await pipeline(tar, counter, createWriteStream(tmp, { flags: 'wx', mode: 0o644, flush: true }));
    await fs.rename(tmp, output);
    await syncDir(dir);
  } catch (err) {
    tar.destroy();
    await fs.rm(tmp, { force: true });
    throw fileError(output, err);
  } finally {
    forget();
  }
}
