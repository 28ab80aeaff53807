// Entries from the host filesystem: a file, or a directory tree walked depth-first with each
// directory's children in byte order; symlinks stored as links, hard links stored once.
import * as fs from 'node:fs/promises';
import * as fsc from 'node:fs';
import { createReadStream, type Stats } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { UserError, fileError, prefixError } from '../errors.js';
import { compareNames, openWhole, type Entry, type EntryType } from '../entries.js';

/**
 * Files up to this size are read with synchronous calls as the walk reaches them. On a tree of
 * many small files the thread pool costs more than the work: each asynchronous lstat, open, read
 * or close is a round trip of ~15 µs of main-thread time (a queue, a futex wake, a callback),
 * while the system call itself takes 1–3 µs on a cached tree. The synchronous calls block the
 * event loop for microseconds at a time, and the stages after the walk (hash, compressor, the
 * store's writes) keep running between entries.
 */
const SYNC_READ_MAX = 64 * 1024;
/**
 * Larger files up to READ_AHEAD_FILE_MAX are read asynchronously ahead of the tar writer, several
 * at once. Bounded, so memory stays flat: at most this many entries ahead, holding at most this
 * many bytes. Larger files still are streamed.
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
  if (top.type === 'symlink') top.linkname = readLink(src, where);
  if (!st.isDirectory()) {
    yield top;
    return;
  }
  // The walk in this same generator, not behind a yield*: each level of generators costs every
  // entry passing through it a few promises.
  const root = path.join(src);
  const stack: Frame[] = [frame(root.endsWith('/') ? root.slice(0, -1) || '/' : root, dest, where)];
  const ahead: Array<{ entry: Entry; bytes: number }> = [{ entry: top, bytes: 0 }];
  const state = { bytes: 0 };
  for (;;) {
    fillAhead(stack, ahead, state, where, links, opts.exclude);
    const item = ahead.shift();
    if (!item) return;
    state.bytes -= item.bytes;
    yield item.entry;
  }
}

/** A directory being walked: its children in byte order, and the next one to visit. */
interface Frame {
  dir: string;
  dest: string;
  names: string[];
  next: number;
}

function frame(dir: string, dest: string, where: string): Frame {
  let raw: Buffer[];
  try {
    raw = fsc.readdirSync(dir, { encoding: 'buffer' });
  } catch (err) {
    throw prefixError(where, fileError(dir, err));
  }
  const names = raw
    .map((bytes) => {
      const name = bytes.toString('utf8');
      if (!Buffer.from(name, 'utf8').equals(bytes)) {
        throw new UserError(`${where}: ${path.join(dir, name)}: the file name is not valid UTF-8`, 'EINPUT');
      }
      return name;
    })
    .sort(compareNames);
  return { dir, dest, names, next: 0 };
}

/**
 * Reads ahead of the tar writer, depth-first, each directory before its children: up to
 * READ_AHEAD_ENTRIES entries and READ_AHEAD_BYTES of data. One stack of directories rather than a
 * generator per directory: every level of `yield*` costs each entry passing through it a promise.
 */
function fillAhead(
  stack: Frame[],
  ahead: Array<{ entry: Entry; bytes: number }>,
  state: { bytes: number },
  where: string,
  links: Map<string, string>,
  exclude: HostOptions['exclude'],
): void {
  while (stack.length > 0 && ahead.length < READ_AHEAD_ENTRIES && state.bytes < READ_AHEAD_BYTES) {
    const top = stack[stack.length - 1]!;
    if (top.next === top.names.length) {
      stack.pop();
      continue;
    }
    const name = top.names[top.next++]!;
    // top.dir is already normal (the source as given, joined once): no path.join per file.
    const hostPath = top.dir === '/' ? `/${name}` : `${top.dir}/${name}`;
    const imagePath = top.dest === '' ? name : `${top.dest}/${name}`;
    let st: Stats;
    try {
      st = fsc.lstatSync(hostPath);
    } catch (err) {
      throw prefixError(where, fileError(hostPath, err));
    }
    const verdict = exclude?.(hostPath, st.isDirectory()) ?? 'keep';
    if (verdict === 'skip') continue;
    if (verdict === 'descend') {
      ahead.push({ entry: { path: imagePath, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: Math.floor(st.mtimeMs / 1000), size: 0 }, bytes: 0 });
      stack.push(frame(hostPath, imagePath, where));
      continue;
    }
    const entry = entryFor(hostPath, imagePath, st, where, links);
    if (entry.type === 'symlink') entry.linkname = readLink(hostPath, where);
    const item = prefetch(entry);
    ahead.push(item);
    state.bytes += item.bytes;
    if (st.isDirectory()) stack.push(frame(hostPath, imagePath, where));
  }
}

