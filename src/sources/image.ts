// An image's merged filesystem as a source of entries: its layers read in order (verified,
// decompressed, as tar entries) with whiteouts applied; file data is spooled only when copied out.
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { decompressor, sniffCompression } from '../compress.js';
import { baseName, cleanPath, compareNames, parentOf, type Entry } from '../entries.js';
import { UserError } from '../errors.js';
import { LayerChanges, LowerTree } from '../lower.js';
import type { Image, Layer } from '../model.js';
import { readWhole } from '../streams.js';
import { readTar, type TarEntry } from '../tar.js';

/** One path of the merged filesystem: its metadata, and where its bytes are. */
interface FsNode {
  entry: Entry;
  /** The layer (index) that wrote it. */
  layer: number;
  /** A file's data: the path, in `layer`, of the tar entry that holds the bytes (a hard link's target). */
  dataPath?: string;
}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
const MAX_LINK_HOPS = 40;
/** Paths a merged filesystem may hold: bounds the memory of its index. */
const MAX_PATHS = 4_000_000;

/** The merged filesystem of an Image (its layers read through Layer.open(), verified), metadata in memory. */
export class ImageFilesystem {
  private readonly nodes: Map<string, FsNode>;
  private readonly children: Map<string, Set<string>>;
  /** The layers applied so far (a longer image can continue from this one). */
  readonly layers: Layer[];

  private constructor(nodes?: Map<string, FsNode>, children?: Map<string, Set<string>>, layers: Layer[] = []) {
    this.nodes = nodes ?? new Map([['', { entry: rootEntry(), layer: -1 }]]);
    this.children = children ?? new Map([['', new Set()]]);
    this.layers = layers;
  }

  /** Read the merged filesystem of an image: every layer once, metadata only. */
  static async read(image: Pick<Image, 'layers' | 'where'>): Promise<ImageFilesystem> {
    return new ImageFilesystem().extend(image);
  }

  /**
   * This filesystem with more layers on top, as a new object (this one is unchanged): `image`
   * holds all the layers, of which this one's must be the first.
   */
  async extend(image: Pick<Image, 'layers' | 'where'>): Promise<ImageFilesystem> {
    const prefix = this.layers;
    if (!prefix.every((l, i) => image.layers[i]?.descriptor.digest === l.descriptor.digest)) throw new Error('ImageFilesystem.extend: not a continuation of this image');
    const children = new Map<string, Set<string>>();
    for (const [k, v] of this.children) children.set(k, new Set(v));
    const next = new ImageFilesystem(new Map(this.nodes), children, [...prefix]);
    for (let i = prefix.length; i < image.layers.length; i++) {
      const layer = image.layers[i]!;
      for await (const e of layerEntries(image, layer, i)) next.apply(e, i, `${image.where}: layer ${i + 1} (${layer.descriptor.digest})`);
      next.layers.push(layer);
    }
    return next;
  }

  /** The metadata at `path` ("" is the root), or undefined. */
  get(imagePath: string): Entry | undefined {
    return this.nodes.get(imagePath)?.entry;
  }

  /**
   * `path` with its symlinks followed inside the image's root (".." stops at "/"), the last
   * component too when `followLast`: as docker resolves a path in a container's filesystem.
   */
  resolve(imagePath: string, followLast: boolean): string {
    let parts = imagePath.split('/').filter((p) => p !== '' && p !== '.');
    let hops = 0;
    const out: string[] = [];
    while (parts.length > 0) {
      const part = parts.shift()!;
      if (part === '..') {
        out.pop();
        continue;
      }
      const here = [...out, part].join('/');
      const node = this.nodes.get(here);
      if (node?.entry.type === 'symlink' && (parts.length > 0 || followLast)) {
        if (++hops > MAX_LINK_HOPS) throw new UserError(`/${imagePath}: too many levels of symbolic links`, 'EINPUT');
        const target = node.entry.linkname ?? '';
        if (target.startsWith('/')) out.length = 0;
        parts = [...target.split('/').filter((p) => p !== '' && p !== '.'), ...parts];
        continue;
      }
      out.push(part);
    }
    return out.join('/');
  }

  /** Every path below `dir` (not `dir` itself), depth first, each directory's children in byte order. */
  *walk(dir = ''): Generator<string> {
    const names = [...(this.children.get(dir) ?? [])].sort(compareNames);
    for (const name of names) {
      const child = dir === '' ? name : `${dir}/${name}`;
      yield child;
      if (this.nodes.get(child)?.entry.type === 'directory') yield* this.walk(child);
    }
  }

