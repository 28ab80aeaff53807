// Building one image into a layout: layer sources in order → layers (concurrently, assembled in a
// fixed order) → config → manifest → index.json. The one path the CLI and the Dockerfile share.
import * as path from 'node:path';
import { compressor as makeCompressor, type CompressionName } from './compress.js';
import { MediaType, isLayerMediaType, type Descriptor, type LayerDescriptor, type Platform } from './descriptor.js';
import type { Digest } from './digest.js';
import { baseName, cleanPath, normalise, sourceDateEpoch, type Entry, type Normalisation } from './entries.js';
import { UserError, prefixError, usageError } from './errors.js';
import {
  applyConfigChanges,
  createConfig,
  createManifest,
  isoTime,
  type ImageManifest,
  type ConfigChanges,
  type HistoryEntry,
  type RuntimeConfig,
} from './image.js';
import { canonicalJson } from './json.js';
import { writeLayer } from './layer.js';
import type { Layout } from './layout.js';
import { LayerChanges, LowerTree } from './lower.js';
import type { Image, Layer } from './model.js';
import { placeEntries, type Placement } from './place.js';
import { hostPlatform } from './platform.js';
import { checkRefName, isBareTag, parseDockerRef } from './ref.js';
import { assertValid } from './schema.js';
import { hostEntries } from './sources/host.js';
import type { BlobStore } from './store.js';
import { LayoutTransaction } from './transaction.js';
import { putBlob } from './transports/layout.js';
import { mapLimit } from './registry/limit.js';

export interface Owner {
  uid: number;
  gid: number;
}

/** A host file or directory placed at an absolute path in the image (one `--add`). */
export interface AddSource {
  kind: 'add';
  src: string;
  /** Absolute path in the image; a trailing "/" puts a file inside that directory under its own name. */
  dest: string;
  chown?: Owner;
  chmod?: number;
  createdBy?: string;
}

/** An existing tar archive, plain or gzip, as one layer (one `--layer`). */
export interface TarballSource {
  kind: 'tarball';
  path: string;
  createdBy?: string;
}

/**
 * Entries placed by the caller (the Dockerfile front end's COPY, ADD and WORKDIR): each
 * placement's destination follows the lower layers' symlinks and gets its parents, as an `--add`
 * does. `placements` returns null when the step changes nothing (WORKDIR of a directory that is
 * already there): then no layer is written and the step's history entry becomes an empty_layer one.
 * `below` is the image so far (base and earlier new layers): its directories and symlinks, and its
 * layers, readable from the build's staging.
 */
export interface PlacedSource {
  kind: 'placed';
  placements: (epoch: number, preserveMtime: boolean, below: { tree: LowerTree; layers: readonly Layer[] }) => Placement[] | null | Promise<Placement[] | null>;
  createdBy: string;
  /** How errors name the step ("Dockerfile:7"); `createdBy` by default. */
  where?: string;
}

export type LayerSource = AddSource | TarballSource | PlacedSource;

export type BuildEvent =
  | { type: 'layer-start'; index: number; total: number; createdBy: string }
  | { type: 'layer-progress'; index: number; bytes: number }
  | { type: 'layer-done'; index: number; layer: LayerDescriptor }
  | { type: 'warning'; message: string }
  /** A tag left another image for this one; that image's blobs stay until a gc. */
  | { type: 'tag-moved'; tag: string; from: Digest };

/** How an image is written and named: the options every way of building one shares. */
export interface ImageOutputOptions {
  /** The layout to write into: a path (created when missing or empty) or an open Layout. */
  layout: string | Layout;
  /** Default: the base image's platform, else this host's (in OCI names). */
  platform?: Platform;
  tags?: string[];
  /** Annotations on the manifest. */
  annotations?: Record<string, string>;
  compression?: CompressionName;
  compressionLevel?: number;
  /** Keep host mtimes (clamped to SOURCE_DATE_EPOCH when it is set) instead of setting them to it. */
  preserveMtime?: boolean;
  /** Seconds; default SOURCE_DATE_EPOCH from the environment, else 0. */
  sourceDateEpoch?: number;
  /** How many layers are written at once. */
  concurrency?: number;
  onEvent?: (event: BuildEvent) => void;
}

