// One layer in one pass: entries → tar stream → diff_id hash → compressor → digest hash → store
// (for an uncompressed layer, the diff_id hash is the digest's).
// Nothing of the layer's size is held in memory; the descriptor carries both digests.
import { Hasher } from './digest.js';
import type { LayerDescriptor } from './descriptor.js';
import type { Compressor } from './compress.js';
import type { Entry } from './entries.js';
import type { BlobStore } from './store.js';
import { tarStream } from './tar.js';

export interface LayerWriteOptions {
  compressor: Compressor;
  /** Called with each entry as it is written; what it throws fails the layer. */
  onEntry?: (entry: Entry) => void;
  /** Compressed bytes stored so far. */
  onProgress?: (bytes: number) => void;
}

export async function writeLayer(store: BlobStore, entries: AsyncIterable<Entry>, opts: LayerWriteOptions): Promise<LayerDescriptor> {
  const diff = new Hasher();
  const compress = opts.compressor.create();
  const once = onceEach();
  const also = opts.onEntry;
  const onEntry = also ? (e: Entry) => { once(e); also(e); } : once;
  const desc = await store.put([tarStream(entries, { onEntry }), diff, ...compress], {
    mediaType: opts.compressor.mediaType,
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    // Uncompressed, the tar is the blob: its one hash is both the diff_id and the digest.
    ...(compress.length === 0 ? { hashedBy: diff } : {}),
  });
  const { digest: diffId, size: uncompressedSize } = diff.result();
  return { ...desc, diffId, uncompressedSize };
}

/**
 * A check for tarStream's onEntry that stops at a path already written: docker refuses such a
 * layer ("ApplyLayer duplicates of file paths not supported"), and which copy would win differs
 * between tools.
 * Sources refuse duplicates in user input themselves, naming it, so one reaching here is a bug.
 * The set holds one string per entry: the layer's own index, as every extractor keeps.
 */
export function onceEach(): (entry: Entry) => void {
  const seen = new Set<string>();
  return (e) => {
    if (seen.has(e.path)) throw new Error(`layer writer: ${JSON.stringify(e.path || '/')} comes twice in one layer (a ${e.type} the second time)`);
    seen.add(e.path);
  };
}
