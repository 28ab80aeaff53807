// A host walk in a worker thread: lstat, readlink and the whole reads of small files happen here,
// off the main thread, which meanwhile encodes, hashes and writes the entries found before.
// What is found goes back in batches (see WalkBatch); the walk stays at most a few batches ahead.
import { parentPort, workerData } from 'node:worker_threads';
import { UserError } from '../errors.js';
import { readWholeSync, step, type Frame } from './walk.js';

export interface WalkJob {
  stack: Frame[];
  where: string;
  /** [0]: batches the main thread will still take; [1]: 1 once it wants no more. */
  credits: Int32Array;
  /** Files up to this size are read here, whole; larger ones are left to the main thread. */
  readMax: number;
  batchEntries: number;
  /** At least readMax: the data of one batch. */
  batchBytes: number;
}

/** Numbers per entry in WalkBatch.meta. */
export const FIELDS = 8;
/** WalkBatch.meta[i * FIELDS + TYPE]. */
export const TYPES = ['file', 'directory', 'symlink'] as const;

/**
 * Entries found: for entry i, the (3i)th to (3i+2)th NUL-separated parts of `strings` are its host
 * path, image path and link target or hard-link key ('' for none): one string is copied to the
 * main thread in one go, where an array of them is cloned string by string. meta[i*FIELDS..] holds
 * its type (index in TYPES), mode, uid, gid, mtime, size, and where its data starts in `data` and
 * how long it is (-1: not read here).
 */
export interface WalkBatch {
  count: number;
  strings: string;
  meta: Float64Array;
  data: ArrayBuffer;
}

export type WalkMessage = { batch: WalkBatch } | { done: true } | { error: { message: string; code?: string; user: boolean; syscall?: string; path?: string } };

function run(job: WalkJob): void {
  const port = parentPort!;
  const { credits } = job;
  let batch = fresh();
  let strings: string[] = [];
  let used = 0;

  function fresh(): WalkBatch {
    // Not zeroed: only what the reads fill is ever looked at.
    const data = Buffer.allocUnsafeSlow(job.batchBytes).buffer as ArrayBuffer;
    return { count: 0, strings: '', meta: new Float64Array(job.batchEntries * FIELDS), data };
  }
  /** Sends the batch once the main thread has room for it; false when it wants no more. */
  function send(): boolean {
    if (batch.count > 0) {
      while (Atomics.load(credits, 0) <= 0) {
        if (Atomics.load(credits, 1) !== 0) return false;
        Atomics.wait(credits, 0, 0, 1000);
      }
      if (Atomics.load(credits, 1) !== 0) return false;
      Atomics.sub(credits, 0, 1);
      batch.strings = strings.join('\0');
      port.postMessage({ batch } satisfies WalkMessage, [batch.meta.buffer as ArrayBuffer, batch.data]);
      batch = fresh();
      strings = [];
      used = 0;
    }
    return true;
  }

  try {
    for (;;) {
      const found = step(job.stack, job.where);
      if (!found) break;
      const size = found.size;
      let at = -1;
      let got = -1;
      // A hard link's data is read too, though only its first name needs it: the main thread knows which that is.
      if (found.type === 'file' && size > 0 && size <= job.readMax) {
        if (used + size > job.batchBytes && !send()) return;
        const data = readWholeSync(found.hostPath, size, job.where, Buffer.from(batch.data), used);
        at = used;
        got = data.length;
        used += got;
      }
      const m = batch.count * FIELDS;
      const meta = batch.meta;
      meta[m] = TYPES.indexOf(found.type);
      meta[m + 1] = found.mode;
      meta[m + 2] = found.uid;
      meta[m + 3] = found.gid;
      meta[m + 4] = found.mtime;
      meta[m + 5] = size;
      meta[m + 6] = at;
      meta[m + 7] = got;
      strings.push(found.hostPath, found.imagePath, found.linkname ?? found.linkKey ?? '');
      batch.count++;
      if (batch.count === job.batchEntries && !send()) return;
    }
    if (!send()) return;
    port.postMessage({ done: true } satisfies WalkMessage);
  } catch (err) {
    // What was found before the failure goes first, as on the main thread.
    if (!send()) return;
    const e = err as NodeJS.ErrnoException;
    const error = err instanceof UserError
      ? { message: e.message, code: e.code, user: true }
      : { message: String(e?.message ?? err), user: false, ...(e?.code ? { code: e.code } : {}), ...(e?.syscall ? { syscall: e.syscall } : {}), ...(e?.path ? { path: e.path } : {}) };
    port.postMessage({ error } satisfies WalkMessage);
  }
}

if (parentPort) run(workerData as WalkJob);
