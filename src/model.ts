// The image model every transport reads and writes: an Image is its manifest and config (bytes and
// documents, read eagerly and checked) and Layers that open verified bytes lazily, only when a writer asks.
import type { Readable } from 'node:stream';
import type { Descriptor, LayerDescriptor, Platform } from './descriptor.js';
import type { ImageConfig, ImageManifest } from './image.js';
import type { ImageIndex } from './layout.js';

/** A blob a source holds: its descriptor, and its bytes as a stream that fails at its end on a digest or size mismatch. */
export interface Blob {
  readonly descriptor: Descriptor;
  open(): Readable;
}

/** A layer as its manifest names it, with the diff_id its config gives (`descriptor.diffId`). */
export interface Layer extends Blob {
  readonly descriptor: LayerDescriptor;
}

/** One image: eager metadata (manifest, config), lazy bytes (layers). */
export interface Image {
  readonly kind: 'image';
  /** The manifest's descriptor, with the platform when an index or the config gives one. */
  readonly descriptor: Descriptor;
  readonly manifestBytes: Buffer;
  readonly manifest: ImageManifest;
  readonly configDescriptor: Descriptor;
  readonly configBytes: Buffer;
  readonly config: ImageConfig;
  /** From the config (os, architecture, variant), which is what runtimes check. */
  readonly platform: Platform;
  readonly layers: readonly Layer[];
  /** How messages name the image ("oci:out:app", "Dockerfile:1: FROM base"). */
  readonly where: string;
}

/** An image index (or docker manifest list), with what it lists in its order. */
export interface IndexNode {
  readonly kind: 'index';
  readonly descriptor: Descriptor;
  readonly bytes: Buffer;
  readonly index: ImageIndex;
  readonly children: readonly ImageNode[];
  readonly where: string;
}

/**
 * A manifest that is not an image (an attestation, a signature, an SBOM): carried whole when an
 * index is copied whole, so the index's digest survives; never run, exported or built on.
 */
export interface ArtifactNode {
  readonly kind: 'artifact';
  readonly descriptor: Descriptor;
  readonly bytes: Buffer;
  /** The config and layers its manifest names, as blobs. */
  readonly blobs: readonly Blob[];
  readonly where: string;
}

export type ImageNode = Image | IndexNode | ArtifactNode;

/**
 * Where images come from: an OCI layout, an OCI or docker archive, a registry. A source gives raw,
 * verified access by descriptor; `resolve` (src/resolve.ts) turns that into Images, the same way
 * for every source.
 */
export interface ImageSource {
  /** How messages name the source ("oci:out", "docker-archive:app.tar", "docker://localhost:5000/app:v1"). */
  readonly name: string;
  /** The names it holds: ref names of a layout, RepoTags of an archive, the tag a registry reference names. */
  refs(): Promise<string[]>;
  /**
   * The top-level descriptors `ref` names (several when index.json gives one ref name to an entry per
   * platform); `ref` undefined: the source's only image, or the one its reference named.
   */
  lookup(ref: string | undefined): Promise<Descriptor[]>;
  /** A document (index, manifest, config) read whole, verified against its digest, bounded in size. */
  read(desc: Descriptor): Promise<Buffer>;
  /** A blob's bytes, verified at their end. */
  open(desc: Descriptor): Readable;
  /** Release what the source holds (temp files, connections). Safe to call twice. */
  close(): Promise<void>;
}

/** What one sink writes: a node and the names it gets there. */
export interface SinkEntry {
  node: ImageNode;
  tags: string[];
}

/** What a sink wrote: the top descriptor of each entry, in order. */
export interface SinkResult {
  written: Descriptor[];
}

/**
 * Where images go. `write` stores blobs before the manifests that name them and manifests before
 * the indexes that list them, and names them last: all or nothing, as far as the transport allows
 * (a layout publishes under its lock, an archive is renamed into place, a registry gets its tags last).
 */
export interface ImageSink {
  readonly name: string;
  write(entries: readonly SinkEntry[]): Promise<SinkResult>;
  /** Told where the images come from before `write`: a registry mounts blobs from a sibling repository instead of uploading them. */
  readFrom?(source: ImageSource): void;
  /** Release what the sink holds; after a failed write, remove what it staged. Safe to call twice. */
  close(): Promise<void>;
}

/** Every Image a node holds, depth first, in index order. */
export function imagesOf(node: ImageNode): Image[] {
  if (node.kind === 'image') return [node];
  if (node.kind === 'artifact') return [];
  return node.children.flatMap(imagesOf);
}
