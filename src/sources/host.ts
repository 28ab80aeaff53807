// Entries from the host filesystem: a file, or a directory tree walked depth-first with each
// directory's children in byte order; symlinks stored as links, hard links stored once.
import * as fs from 'node:fs/promises';
import * as fsc from 'node:fs';
import { createReadStream, type Stats } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { fileError, prefixError } from '../errors.js';
import { openWhole, type Entry } from '../entries.js';
import { READ_FLAGS, foundAt, frame, readWholeSync, step, type Exclude, type Found, type Frame } from './walk.js';

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
  exclude?: Exclude;
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
  const top = entryFor(foundAt(src, dest, st, where), where, links);
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

/**
 * Reads ahead of the tar writer, depth first, each directory before its children: up to
 * READ_AHEAD_ENTRIES entries and READ_AHEAD_BYTES of data.
 */
function fillAhead(
  stack: Frame[],
  ahead: Array<{ entry: Entry; bytes: number }>,
  state: { bytes: number },
  where: string,
  links: Map<string, string>,
  exclude: Exclude | undefined,
): void {
  while (ahead.length < READ_AHEAD_ENTRIES && state.bytes < READ_AHEAD_BYTES) {
    const found = step(stack, where, exclude);
    if (!found) return;
    const item = prefetch(entryFor(found, where, links));
    ahead.push(item);
    state.bytes += item.bytes;
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

/** The entry of what the walk found. */
function entryFor(found: Found, where: string, links: Map<string, string>): Entry {
  const { hostPath, imagePath, type } = found;
  const entry: Entry = { path: imagePath, type, mode: found.mode, uid: found.uid, gid: found.gid, mtime: found.mtime, size: 0 };
  if (type === 'symlink') {
    entry.linkname = found.linkname!;
  } else if (type === 'file') {
    if (found.linkKey !== undefined) {
      const first = links.get(found.linkKey);
      if (first !== undefined) return { ...entry, type: 'link', linkname: first };
      links.set(found.linkKey, imagePath);
    }
    const size = found.size;
    entry.size = size;
    if (size === 0) {
      entry.open = openWhole(() => EMPTY);
    } else if (size <= SYNC_READ_MAX) {
      const read = readWholeSync(hostPath, size, where);
      entry.open = openWhole(() => read);
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

const EMPTY = Buffer.alloc(0);
