// Entries from the host filesystem: a file, or a directory tree walked depth-first with each
// directory's children in byte order; symlinks stored as links, hard links stored once.
import * as fs from 'node:fs/promises';
import { createReadStream, type Stats } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { UserError, fileError, prefixError } from '../errors.js';
import { compareNames, type Entry, type EntryType } from '../entries.js';

/** How many lstat calls run at once while a directory's children are listed. */
const STAT_CONCURRENCY = 32;
/**
 * Small files are read ahead, several at once, while the tar writer works on the entries before
 * them: waiting for each open and read in turn would add up over thousands of files. Bounded, so
 * memory stays flat: at most this many entries ahead, holding at most this many bytes.
 */
const READ_AHEAD_ENTRIES = 32;
const READ_AHEAD_BYTES = 8 * 1024 * 1024;
const READ_AHEAD_FILE_MAX = 512 * 1024;

export interface HostOptions {
  /** How the source is named in errors ("--add ./x:/x"); defaults to the path. */
  where?: string;
  /** Follow `src` itself when it is a symlink (as `COPY link /x` does); links inside are never followed. */
  followTopLink?: boolean;
  /** Tracks hard links across several sources of one layer; pass the same map to each. */
  hardLinks?: Map<string, string>;
  /**
   * Leaves paths below `src` out (a .dockerignore): 'skip' drops the path and what is below it;
   * 'descend' drops a directory's own metadata (it becomes a root-owned 0755 directory, as an
   * archive extraction creates a missing parent) but walks it, for the exceptions it may hold.
   */
  exclude?: (hostPath: string, isDirectory: boolean) => 'keep' | 'skip' | 'descend';
}

/**
 * Entries for `src` placed at the image path `dest`: a file becomes `dest`; a directory becomes
 * `dest` (with the directory's own metadata) followed by its tree beneath `dest`.
 */
export async function* hostEntries(src: string, dest: string, opts: HostOptions = {}): AsyncGenerator<Entry> {
  const where = opts.where ?? src;
  const links = opts.hardLinks ?? new Map<string, string>();
  let st: Stats;
  try {
    st = opts.followTopLink === false ? await fs.lstat(src) : await fs.stat(src);
  } catch (err) {
    throw prefixError(where, fileError(src, err));
  }
  const top = entryFor(src, dest, st, where, links);
  if (top.type === 'symlink') top.linkname = await readLink(src, where);
  yield top;
  if (st.isDirectory()) yield* readAhead(walk(src, dest, where, links, opts.exclude));
}

/** The entries in the same order, with the data of small files already being read. */
async function* readAhead(entries: AsyncGenerator<Entry>): AsyncGenerator<Entry> {
  const ahead: Array<{ entry: Entry; bytes: number }> = [];
  let bytes = 0;
  let done = false;
  try {
    for (;;) {
      while (!done && ahead.length < READ_AHEAD_ENTRIES && bytes < READ_AHEAD_BYTES) {
        const next = await entries.next();
        if (next.done) {
          done = true;
          break;
        }
        const item = prefetch(next.value);
        ahead.push(item);
        bytes += item.bytes;
      }
      const item = ahead.shift();
      if (!item) return;
      bytes -= item.bytes;
      yield item.entry;
    }
  } finally {
    await entries.return(undefined);
  }
}

/** How to read a small file's entry in one go (a file handle and one read, no stream). */
const smallFiles = new WeakMap<Entry, () => Promise<Buffer>>();

/** A small file's entry whose data is read now, into memory; any other entry as it is. */
function prefetch(entry: Entry): { entry: Entry; bytes: number } {
  const load = smallFiles.get(entry);
  if (!load) return { entry, bytes: 0 };
  const data = load();
  // Seen by the tar writer when it opens the entry; until then a failure must not go unhandled.
  data.catch(() => undefined);
  return {
    entry: { ...entry, open: () => Readable.from((async function* () { yield await data; })()) },
    bytes: entry.size,
  };
}

/** The first `size` bytes of a file; fewer is the file shrinking under us. */
async function readSmall(hostPath: string, size: number, where: string): Promise<Buffer> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(hostPath, 'r');
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const { bytesRead } = await handle.read(buf, got, size - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    // The tar writer names a short read ("file changed size"); pass on what there is.
    return buf.subarray(0, got);
  } catch (err) {
    throw prefixError(where, fileError(hostPath, err));
  } finally {
    await handle?.close();
  }
}

