// One layer in one pass: entries → tar stream → diff_id hash → compressor → digest hash → store.
// Nothing of the layer's size is held in memory; the descriptor carries both digests.
import { Hasher } from './digest.js';
import type { LayerDescriptor } from './descriptor.js';
import type { Compressor } from './compress.js';
import type { Entry } from './entries.js';
import type { BlobStore } from './store.js';
import { tarStream } from './tar.js';

export interface LayerWriteOptions {
  compressor: Compressor;
  /** Compressed bytes stored so far. */
  onProgress?: (bytes: number) => void;
}

export async function writeLayer(store: BlobStore, entries: AsyncIterable<Entry>, opts: LayerWriteOptions): Promise<LayerDescriptor> {
  const diff = new Hasher();
  const desc = await store.put([tarStream(entries), diff, ...opts.compressor.create()], {
    mediaType: opts.compressor.mediaType,
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
  const { digest: diffId, size: uncompressedSize } = diff.result();
  return { ...desc, diffId, uncompressedSize };
}