export interface BuildOptions extends ImageOutputOptions {
  /**
   * A transaction on `layout` that several builds of one run share (a Dockerfile's stages, the
   * images of a multi-platform build). buildImage stages into it and, on failure, leaves it for
   * its owner to abort; a recorded build commits it. Default: one of its own.
   */
  transaction?: LayoutTransaction;
  /**
   * false: an intermediate image (a Dockerfile stage other than the target, one platform of an
   * index). Its blobs stay in the transaction's staging and nothing is named in index.json. Default
   * true: the blobs the image references are published (other staged blobs are dropped) and the
   * image is recorded.
   */
  record?: boolean;
  /**
   * The image to build on, from any source (src/resolve.ts): its layers are copied into the
   * staging by digest, verified, never recompressed (docker layer types become the OCI ones).
   */
  base?: Image;
  /** The base's directories and symlinks when the caller has them already (default: read from its layers when a layer needs them). */
  baseTree?: () => Promise<LowerTree>;
  layers?: LayerSource[];
  /** The runtime config to start from instead of the base's (the Dockerfile computes its own). */
  runtime?: RuntimeConfig;
  config?: ConfigChanges;
  /** The config's `author` (MAINTAINER); '' removes the base's. Default: the base's. */
  author?: string;
  /** The history of the new steps; by default one entry per layer from its `createdBy`. */
  history?: HistoryEntry[];
}

/** The image built, readable from the layout (or, unrecorded, from the staging), and what it was named. */
export interface BuildResult extends Image {
  /** The tags it got (none for an unrecorded image). */
  tags: string[];
  /** The layout's root. */
  layout: string;
}

/**
 * Tags as the layout stores them: the OCI ref.name grammar, and, when a tag has a '/' or ':', a
 * docker reference with no digest, so to-docker can name the image later (a one-word tag stays a
 * bare tag, which umoci and skopeo write too). Checked before anything is built.
 */
export function checkTags(tags: readonly string[]): void {
  for (const tag of tags) {
    checkRefName(tag, '--tag');
    if (isBareTag(tag)) continue;
    const ref = parseDockerRef(tag, '--tag');
    if (ref.digest !== undefined) throw usageError(`--tag ${tag}: names a digest; a tag names an image by repository and tag (e.g. hello:1)`);
  }
}

export async function buildImage(opts: BuildOptions): Promise<BuildResult> {
  const emit = opts.onEvent ?? (() => undefined);
  const tags = opts.tags ?? [];
  checkTags(tags);
  for (const tag of tags) {
    if (isBareTag(tag)) {
      emit({
        type: 'warning',
        message: `--tag ${tag}: a single word; docker-format tools read it as a bare tag of no name (say ${tag}:latest if you meant that)`,
      });
    }
  }
  const layers = opts.layers ?? [];
  for (const l of layers) checkSource(l);
  const compressor = makeCompressor(opts.compression ?? 'gzip', opts.compressionLevel);
  const epoch = opts.sourceDateEpoch ?? sourceDateEpoch() ?? 0;
  const base = opts.base;
  const platform = opts.platform ?? base?.platform ?? hostPlatform();
  const runtime = applyConfigChanges(opts.runtime ?? base?.config.config ?? {}, opts.config ?? {});
  const record = opts.record ?? true;
  if (!opts.transaction && !record) throw new Error('buildImage: an unrecorded image needs a transaction to stay in');
  const baseLayers = base ? base.layers.map((l, i) => ociLayer(l.descriptor, `${base.where}: layer ${i + 1}`)) : [];

  const tx = opts.transaction ?? (await LayoutTransaction.begin(opts.layout));
  const store = tx.staging;
  try {
    if (base) await stageLayers(store, base);
    const built = await writeLayers(store, baseLayers, layers, opts, compressor, epoch, emit);
    const history = stepHistory(opts.history ?? layers.map((l) => ({ created: isoTime(epoch), created_by: createdByOf(l) })), built);
    const newLayers = built.filter((l): l is LayerDescriptor => l !== undefined);
    const allLayers = [...baseLayers, ...newLayers];
    const config = createConfig({
      ...(base ? { base: base.config } : {}),
      platform,
      created: epoch,
      runtime,
      layers: allLayers,
      history: [...(base?.config.history ?? []), ...history],
    });
    if (opts.author !== undefined) {
      if (opts.author === '') delete config.author;
      else config.author = opts.author;
    }
    assertValid('image-config', config, 'image config');
    const configBytes = canonicalJson(config);
    const configDesc = await store.putBytes(configBytes, { mediaType: MediaType.config });
    const manifest: ImageManifest = createManifest(configDesc, allLayers, opts.annotations);
    assertValid('image-manifest', manifest, 'image manifest');
    const manifestBytes = canonicalJson(manifest);
    const manifestDesc = await store.putBytes(manifestBytes, { mediaType: MediaType.manifest });
    const descriptor: Descriptor = { ...manifestDesc, platform };
    if (record) {
      const keep = new Set([...allLayers.map((l) => l.digest), configDesc.digest, manifestDesc.digest]);
      const moved = await tx.commit([{ descriptor, tags }], keep);
      for (const m of moved) emit({ type: 'tag-moved', tag: m.tag, from: m.from });
    }
    // The staging reads through to the layout: the layers are found there before and after the commit.
    return {
      kind: 'image',
      descriptor,
      manifestBytes,
      manifest,
      configDescriptor: configDesc,
      configBytes,
      config,
      platform,
      layers: allLayers.map((d) => ({ descriptor: d, open: () => store.open(d) })),
      where: `${record && tags[0] !== undefined ? tags[0] : 'image'}@${manifestDesc.digest}`,
      tags: record ? tags : [],
      layout: tx.layout.root,
    };
  } finally {
    // Our own transaction: whatever was not committed is discarded (a shared one is its owner's).
    if (!opts.transaction) await tx.abort();
  }
}

