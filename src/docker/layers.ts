// Layers read back as uncompressed tars: one verifying pass (diff_id, size, framing)
// before an archive is written, spooling the tar to a private file that the archive is copied from.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { counting } from '../streams.js';
import { compressionOfMediaType, decompressor } from '../compress.js';
import type { Digest } from '../digest.js';
import type { Descriptor } from '../descriptor.js';
import { fileError, UserError } from '../errors.js';
import type { Layer } from '../model.js';
import { VerifyingStream } from '../store.js';
import { TarFraming } from './framing.js';

export interface MeasuredLayer {
  /** The layer as the manifest gives it. */
  layer: Layer;
  diffId: Digest;
  /** Bytes of the uncompressed tar: what a tar header in the archive must announce. */
  size: number;
  /** The uncompressed tar, as verified, when it was spooled. */
  file?: string;
}

function compressionOf(blob: Descriptor, where: string) {
  const kind = compressionOfMediaType(blob.mediaType);
  if (kind === undefined) throw new UserError(`${where}: media type ${blob.mediaType} is not a layer type oci-pack knows`, 'EUNSUPPORTED');
  return kind;
}

/** Where a layer's uncompressed tar goes as it is verified: an open file from `position` on, `name` in messages. */
export interface LayerFile {
  handle: FileHandle;
  position: number;
  name: string;
  /** Told of each write once it is done (how many bytes). */
  wrote?: (bytes: number) => void;
}

/**
 * Read a layer once: its blob digest verified, decompressed, hashed, counted and its tar framing
 * checked; with `spool`, the uncompressed tar is written as it passes to that new file (a path) or
 * into that open file (the archive being written, at the layer's place). A diff_id that differs
 * from the config's is an error naming both.
 */
export async function measureLayer(layer: Layer, where: string, spool?: string | LayerFile, onBytes?: (read: number) => void): Promise<MeasuredLayer> {
  const expected = layer.descriptor.diffId;
  const kind = compressionOf(layer.descriptor, where);
  let own: FileHandle | undefined;
  let result: { digest: Digest; size: number };
  try {
    if (typeof spool === 'string') {
      try {
        own = await fs.open(spool, 'wx', 0o600);
      } catch (err) {
        throw fileError(spool, err);
      }
    }
    const tap = new LayerTap(where, own && typeof spool === 'string' ? { handle: own, position: 0, name: spool } : (spool as LayerFile | undefined));
    const counted = onBytes ? [counting(onBytes)] : [];
    await pipeline([layer.open(), ...counted, decompressor(kind, where), tap]);
    result = tap.result();
    if (own) {
      const closing = own;
      own = undefined;
      await closing.close().catch((err: unknown) => {
        throw fileError(spool as string, err);
      });
    }
  } catch (err) {
    await own?.close().catch(() => undefined);
    throw asLayerError(err, where, kind);
  }
  if (result.digest !== expected) {
    throw new UserError(`${where}: the uncompressed layer hashes to ${result.digest}, but the config's rootfs.diff_ids says ${expected}`, 'EDIGEST');
  }
  return { layer, diffId: result.digest, size: result.size, ...(typeof spool === 'string' ? { file: spool } : {}) };
}

/** Bytes gathered into one write: zlib hands out 256 KiB chunks, and a write each cost more CPU than gathering them. */
const WRITE_SIZE = 1024 * 1024;
/**
 * Uncompressed bytes the tap may hold before the decompressor waits: a few chunks, so inflating
 * need not wait for the hashing or a write of the chunks before; more keeps zlib's buffers alive
 * longer, and fresh ones cost page faults.
 */
const TAP_AHEAD = 1024 * 1024;

/**
 * The end of a layer's pass, in one stage: the diff_id hash, the byte count, the tar framing and
 * the write into `file`. Its work on a chunk is deferred to a microtask: zlib hands a chunk out
 * before it asks its thread to inflate the next one, so work done in that same turn would keep
 * the inflating idle, and done after it runs beside it. Chunks are gathered into two buffers
 * taking turns, one filled while the other is written: copying into a buffer used again and
 * again, still in the cache, cost less than having the kernel copy zlib's chunks with writev.
 */
