// Layers of a layout read back as uncompressed tars: a measuring pass (diff_id, size, framing)
// before an archive is written, and the stream that goes into it, verified again as it passes.
import { counting } from '../streams.js';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { compressionOfMediaType, decompressor } from '../compress.js';
import { Hasher, type Digest } from '../digest.js';
import type { Descriptor } from '../descriptor.js';
import { UserError } from '../errors.js';
import { BlobStore, VerifyingStream } from '../store.js';
import { TarFraming } from './framing.js';

export interface MeasuredLayer {
  /** The layer as the manifest gives it. */
  blob: Descriptor;
  diffId: Digest;
  /** Bytes of the uncompressed tar: what a tar header in the archive must announce. */
  size: number;
}

function compressionOf(blob: Descriptor, where: string) {
  const kind = compressionOfMediaType(blob.mediaType);
  if (kind === undefined) throw new UserError(`${where}: media type ${blob.mediaType} is not a layer type oci-pack knows`, 'EUNSUPPORTED');
  return kind;
}

/**
 * Read a layer once: its blob digest verified, decompressed, hashed, counted and its tar framing
 * checked. A diff_id that differs from the config's is an error naming both.
 */
export async function measureLayer(store: BlobStore, blob: Descriptor, expected: Digest, where: string, onBytes?: (read: number) => void): Promise<MeasuredLayer> {
  const kind = compressionOf(blob, where);
  const diff = new Hasher();
  try {
    await pipeline([store.open(blob), ...(onBytes ? [counting(onBytes)] : []), decompressor(kind, where), diff, new TarFraming(where)]);
  } catch (err) {
    throw asLayerError(err, where, kind);
  }
  const { digest, size } = diff.result();
  if (digest !== expected) {
    throw new UserError(`${where}: the uncompressed layer hashes to ${digest}, but the config's rootfs.diff_ids says ${expected}`, 'EDIGEST');
  }
  return { blob, diffId: digest, size };
}

/** The uncompressed tar of a measured layer, failing at its end if it is not the bytes measured. */
export function openUncompressed(store: BlobStore, layer: MeasuredLayer, where: string): Readable {
  const kind = compressionOf(layer.blob, where);
  const source = store.open(layer.blob);
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
