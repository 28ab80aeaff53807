// What a layout or archive holds, for people and scripts: its images with tags, platforms, config,
// layers (compressed and uncompressed sizes, history) and, on request, the merged filesystem.
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decompressor, sniffCompression } from './compress.js';
import { MediaType, isLayerMediaType, type Descriptor, type LayerDescriptor, type Platform } from './descriptor.js';
import { isDigest, type Digest } from './digest.js';
import { importDockerArchive } from './docker/read.js';
import { UserError, fileError } from './errors.js';
import type { HistoryEntry, ImageConfig, ImageManifest, RuntimeConfig } from './image.js';
import { Layout, refNameOf } from './layout.js';
import { parseCheckedJson } from './jsoncheck.js';
import { checkInput } from './schema.js';
import { ImageFilesystem } from './sources/image.js';
import { unpackArchive } from './validate.js';

export interface InspectedLayer {
  digest: Digest;
  mediaType: string;
  /** Bytes stored (compressed), and of the tar inside. */
  size: number;
  uncompressedSize: number;
  diffId?: string;
  /** The history entry that made the layer. */
  createdBy?: string;
}

export interface InspectedFile {
  path: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkname?: string;
}

export interface InspectedImage {
  /** Ref names in index.json that lead to this image. */
  tags: string[];
  digest: Digest;
  mediaType: string;
  /** The index it was reached through, when it is one platform of a multi-platform image. */
  index?: Digest;
  platform: Platform;
  created?: string;
  author?: string;
  config: RuntimeConfig;
  configDigest: Digest;
  layers: InspectedLayer[];
  history: HistoryEntry[];
  /** Manifest, config and layers as stored. */
  totalSize: number;
  uncompressedSize: number;
  files?: InspectedFile[];
}

export interface InspectReport {
  target: string;
  images: InspectedImage[];
}

export interface InspectOptions {
  /** Also list the merged filesystem (whiteouts applied) of each image. */
  files?: boolean;
}

const MAX_DEPTH = 8;

/**
 * Inspect a layout, an oci-archive or a docker-save archive; with `ref` (a ref name or a digest)
 * only the images it names. An archive is unpacked into a temporary folder, removed afterwards.
 */