/** Docker's layer media types, and the OCI ones with the same bytes that our manifests name. */
const OCI_LAYER_TYPE: Readonly<Record<string, string>> = {
  [MediaType.dockerLayer]: MediaType.layer,
  [MediaType.dockerLayerGzip]: MediaType.layerGzip,
  [MediaType.dockerLayerZstd]: MediaType.layerZstd,
  [MediaType.layer]: MediaType.layer,
  [MediaType.layerGzip]: MediaType.layerGzip,
  [MediaType.layerZstd]: MediaType.layerZstd,
};

/** A base layer as the new manifest names it: the same bytes, under the OCI media type. */
function ociLayer(l: LayerDescriptor, where: string): LayerDescriptor {
  const mediaType = OCI_LAYER_TYPE[l.mediaType];
  if (mediaType === undefined) {
    const why = isLayerMediaType(l.mediaType) ? 'a foreign or non-distributable layer, which cannot be copied' : 'not a layer media type';
    throw new UserError(`${where} is ${l.mediaType}: ${why}`, 'EUNSUPPORTED');
  }
  const out: LayerDescriptor = { mediaType, digest: l.digest, size: l.size, diffId: l.diffId };
  if (l.annotations && Object.keys(l.annotations).length > 0) out.annotations = l.annotations;
  return out;
}

/**
 * An image's layers into a staging store, each verified as it streams from its source (those the
 * layout has are pinned, not read; a few at once, so a registry fetches them in parallel): the
 * build then reads them locally and publishes them with the image.
 */
export async function stageLayers(store: BlobStore, image: Image, concurrency = 4): Promise<void> {
  await mapLimit(image.layers, concurrency, async (layer, i) => {
    try {
      await putBlob(store, layer.descriptor, () => layer.open());
    } catch (err) {
      throw prefixError(`${image.where}: layer ${i + 1} (${layer.descriptor.digest})`, err);
    }
  });
}

/**
 * The history of the new steps, with the entry of each layer that turned out to change nothing
 * marked empty_layer: the k-th non-empty entry belongs to the k-th layer source.
 */
function stepHistory(given: HistoryEntry[], written: Array<LayerDescriptor | undefined>): HistoryEntry[] {
  const history = given.map((h) => ({ ...h }));
  let k = 0;
  for (const h of history) {
    if (h.empty_layer) continue;
    if (k < written.length && written[k] === undefined) h.empty_layer = true;
    k++;
  }
  if (k !== written.length) throw new Error(`history has ${k} non-empty entries for ${written.length} new layers`);
  return history;
}

