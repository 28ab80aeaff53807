// Every transport, by name: how to open a reference as an ImageSource or an ImageSink. Adding a
// transport is one entry here (and its module beside this one), nothing else.
import * as path from 'node:path';
import type { CompressionName } from '../compress.js';
import { usageError } from '../errors.js';
import type { ImageSink, ImageSource } from '../model.js';
import type { RegistryOptions } from '../registry/client.js';
import type { BlobStore } from '../store.js';
import { LayoutSink, LayoutSource, type LayoutSinkEvent } from './layout.js';
import { parseTransportRef, type TransportName, type TransportRef } from './names.js';
import { RegistrySink, RegistrySource } from './registry.js';

export { parseTransportRef, hasTransport, TRANSPORT_FORMS, TRANSPORT_NAMES } from './names.js';
export type { TransportName, TransportRef } from './names.js';

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
}

export interface Transport {
  source(ref: TransportRef, opts: TransportOptions): Promise<ImageSource>;
  sink(ref: TransportRef, opts: TransportOptions): Promise<ImageSink>;
}

const oci: Transport = {
  source: (ref) => LayoutSource.open(ref.target, `oci:${ref.target}`),
  sink: (ref, opts) => LayoutSink.open(path.resolve(ref.target), { concurrency: opts.concurrency ?? 4, ...(opts.onLayoutEvent ? { onEvent: opts.onLayoutEvent } : {}) }),
};

const docker: Transport = {
  source: (ref, opts) => RegistrySource.open(ref.target, opts),
  sink: (ref, opts) => RegistrySink.open(ref.target, opts),
};

export const TRANSPORTS: Partial<Record<TransportName, Transport>> = { oci, docker };

function transportOf(ref: TransportRef): Transport {
  const t = TRANSPORTS[ref.transport];
  if (!t) throw usageError(`${ref.text}: the ${ref.transport} transport is not available`);
  return t;
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
