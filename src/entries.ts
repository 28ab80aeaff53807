// One filesystem entry as every source produces it and the layer writer consumes it, and the
// normalisation rules (owners, names, mtimes, order) that make a layer's bytes reproducible.
import { Readable } from 'node:stream';
import { UserError } from './errors.js';

export type EntryType = 'file' | 'directory' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';

export interface Entry {
  /** Path in the image, '/'-separated, relative to the root: "usr/bin/env"; "" is the root itself. */
  path: string;
  type: EntryType;
  /** Permission bits with setuid, setgid and sticky (0o7777); never the file-type bits. */
  mode: number;
  uid: number;
  gid: number;
  uname?: string;
  gname?: string;
  /** Seconds since the epoch (whole seconds). */
  mtime: number;
  /** Bytes of data: regular files only, 0 for everything else. */
  size: number;
  /** Symlink target as stored, or the image path of the hard link's first name. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes, as SCHILY.xattr.* records; values are raw bytes. */
  xattrs?: ReadonlyMap<string, Buffer>;
  /**
   * Opens the entry's data: exactly `size` bytes. For a streamed source (a tarball) it may be
   * called once only, before the next entry is requested.
   */
  open?: () => Readable;
}

/**
 * Data a source already holds in memory (or is reading into it) behind an entry's open(): the tar
 * writer takes it whole, with no stream per file. Kept on the open function itself, so that it
 * survives the copies ({ ...entry }) entries go through and goes away with open() (a property
 * rather than a WeakMap: 100,000 weak keys slow every garbage collection down).
 */
const WHOLE = Symbol('whole data');
type WholeOpen = (() => Readable) & { [WHOLE]?: () => Buffer | Promise<Buffer> };

/** An open() for data read whole: a stream to whoever asks, the buffer itself to the tar writer. */
export function openWhole(load: () => Buffer | Promise<Buffer>): () => Readable {
  const open: WholeOpen = () => Readable.from((async function* () { yield await load(); })());
  open[WHOLE] = load;
  return open;
}

/** The whole data behind an open() made by openWhole (`size` bytes, fewer if the file shrank). */
export function wholeOf(open: () => Readable): (() => Buffer | Promise<Buffer>) | undefined {
  return (open as WholeOpen)[WHOLE];
}

/** What happens to owners and times as entries go into a layer. */
export interface Normalisation {
  /** uid/gid for every entry (the --chown of host files); undefined keeps what the entry has. */
  owner?: { uid: number; gid: number };
  /** Permission bits for every file and directory (the --chmod of host files). */
  mode?: number;
  /**
   * 'set': every mtime becomes `epoch` (host files: their times say nothing reproducible).
   * 'clamp': mtimes later than `epoch` become `epoch` (tarballs, --preserve-mtime).
   * 'keep': as the entry has them.
   */
  mtime: 'set' | 'clamp' | 'keep';
  epoch: number;
}

/** SOURCE_DATE_EPOCH when set (whole seconds, validated), else undefined. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,12}$/.test(raw)) {
    throw new UserError(`SOURCE_DATE_EPOCH=${raw}: not a whole number of seconds since 1970`, 'EUSAGE');
  }
  return Number(raw);
}

/**
 * The entry as it goes into a layer under `rules`: a new Entry with Entry's own fields only (what
 * else a source's entry carries, a tar entry's PAX records say, is left behind). Built field by
 * field: a spread of entries of many shapes cost ten times as much, per entry of every layer.
 */
export function normalise(entry: Entry, rules: Normalisation): Entry {
  const out: Entry = {
    path: entry.path,
    type: entry.type,
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    uname: '',
    gname: '',
    mtime: entry.mtime,
    size: entry.size,
  };
  if (entry.linkname !== undefined) out.linkname = entry.linkname;
  if (entry.devmajor !== undefined) out.devmajor = entry.devmajor;
  if (entry.devminor !== undefined) out.devminor = entry.devminor;
  if (entry.xattrs !== undefined) out.xattrs = entry.xattrs;
  if (entry.open !== undefined) out.open = entry.open;
  if (rules.owner) {
    out.uid = rules.owner.uid;
    out.gid = rules.owner.gid;
  }
  if (rules.mode !== undefined && (entry.type === 'file' || entry.type === 'directory')) {
    out.mode = rules.mode;
  }
  if (rules.mtime === 'set') out.mtime = rules.epoch;
  else if (rules.mtime === 'clamp' && out.mtime > rules.epoch) out.mtime = rules.epoch;
  return out;
}

/** Byte order of the UTF-8 names: the order a directory's children are written in. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Normalise an image path: strip "./" and "/" prefixes, collapse "//" and "." components.
 * Returns undefined when a ".." component is left (a path that climbs out of the root).
 */
export function cleanPath(path: string): string | undefined {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return undefined;
    out.push(part);
  }
  return out.join('/');
}

/** Lexically resolve `target` against `base` (both image paths); '..' never climbs above the root. */
export function resolveWithin(base: string, target: string): { path: string; escapes: boolean } {
  const out = target.startsWith('/') ? [] : base.split('/').filter((p) => p !== '');
  let escapes = false;
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) escapes = true;
      else out.pop();
      continue;
    }
    out.push(part);
  }
  return { path: out.join('/'), escapes };
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** The ancestors of a path, outermost first: "a/b/c" gives ["a", "a/b"]. */
export function ancestors(path: string): string[] {
  const parts = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join('/'));
  return out;
}
