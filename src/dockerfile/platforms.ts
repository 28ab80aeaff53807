// Multi-platform Dockerfile builds: one build per platform, gathered into an image index that alone
// carries the tags (as buildx's OCI exporter writes it).
import type { BuildResult } from '../build.js';
import type { Platform } from '../descriptor.js';
import type { Digest } from '../digest.js';
import { usageError } from '../errors.js';
import { putImageIndex, type AssembleIndexResult } from '../image-index.js';
import { formatPlatform, normalizePlatform } from '../platform.js';
import { digestsOf } from '../resolve.js';
import { LayoutTransaction } from '../transaction.js';
import { buildDockerfile, type DockerfileBuildOptions } from './build.js';

export interface MultiPlatformBuildOptions extends Omit<DockerfileBuildOptions, 'platform' | 'transaction' | 'record'> {
  /** Two or more platforms, each built once from the same Dockerfile. */
  platforms: readonly Platform[];
}

export interface MultiPlatformBuildResult extends AssembleIndexResult {
  /** One build per platform, in the order asked for. */
  images: BuildResult[];
}

/**
 * Build the Dockerfile once per platform and record the index of the results under the tags: every
 * image staged in one transaction, the index (which alone is named, as buildx's OCI exporter
 * writes it) committed with them; a failure leaves the layout as it was.
 */
export async function buildDockerfilePlatforms(opts: MultiPlatformBuildOptions): Promise<MultiPlatformBuildResult> {
  const seen = new Set<string>();
  for (const p of opts.platforms) {
    const name = formatPlatform(normalizePlatform(p));
    if (seen.has(name)) throw usageError(`--platform: ${name} is named twice`);
    seen.add(name);
  }
  if (opts.platforms.length === 0) throw usageError('--platform: name at least one OS/ARCH');
  return LayoutTransaction.run(opts.layout, async (tx) => {
    const { platforms, ...rest } = opts;
    const images: BuildResult[] = [];
    for (const platform of platforms) {
      images.push(await buildDockerfile({ ...rest, layout: tx.layout, transaction: tx, record: false, platform, tags: [] }));
    }
    const { descriptor, manifests } = await putImageIndex(tx.staging, images);
    const keep = new Set<Digest>([descriptor.digest]);
    for (const image of images) for (const d of digestsOf(image)) keep.add(d);
    const tags = opts.tags ?? [];
    const moved = await tx.commit([{ descriptor, tags }], keep);
    for (const m of moved) opts.onEvent?.({ type: 'tag-moved', tag: m.tag, from: m.from });
    return { index: descriptor, manifests, tags, layout: tx.layout.root, images };
  });
}