  /** The directories and symlinks, as the tree new layers are placed on. */
  lowerTree(): LowerTree {
    const changes = new LayerChanges();
    const root = this.nodes.get('')!.entry;
    changes.record(root);
    for (const p of this.walk()) {
      const e = this.nodes.get(p)!.entry;
      if (e.type === 'directory' || e.type === 'symlink') changes.record(e);
    }
    const tree = new LowerTree();
    tree.apply(changes);
    return tree;
  }

  /**
   * The subtree at `src` (a path with no symlinks left to follow) as entries rooted at `dest`:
   * `src` itself first, then what is below it. Regular files' bytes (hard links' too: they become
   * plain files) are spooled from the layers into `spoolDir` first, one pass per layer needed.
   */
  async copyOut(image: Pick<Image, 'layers' | 'where'>, src: string, spoolDir: string): Promise<(dest: string) => AsyncGenerator<Entry>> {
    const paths = this.nodes.get(src)?.entry.type === 'directory' ? [src, ...this.walk(src)] : [src];
    const spooled = await this.spool(image, paths.filter((p) => this.nodes.get(p)?.entry.type === 'file'), spoolDir);
    const nodes = this.nodes;
    return async function* (dest: string) {
      for (const p of paths) {
        const node = nodes.get(p)!;
        const rel = p === src ? '' : p.slice(src === '' ? 0 : src.length + 1);
        const target = rel === '' ? dest : dest === '' ? rel : `${dest}/${rel}`;
        const { open: _none, ...meta } = node.entry;
        const entry: Entry = { ...meta, path: target };
        const file = spooled.get(p);
        if (file !== undefined && entry.size > 0) entry.open = () => createReadStream(file);
        yield entry;
      }
    };
  }

  /** A regular file's bytes (following symlinks), at most `limit` of them; undefined when it is not a file. */
  async readFile(image: Pick<Image, 'layers' | 'where'>, imagePath: string, limit: number): Promise<Buffer | undefined> {
    const resolved = this.resolve(imagePath, true);
    const node = this.nodes.get(resolved);
    if (node?.entry.type !== 'file') return undefined;
    if (node.entry.size > limit) throw new UserError(`${image.where}: /${resolved} is ${node.entry.size} bytes, more than the ${limit} read`, 'EINPUT');
    const layer = image.layers[node.layer]!;
    for await (const e of layerEntries(image, layer, node.layer)) {
      if (e.path !== (node.dataPath ?? resolved) || e.type !== 'file') continue;
      return readWhole(e.open!(), limit, `${image.where}: /${resolved}`);
    }
    throw new UserError(`${image.where}: /${resolved}: its data is missing from layer ${node.layer + 1}`, 'EINPUT');
  }

  /** Write the bytes of `files` into `dir`, reading each layer that holds some of them once. */
  private async spool(image: Pick<Image, 'layers' | 'where'>, files: readonly string[], dir: string): Promise<Map<string, string>> {
    const byLayer = new Map<number, Map<string, string[]>>();
    for (const p of files) {
      const node = this.nodes.get(p)!;
      if (node.entry.size === 0) continue;
      const wanted = byLayer.get(node.layer) ?? new Map<string, string[]>();
      byLayer.set(node.layer, wanted);
      const key = node.dataPath ?? p;
      wanted.set(key, [...(wanted.get(key) ?? []), p]);
    }
    const out = new Map<string, string>();
    if (byLayer.size === 0) return out;
    await fs.mkdir(dir, { recursive: true });
    let n = 0;
    for (const layerIndex of [...byLayer.keys()].sort((a, b) => a - b)) {
      const wanted = byLayer.get(layerIndex)!;
      let left = wanted.size;
      for await (const e of layerEntries(image, image.layers[layerIndex]!, layerIndex)) {
        const users = e.type === 'file' ? wanted.get(e.path) : undefined;
        if (!users) continue;
        const file = path.join(dir, String(n++));
        await pipeline(e.open!(), createWriteStream(file, { flags: 'wx', mode: 0o600 }));
        for (const p of users) out.set(p, file);
        if (--left === 0) break;
      }
      if (left > 0) throw new UserError(`${image.where}: layer ${layerIndex + 1} ended before the data of ${left} file(s) it should hold`, 'EINPUT');
    }
    return out;
  }

