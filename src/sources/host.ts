// Entries from the host filesystem: a file, or a directory tree walked depth-first with each
// directory's children in byte order; symlinks stored as links, hard links stored once.
import * as fs from 'node:fs/promises';
import * as fsc from 'node:fs';
import { createReadStream, type Stats } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { UserError, fileError, prefixError } from '../errors.js';
import { openWhole, type Entry } from '../entries.js';
import { READ_FLAGS, foundAt, frame, readWholeSync, step, type Exclude, type Found, type Frame } from './walk.js';
import { FIELDS, TYPES, type WalkJob, type WalkMessage } from './walk-worker.js';

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
 * A tree walked past this many entries on the main thread goes on in a worker thread (when there
 * is no `exclude`, a function a worker cannot be given): there the system calls of the walk (an
 * lstat, open, read and close per small file, ~2 s for 100,000 files here) run beside the tar
 * writer, hash and store instead of between them. Small trees, the most common, do without the
 * worker's start-up (~30 ms).
 */
export const HANDOFF_ENTRIES = 2000;
/** The worker reads files up to this size whole; larger ones stream on the main thread. */
const WORKER_READ_MAX = READ_AHEAD_FILE_MAX;
/**
 * What the worker sends at once (a batch ends at 256 entries or once it holds 1 MiB of data), and
 * how many batches it may be ahead: with the one being read and the one being written, ~9 MiB of
 * data at most. Batches of 2 MiB grew the process by 50 MB (rootfs workload).
 */
const WORKER_BATCH_ENTRIES = 256;
const WORKER_BATCH_BYTES = 1024 * 1024;
/** The tar writer passes data this large on as it is (tar.ts PASS_THROUGH): such files have a buffer of their own. */
const WORKER_SHARE_MAX = 16 * 1024;
const WORKER_AHEAD_BATCHES = 4;

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
  const state = { bytes: 0, found: 0 };
  for (;;) {
    if (state.found >= HANDOFF_ENTRIES && !opts.exclude && stack.length > 0) break;
    fillAhead(stack, ahead, state, where, links, opts.exclude);
    const item = ahead.shift();
    if (!item) return;
    state.bytes -= item.bytes;
    yield item.entry;
  }
  for (const item of ahead) yield item.entry;
  // Batches from the worker, yielded here rather than behind a yield* (see above).
  const worker = new WorkerWalk(stack, where, links);
  try {
    for (let batch = await worker.next(); batch; batch = await worker.next()) {
      for (const entry of batch) yield entry;
    }
  } finally {
    worker.stop();
  }
}

/**
 * Reads ahead of the tar writer, depth first, each directory before its children: up to
 * READ_AHEAD_ENTRIES entries and READ_AHEAD_BYTES of data.
 */
function fillAhead(
  stack: Frame[],
  ahead: Array<{ entry: Entry; bytes: number }>,
  state: { bytes: number; found: number },
  where: string,
  links: Map<string, string>,
  exclude: Exclude | undefined,
): void {
  while (ahead.length < READ_AHEAD_ENTRIES && state.bytes < READ_AHEAD_BYTES) {
    const found = step(stack, where, exclude);
    if (!found) return;
    state.found++;
    const item = prefetch(entryFor(found, where, links));
    ahead.push(item);
    state.bytes += item.bytes;
  }
}

/** The rest of a walk (`stack`), in a worker thread: see HANDOFF_ENTRIES. */
class WorkerWalk {
  private readonly credits = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
  private readonly worker: Worker;
  private readonly queue: WalkMessage[] = [];
  private failure: unknown;
  private exited = false;
  private wake: (() => void) | undefined;

  constructor(
    stack: Frame[],
    private readonly where: string,
    private readonly links: Map<string, string>,
  ) {
    this.credits[0] = WORKER_AHEAD_BATCHES;
    const job: WalkJob = { stack, where, credits: this.credits, readMax: WORKER_READ_MAX, batchEntries: WORKER_BATCH_ENTRIES, batchBytes: WORKER_BATCH_BYTES, shareMax: WORKER_SHARE_MAX };
    this.worker = new Worker(new URL('./walk-worker.js', import.meta.url), {
      workerData: job,
      // It allocates little that lives: a small young generation keeps the process's memory down.
      resourceLimits: { maxYoungGenerationSizeMb: 4 },
    });
    this.worker.on('message', (m: WalkMessage) => {
      this.queue.push(m);
      this.nudge();
    });
    this.worker.on('error', (err) => {
      this.failure ??= err;
      this.nudge();
    });
    this.worker.on('exit', () => {
      this.exited = true;
      this.nudge();
    });
  }

  private nudge(): void {
    const resolve = this.wake;
    this.wake = undefined;
    resolve?.();
  }

  /** The next batch of entries; undefined at the end of the walk. */
  async next(): Promise<Entry[] | undefined> {
    // The worker keeps the process alive only while a batch is awaited: a walk its consumer
    // dropped without return() (a bug elsewhere) must not hold the process open.
    if (this.queue.length === 0) this.worker.ref();
    while (this.queue.length === 0) {
      if (this.failure !== undefined) throw this.failure;
      if (this.exited) throw new Error('host walk: the worker stopped before the end of the walk');
      await new Promise<void>((resolve) => { this.wake = resolve; });
    }
    this.worker.unref();
    const m = this.queue.shift()!;
    if ('done' in m) return undefined;
    if ('error' in m) throw revive(m.error);
    Atomics.add(this.credits, 0, 1);
    Atomics.notify(this.credits, 0);
    const { count, meta } = m.batch;
    const strings = m.batch.strings.split('\0');
    const data = Buffer.from(m.batch.data);
    const files = m.batch.files;
    const out = new Array<Entry>(count);
    for (let i = 0; i < count; i++) {
      const f = i * FIELDS;
      const type = TYPES[meta[f]!]!;
      const extra = strings[3 * i + 2]!;
      const found: Found = {
        hostPath: strings[3 * i]!,
        imagePath: strings[3 * i + 1]!,
        type,
        mode: meta[f + 1]!,
        uid: meta[f + 2]!,
        gid: meta[f + 3]!,
        mtime: meta[f + 4]!,
        size: meta[f + 5]!,
      };
      if (type === 'symlink') found.linkname = extra;
      else if (extra !== '') found.linkKey = extra;
      const at = meta[f + 6]!;
      const own = meta[f + 8]!;
      const bytes = at < 0 ? undefined : own < 0 ? data.subarray(at, at + meta[f + 7]!) : Buffer.from(files[own]!, at, meta[f + 7]!);
      out[i] = entryFor(found, this.where, this.links, bytes);
    }
    return out;
  }

  /** Stops the worker, wherever it is. */
  stop(): void {
    Atomics.store(this.credits, 1, 1);
    Atomics.notify(this.credits, 0);
    if (!this.exited) void this.worker.terminate();
  }
}

/** An error of the worker's walk as it was thrown there. */
function revive(e: Extract<WalkMessage, { error: unknown }>['error']): Error {
  if (e.user) return new UserError(e.message, e.code as UserError['code']);
  return Object.assign(new Error(e.message), e.code ? { code: e.code } : {}, e.syscall ? { syscall: e.syscall } : {}, e.path ? { path: e.path } : {});
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

/** The entry of what the walk found; `data`: the file's contents, read already. */
function entryFor(found: Found, where: string, links: Map<string, string>, data?: Buffer): Entry {
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
    if (data) {
      entry.open = openWhole(() => data);
    } else if (size === 0) {
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