async function writeLayers(
  store: BlobStore,
  baseLayers: readonly LayerDescriptor[],
  sources: LayerSource[],
  opts: BuildOptions,
  compressor: ReturnType<typeof makeCompressor>,
  epoch: number,
  emit: (e: BuildEvent) => void,
): Promise<Array<LayerDescriptor | undefined>> {
  const abort = new AbortController();
  const slots = new Semaphore(Math.max(1, opts.concurrency ?? 2));
  const changes = sources.map(() => new LayerChanges());
  // undefined: a placed source that changed nothing, so wrote no layer.
  const written: Array<Promise<LayerDescriptor | undefined>> = [];
  // The tree below layer i, built on demand (only --add and placed layers need one), applying
  // each lower layer's changes in order once that layer is written.
  const trees = new Map<number, Promise<LowerTree>>();
  const treeBelow = (i: number): Promise<LowerTree> => {
    let t = trees.get(i);
    if (!t) {
      t = i === 0
        ? opts.baseTree ? opts.baseTree() : baseLayers.length > 0 ? baseTreeOf(store, baseLayers, opts.base!.where) : Promise.resolve(new LowerTree())
        : (async () => {
            const tree = await treeBelow(i - 1);
            await written[i - 1];
            tree.apply(changes[i - 1]!);
            return tree;
          })();
      trees.set(i, t);
    }
    return t;
  };
  const imageBelow = async (i: number): Promise<{ tree: LowerTree; layers: Layer[] }> => {
    const tree = await treeBelow(i);
    const earlier = await Promise.all(written.slice(0, i));
    const layers = [...baseLayers, ...earlier.filter((l): l is LayerDescriptor => l !== undefined)];
    return { tree, layers: layers.map((d) => ({ descriptor: d, open: () => store.open(d) })) };
  };
  sources.forEach((source, i) => {
    const recordChanges = sources.slice(i + 1).some((s) => s.kind !== 'tarball');
    written.push(
      slots.run(async () => {
        abort.signal.throwIfAborted();
        emit({ type: 'layer-start', index: i, total: sources.length, createdBy: createdByOf(source) });
        try {
          let produced: AsyncIterable<Entry>;
          if (source.kind === 'placed') {
            const below = await imageBelow(i);
            const placements = await source.placements(epoch, opts.preserveMtime ?? false, below);
            if (placements === null) return undefined;
            produced = placeEntries(placements, below.tree);
          } else {
            produced = await sourceEntries(source, () => treeBelow(i), opts, epoch);
          }
          const recorded = recordChanges ? changes[i] : undefined;
          const desc = await writeLayer(store, produced, {
            compressor,
            // Each entry is checked and recorded as the tar writer takes it: a generator around the
            // entries for this would cost every entry a few promises.
            onEntry: (e) => {
              abort.signal.throwIfAborted();
              recorded?.record(e);
            },
            onProgress: (bytes) => emit({ type: 'layer-progress', index: i, bytes }),
          });
          emit({ type: 'layer-done', index: i, layer: desc });
          return desc;
        } catch (err) {
          if (err instanceof StoppedByOtherLayer) throw err;
          abort.abort(new StoppedByOtherLayer());
          throw prefixError(describeSource(source), err);
        }
      }),
    );
  });
  const settled = await Promise.allSettled(written);
  for (const s of settled) {
    if (s.status === 'rejected' && !(s.reason instanceof StoppedByOtherLayer)) throw s.reason;
  }
  return settled.map((s) => (s as PromiseFulfilledResult<LayerDescriptor | undefined>).value);
}

/** The directories and symlinks of the base, read from its layers (staged already). */
async function baseTreeOf(store: BlobStore, layers: readonly LayerDescriptor[], where: string): Promise<LowerTree> {
  // Loaded when a build has a base, as the tarball reader is when it adds one: start-up is most of a small build.
  const { ImageFilesystem } = await import('./sources/image.js');
  const fsys = await ImageFilesystem.read({ layers: layers.map((d) => ({ descriptor: d, open: () => store.open(d) })), where });
  return fsys.lowerTree();
}

