// Layers read back as uncompressed tars: one verifying pass (diff_id, size, framing)
// before an archive is written, spooling the tar to a private file that the archive is copied from.
import { counting } from '../streams.js';
import { createReadStream, createWriteStream } from 'node:fs';
import { Transform, Writable, type Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import type { FileHandle } from 'node:fs/promises';
import { compressionOfMediaType, decompressor } from '../compress.js';
import { Hasher, type Digest } from '../digest.js';
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

/**
 * Read a layer once: its blob digest verified, decompressed, hashed, counted and its tar framing
 * checked; with `spool`, the uncompressed tar is written as it passes to that new file (a path) or
 * into that stream (the archive being written, at the layer's place). A diff_id that differs from
 * the config's is an error naming both.
 */
export async function measureLayer(layer: Layer, where: string, spool?: string | Writable, onBytes?: (read: number) => void): Promise<MeasuredLayer> {
  const expected = layer.descriptor.diffId;
  const kind = compressionOf(layer.descriptor, where);
  const diff = new Hasher();
  try {
    const framing = new TarFraming(where);
    const counted = onBytes ? [counting(onBytes)] : [];
    if (spool === undefined) {
      await pipeline([layer.open(), ...counted, decompressor(kind, where), diff, framing]);
    } else {
      const sink = typeof spool === 'string' ? createWriteStream(spool, { flags: 'wx', mode: 0o600 }) : spool;
      await pipeline([layer.open(), ...counted, decompressor(kind, where), diff, tee(framing), sink]);
    }
  } catch (err) {
    if (typeof spool === 'string' && (err as NodeJS.ErrnoException).path === spool) throw fileError(spool, err);
    throw asLayerError(err, where, kind);
  }
  const { digest, size } = diff.result();
  if (digest !== expected) {
    throw new UserError(`${where}: the uncompressed layer hashes to ${digest}, but the config's rootfs.diff_ids says ${expected}`, 'EDIGEST');
  }
  return { layer, diffId: digest, size, ...(typeof spool === 'string' ? { file: spool } : {}) };
}

/**
 * Writes what it is given into an open file (`name` in messages) from `position` on, gathered into
 * 1 MiB writes: zlib hands out 16 KiB chunks, and a write each cost more CPU than the inflating.
 * The caller closes the file.
 */
export class PositionalWriter extends Writable {
  private buffer = Buffer.allocUnsafe(1024 * 1024);
  private used = 0;

  constructor(
    private readonly handle: FileHandle,
    private position: number,
    private readonly name: string,
  ) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.take(chunk).then(() => cb(), (err: unknown) => cb(fileError(this.name, err) as Error));
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.spill().then(() => cb(), (err: unknown) => cb(fileError(this.name, err) as Error));
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

  private async spill(): Promise<void> {
    if (this.used === 0) return;
    await writeAt(this.handle, this.buffer.subarray(0, this.used), this.position);
    this.position += this.used;
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

/** Passes the bytes on while `sink` sees them too; ends when the sink has taken the last of them. */
function tee(sink: Writable): Transform {
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (sink.write(chunk)) cb(null, chunk);
      else sink.once('drain', () => cb(null, chunk));
    },
    flush(cb) {
      sink.end();
      finished(sink).then(() => cb(), cb);
    },
  });
  sink.on('error', (err) => tap.destroy(err));
  return tap;
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
