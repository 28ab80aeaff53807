// The hostile corpus for `validate`, generated (never edited by hand): layouts and archives written
// byte by byte, each broken in one way, with the message validate must give and the oracle's verdict.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import * as tar from 'tar-stream';
import { sha256 } from '../src/digest.js';

const gzip = promisify(zlib.gzip);

export interface CorpusCase {
  name: string;
  /** The file or directory to validate, below the case's folder. */
  target: string;
  kind: 'layout' | 'docker-archive' | 'oci-archive';
  /** A problem line validate must print; undefined: the case is valid. */
  expect?: RegExp;
  /**
   * False where validate is stricter than ../shared/oracle (it does not look at whiteouts or the
   * CVE-2021-41190 shape); such cases are left out of the oracle comparison.
   */
  oracle: boolean;
}

export interface TarItem {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  data?: Buffer | string;
  linkname?: string;
}

export async function tarOf(items: TarItem[]): Promise<Buffer> {
  const pack = tar.pack();
  const done = collect(pack as unknown as Readable);
  for (const it of items) {
    const data = it.data === undefined ? undefined : Buffer.from(it.data);
    await new Promise<void>((resolve, reject) => {
      const header = { name: it.name, type: it.type ?? 'file', mode: it.type === 'directory' ? 0o755 : 0o644, mtime: new Date(0), uid: 0, gid: 0, uname: '', gname: '' } as tar.Header;
      if (it.linkname !== undefined) header.linkname = it.linkname;
      if (data) header.size = data.length;
      pack.entry(header, (data ?? null) as Buffer, (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  return done;
}

async function collect(stream: NodeJS.ReadableStream | Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

type Json = Record<string, unknown>;

/** A layout written by hand: every byte as asked, so any of them can be wrong. */
export class HandLayout {
  constructor(readonly dir: string) {}

  static async create(dir: string): Promise<HandLayout> {
    await fs.mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
    await fs.writeFile(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await fs.writeFile(path.join(dir, 'index.json'), '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}');
    return new HandLayout(dir);
  }

  async blob(data: Buffer | string, mediaType: string): Promise<Json> {
    const bytes = Buffer.from(data);
    const digest = sha256(bytes);
    await fs.writeFile(path.join(this.dir, 'blobs', 'sha256', digest.slice(7)), bytes);
    return { mediaType, digest, size: bytes.length };
  }

  async json(doc: unknown, mediaType: string): Promise<Json> {
    return this.blob(JSON.stringify(doc), mediaType);
  }

  /** An image with one gzip layer holding `items` (default /hello); returns its descriptors. */
  async image(opts: { items?: TarItem[]; layer?: Buffer; diffId?: string; layerMediaType?: string } = {}): Promise<{ manifest: Json; config: Json; layer: Json; tar: Buffer }> {
    const tarBytes = await tarOf(opts.items ?? [{ name: 'hello', data: 'hi\n' }]);
    const layer = await this.blob(opts.layer ?? (await gzip(tarBytes)), opts.layerMediaType ?? 'application/vnd.oci.image.layer.v1.tar+gzip');
    const config = await this.json({
      architecture: 'amd64', os: 'linux', created: '1970-01-01T00:00:00Z', config: { Cmd: ['/hello'] },
      rootfs: { type: 'layers', diff_ids: [opts.diffId ?? sha256(tarBytes)] }, history: [{ created_by: 'corpus' }],
    }, 'application/vnd.oci.image.config.v1+json');
    const manifest = await this.json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [layer] }, 'application/vnd.oci.image.manifest.v1+json');
    return { manifest, config, layer, tar: tarBytes };
  }

  async index(manifests: Json[], raw?: string): Promise<void> {
    await fs.writeFile(path.join(this.dir, 'index.json'), raw ?? JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
  }

  blobFile(d: Json): string {
    return path.join(this.dir, 'blobs', 'sha256', String(d['digest']).slice(7));
  }
}

function tagged(d: Json, ref: string): Json {
  return { ...d, annotations: { 'org.opencontainers.image.ref.name': ref } };
}

/** A docker-save archive (legacy names) of one image, with extra or replaced entries. */
async function dockerArchive(file: string, opts: { layerName?: string; extra?: TarItem[]; manifest?: unknown; cut?: number } = {}): Promise<void> {
  const layerTar = await tarOf([{ name: 'hello', data: 'hi\n' }]);
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/hello'] }, rootfs: { type: 'layers', diff_ids: [sha256(layerTar)] }, history: [{ created_by: 'corpus' }] });
  const configName = `${sha256(config).slice(7)}.json`;
  const layerName = opts.layerName ?? 'abc/layer.tar';
  const manifest = opts.manifest ?? [{ Config: configName, RepoTags: ['corpus/hello:1'], Layers: [layerName] }];
  const items: TarItem[] = [
    { name: configName, data: config },
    ...(opts.layerName === undefined ? [{ name: 'abc/layer.tar', data: layerTar }] : []),
    ...(opts.extra ?? []),
    { name: 'manifest.json', data: JSON.stringify(manifest) },
  ];
  let bytes = await tarOf(items);
  if (opts.cut !== undefined) bytes = bytes.subarray(0, opts.cut);
  await fs.writeFile(file, bytes);
}

/** Every case, written below `root` (one folder each). */
export async function buildCorpus(root: string): Promise<CorpusCase[]> {
  const cases: CorpusCase[] = [];
  const layout = async (name: string, make: (l: HandLayout) => Promise<void>, expect: RegExp | undefined, oracle = true): Promise<void> => {
    const l = await HandLayout.create(path.join(root, name));
    await make(l);
    cases.push({ name, target: l.dir, kind: 'layout', expect, oracle });
  };
  const archive = async (name: string, make: (file: string) => Promise<void>, expect: RegExp | undefined, oracle = true): Promise<void> => {
    const dir = path.join(root, name);
    await fs.mkdir(dir, { recursive: true });
    const file = path.join(dir, 'archive.tar');
    await make(file);
    cases.push({ name, target: file, kind: 'docker-archive', expect, oracle });
  };

  await layout('valid', async (l) => l.index([tagged((await l.image()).manifest, 'hello:1')]), undefined);
  await layout('corrupted-blob', async (l) => {
    const { manifest, layer } = await l.image();
    const bytes = await fs.readFile(l.blobFile(layer));
    bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0xff;
    await fs.writeFile(l.blobFile(layer), bytes);
    await l.index([manifest]);
  }, /^blobs\/sha256\/[0-9a-f]{12}…: content hashes to sha256:/);
  await layout('truncated-blob', async (l) => {
    const { manifest, layer } = await l.image();
    await fs.truncate(l.blobFile(layer), 10);
    await l.index([manifest]);
  }, /content hashes to sha256:/);
  await layout('missing-blob', async (l) => {
    const { manifest, config } = await l.image();
    await fs.rm(l.blobFile(config));
    await l.index([manifest]);
  }, /config: blob sha256:[0-9a-f]{64} is missing$/);
  await layout('size-lying-descriptor', async (l) => {
    const { manifest } = await l.image();
    await l.index([{ ...manifest, size: Number(manifest['size']) + 1 }]);
  }, /^blobs\/sha256\/[0-9a-f]{12}…: size (\d+), descriptor says \d+ \(index\.json manifests\[0\]\)$/);
  await layout('digest-path-traversal', async (l) => {
    const { manifest } = await l.image();
    await l.index([{ ...manifest, digest: 'sha256:../../../etc/passwd' }]);
  }, /index\.json manifests\[0\]: digest "sha256:\.\.\/\.\.\/\.\.\/etc\/passwd" is not a sha256 digest/);
  await layout('digest-upper-case', async (l) => {
    const { manifest } = await l.image();
    await l.index([{ ...manifest, digest: String(manifest['digest']).toUpperCase().replace('SHA256', 'sha256') }]);
  }, /index\.json manifests\[0\]: digest "sha256:[0-9A-F]{64}" is not a sha256 digest/);
  await layout('index-wrong-shape', async (l) => {
    await l.image();
    await l.index([], '{"schemaVersion":2,"manifests":{"a":1}}');
  }, /^index\.json: image-index schema: \/manifests: must be array/);
  await layout('index-duplicate-keys', async (l) => {
    const { manifest } = await l.image();
    await l.index([], `{"schemaVersion":2,"manifests":[${JSON.stringify(manifest)}],"manifests":[]}`);
  }, /^index\.json: \/manifests: the key appears twice in one object$/, false); // the oracle's parser keeps the last one
  await layout('index-not-json', async (l) => l.index([], '{"schemaVersion":2,'), /^index\.json: not valid JSON/);
  await layout('json-nested-deep', async (l) => l.index([], `${'['.repeat(100_000)}${']'.repeat(100_000)}`), /^index\.json: .*nested more than 256 levels deep$/);
  await layout('manifest-points-at-itself', async (l) => {
    // An index blob listing its own digest can only exist under a name it does not hash to.
    const { manifest } = await l.image();
    const selfName = sha256('placeholder');
    const doc = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [manifest, { mediaType: 'application/vnd.oci.image.index.v1+json', digest: selfName, size: 0 }] });
    await fs.writeFile(path.join(l.dir, 'blobs', 'sha256', selfName.slice(7)), doc);
    await l.index([{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: selfName, size: Buffer.byteLength(doc) }]);
  }, /content hashes to sha256:/);
  await layout('deeply-nested-indexes', async (l) => {
    let d = (await l.image()).manifest;
    for (let i = 0; i < 12; i++) d = await l.json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [d] }, 'application/vnd.oci.image.index.v1+json');
    await l.index([d]);
  }, /indexes nested deeper than 8$/);
  await layout('gzip-bomb', async (l) => {
    // 64 MiB of zeros in one file: about 64 kB gzipped. Valid, so it must pass, in flat memory.
    const size = 64 * 1024 * 1024;
    const header = (await tarOf([{ name: 'zeros', data: Buffer.alloc(0) }])).subarray(0, 512);
    const h = Buffer.from(header);
    h.write(size.toString(8).padStart(11, '0'), 124, 'latin1');
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    const zeros = Buffer.alloc(1024 * 1024);
    const parts = function* (): Generator<Buffer> {
      yield h;
      for (let i = 0; i < 64; i++) yield zeros;
      yield Buffer.alloc(1024);
    };
    const { createHash } = await import('node:crypto');
    const diff = createHash('sha256');
    for (const p of parts()) diff.update(p);
    const gz = await collect(Readable.from(parts()).pipe(zlib.createGzip({ level: 9 })));
    const { manifest } = await l.image({ layer: gz, diffId: `sha256:${diff.digest('hex')}` });
    await l.index([manifest]);
  }, undefined);
  await layout('urls-not-fetched', async (l) => {
    const { manifest, config, layer } = await l.image();
    await fs.rm(l.blobFile(layer));
    await fs.rm(l.blobFile(manifest));
    const m = await l.json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [{ ...layer, urls: ['http://127.0.0.1:9/never'] }] }, 'application/vnd.oci.image.manifest.v1+json');
    await l.index([m]);
  }, /layers\[0\]: blob sha256:[0-9a-f]{64} is missing \(its urls are not fetched\)$/);
  await layout('media-type-says-gzip', async (l) => {
    const tarBytes = await tarOf([{ name: 'hello', data: 'hi\n' }]);
    const { manifest } = await l.image({ layer: tarBytes });
    await l.index([manifest]);
  }, /media type application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip but the bytes are not compressed$/);
  await layout('layer-typed-as-manifest', async (l) => {
    const { config, layer } = await l.image();
    const m = await l.json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [{ ...layer, mediaType: 'application/vnd.oci.image.manifest.v1+json' }] }, 'application/vnd.oci.image.manifest.v1+json');
    await l.index([m]);
  }, /layers\[0\]: a layer with the media type of a document \(application\/vnd\.oci\.image\.manifest\.v1\+json\)$/, false);
  await layout('diff-id-wrong', async (l) => l.index([(await l.image({ diffId: sha256('other') })).manifest]), /layers\[0\]: the uncompressed layer hashes to sha256:[0-9a-f]{64}, but the config's diff_ids\[0\] says sha256:/);
  await layout('layer-absolute-path', async (l) => l.index([(await l.image({ items: [{ name: '/etc/passwd', data: 'x' }] })).manifest]), /entry "\/etc\/passwd": an absolute path$/);
  await layout('layer-dotdot-path', async (l) => l.index([(await l.image({ items: [{ name: 'a/../../x', data: 'x' }] })).manifest]), /entry "a\/\.\.\/\.\.\/x": a "\.\." component climbs out of the root$/);
  await layout('layer-hard-link-escapes', async (l) => l.index([(await l.image({ items: [{ name: 'x', type: 'link', linkname: '../../etc/shadow' }] })).manifest]), /hard link "x" -> "\.\.\/\.\.\/etc\/shadow" escapes the layer$/);
  await layout('layer-not-a-tar', async (l) => l.index([(await l.image({ layer: await gzip(Buffer.alloc(1024, 7)), diffId: sha256(Buffer.alloc(1024, 7)) })).manifest]), /is not a tar archive|not a valid tar|tar/);
  await layout('stray-temp-file', async (l) => {
    await l.index([(await l.image()).manifest]);
    await fs.writeFile(path.join(l.dir, 'blobs', 'sha256', '.oci-pack-1-ab.tmp'), 'x');
  }, /^blobs\/sha256\/\.oci-pack-1-ab\.tmp: a stray entry in the blob store/);
  await layout('bad-ref-name', async (l) => l.index([tagged((await l.image()).manifest, 'bad tag!')]), /index\.json manifests\[0\]: org\.opencontainers\.image\.ref\.name: "bad tag!": character " " is not allowed/);
  await layout('duplicate-ref-name', async (l) => {
    const a = (await l.image()).manifest;
    const b = (await l.image({ items: [{ name: 'other', data: 'x' }] })).manifest;
    await l.index([tagged(a, 'v1'), tagged(b, 'v1')]);
  }, /index\.json manifests\[1\]: ref name "v1" also names manifests\[0\]$/);
  await layout('no-oci-layout', async (l) => fs.rm(path.join(l.dir, 'oci-layout')), /^oci-layout: missing$/);
  // Stricter than the oracle: it does not judge whiteouts, duplicate keys or the CVE-2021-41190 shape.
  await layout('bare-whiteout', async (l) => l.index([(await l.image({ items: [{ name: 'dir/.wh.', data: '' }] })).manifest]), /entry "dir\/\.wh\.": a whiteout that names nothing$/, false);
  await layout('manifest-with-manifests', async (l) => {
    const { config, layer } = await l.image();
    const m = await l.json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [layer], manifests: [] }, 'application/vnd.oci.image.manifest.v1+json');
    await l.index([m]);
  }, /image-manifest schema: \/: a manifest must not have a manifests field: a document that is both a manifest and an index is ambiguous \(CVE-2021-41190\)$/, false);

  await archive('docker-valid', (f) => dockerArchive(f), undefined);
  await archive('docker-symlink-cycle', (f) => dockerArchive(f, { layerName: 'a/layer.tar', extra: [{ name: 'a/layer.tar', type: 'symlink', linkname: '../b/layer.tar' }, { name: 'b/layer.tar', type: 'symlink', linkname: '../a/layer.tar' }] }), /link "(a|b)\/layer\.tar": a cycle of links/);
  await archive('docker-truncated', (f) => dockerArchive(f, { cut: 1536 }), /tar/);
  await archive('docker-link-leaves', (f) => dockerArchive(f, { layerName: 'l.tar', extra: [{ name: 'l.tar', type: 'symlink', linkname: '../../etc/passwd' }] }), /link "l\.tar" -> "\.\.\/\.\.\/etc\/passwd" leaves the archive$/);
  await archive('docker-missing-layer', (f) => dockerArchive(f, { layerName: 'nothere/layer.tar' }), /manifest\.json\[0\]\.Layers\[0\]: "nothere\/layer\.tar" is not a file of the archive$/);
  await archive('docker-bad-repotag', async (f) => {
    await dockerArchive(f);
    const bytes = await fs.readFile(f);
    // Rewrite the archive with a RepoTag in capitals (docker names are lowercase).
    const layerTar = await tarOf([{ name: 'hello', data: 'hi\n' }]);
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/hello'] }, rootfs: { type: 'layers', diff_ids: [sha256(layerTar)] }, history: [{ created_by: 'corpus' }] });
    void bytes;
    await dockerArchive(f, { manifest: [{ Config: `${sha256(config).slice(7)}.json`, RepoTags: ['Corpus/Hello:1'], Layers: ['abc/layer.tar'] }] });
  }, /RepoTags\/0: must be NAME:TAG/);
  return cases;
}