/** The reason the other layers stop when one fails: not itself an error to report. */
class StoppedByOtherLayer extends Error {
  constructor() {
    super('stopped because another layer failed');
  }
}

/** The entries of an --add or --layer source, normalised: a generator only where one is needed. */
async function sourceEntries(
  source: AddSource | TarballSource,
  below: () => Promise<LowerTree>,
  opts: BuildOptions,
  epoch: number,
): Promise<AsyncIterable<Entry>> {
  const hostRules = (owner?: Owner, mode?: number): Normalisation => ({
    owner: owner ?? { uid: 0, gid: 0 },
    ...(mode !== undefined ? { mode } : {}),
    mtime: opts.preserveMtime ? (opts.sourceDateEpoch ?? sourceDateEpoch()) !== undefined ? 'clamp' : 'keep' : 'set',
    epoch,
  });
  switch (source.kind) {
    case 'tarball': {
      // A tarball's owners and times are part of its content; only SOURCE_DATE_EPOCH clamps them.
      const clamp = (opts.sourceDateEpoch ?? sourceDateEpoch()) !== undefined;
      const rules: Normalisation = { mtime: clamp ? 'clamp' : 'keep', epoch };
      const { tarballEntries } = await import('./sources/tarball.js');
      return (async function* () {
        for await (const e of tarballEntries(source.path, { where: `--layer ${source.path}` })) yield normalise(e, rules);
      })();
    }
    case 'add': {
      const rules = hostRules(source.chown, source.chmod);
      const dest = destinationOf(source);
      const placement: Placement = {
        dest,
        rules,
        distinct: true,
        entries: (d) => hostEntries(source.src, d, { where: describeSource(source) }),
      };
      return placeEntries([placement], await below());
    }
  }
}

function checkSource(source: LayerSource): void {
  if (source.kind === 'add') {
    if (source.src === '') throw usageError(`--add ${source.src}:${source.dest}: SRC is empty`);
    destinationOf(source);
    if (source.chmod !== undefined && (!Number.isInteger(source.chmod) || source.chmod < 0 || source.chmod > 0o7777)) {
      throw usageError(`--chmod ${source.chmod}: expected an octal mode from 0 to 7777`);
    }
  } else if (source.kind === 'tarball' && source.path === '') {
    throw usageError('--layer: the tarball path is empty');
  }
}

/** The image path (cleaned, no leading "/") where an --add goes. */
export function destinationOf(source: AddSource): string {
  const where = describeSource(source);
  if (!source.dest.startsWith('/')) throw usageError(`${where}: DEST must be an absolute path in the image`);
  const cleaned = cleanPath(source.dest);
  if (cleaned === undefined) throw usageError(`${where}: DEST must not contain ".."`);
  if (source.dest.endsWith('/') && cleaned !== '') return `${cleaned}/${baseName(path.resolve(source.src))}`;
  return cleaned;
}

function describeSource(source: LayerSource): string {
  switch (source.kind) {
    case 'add':
      return `--add ${source.src}:${source.dest}`;
    case 'tarball':
      return `--layer ${source.path}`;
    case 'placed':
      return source.where ?? source.createdBy;
  }
}

/**
 * The history line for a layer. It names sources by their base name only, so a build from a copy
 * of the inputs elsewhere gives the same config.
 */
function createdByOf(source: LayerSource): string {
  switch (source.kind) {
    case 'add': {
      if (source.createdBy) return source.createdBy;
      const flags = [source.chown ? `--chown ${source.chown.uid}:${source.chown.gid}` : '', source.chmod !== undefined ? `--chmod ${source.chmod.toString(8).padStart(4, '0')}` : '']
        .filter(Boolean)
        .join(' ');
      return `oci-pack layout ${flags ? `${flags} ` : ''}--add ${baseName(path.resolve(source.src))}:${source.dest}`;
    }
    case 'tarball':
      return source.createdBy ?? `oci-pack layout --layer ${baseName(source.path)}`;
    case 'placed':
      return source.createdBy;
  }
}


/** At most n tasks at once, started in the order they were queued (so a layer never waits on a later one). */
class Semaphore {
  private active = 0;
  private readonly queue: Array<() => void> = [];
  constructor(private readonly n: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((r) => this.queue.push(r));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}