/** How to read a mid-sized file's entry in one go (open, one read, close: no stream). */
const smallFiles = new WeakMap<Entry, () => Promise<Buffer>>();

/** A mid-sized file's entry whose data is read now, into memory; any other entry as it is. */
function prefetch(entry: Entry): { entry: Entry; bytes: number } {
  const load = smallFiles.get(entry);
  if (!load) return { entry, bytes: 0 };
  const data = load();
  // Seen by the tar writer when it opens the entry; until then a failure must not go unhandled.
  data.catch(() => undefined);
  return { entry: { ...entry, open: openWhole(() => data) }, bytes: entry.size };
}

/**
 * The first `size` bytes of a file; fewer is the file shrinking under us. The callback API, one
 * promise for the whole: fs/promises' FileHandle costs several promises and objects per file.
 */
function readSmall(hostPath: string, size: number, where: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const fail = (err: unknown): void => reject(prefixError(where, fileError(hostPath, err)));
    fsc.open(hostPath, READ_FLAGS, (err, fd) => {
      if (err) return fail(err);
      const buf = Buffer.allocUnsafe(size);
      const done = (failure: unknown, got: number): void => {
        fsc.close(fd, (closeErr) => {
          const problem = failure ?? closeErr;
          // The tar writer names a short read ("file changed size"); pass on what there is.
          if (problem) fail(problem);
          else resolve(buf.subarray(0, got));
        });
      };
      const more = (got: number): void => {
        fsc.read(fd, buf, got, size - got, got, (readErr, n) => {
          if (readErr) done(readErr, got);
          else if (n === 0 || got + n === size) done(null, got + n);
          else more(got + n);
        });
      };
      more(0);
    });
  });
}

/** Non-blocking, so that a file swapped for a FIFO since its lstat cannot hang the walk. */
const READ_FLAGS = fsc.constants.O_RDONLY | fsc.constants.O_NONBLOCK;

/** readSmall with synchronous calls, for the smallest files (see SYNC_READ_MAX). */
function readSmallSync(hostPath: string, size: number, where: string): Buffer {
  let fd: number | undefined;
  try {
    fd = fsc.openSync(hostPath, READ_FLAGS);
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const n = fsc.readSync(fd, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    return got === size ? buf : buf.subarray(0, got);
  } catch (err) {
    throw prefixError(where, fileError(hostPath, err));
  } finally {
    if (fd !== undefined) fsc.closeSync(fd);
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
    if (size === 0) {
      entry.open = openWhole(() => EMPTY);
    } else if (size <= SYNC_READ_MAX) {
      const data = readSmallSync(hostPath, size, where);
      entry.open = openWhole(() => data);
    } else {
      entry.open = () => openFile(hostPath, size, where);
      if (size <= READ_AHEAD_FILE_MAX) smallFiles.set(entry, () => readSmall(hostPath, size, where));
    }
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

function readLink(hostPath: string, where: string): string {
  try {
    return fsc.readlinkSync(hostPath);
  } catch (err) {
    throw prefixError(where, fileError(hostPath, err));
  }
}

const EMPTY = Buffer.alloc(0);

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
