// Layer compression as streams behind one small interface (gzip, zstd, none), and detection of
// the compression of bytes we read. The gzip output is reproducible: no name, no time, fixed OS.
import { Transform, type TransformCallback, type Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { MediaType } from './descriptor.js';
import { UserError, usageError } from './errors.js';
import { peekHead } from './streams.js';
import { ParallelGzip } from './gzip.js';

export type CompressionName = 'gzip' | 'zstd' | 'none';

export interface Compressor {
  readonly name: CompressionName;
  /** The OCI layer media type for this compression. */
  readonly mediaType: string;
  /**
   * A fresh chain of streams that compresses what is written to its first stage: a list, so that a
   * compressor can be zlib plus a fix-up stage without gluing streams together.
   */
  create(): Transform[];
}

/**
 * The OS byte written into every gzip header: 255, "unknown", as Go's compress/gzip (and so crane
 * and ko) write it. Node writes 3 on Linux and 19 on macOS, which would change the layer digest
 * with the machine that built it.
 */
export const GZIP_OS_BYTE = 0xff;

/**
 * The fastest level whose layers stay within 1% of umoci's (pgzip at its default) on both a mixed
 * rootfs and a text-heavy tree; level 3 is 4% larger on text. The table is in README.md.
 */
export const DEFAULT_GZIP_LEVEL = 4;

/**
 * Input bytes per block of the parallel gzip. Part of the output's definition (another size gives
 * other bytes, so other digests); chosen from the table in README.md.
 */
export const GZIP_BLOCK_SIZE = 1024 * 1024;

/** zstd needs zlib.createZstdCompress (Node 22.15 and later); Node 20 has none. */
export function zstdAvailable(): boolean {
  return typeof (zlib as unknown as Record<string, unknown>).createZstdCompress === 'function';
}

export function compressor(name: CompressionName, level?: number): Compressor {
  switch (name) {
    case 'none':
      if (level !== undefined) throw usageError('--compression-level: not used with --compression none');
      return { name, mediaType: MediaType.layer, create: () => [] };
    case 'gzip': {
      const lvl = level ?? DEFAULT_GZIP_LEVEL;
      if (!Number.isInteger(lvl) || lvl < 0 || lvl > 9) {
        throw usageError(`--compression-level ${level}: gzip levels are 0 to 9`);
      }
      return { name, mediaType: MediaType.layerGzip, create: () => [new ParallelGzip({ level: lvl, blockSize: GZIP_BLOCK_SIZE, osByte: GZIP_OS_BYTE })] };
    }
    case 'zstd': {
      if (!zstdAvailable()) {
        throw new UserError(
          `--compression zstd: this Node.js (${process.version}) has no zstd in node:zlib (it arrived in Node 22.15); use gzip or none`,
          'EUNSUPPORTED',
        );
      }
      const lvl = level ?? 3;
      if (!Number.isInteger(lvl) || lvl < 1 || lvl > 22) {
        throw usageError(`--compression-level ${level}: zstd levels are 1 to 22`);
      }
      const z = zlib as unknown as {
        createZstdCompress(o: object): Transform;
        constants: Record<string, number>;
      };
      const param = z.constants.ZSTD_c_compressionLevel ?? 100;
      return { name, mediaType: MediaType.layerZstd, create: () => [z.createZstdCompress({ params: { [param]: lvl } })] };
    }
    default:
      throw usageError(`--compression ${String(name)}: expected gzip, zstd or none`);
  }
}

export function parseCompression(value: string): CompressionName {
  if (value === 'gzip' || value === 'zstd' || value === 'none') return value;
  throw usageError(`--compression ${value}: expected gzip, zstd or none`);
}

function passChunk(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
  cb(null, chunk);
}

export type DetectedCompression = 'gzip' | 'zstd' | 'none';

/** The compression of a stream, from its first bytes (gzip 1f 8b, zstd 28 b5 2f fd). */
export function detectCompression(head: Buffer): DetectedCompression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/** The media type's compression, or undefined when the media type is not a layer we know. */
export function compressionOfMediaType(mediaType: string): DetectedCompression | undefined {
  if (mediaType === MediaType.layer || mediaType === MediaType.dockerLayer) return 'none';
  if (mediaType === MediaType.layerGzip || mediaType === MediaType.dockerLayerGzip) return 'gzip';
  if (mediaType === MediaType.layerZstd || mediaType === MediaType.dockerLayerZstd) return 'zstd';
  if (mediaType === 'application/vnd.oci.image.layer.nondistributable.v1.tar') return 'none';
  if (mediaType === 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip') return 'gzip';
  return undefined;
}

/** A stream that decompresses `kind` (a pass-through for 'none'). */
export function decompressor(kind: DetectedCompression, where: string): Transform {
  if (kind === 'gzip') return zlib.createGunzip();
  if (kind === 'zstd') {
    const z = zlib as unknown as { createZstdDecompress?: () => Transform };
    if (!z.createZstdDecompress) {
      throw new UserError(`${where}: zstd-compressed, and this Node.js (${process.version}) cannot decompress zstd`, 'EUNSUPPORTED');
    }
    return z.createZstdDecompress();
  }
  return new Transform({ transform: passChunk });
}

/**
 * The compression of a stream, read from its first bytes, and the stream to read from the start:
 * the caller pipes it through `decompressor(kind)`. Never guessed from a file name.
 */
export async function sniffCompression(input: Readable): Promise<{ kind: DetectedCompression; stream: Readable }> {
  const { head, stream } = await peekHead(input, 4);
  return { kind: detectCompression(head), stream };
}