class LayerTap extends Writable {
  private readonly hash = createHash('sha256');
  private readonly framing: TarFraming;
  private size = 0;
  private buffer: Buffer;
  private spare: Buffer | undefined;
  private used = 0;
  private position: number;
  private writing: Promise<void> = Promise.resolve();
  private final_: { digest: Digest; size: number } | undefined;

  constructor(where: string, private readonly file: LayerFile | undefined) {
    super({ highWaterMark: TAP_AHEAD });
    this.framing = new TarFraming(where);
    this.position = file?.position ?? 0;
    this.buffer = file ? Buffer.allocUnsafe(WRITE_SIZE) : Buffer.alloc(0);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    queueMicrotask(() => {
      // Destroyed meanwhile (the pipeline failed): the file may be closing, nothing more is written.
      if (this.destroyed) return cb();
      try {
        this.hash.update(chunk);
        this.size += chunk.length;
        this.framing.consume(chunk);
      } catch (err) {
        return cb(err as Error);
      }
      if (!this.file) return cb();
      this.take(chunk).then(() => cb(), cb);
    });
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.spill()
      .then(() => this.writing)
      .then(() => {
        const broken = this.framing.incomplete();
        if (broken) throw broken;
        this.final_ = { digest: `sha256:${this.hash.digest('hex')}` as Digest, size: this.size };
      })
      .then(() => cb(), cb);
  }

  result(): { digest: Digest; size: number } {
    if (!this.final_) throw new Error('LayerTap.result() called before the stream finished');
    return this.final_;
  }

  private async take(chunk: Buffer): Promise<void> {
    for (let at = 0; at < chunk.length; ) {
      const n = Math.min(chunk.length - at, this.buffer.length - this.used);
      chunk.copy(this.buffer, this.used, at, at + n);
      this.used += n;
      at += n;
      if (this.used === this.buffer.length) await this.spill();
    }
  }

  /** Wait for the write before, start writing the buffer filled, and go on in the other one. */
  private async spill(): Promise<void> {
    await this.writing;
    if (this.used === 0 || !this.file) return;
    const { handle, name } = this.file;
    const full = this.buffer;
    const at = this.position;
    const length = this.used;
    this.position += length;
    this.writing = writeAt(handle, full.subarray(0, length), at).then(
      () => {
        this.spare = full;
        this.file?.wrote?.(length);
      },
      (err: unknown) => {
        throw fileError(name, err);
      },
    );
    // Seen by the next spill or by _final; until then, not an unhandled rejection.
    this.writing.catch(() => undefined);
    this.buffer = this.spare ?? Buffer.allocUnsafe(WRITE_SIZE);
    this.spare = undefined;
    this.used = 0;
  }
}

/** All of `data` at `position` (a write may take less than it is given). */
export async function writeAt(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

/**
 * The uncompressed tar of a measured layer: its spool file, or else the blob decompressed again,
 * failing at its end if it is not the bytes measured.
 */
export function openUncompressed(layer: MeasuredLayer, where: string): Readable {
  // Our own file, in a folder only we can write: the bytes verified, with nothing to check again.
  if (layer.file !== undefined) return createReadStream(layer.file, { highWaterMark: 1024 * 1024 });
  const kind = compressionOf(layer.layer.descriptor, where);
  const source = layer.layer.open();
  const inflate = decompressor(kind, where);
  const check = new VerifyingStream(layer.diffId, layer.size, `${where} (uncompressed, diff_id ${layer.diffId})`);
  source.on('error', (err) => check.destroy(asLayerError(err, where, kind) as Error));
  inflate.on('error', (err) => check.destroy(asLayerError(err, where, kind) as Error));
  check.on('close', () => {
    source.destroy();
    inflate.destroy();
  });
  source.pipe(inflate).pipe(check);
  return check;
}

/** zlib's errors say nothing of which layer: name it. */
function asLayerError(err: unknown, where: string, kind: string): unknown {
  if (err instanceof UserError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && code.startsWith('Z_')) {
    return new UserError(`${where}: not valid ${kind} data: ${(err as Error).message}`, 'EDIGEST');
  }
  return err;
}
