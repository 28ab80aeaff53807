// The content-addressed blob store of an OCI layout (blobs/sha256/<hex>): one write path for every
// blob (temp file in the layout root, hashed while streaming, fsync, rename) and verified reads.
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Hasher, digestHex, sha256, type Digest } from './digest.js';
import type { Descriptor } from './descriptor.js';
import { UserError } from './errors.js';
import { checkNotInterrupted, onInterrupt } from './cleanup.js';
import { readWhole } from './streams.js';

import { MAX_JSON_BYTES } from './limits.js';
import { parseJsonInput } from './json.js';

export { MAX_JSON_BYTES };

export const TEMP_PREFIX = '.oci-pack-';
/** A temp file or staging folder of a run, and its owner's pid. */
export const TEMP_RE = /^\.oci-pack-(\d+)-[0-9a-f]+\.tmp$/;

/** A temporary file name in `dir` that names its owner, so a later run can clean what a dead one left. */
export function tempPath(dir: string): string {
  checkNotInterrupted();
  return path.join(dir, `${TEMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
}

/** Whether a name is one of tempPath's (a temp file or staging folder of some run). */
export function isTempName(name: string): boolean {
  return TEMP_RE.test(name);
}

export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove the temporary files of runs that were killed (their pid is gone); live writers' stay. */
export async function removeStaleTemps(dir: string): Promise<number> {
  let removed = 0;
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const m = TEMP_RE.exec(name);
    if (!m || processAlive(Number(m[1]))) continue;
    try {
      await fs.rm(path.join(dir, name), { recursive: true, force: true });
      removed++;
    } catch (err) {
      // Another user's leftovers in a shared folder (/tmp): not ours to remove, and no reason to fail.
      if (!['EPERM', 'EACCES', 'EBUSY', 'ENOTEMPTY'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    }
  }
  return removed;
}

export interface PutOptions {
  mediaType: string;
  /** When the caller knows what the bytes should be: checked, never trusted. */
  expected?: { digest: Digest; size?: number };
  annotations?: Record<string, string>;
  /** Called with the count of bytes stored so far (progress). */
  onProgress?: (bytes: number) => void;
  /**
   * The last of the stages when it is a Hasher already: its result is the blob's digest, and the
   * bytes are not hashed a second time (an uncompressed layer's diff_id is its digest).
   */
  hashedBy?: Hasher;
}

export type Stage = NodeJS.ReadableStream | NodeJS.ReadWriteStream | Readable | Transform;

export class BlobStore {
  readonly root: string;
  readonly dir: string;
  /**
   * Where this run's new blobs wait until `publish()`: other readers of the layout never see them,
   * and a failed run removes the folder and leaves the store exactly as it found it.
   */
  readonly staging: string | undefined;
  private readonly staged: Digest[] = [];
  /** Stops a signal from removing the staging folder (once it is published or discarded). */
  private forgetInterrupt: (() => void) | undefined;

  constructor(root: string, staging?: string) {
    this.root = root;
    this.dir = path.join(root, 'blobs', 'sha256');
    this.staging = staging;
  }

  /** A view of this store whose writes are staged until `publish()`. */
  async stage(): Promise<BlobStore> {
    const dir = tempPath(this.root);
    try {
      await fs.mkdir(dir, { mode: 0o755 });
    } catch (err) {
      // A new layout whose creator failed is removed (only while it is a bare skeleton): say so.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`${this.root}: the layout was removed while this run was starting; run it again`, 'ELAYOUT');
      throw err;
    }
    const staged = new BlobStore(this.root, dir);
    staged.forgetInterrupt = onInterrupt(() => fs.rm(dir, { recursive: true, force: true }));
    return staged;
  }

  blobPath(digest: Digest): string {
    return path.join(this.dir, digestHex(digest));
  }

  /** Where the blob is: staged by this run, or in the store; undefined when in neither. */
  private async locate(digest: Digest): Promise<{ file: string; size: number } | undefined> {
    const candidates = this.staging ? [path.join(this.staging, digestHex(digest)), this.blobPath(digest)] : [this.blobPath(digest)];
    for (const file of candidates) {
      try {
        const st = await fs.stat(file);
        if (st.isFile()) return { file, size: st.size };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return undefined;
  }

  /** Size of the blob (staged or stored), or undefined when it is not there. */
  async sizeOf(digest: Digest): Promise<number | undefined> {
    return (await this.locate(digest))?.size;
  }

  async has(digest: Digest, size?: number): Promise<boolean> {
    const have = await this.sizeOf(digest);
    return have !== undefined && (size === undefined || have === size);
  }

  /**
   * A read stream of a blob that fails at its end if the bytes do not hash to the digest or do not
   * add up to the size, and reads to the true end of the file.
   */
  open(desc: { digest: Digest; size?: number }): Readable {
    const verifier = new VerifyingStream(desc.digest, desc.size, `${this.root}: blob ${desc.digest}`);
    // The file is opened when the stream is first read: a caller may do async work between open()
    // and piping it, and a small blob read (and failed) meanwhile would error with no one listening.
    verifier.startOnRead(() => this.locate(desc.digest).then(
      (found) => {
        if (!found) {
          verifier.destroy(new UserError(`${this.root}: blob ${desc.digest} is missing`, 'ELAYOUT'));
          return;
        }
        // 256 KiB reads: a layer passes a decompressor and hashers, whose cost is per chunk.
        const file = createReadStream(found.file, { highWaterMark: 256 * 1024 });
        file.on('error', (err) => verifier.destroy(err));
        verifier.on('close', () => file.destroy());
        file.pipe(verifier);
      },
      (err: Error) => verifier.destroy(err),
    ));
    return verifier;
  }

  /** A small blob read whole (JSON documents), verified and size-limited. */
  async read(desc: { digest: Digest; size?: number }, limit = MAX_JSON_BYTES): Promise<Buffer> {
    const size = desc.size ?? (await this.sizeOf(desc.digest));
    if (size !== undefined && size > limit) {
      throw new UserError(`${this.root}: blob ${desc.digest} is ${size} bytes, more than the ${limit} allowed for a document`, 'ELAYOUT');
    }
    return readWhole(this.open(desc), limit, `${this.root}: blob ${desc.digest}`);
  }

  async readJson(desc: { digest: Digest; size?: number }, what: string): Promise<unknown> {
    const buf = await this.read(desc);
    try {
      return parseJsonInput(buf, `${what} ${desc.digest}`, MAX_JSON_BYTES);
    } catch (err) {
      if (err instanceof UserError) throw new UserError(err.message, 'ELAYOUT');
      throw err;
    }
  }

  /**
   * Store what the stages produce: pipeline(...stages) → hash → temp file → fsync → rename. The
   * digest is computed here; an expected digest is checked. On any failure the temp file is removed.
   */
  async put(stages: Stage[], opts: PutOptions): Promise<Descriptor> {
    if (opts.expected && (await this.has(opts.expected.digest, opts.expected.size)) && (await this.pin(opts.expected.digest))) {
      // Already there: the bytes are not written again. Destroying the source stops its producer.
      for (const s of stages) (s as Readable).destroy?.();
      const size = opts.expected.size ?? (await this.sizeOf(opts.expected.digest));
      return this.descriptor(opts, opts.expected.digest, size!);
    }
    const into = this.staging ?? this.root;
    if (!this.staging) await fs.mkdir(this.dir, { recursive: true });
    const tmp = tempPath(into);
    if (opts.hashedBy && stages[stages.length - 1] !== opts.hashedBy) throw new Error('BlobStore.put: hashedBy must be the last stage');
    const hasher = opts.hashedBy ?? new Hasher();
    try {
      // Opened before the pipeline starts: a stream that opens its own file could create it after
      // a failed pipeline's clean-up had already run. flush: fsync before the close it waits for.
      const handle = await fs.open(tmp, 'wx', 0o644);
      const out = createWriteStream(tmp, { fd: handle, flush: true });
      const chain: Stage[] = opts.hashedBy ? [...stages] : [...stages, hasher];
      if (opts.onProgress) chain.push(progressTap(opts.onProgress));
      await pipeline([...chain, out] as unknown as [Readable, NodeJS.WritableStream]);
      const { digest, size } = hasher.result();
      if (opts.expected) {
        if (opts.expected.digest !== digest) {
          throw new UserError(`content for ${opts.expected.digest} hashes to ${digest}`, 'EDIGEST');
        }
        if (opts.expected.size !== undefined && opts.expected.size !== size) {
          throw new UserError(`content for ${digest} is ${size} bytes, expected ${opts.expected.size}`, 'EDIGEST');
        }
      }
      await this.commit(tmp, digest, size);
      return this.descriptor(opts, digest, size);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }

  /** Store bytes already in memory (JSON documents). */
  async putBytes(data: Buffer, opts: PutOptions): Promise<Descriptor> {
    const digest = sha256(data);
    return this.put([Readable.from([data])], { ...opts, expected: { digest, size: data.length } });
  }

  /**
   * A staging store keeps its own hard link to a blob it reuses from the store: `gc` may remove
   * that blob while nothing references it yet, and publish() puts it back. False when the blob
   * went meanwhile (the caller writes it after all).
   */
  private async pin(digest: Digest): Promise<boolean> {
    if (!this.staging) return true;
    const staged = path.join(this.staging, digestHex(digest));
    try {
      await fs.link(this.blobPath(digest), staged);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return true;
      if (code === 'ENOENT') return (await fs.stat(staged).catch(() => undefined))?.isFile() ?? false;
      // A filesystem without hard links (EPERM, ENOTSUP, EMLINK): the bytes are written again instead.
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EMLINK' || code === 'EXDEV') return false;
      throw err;
    }
    this.staged.push(digest);
    return true;
  }

  private async commit(tmp: string, digest: Digest, size: number): Promise<void> {
    const have = this.staging ? (await fs.stat(path.join(this.staging, digestHex(digest))).catch(() => undefined))?.size : await this.sizeOf(digest);
    if (have === size) {
      // Someone (this run or a concurrent one) stored the same bytes first; theirs is as good.
      await fs.rm(tmp, { force: true });
      return;
    }
    await fs.chmod(tmp, 0o644);
    if (this.staging) {
      await fs.rename(tmp, path.join(this.staging, digestHex(digest)));
      this.staged.push(digest);
      return;
    }
    await fs.rename(tmp, this.blobPath(digest));
    await syncDir(this.dir);
  }

  /**
   * Move the staged blobs into blobs/sha256 (in the order they were written: children before
   * the documents that name them) and remove the staging folder. With `keep`, only those blobs
   * move and the rest go with the folder (what several builds staged but the image does not use).
   */
  async publish(keep?: ReadonlySet<Digest>): Promise<void> {
    if (!this.staging) return;
    await fs.mkdir(this.dir, { recursive: true });
    for (const digest of this.staged) {
      if (keep && !keep.has(digest)) continue;
      const from = path.join(this.staging, digestHex(digest));
      const st = await fs.stat(this.blobPath(digest)).catch(() => undefined);
      if (st?.isFile() && st.size === (await fs.stat(from)).size) continue;
      await fs.rename(from, this.blobPath(digest));
    }
    if (this.staged.length > 0) await syncDir(this.dir);
    this.staged.length = 0;
    await fs.rm(this.staging, { recursive: true, force: true });
    this.forgetInterrupt?.();
  }

  /** Drop everything staged (a failed run). */
  async discard(): Promise<void> {
    this.staged.length = 0;
    if (this.staging) await fs.rm(this.staging, { recursive: true, force: true });
    this.forgetInterrupt?.();
  }

  private descriptor(opts: PutOptions, digest: Digest, size: number): Descriptor {
    const d: Descriptor = { mediaType: opts.mediaType, digest, size };
    if (opts.annotations && Object.keys(opts.annotations).length > 0) d.annotations = opts.annotations;
    return d;
  }

  /** Every blob digest in the store (not the staged ones); stray names are skipped. */
  async list(): Promise<Digest[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch {
      return [];
    }
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).sort().map((n) => `sha256:${n}` as Digest);
  }
}

/** fsync a directory so a rename in it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const h = await fs.open(dir, 'r');
  try {
    await h.sync();
  } catch (err) {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
    if (!['EINVAL', 'EISDIR', 'EBADF', 'ENOTSUP'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    await h.close();
  }
}

function progressTap(onProgress: (bytes: number) => void): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      onProgress(n);
      cb(null, chunk);
    },
  });
}

/** Passes bytes through; fails when they exceed the size, or at the end when digest or size differ. */
export class VerifyingStream extends Transform {
  private readonly hash = createHash('sha256');
  private seen = 0;

  constructor(
    private readonly digest: Digest,
    private readonly size: number | undefined,
    private readonly what: string,
  ) {
    super();
  }

  private starter: (() => unknown) | undefined;

  /** Call `start` (which feeds this stream) only when a consumer first reads from it. */
  startOnRead(start: () => unknown): void {
    this.starter = start;
  }

  override _read(size: number): void {
    const start = this.starter;
    if (start) {
      this.starter = undefined;
      start();
    }
    super._read(size);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.size !== undefined && this.seen > this.size) {
      cb(new UserError(`${this.what}: more than the ${this.size} bytes its descriptor gives`, 'EDIGEST'));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const got = `sha256:${this.hash.digest('hex')}`;
    if (this.size !== undefined && this.seen !== this.size) {
      cb(new UserError(`${this.what}: ${this.seen} bytes, its descriptor says ${this.size}`, 'EDIGEST'));
    } else if (got !== this.digest) {
      cb(new UserError(`${this.what}: content hashes to ${got}`, 'EDIGEST'));
    } else {
      cb();
    }
  }
}
