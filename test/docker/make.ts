// Inputs for the docker-archive tests: layouts made by hand (any config, any layer bytes, so that
// broken ones can be made), small layer tars, and raw outer archives with any names and links.
import * as fs from 'node:fs/promises';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { compressor } from '../../src/compress.js';
import { sha256, type Digest } from '../../src/digest.js';
import { MediaType, type Descriptor, type Platform } from '../../src/descriptor.js';
import type { Entry } from '../../src/entries.js';
import { createManifest } from '../../src/image.js';
import { canonicalJson } from '../../src/json.js';
import { Layout } from '../../src/layout.js';
import { tarStream } from '../../src/tar.js';

export async function collect(stream: NodeJS.ReadableStream | Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

/** An uncompressed layer tar with one file per entry of `files`. */
export async function layerTar(files: Record<string, string>): Promise<Buffer> {
  async function* entries(): AsyncGenerator<Entry> {
    for (const [path, text] of Object.entries(files)) {
      const data = Buffer.from(text);
      yield { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: data.length, open: () => Readable.from([data]) };
    }
  }
  return collect(tarStream(entries()));
}

export interface HandImage {
  /** Uncompressed layer tars, bottom first. */
  layers: Buffer[];
  /** diff_ids the config claims (default: the true ones). */
  diffIds?: Digest[];
  compression?: 'gzip' | 'none';
  platform?: Platform;
  cmd?: string[];
  history?: boolean;
  /** Ref names in index.json; none: the image is stored without being placed in index.json. */
  tags?: string[];
}

/** Write an image into a layout by hand: layers, config and manifest exactly as asked. */
export async function handImage(dir: string, spec: HandImage): Promise<{ manifest: Descriptor; config: Descriptor; layers: Descriptor[] }> {
  const layout = await Layout.openOrCreate(dir);
  const c = compressor(spec.compression ?? 'gzip');
  const layers: Descriptor[] = [];
  for (const bytes of spec.layers) layers.push(await layout.store.put([Readable.from([bytes]), ...c.create()], { mediaType: c.mediaType }));
  const platform = spec.platform ?? { os: 'linux', architecture: 'amd64' };
  const config = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    created: '1970-01-01T00:00:00Z',
    config: { Cmd: spec.cmd ?? ['/hello'] },
    rootfs: { type: 'layers', diff_ids: spec.diffIds ?? spec.layers.map((l) => sha256(l)) },
    ...(spec.history === false ? {} : { history: spec.layers.map(() => ({ created_by: 'hand' })) }),
  };
  const configDesc = await layout.store.putBytes(canonicalJson(config), { mediaType: MediaType.config });
  const manifestDesc = await layout.store.putBytes(canonicalJson(createManifest(configDesc, layers)), { mediaType: MediaType.manifest });
  if (spec.tags) await layout.addImage({ ...manifestDesc, platform }, spec.tags);
  return { manifest: manifestDesc, config: configDesc, layers };
}

/** Put an image index naming `manifests` (with their platforms) into the layout under `tag`. */
export async function handIndex(dir: string, manifests: Descriptor[], tag: string): Promise<Descriptor> {
  const layout = await Layout.open(dir);
  const index = { schemaVersion: 2, mediaType: MediaType.index, manifests };
  const desc = await layout.store.putBytes(canonicalJson(index), { mediaType: MediaType.index });
  await layout.addImage(desc, [tag]);
  return desc;
}

export interface RawEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo';
  data?: Buffer | string;
  linkname?: string;
}

/** A tar written entry by entry exactly as given (unsafe names too). */
export async function rawTar(entries: RawEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const out = collect(pack as unknown as Readable);
  for (const e of entries) {
    const data = e.data === undefined ? undefined : Buffer.from(e.data);
    await new Promise<void>((resolve, reject) => {
      const header: tar.Header = {
        name: e.name, type: e.type ?? 'file', mode: e.type === 'directory' ? 0o755 : 0o644, mtime: new Date(0), uid: 0, gid: 0,
        uname: '', gname: '', size: data?.length ?? 0, linkname: e.linkname ?? '', devmajor: 0, devminor: 0,
      };
      pack.entry(header, data ?? null as never, (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  return out;
}

/** The entries of an archive file: name → data (files) or "-> target" (links). */
export async function archiveEntries(file: string): Promise<Map<string, Buffer | string>> {
  const out = new Map<string, Buffer | string>();
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      collect(stream as unknown as Readable).then((data) => {
        out.set(header.name, header.type === 'symlink' || header.type === 'link' ? `-> ${header.linkname}` : header.type === 'directory' ? 'dir' : data);
        next();
      }, reject);
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  Readable.from([await fs.readFile(file)]).pipe(extract);
  await done;
  return out;
}
