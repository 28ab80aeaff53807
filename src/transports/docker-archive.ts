// The docker-save archive as a transport (`docker-archive:TAR[:NAME:TAG|:@N]`): a source that stages
// the archive's images into a blob store in one streamed pass, and a sink that writes Images as one.
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { onInterrupt } from '../cleanup.js';
import { compressor as makeCompressor, type CompressionName } from '../compress.js';
import type { Descriptor, Platform } from '../descriptor.js';
import type { Digest } from '../digest.js';
import { fileError, UserError, usageError } from '../errors.js';
import { MAX_JSON_BYTES } from '../limits.js';
import type { Image, ImageSink, ImageSource, SinkEntry, SinkResult } from '../model.js';
import { familiarName, fullName, parseDockerRef, withDefaultTag, type DockerRef } from '../ref.js';
import { imageOfNode } from '../resolve.js';
import { BlobStore, tempPath } from '../store.js';
import type { ImportEvent, StagedImage } from '../docker/archive-read.js';
import { writeArchive, type ArchiveImage, type DockerArchiveEvent, type DockerArchiveFormat, type DockerArchiveImage } from '../docker/archive-write.js';

export interface DockerArchiveSourceOptions {
  /** Where the archive is staged: a layout's staging (nothing copied twice); default a temporary store removed on close. */
  scratch?: BlobStore;
  /** How layers are stored (a docker archive's plain tars are compressed as asked); default gzip. */
  compression?: CompressionName;
  compressionLevel?: number;
  /** How messages name the source (default docker-archive:PATH). */
  name?: string;
  /** How the staging pass names the archive in its messages (default the path). */
  where?: string;
  onEvent?: (e: ImportEvent) => void;
}

/**
 * The images of a docker-save archive (legacy v1, podman and skopeo's, docker 25+), staged by one
 * streamed read: layers compressed as asked with their diff_ids verified, configs byte for byte,
 * an OCI manifest made for each. Refs are the RepoTags (hello:latest) and `@N`, the Nth image of
 * manifest.json.
 */
export class DockerArchiveSource implements ImageSource {
  private closed = false;

  private constructor(
    readonly name: string,
    private readonly store: BlobStore,
    private readonly images: readonly StagedImage[],
    /** A temporary store this source made, removed on close. */
    private readonly temp: { dir: string; forget: () => void } | undefined,
  ) {}

  /** The archive at `file`, read once now. */
  static async open(file: string, opts: DockerArchiveSourceOptions = {}): Promise<DockerArchiveSource> {
    // The reader is loaded by what reads archives, not by to-docker, which only writes them.
    const { openArchive } = await import('../docker/archive-read.js');
    const input = await openArchive(path.resolve(file));
    return DockerArchiveSource.read(input, { name: `docker-archive:${file}`, where: file, ...opts });
  }

  /** An archive from a stream (stdin), read to its end now. */
  static async read(input: Readable, opts: DockerArchiveSourceOptions & { name: string; where: string }): Promise<DockerArchiveSource> {
    let temp: { dir: string; forget: () => void } | undefined;
    try {
      let store = opts.scratch;
      if (!store) {
        const dir = tempPath(os.tmpdir());
        temp = { dir, forget: onInterrupt(() => fs.rm(dir, { recursive: true, force: true })) };
        await fs.mkdir(dir, { mode: 0o700 }).catch((err: unknown) => {
          throw fileError(dir, err);
        });
        store = new BlobStore(dir);
      }
      const compressor = makeCompressor(opts.compression ?? 'gzip', opts.compressionLevel);
      const { stageDockerArchive } = await import('../docker/archive-read.js');
      const images = await stageDockerArchive(input, store, { where: opts.where, compressor, ...(opts.onEvent ? { onEvent: opts.onEvent } : {}) });
      return new DockerArchiveSource(opts.name, store, images, temp);
    } catch (err) {
      input.destroy();
      if (temp) {
        await fs.rm(temp.dir, { recursive: true, force: true });
        temp.forget();
      }
      throw err;
    }
  }

  /** Every image of the archive in manifest.json's order: the ref that names it (`@N`) and its RepoTags. */
  entries(): { ref: string; tags: string[] }[] {
    return this.images.map((image, i) => ({ ref: `@${i}`, tags: [...image.tags] }));
  }

  async refs(): Promise<string[]> {
    return [...new Set(this.images.flatMap((i) => i.tags))];
  }