async function* walk(
  dir: string,
  dest: string,
  where: string,
  links: Map<string, string>,
  exclude: HostOptions['exclude'],
): AsyncGenerator<Entry> {
  let names: Buffer[];
  try {
    names = await fs.readdir(dir, { encoding: 'buffer' });
  } catch (err) {
    throw prefixError(where, fileError(dir, err));
  }
  const children = names
    .map((raw) => {
      const name = raw.toString('utf8');
      if (!Buffer.from(name, 'utf8').equals(raw)) {
        throw new UserError(`${where}: ${path.join(dir, name)}: the file name is not valid UTF-8`, 'EINPUT');
      }
      return name;
    })
    .sort(compareNames);
  for (let i = 0; i < children.length; i += STAT_CONCURRENCY) {
    const batch = children.slice(i, i + STAT_CONCURRENCY);
    const stats = await Promise.all(
      batch.map((name) =>
        fs.lstat(path.join(dir, name)).catch((err: unknown) => {
          throw prefixError(where, fileError(path.join(dir, name), err));
        }),
      ),
    );
    for (let k = 0; k < batch.length; k++) {
      const name = batch[k]!;
      const st = stats[k]!;
      const hostPath = path.join(dir, name);
      const imagePath = dest === '' ? name : `${dest}/${name}`;
      const verdict = exclude?.(hostPath, st.isDirectory()) ?? 'keep';
      if (verdict === 'skip') continue;
      if (verdict === 'descend') {
        yield { path: imagePath, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: Math.floor(st.mtimeMs / 1000), size: 0 };
        yield* walk(hostPath, imagePath, where, links, exclude);
        continue;
      }
      const entry = entryFor(hostPath, imagePath, st, where, links);
      if (entry.type === 'symlink') entry.linkname = await readLink(hostPath, where);
      yield entry;
      if (st.isDirectory()) yield* walk(hostPath, imagePath, where, links, exclude);
    }
  }
}

function entryFor(hostPath: string, imagePath: string, st: Stats, where: string, links: Map<string, string>): Entry {
  const type = typeOf(st);
  if (type === undefined || type === 'char' || type === 'block' || type === 'fifo') {
    throw new UserError(
      `${where}: ${hostPath}: is a ${describe(st)}; only regular files, directories and symlinks can be added`,
      'EINPUT',
    );
  }
  const entry: Entry = {
    path: imagePath,
    type,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtime: Math.floor(st.mtimeMs / 1000),
    size: 0,
  };
  if (type === 'file') {
    if (st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = links.get(key);
      if (first !== undefined) return { ...entry, type: 'link', linkname: first };
      links.set(key, imagePath);
    }
    const size = st.size;
    entry.size = size;
    entry.open = () => openFile(hostPath, size, where);
    if (size > 0 && size <= READ_AHEAD_FILE_MAX) smallFiles.set(entry, () => readSmall(hostPath, size, where));
  }
  return entry;
}

/** The file's first `size` bytes (the size lstat gave): a file that grows while read stays as it was. */
function openFile(hostPath: string, size: number, where: string): Readable {
  if (size === 0) return Readable.from([]);
  const stream = createReadStream(hostPath, { start: 0, end: size - 1, highWaterMark: 1024 * 1024 });
  const out = new Readable({ read() { stream.resume(); } });
  stream.on('data', (chunk) => {
    if (!out.push(chunk)) stream.pause();
  });
  stream.on('end', () => out.push(null));
  stream.on('error', (err) => out.destroy(prefixError(where, fileError(hostPath, err)) as Error));
  out.on('close', () => stream.destroy());
  return out;
}

async function readLink(hostPath: string, where: string): Promise<string> {
  try {
    return await fs.readlink(hostPath);
  } catch (err) {
    throw prefixError(where, fileError(hostPath, err));
  }
}

function typeOf(st: Stats): EntryType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return undefined;
}

function describe(st: Stats): string {
  if (st.isSocket()) return 'socket';
  if (st.isFIFO()) return 'FIFO';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  return 'special file';
}