  private apply(e: TarEntry, layer: number, where: string): void {
    const name = baseName(e.path);
    const dir = parentOf(e.path);
    if (name === OPAQUE) {
      for (const child of [...(this.children.get(dir) ?? [])]) this.removeLower(dir === '' ? child : `${dir}/${child}`, layer);
      return;
    }
    if (name.startsWith(WHITEOUT)) {
      // Other .wh..wh.* names are aufs bookkeeping, not whiteouts.
      if (!name.startsWith(`${WHITEOUT}${WHITEOUT}`)) this.removeLower(dir === '' ? name.slice(WHITEOUT.length) : `${dir}/${name.slice(WHITEOUT.length)}`, layer);
      return;
    }
    const { open: _open, paxRecords: _pax, name: _name, ...meta } = e;
    const entry: Entry = meta;
    let dataPath: string | undefined;
    if (e.type === 'link') {
      const target = this.nodes.get(e.linkname ?? '');
      // A hard link may name any non-directory (a symlink too: extraction gives a second symlink).
      if (!target || target.layer !== layer || target.entry.type === 'directory') {
        throw new UserError(`${where}: hard link /${e.path} to /${e.linkname ?? ''}, which is not a file of the same layer`, 'EINPUT');
      }
      Object.assign(entry, { ...target.entry, path: e.path });
      if (target.entry.type === 'file') dataPath = target.dataPath ?? target.entry.path;
    }
    this.set(e.path, { entry, layer, ...(dataPath !== undefined ? { dataPath } : {}) }, where);
  }

  private set(p: string, node: FsNode, where: string): void {
    if (p === '') {
      if (node.entry.type === 'directory') this.nodes.set('', node);
      return;
    }
    this.ensureDirectory(parentOf(p), node.layer, where);
    const existing = this.nodes.get(p);
    if (!(existing?.entry.type === 'directory' && node.entry.type === 'directory')) this.remove(p);
    if (!existing || existing.entry.type !== 'directory' || node.entry.type !== 'directory') {
      this.children.get(parentOf(p))!.add(baseName(p));
      if (node.entry.type === 'directory') this.children.set(p, new Set());
    }
    this.nodes.set(p, node);
    if (this.nodes.size > MAX_PATHS) throw new UserError(`${where}: the image holds more than ${MAX_PATHS} paths`, 'EINPUT');
  }

  /** A parent a layer did not list: a root-owned 0755 directory, as extracting the layer would make it. */
  private ensureDirectory(p: string, layer: number, where: string): void {
    const node = this.nodes.get(p);
    if (node?.entry.type === 'directory') return;
    this.set(p, { entry: { path: p, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 }, layer }, where);
  }

  /** A whiteout: what the lower layers have at `p` goes (this layer's own entries stay). */
  private removeLower(p: string, layer: number): void {
    const node = this.nodes.get(p);
    if (!node) return;
    if (node.layer < layer) {
      this.remove(p);
      return;
    }
    if (node.entry.type === 'directory') {
      for (const child of [...(this.children.get(p) ?? [])]) this.removeLower(`${p}/${child}`, layer);
    }
  }

  private remove(p: string): void {
    const node = this.nodes.get(p);
    if (!node) return;
    if (node.entry.type === 'directory') {
      for (const child of [...(this.children.get(p) ?? [])]) this.remove(`${p}/${child}`);
      this.children.delete(p);
    }
    this.nodes.delete(p);
    this.children.get(parentOf(p))?.delete(baseName(p));
  }
}

function rootEntry(): Entry {
  return { path: '', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 };
}

/**
 * The tar entries of one layer: its verified bytes, decompressed (the compression read from the
 * bytes), paths cleaned. An absolute name is taken as relative to the root; ".." is refused.
 * Symlink targets are kept as they are: resolve() follows them inside the root, as a container does.
 */
export async function* layerEntries(image: Pick<Image, 'where'>, layer: Layer, index: number): AsyncGenerator<TarEntry> {
  const where = `${image.where}: layer ${index + 1} (${layer.descriptor.digest})`;
  const blob = layer.open();
  try {
    const { kind, stream } = await sniffCompression(blob);
    const bytes = decompressor(kind, where);
    pipeline(stream, bytes).catch(() => {
      // An error here destroys `bytes`, and readTar reports it.
    });
    for await (const e of readTar(bytes, where)) {
      const cleaned = cleanPath(e.path);
      if (cleaned === undefined) throw new UserError(`${where}: entry ${JSON.stringify(e.name)} climbs out of the root with ".."`, 'EINPUT');
      e.path = cleaned;
      if (e.type === 'link') {
        const target = cleanPath(e.linkname ?? '');
        if (target === undefined || target === '') throw new UserError(`${where}: hard link ${JSON.stringify(e.name)} has the target ${JSON.stringify(e.linkname)}`, 'EINPUT');
        e.linkname = target;
      }
      yield e;
    }
  } finally {
    blob.destroy();
  }
}
