// A host walk in a worker thread: lstat, readlink and the whole reads of small files happen here,
// off the main thread, which meanwhile encodes, hashes and writes the entries found before.
// What is found goes back in batches (see WalkBatch); the walk stays at most a few batches ahead.
import { parentPort, workerData } from 'node:worker_threads';
import { UserError } from '../errors.js';
import { readWholeSync, step, type Found, type Frame } from './walk.js';

export interface WalkJob {
  stack: Frame[];
  where: string;
  /** [0]: batches the main thread will still take; [1]: 1 once it wants no more. */
  credits: Int32Array;
  /** Files up to this size are read here, whole; larger ones are left to the main thread. */
  readMax: number;
  batchEntries: number;
  /** The data of one batch, at most. */
  batchBytes: number;
  /** Files smaller than this share one buffer per batch; larger ones each have their own. */
  shareMax: number;
}

/** Numbers per entry in WalkBatch.meta. */
export const FIELDS = 9;
/** WalkBatch.meta[i * FIELDS + TYPE]. */
export const TYPES = ['file', 'directory', 'symlink'] as const;

/**
 * Entries found: for entry i, the (3i)th to (3i+2)th NUL-separated parts of `strings` are its host
 * path, image path and link target or hard-link key ('' for none): one string is copied to the
 * main thread in one go, where an array of them is cloned string by string. meta[i*FIELDS..] holds
 * its type (index in TYPES), mode, uid, gid, mtime, size, and its data: where it starts in `data`
 * and how long it is, and which of `files` holds it instead (-1: not read here; not in `files`).
 * A larger file has a buffer of its own: the tar writer passes it on as it is, and a slice of the
 * shared one would keep the whole batch in memory for as long as the later stages hold it.
 */
export interface WalkBatch {
  count: number;
  strings: string;
  meta: Float64Array;
  data: ArrayBuffer;
  files: ArrayBuffer[];
}

export type WalkMessage = { batch: WalkBatch } | { done: true } | { error: { message: string; code?: string; user: boolean; syscall?: string; path?: string } };

function run(job: WalkJob): void {
  const port = parentPort!;
  const { credits } = job;
  try {
    for (;;) {
      // What the next batch holds is found first, and its files read after, into a buffer of the
      // size they need: a buffer of the most a batch may need, each time, grew the process by 50 MB.
      const found: Found[] = [];
      let shared = 0;
      let bytes = 0;
      while (found.length < job.batchEntries && bytes < job.batchBytes) {
        const f = step(job.stack, job.where);
        if (!f) break;
        found.push(f);
        if (f.type === 'file' && f.size > 0 && f.size <= job.readMax) {
          bytes += f.size;
          if (f.size < job.shareMax) shared += f.size;
        }
      }
      if (found.length === 0) break;
      if (!send(read(found, shared))) return;
    }
    port.postMessage({ done: true } satisfies WalkMessage);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const error = err instanceof UserError
      ? { message: e.message, code: e.code, user: true }
      : { message: String(e?.message ?? err), user: false, ...(e?.code ? { code: e.code } : {}), ...(e?.syscall ? { syscall: e.syscall } : {}), ...(e?.path ? { path: e.path } : {}) };
    port.postMessage({ error } satisfies WalkMessage);
  }

  /** The batch of what was found, files up to readMax read (`shared`: the bytes of those below shareMax). */
  function read(found: Found[], shared: number): WalkBatch {
    // Not zeroed: the reads fill it.
    const data = Buffer.allocUnsafeSlow(shared);
    const files: ArrayBuffer[] = [];
    const meta = new Float64Array(found.length * FIELDS);
    const strings: string[] = [];
    let used = 0;
    for (let i = 0; i < found.length; i++) {
      const f = found[i]!;
      const size = f.size;
      let at = -1;
      let got = -1;
      let own = -1;
      // A hard link's data is read too, though only its first name needs it: the main thread knows which that is.
      if (f.type === 'file' && size > 0 && size <= job.readMax) {
        if (size < job.shareMax) {
          got = readWholeSync(f.hostPath, size, job.where, data, used).length;
          at = used;
          used += size;
        } else {
          const own_ = readWholeSync(f.hostPath, size, job.where, Buffer.allocUnsafeSlow(size));
          own = files.push(own_.buffer as ArrayBuffer) - 1;
          at = 0;
          got = own_.length;
        }
      }
      const m = i * FIELDS;
      meta[m] = TYPES.indexOf(f.type);
      meta[m + 1] = f.mode;
      meta[m + 2] = f.uid;
      meta[m + 3] = f.gid;
      meta[m + 4] = f.mtime;
      meta[m + 5] = size;
      meta[m + 6] = at;
      meta[m + 7] = got;
      meta[m + 8] = own;
      strings.push(f.hostPath, f.imagePath, f.linkname ?? f.linkKey ?? '');
    }
    return { count: found.length, strings: strings.join('\0'), meta, data: data.buffer as ArrayBuffer, files };
  }

  /** Sends a batch once the main thread has room for it; false when it wants no more. */
  function send(batch: WalkBatch): boolean {
    while (Atomics.load(credits, 0) <= 0) {
      if (Atomics.load(credits, 1) !== 0) return false;
      Atomics.wait(credits, 0, 0, 1000);
    }
    if (Atomics.load(credits, 1) !== 0) return false;
    Atomics.sub(credits, 0, 1);
    port.postMessage({ batch } satisfies WalkMessage, [batch.meta.buffer as ArrayBuffer, batch.data, ...batch.files]);
    return true;
  }
}

if (parentPort) run(workerData as WalkJob);
