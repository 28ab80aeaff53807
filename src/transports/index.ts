// Every transport, by name: how to open a reference as an ImageSource or an ImageSink. Adding a
// transport is one entry here (and its module beside this one), nothing else.
import * as path from 'node:path';
import type { CompressionName } from '../compress.js';
import type { Platform } from '../descriptor.js';
import type { DockerArchiveFormat } from '../docker/archive-write.js';
import type { ImageSink, ImageSource } from '../model.js';
import type { RegistryOptions } from '../registry/client.js';
import type { BlobStore } from '../store.js';
import { LayoutSink, LayoutSource, type LayoutSinkEvent } from './layout.js';
import { parseTransportRef, type TransportName, type TransportRef } from './names.js';
import type { ArchiveEvent } from './oci-archive.js';

export { parseTransportRef, hasTransport, TRANSPORT_FORMS, TRANSPORT_NAMES, PULL_POLICIES } from './names.js';
export type { PullPolicy, TransportName, TransportRef } from './names.js';

/** What opening a source or a sink may need; each transport takes what concerns it. */
export interface TransportOptions extends RegistryOptions {
  /**
   * Where an archive source unpacks its blobs: the destination layout's staging when there is one
   * (so nothing is copied twice); otherwise the source makes a temporary store and removes it on close.
   */
  scratch?: BlobStore;
  /** How a source stores layers it has to compress (a docker archive's plain tars); default gzip. */
  compression?: CompressionName;
  compressionLevel?: number;
  /** Blobs moved at once (registries); default 4. */
  concurrency?: number;
  /** Progress of a layout sink. */
  onLayoutEvent?: (e: LayoutSinkEvent) => void;
  /** The platform a sink that holds single-platform images (docker-archive:) resolves an index to; default this host's. */
  platform?: Platform;
  /** The form of a docker-archive: destination: v1 (docker before 25, the default) or oci (docker 25+). */
  dockerFormat?: DockerArchiveFormat;
  /** Progress of an archive read (a source) or written (a sink). */
  onArchiveEvent?: (e: ArchiveEvent) => void;
  /**
   * Sinks that write OCI layouts (oci:, oci-archive:) convert Docker v2 manifests and manifest lists
   * to OCI, which changes their digests; with this they refuse them instead (skopeo's --preserve-digests).
   */
  preserveDigests?: boolean;
}

export interface Transport {
  source(ref: TransportRef, opts: TransportOptions): Promise<ImageSource>;
  sink(ref: TransportRef, opts: TransportOptions): Promise<ImageSink>;
}

const oci: Transport = {
  source: (ref) => LayoutSource.open(ref.target, `oci:${ref.target}`),
  sink: (ref, opts) =>
    LayoutSink.open(path.resolve(ref.target), { concurrency: opts.concurrency ?? 4, preserveDigests: opts.preserveDigests ?? false, ...(opts.onLayoutEvent ? { onEvent: opts.onLayoutEvent } : {}) }),
};

// Loaded when used, like every archive transport: not what every command needs at start-up.
const ociArchive: Transport = {
  source: async (ref, opts) => (await import('./oci-archive.js')).OciArchiveSource.open(ref.target, { ...(ref.ref !== undefined ? { ref: ref.ref } : {}), ...(opts.scratch ? { scratch: opts.scratch } : {}), ...archiveEvents(opts) }),
  sink: async (ref, opts) => (await import('./oci-archive.js')).OciArchiveSink.open(ref.target, { ...archiveEvents(opts), preserveDigests: opts.preserveDigests ?? false }),
};

function archiveEvents(opts: TransportOptions): { onEvent?: (e: ArchiveEvent) => void } {
  return opts.onArchiveEvent ? { onEvent: opts.onArchiveEvent } : {};
}

// Loaded when used: the archive reader and writer are not what every command needs at start-up.
const dockerArchive: Transport = {
  source: async (ref, opts) => {
    const { DockerArchiveSource } = await import('./docker-archive.js');
    return DockerArchiveSource.open(ref.target, {
      ...(opts.scratch ? { scratch: opts.scratch } : {}),
      ...(opts.compression ? { compression: opts.compression } : {}),
      ...(opts.compressionLevel !== undefined ? { compressionLevel: opts.compressionLevel } : {}),
    });
  },
  sink: async (ref, opts) => {
    const { DockerArchiveSink, dockerName } = await import('./docker-archive.js');
    // The name is checked now, before anything is read.
    if (ref.ref !== undefined) dockerName(ref.ref, ref.text);
    return new DockerArchiveSink(ref.target, {
      ...(opts.dockerFormat ? { format: opts.dockerFormat } : {}),
      ...(opts.platform ? { platform: opts.platform } : {}),
      ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
    });
  },
};

const docker: Transport = {
  source: async (ref, opts) => (await import('./registry.js')).RegistrySource.open(ref.target, opts),
  sink: async (ref, opts) => (await import('./registry.js')).RegistrySink.open(ref.target, opts),
};

export const TRANSPORTS: Readonly<Record<TransportName, Transport>> = { oci, 'oci-archive': ociArchive, 'docker-archive': dockerArchive, docker };

function transportOf(ref: TransportRef): Transport {
  return TRANSPORTS[ref.transport];
}

/** Open `text` (or a parsed reference) as a source; `what` names the argument in errors. */
export async function openSource(ref: string | TransportRef, opts: TransportOptions = {}, what = 'source'): Promise<ImageSource> {
  const parsed = typeof ref === 'string' ? parseTransportRef(ref, what) : ref;
  return transportOf(parsed).source(parsed, opts);
}

/** Open `text` (or a parsed reference) as a sink; `what` names the argument in errors. */
export async function openSink(ref: string | TransportRef, opts: TransportOptions = {}, what = 'destination'): Promise<ImageSink> {
  const parsed = typeof ref === 'string' ? parseTransportRef(ref, what) : ref;
  return transportOf(parsed).sink(parsed, opts);
}
