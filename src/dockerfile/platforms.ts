// Multi-platform Dockerfile builds: one build per platform, gathered into an image index that alone
// carries the tags (as buildx's OCI exporter writes it).
import type { BuildResult } from '../build.js';
import type { Platform } from '../descriptor.js';
import type { Digest } from '../digest.js';
import { usageError } from '../errors.js';
import { assembleIndex, type AssembleIndexResult } from '../image-index.js';
import { Layout, refNameOf } from '../layout.js';
import { formatPlatform, normalizePlatform } from '../platform.js';
import { buildDockerfile, type DockerfileBuildOptions } from './build.js';

export interface MultiPlatformBuildOptions extends Omit<DockerfileBuildOptions, 'platform'> {
  /** Two or more platforms, each built once from the same Dockerfile. */
  platforms: readonly Platform[];
}

export interface MultiPlatformBuildResult extends AssembleIndexResult {
  /** One build per platform, in the order asked for. */
  images: BuildResult[];
}

/**
 * Build the Dockerfile once per platform and record the index of the results under the tags. The
 * images are recorded untagged while the others build, then folded into the index in the same
 * locked update that tags it; a failure takes out the entries this run added (their blobs stay
 * until a gc, as any untagged image's would).
 */
export async function buildDockerfilePlatforms(opts: MultiPlatformBuildOptions): Promise<MultiPlatformBuildResult> {
  const seen = new Set<string>();
  for (const p of opts.platforms) {
    const name = formatPlatform(normalizePlatform(p));
    if (seen.has(name)) throw usageError(`--platform: ${name} is named twice`);
    seen.add(name);
  }
  if (opts.platforms.length === 0) throw usageError('--platform: name at least one OS/ARCH');
  const layout = typeof opts.layout === 'string' ? await Layout.openOrCreate(opts.layout) : opts.layout;
  const before = new Set((await layout.readIndex()).manifests.filter((d) => refNameOf(d) === undefined).map((d) => d.digest));
  const added = new Set<Digest>();
  const images: BuildResult[] = [];
  try {
    const { platforms, ...rest } = opts;
    for (const platform of platforms) {
      const result = await buildDockerfile({ ...rest, layout, platform, tags: [] });
      if (!before.has(result.manifest.digest)) added.add(result.manifest.digest);
      images.push(result);
    }
    const index = await assembleIndex({
      layout,
      sources: images.map((r) => r.manifest.digest),
      tags: opts.tags ?? [],
      absorbUntagged: [...added],
    });
    return { ...index, images };
  } catch (err) {
    if (typeof opts.layout === 'string' && layout.isNew) {
      await layout.discardIfNew();
    } else if (added.size > 0) {
      await layout.updateIndex((index) => {
        index.manifests = index.manifests.filter((d) => !(refNameOf(d) === undefined && added.has(d.digest)));
        return index;
      });
    }
    throw err;
  }
}