  /** NAME:TAG as docker normalises it (hello is hello:latest), `@N`, or nothing for the only image. */
  async lookup(ref: string | undefined): Promise<Descriptor[]> {
    const tags = this.images.flatMap((i) => i.tags);
    const shown = tags.length > 0 ? ` (it has ${tags.slice(0, 10).join(', ')}${tags.length > 10 ? ', ...' : ''})` : '';
    if (ref === undefined || ref === '') {
      if (this.images.length !== 1) throw new UserError(`${this.name}: holds ${this.images.length} images; name one (${this.name}:NAME:TAG or :@N)${shown}`, 'ENOTFOUND');
      return [this.images[0]!.manifest];
    }
    if (/^@\d+$/.test(ref)) {
      const image = this.images[Number(ref.slice(1))];
      if (!image) throw new UserError(`${this.name}: no image @${ref.slice(1)}: it holds ${this.images.length} (@0 to @${this.images.length - 1})`, 'ENOTFOUND');
      return [image.manifest];
    }
    const wanted = familiarName(withDefaultTag(parseDockerRef(ref, this.name)));
    const image = this.images.find((i) => i.tags.includes(wanted));
    if (!image) throw new UserError(`${this.name}: no image tagged ${wanted}${shown}`, 'ENOTFOUND');
    return [image.manifest];
  }

  read(desc: Descriptor): Promise<Buffer> {
    return this.store.read(desc, MAX_JSON_BYTES);
  }

  open(desc: Descriptor): Readable {
    return this.store.open(desc);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A scratch store belongs to the sink that lent it: what no image uses is dropped when it publishes.
    if (this.temp) {
      await fs.rm(this.temp.dir, { recursive: true, force: true });
      this.temp.forget();
    }
  }
}

export interface DockerArchiveSinkOptions {
  /** v1: docker before 25 (the default); oci: docker 25 and later, also an OCI layout. */
  format?: DockerArchiveFormat;
  /** The platform an index is resolved to (an archive holds single-platform images); default this host's. */
  platform?: Platform;
  /** How many layers are read at once while verifying. */
  concurrency?: number;
  /** How messages name the sink (default docker-archive:PATH, or docker-archive:- for a stream). */
  name?: string;
  onEvent?: (e: DockerArchiveEvent) => void;
}

/** What a docker archive sink wrote: each image's ID, manifest and RepoTags, in the archive's order. */
export interface DockerArchiveWriteResult extends SinkResult {
  format: DockerArchiveFormat;
  images: DockerArchiveImage[];
}

/**
 * Writes images as one docker-save archive: into a file (a temporary name beside it, renamed
 * when whole) or a stream. Every layer is verified before the first byte goes out. Tags are
 * docker names (NAME:TAG, NAME means NAME:latest); one image given twice goes in once, with both
 * names; an index is resolved to one platform.
 */
export class DockerArchiveSink implements ImageSink {
  readonly name: string;
  private written = false;

  constructor(
    private readonly output: string | NodeJS.WritableStream,
    private readonly opts: DockerArchiveSinkOptions = {},
  ) {
    this.name = opts.name ?? `docker-archive:${typeof output === 'string' ? output : '-'}`;
    const format = opts.format ?? 'v1';
    if (format !== 'v1' && format !== 'oci') throw usageError(`--format ${String(format)}: expected v1 or oci`);
  }

  async write(entries: readonly SinkEntry[]): Promise<DockerArchiveWriteResult> {
    if (this.written) throw new Error(`${this.name}: an archive is written once`);
    this.written = true;
    const images = new Map<Digest, ArchiveImage>();
    const owner = new Map<string, Digest>();
    for (const entry of entries) {
      const image: Image = imageOfNode(entry.node, this.opts.platform);
      const digest = image.descriptor.digest;
      const item = images.get(digest) ?? { image, names: [] };
      images.set(digest, item);
      for (const tag of entry.tags) {
        const name = dockerName(tag, this.name);
        const full = fullName(name);
        const before = owner.get(full);
        if (before !== undefined && before !== digest) {
          throw new UserError(`${familiarName(name)}: names two different images (${before} and ${digest})`, 'EINPUT');
        }
        owner.set(full, digest);
        if (!item.names.some((n) => fullName(n) === full)) item.names.push(name);
      }
    }
    if (images.size === 0) throw new UserError(`${this.name}: no image to write`, 'ENOTFOUND');
    const list = [...images.values()];
    const format = this.opts.format ?? 'v1';
    const written = await writeArchive(list, this.output, {
      format,
      ...(this.opts.concurrency !== undefined ? { concurrency: this.opts.concurrency } : {}),
      ...(this.opts.onEvent ? { onEvent: this.opts.onEvent } : {}),
    });
    return { written: list.map((i) => i.image.descriptor), format, images: written };
  }

  async close(): Promise<void> {
    // Nothing held: a failed write has removed its temporary file and spool already.
  }
}

/** A tag a docker archive can carry: a docker reference with a tag (NAME alone is NAME:latest), no digest. */
export function dockerName(tag: string, where: string): DockerRef {
  if (tag.startsWith('@')) throw usageError(`${where}: ${tag}: @N names an image to read; an archive being written takes NAME:TAG`);
  const ref = parseDockerRef(tag, `${where}: name`);
  if (ref.digest !== undefined) throw usageError(`${where}: ${tag}: a docker archive names images by tag, not by digest`);
  return withDefaultTag(ref);
}