export async function inspect(target: string, ref?: string, opts: InspectOptions = {}): Promise<InspectReport> {
  const st = await fs.stat(target).catch((err: unknown) => {
    throw fileError(target, err);
  });
  if (st.isDirectory()) return { target, images: await inspectLayout(await Layout.open(target), ref, opts) };
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'oci-pack-inspect-'));
  try {
    const { dir, kind } = await unpackArchive(target, path.join(scratch, 'unpacked'));
    let layoutDir = dir;
    if (kind === 'docker-archive' && !(await fs.stat(path.join(dir, 'oci-layout')).catch(() => undefined))) {
      // A docker-save archive without index.json: read through the importer, layers stored as they are.
      layoutDir = path.join(scratch, 'layout');
      await importDockerArchive(target, layoutDir, { compression: 'none' });
    }
    return { target, images: await inspectLayout(await Layout.open(layoutDir), ref, opts) };
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

async function inspectLayout(layout: Layout, ref: string | undefined, opts: InspectOptions): Promise<InspectedImage[]> {
  const index = await layout.readIndex();
  const entries = ref === undefined ? index.manifests : index.manifests.filter((d) => refNameOf(d) === ref || (isDigest(ref) && d.digest === ref));
  if (ref !== undefined && entries.length === 0) throw new UserError(`${layout.root}: no image named ${JSON.stringify(ref)} in index.json`, 'ENOTFOUND');
  const byDigest = new Map<Digest, InspectedImage>();
  const out: InspectedImage[] = [];
  const add = async (d: Descriptor, tag: string | undefined, parent: Digest | undefined, depth: number): Promise<void> => {
    if (depth > MAX_DEPTH) throw new UserError(`${layout.root}: indexes nested deeper than ${MAX_DEPTH}`, 'ELAYOUT');
    if (d.mediaType === MediaType.index || d.mediaType === MediaType.dockerManifestList) {
      const doc = parseCheckedJson(await layout.store.read(d), `blob ${d.digest}`) as { manifests?: Descriptor[] };
      checkInput('image-index', doc, `blob ${d.digest}`);
      for (const child of doc.manifests ?? []) await add(child, tag, d.digest, depth + 1);
      return;
    }
    if (d.mediaType !== MediaType.manifest && d.mediaType !== MediaType.dockerManifest) return;
    const known = byDigest.get(d.digest);
    if (known) {
      if (tag !== undefined && !known.tags.includes(tag)) known.tags.push(tag);
      return;
    }
    const image = await inspectImage(layout, d, parent, opts);
    if (tag !== undefined) image.tags.push(tag);
    byDigest.set(d.digest, image);
    out.push(image);
  };
  for (const d of entries) await add(d, refNameOf(d), undefined, 0);
  return out;
}

async function inspectImage(layout: Layout, d: Descriptor, parent: Digest | undefined, opts: InspectOptions): Promise<InspectedImage> {
  const manifest = parseCheckedJson(await layout.store.read(d), `blob ${d.digest}`) as ImageManifest;
  checkInput('image-manifest', manifest, `blob ${d.digest}`);
  const config = parseCheckedJson(await layout.store.read(manifest.config), `blob ${manifest.config.digest}`) as ImageConfig;
  checkInput('image-config', config, `blob ${manifest.config.digest}`);
  const history = config.history ?? [];
  const made = history.filter((h) => !h.empty_layer);
  const layers: InspectedLayer[] = [];
  for (const [i, l] of manifest.layers.entries()) {
    const uncompressedSize = isLayerMediaType(l.mediaType) ? await uncompressedSizeOf(layout, l) : l.size;
    const layer: InspectedLayer = { digest: l.digest, mediaType: l.mediaType, size: l.size, uncompressedSize };
    const diffId = config.rootfs.diff_ids[i];
    if (diffId !== undefined) layer.diffId = diffId;
    const createdBy = made[i]?.created_by;
    if (createdBy !== undefined) layer.createdBy = createdBy;
    layers.push(layer);
  }
  const platform: Platform = { architecture: config.architecture, os: config.os, ...(config.variant ? { variant: config.variant } : {}) };
  const image: InspectedImage = {
    tags: [],
    digest: d.digest,
    mediaType: d.mediaType,
    platform,
    config: config.config ?? {},
    configDigest: manifest.config.digest,
    layers,
    history,
    totalSize: d.size + manifest.config.size + layers.reduce((n, l) => n + l.size, 0),
    uncompressedSize: layers.reduce((n, l) => n + l.uncompressedSize, 0),
  };
  if (parent) image.index = parent;
  if (config.created !== undefined) image.created = config.created;
  if (config.author !== undefined) image.author = config.author;
  if (opts.files) {
    const withDiff = manifest.layers.map((l, i) => ({ ...l, diffId: config.rootfs.diff_ids[i] as Digest }) as LayerDescriptor);
    const fsys = await ImageFilesystem.read({ layers: withDiff.map((l) => ({ descriptor: l, open: () => layout.store.open(l) })), where: d.digest });
    image.files = [];
    for (const p of fsys.walk()) {
      const e = fsys.get(p)!;
      const f: InspectedFile = { path: `/${p}`, type: e.type, mode: e.mode & 0o7777, uid: e.uid, gid: e.gid, size: e.size };
      if (e.linkname !== undefined) f.linkname = e.linkname;
      image.files.push(f);
    }
  }
  return image;
}

/** The bytes of a layer's tar: its verified blob, decompressed and counted. */
async function uncompressedSizeOf(layout: Layout, l: Descriptor): Promise<number> {
  const { kind, stream } = await sniffCompression(layout.store.open(l));
  let n = 0;
  await pipeline(stream, decompressor(kind, l.digest), new Writable({ write: (c: Buffer, _e, cb) => ((n += c.length), cb()) }));
  return n;
}
