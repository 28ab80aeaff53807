// Copying images between any two transports: the source resolved by the one resolver, written by
// the sink in one transaction; manifests and configs keep their digests unless a change is asked for.
import type { Descriptor, Platform } from './descriptor.js';
import type { Digest } from './digest.js';
import type { ImageSink, ImageSource } from './model.js';
import { resolve } from './resolve.js';
import { openSink, openSource, parseTransportRef, type TransportOptions, type TransportRef } from './transports/index.js';
import { LayoutSink } from './transports/layout.js';
import { RegistrySink } from './transports/registry.js';

export interface CopyOptions extends TransportOptions {
  /** For an index: copy it whole, every manifest and blob, so its digest survives (the default unless `platform` is given). */
  all?: boolean;
  /** Copy only the image for this platform (an index is resolved to it). */
  platform?: Platform;
}

export interface CopyResult {
  source: string;
  destination: string;
  /** What was written at the top: the index (whole) or the image. */
  digest: Digest;
  mediaType: string;
  size: number;
  platform?: Platform;
  /** The names given at the destination. */
  tags: string[];
}

/** Copy `src` to `dst`, each a transport reference (`oci:out:app`, `docker://localhost:5000/app:v1`, ...). */
export async function copyImage(src: string | TransportRef, dst: string | TransportRef, opts: CopyOptions = {}): Promise<CopyResult> {
  const from = typeof src === 'string' ? parseTransportRef(src, 'source') : src;
  const to = typeof dst === 'string' ? parseTransportRef(dst, 'destination') : dst;
  let sink: ImageSink | undefined;
  let source: ImageSource | undefined;
  try {
    sink = await openSink(to, opts);
    // An archive unpacks straight into the destination layout's staging: its blobs are written once.
    const scratch = sink instanceof LayoutSink ? { scratch: sink.staging } : {};
    source = await openSource(from, { ...opts, ...scratch });
    // Another repository of the same registry: blobs are mounted from it, never downloaded and uploaded.
    if (sink instanceof RegistrySink) sink.mountFromSource(source);
    const all = opts.platform === undefined && opts.all !== false;
    const node = await resolve(source, from.ref, { all, ...(opts.platform ? { platform: opts.platform } : {}), where: from.text });
    const tags = to.ref !== undefined && to.transport !== 'docker' ? [to.ref] : [];
    const { written } = await sink.write([{ node, tags }]);
    const top: Descriptor = written[0] ?? node.descriptor;
    const result: CopyResult = { source: from.text, destination: to.text, digest: top.digest, mediaType: top.mediaType, size: top.size, tags };
    if (node.kind === 'image') result.platform = node.platform;
    return result;
  } finally {
    await source?.close();
    await sink?.close();
  }
}
