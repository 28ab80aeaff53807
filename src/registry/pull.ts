// Pulling from a registry into an OCI layout: the registry source resolved (an index whole, or one
// platform's image) and written by the layout sink, which stages and verifies every blob and names
// nothing until all of it is there; what the layout holds is never asked of the registry.
import type { Digest } from '../digest.js';
import type { Platform } from '../descriptor.js';
import type { Layout } from '../layout.js';
import type { ImageNode } from '../model.js';
import { toOci } from '../convert.js';
import { checkRefName } from '../ref.js';
import { resolve } from '../resolve.js';
import { LayoutSink } from '../transports/layout.js';
import { RegistrySource } from '../transports/registry.js';
import type { RegistryOptions } from './client.js';
import { parseRegistryRef, shownName, taggedNames } from './reference.js';

export interface PullImageOptions extends RegistryOptions {
  /** docker://HOST/REPO[:TAG|@sha256:…] (the docker:// is optional). */
  ref: string;
  /** The layout to write (created when missing or empty). */
  layout: string | Layout;
  /** The ref name in index.json; default the reference in docker's short form (none for a digest). */
  tag?: string;
  /** For an index: the platform to take (default this machine's), unless `all`. */
  platform?: Platform;
  /** For an index: take it whole, every manifest and blob, so its digest survives. */
  all?: boolean;
  /** Blobs fetched at once (default 4). */
  concurrency?: number;
  /** Refuse a Docker v2 manifest or manifest list rather than convert it to OCI, which changes its digest. */
  preserveDigests?: boolean;
  onEvent?: (e: PullEvent) => void;
}

export type PullEvent = { type: 'blob'; digest: Digest; size: number; outcome: 'fetched' | 'present' };

export interface PullResult {
  layout: string;
  /** What was recorded in index.json: the index (with all) or the image. */
  digest: Digest;
  mediaType: string;
  size: number;
  tags: string[];
  platform?: Platform;
  /** Configs and layers (manifests and indexes are not counted). */
  blobs: { fetched: number; present: number };
}

export async function pullImage(opts: PullImageOptions): Promise<PullResult> {
  const src = parseRegistryRef(opts.ref, 'source');
  const tags = opts.tag !== undefined ? [opts.tag] : taggedNames(src);
  for (const t of tags) checkRefName(t, '--tag');
  const counts = { fetched: 0, present: 0 };
  let documents = new Set<Digest>();
  const sink = await LayoutSink.open(opts.layout, {
    concurrency: opts.concurrency ?? 4,
    preserveDigests: opts.preserveDigests ?? false,
    onEvent: (e) => {
      if (e.type !== 'blob' || documents.has(e.digest)) return;
      const outcome = e.outcome === 'written' ? 'fetched' : 'present';
      counts[outcome]++;
      opts.onEvent?.({ type: 'blob', digest: e.digest, size: e.size, outcome });
    },
  });
  let source: RegistrySource | undefined;
  try {
    // The layout's staging is read through: a config or manifest it has is not fetched.
    source = await RegistrySource.open(opts.ref, { ...opts, scratch: sink.staging });
    const node = await resolve(source, undefined, { all: opts.all === true, ...(opts.platform ? { platform: opts.platform } : {}), where: shownName(src) });
    // The manifests as written (converted to OCI) are documents too, not blobs to count.
    documents = new Set([...documentsOf(node), ...(opts.preserveDigests ? [] : documentsOf(toOci(node)))]);
    const { written } = await sink.write([{ node, tags }]);
    const top = written[0] ?? node.descriptor;
    const result: PullResult = { layout: sink.tx.layout.root, digest: top.digest, mediaType: top.mediaType, size: top.size, tags, blobs: counts };
    if (node.kind === 'image') result.platform = node.platform;
    return result;
  } finally {
    await source?.close();
    await sink.close();
  }
}

/** The manifests and indexes of a node: the pull's counts are of configs and layers only. */
function documentsOf(node: ImageNode): Set<Digest> {
  const out = new Set<Digest>([node.descriptor.digest]);
  if (node.kind === 'index') for (const c of node.children) for (const d of documentsOf(c)) out.add(d);
  return out;
}
