// from-docker: every image of a docker-save archive into a layout, composed of the docker-archive
// source (staging straight into the layout's staging) and the layout sink; one transaction.
import type { Readable } from 'node:stream';
import type { CompressionName } from '../compress.js';
import type { Digest } from '../digest.js';
import type { Layout } from '../layout.js';
import type { Image, SinkEntry } from '../model.js';
import { resolveImage } from '../resolve.js';
import { DockerArchiveSource } from '../transports/docker-archive.js';
import { LayoutSink } from '../transports/layout.js';
import { openArchive, type ImportEvent } from './archive-read.js';

export { MAX_MANIFEST_JSON_BYTES } from './archive-read.js';
export type { ImportEvent } from './archive-read.js';

export interface ImportOptions {
  /** How layers are stored in the layout (default gzip). */
  compression?: CompressionName;
  compressionLevel?: number;
  /** The archive's name in messages (default: the path, or "archive" for a stream). */
  where?: string;
  onEvent?: (event: ImportEvent) => void;
}

export interface ImportResult {
  layout: string;
  /** Each image of the archive, in manifest.json's order, with the ref names it got (its RepoTags). */
  images: Array<{ image: Image; tags: string[] }>;
}

/**
 * Import every image of a docker-save archive (a path, or a stream such as stdin) into the layout
 * at `layout` (created when missing or empty), tagged with its RepoTags. Configs are kept byte for
 * byte, so image IDs survive; diff_ids are verified. On any error the layout is left as it was.
 */
export async function importDockerArchive(input: string | Readable, layout: string | Layout, opts: ImportOptions = {}): Promise<ImportResult> {
  const where = opts.where ?? (typeof input === 'string' ? input : 'archive');
  const emit = opts.onEvent ?? (() => undefined);
  // Opened first: a missing archive must not leave a new, empty layout behind.
  const stream = typeof input === 'string' ? await openArchive(input) : input;
  const moved: Array<{ tag: string; from: Digest }> = [];
  let sink: LayoutSink;
  try {
    sink = await LayoutSink.open(layout, { onEvent: (e) => e.type === 'tag-moved' && moved.push(e) });
  } catch (err) {
    stream.destroy();
    throw err;
  }
  try {
    // Staged into the sink's staging: the layers are compressed and hashed once, and only named later.
    const source = await DockerArchiveSource.read(stream, {
      name: `docker-archive:${where}`,
      where,
      scratch: sink.staging,
      ...(opts.compression ? { compression: opts.compression } : {}),
      ...(opts.compressionLevel !== undefined ? { compressionLevel: opts.compressionLevel } : {}),
      onEvent: emit,
    });
    const images: ImportResult['images'] = [];
    const entries: SinkEntry[] = [];
    for (const { ref, tags } of source.entries()) {
      const image = await resolveImage(source, ref);
      images.push({ image, tags });
      entries.push({ node: image, tags });
    }
    await sink.write(entries);
    // A tag that moves between two images of this same archive is not news.
    const ours = new Set<Digest>(images.map((i) => i.image.descriptor.digest));
    for (const m of moved) if (!ours.has(m.from)) emit({ type: 'tag-moved', tag: m.tag, from: m.from });
    return { layout: sink.tx.layout.root, images };
  } finally {
    await sink.close();
  }
}
