// A complete check of an OCI layout, an oci-archive or a docker-save archive: documents against the
// schemas, every blob's digest and size, diff_ids, layer tars' safety, media types and names.
import { MAX_ARCHIVE_ENTRIES, MAX_INDEX_BYTES, MAX_MANIFEST_JSON_BYTES } from './limits.js';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Transform, Writable, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { compressionOfMediaType, decompressor, detectCompression, type DetectedCompression } from './compress.js';
import { Hasher, isDigest, type Digest } from './digest.js';
import { MediaType, REF_NAME_ANNOTATION, isLayerMediaType } from './descriptor.js';
import { baseName, cleanPath, parentOf, resolveWithin } from './entries.js';
import { UserError, fileError } from './errors.js';
import { isPlainObject } from './json.js';
import { jsonShapeProblem } from './jsoncheck.js';
import { checkRefName, parseDockerRef } from './ref.js';
import { schemaProblems, type SchemaName } from './schema.js';
import { peekHead } from './streams.js';
import { MAX_JSON_BYTES } from './store.js';
import { readTar } from './tar.js';

/** One thing wrong, and where: `blobs/sha256/ab12…`, `index.json`, `manifest.json[0].Layers[1]`. */
export interface Problem {
  where: string;
  message: string;
}

export type ValidatedKind = 'layout' | 'oci-archive' | 'docker-archive';

export interface ValidateReport {
  target: string;
  kind: ValidatedKind;
  problems: Problem[];
  /** Images (manifests) checked, and blobs hashed. */
  images: number;
  blobs: number;
  /** True when more problems were found than the report lists. */
  truncated: boolean;
}

export interface ValidateOptions {
  /** Problems listed before the rest are only counted (default 1000). */
  maxProblems?: number;
  /** Uncompressed bytes one layer may hold before it is called a bomb (default 64 GiB). */
  maxLayerBytes?: number;
  /** Entries one layer may hold (default 10 million). */
  maxLayerEntries?: number;
  /** Called as each problem is found (a CLI can print as it goes). */
  onProblem?: (p: Problem) => void;
}

/** Indexes nested deeper than this are refused (the oracle's limit too). */
export const MAX_INDEX_DEPTH = 8;
const MAX_LINK_HOPS = 16;
const HEX_RE = /^[a-f0-9]{64}$/;
/** Media types of JSON documents: never a layer's, and only the two config ones a config's. */
const DOCUMENT_TYPES: ReadonlySet<string> = new Set([MediaType.index, MediaType.manifest, MediaType.dockerManifest, MediaType.dockerManifestList, MediaType.config, MediaType.dockerConfig]);
const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/**
 * Check `target` (a layout directory, an oci-archive or a docker-save archive) completely and
 * return every problem found. Nothing is written beside the target; an archive is unpacked into a
 * temporary folder that is removed afterwards. Throws only when the target cannot be read at all.
 */
export async function validate(target: string, opts: ValidateOptions = {}): Promise<ValidateReport> {
  const st = await fs.stat(target).catch((err: unknown) => {
    throw fileError(target, err);
  });
  const checker = new Checker(opts);
  if (st.isDirectory()) {
    await checker.layout(path.resolve(target), false);
    return checker.report(target, 'layout');
  }
  if (!st.isFile()) throw new UserError(`${target}: neither a layout directory nor an archive file`, 'EINPUT');
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'oci-pack-validate-'));
  try {
    const unpacked = await checker.unpack(target, scratch);
    if (!unpacked) return checker.report(target, 'docker-archive');
    const hasManifest = await isFile(path.join(scratch, 'manifest.json'));
    const hasLayout = await isFile(path.join(scratch, 'oci-layout'));
    if (hasManifest) await checker.dockerArchive(scratch);
    if (hasLayout || !hasManifest) await checker.layout(scratch, hasManifest);
    return checker.report(target, hasManifest ? 'docker-archive' : 'oci-archive');
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Unpack an archive (oci-archive or docker-save) into `dir` (created), following its links inside
 * it; kind says which it is. Throws a UserError when the archive is unsafe or unreadable.
 */
export async function unpackArchive(archive: string, dir: string): Promise<{ dir: string; kind: Exclude<ValidatedKind, 'layout'> }> {
  await fs.mkdir(dir, { recursive: true });
  const checker = new Checker({});
  const ok = await checker.unpack(archive, dir);
  const first = checker.problems[0];
  if (!ok || first) throw new UserError(`${first?.where ?? archive}: ${first?.message ?? 'cannot be unpacked'}`, 'EINPUT');
  const kind = (await isFile(path.join(dir, 'manifest.json'))) ? 'docker-archive' : 'oci-archive';
  if (kind === 'oci-archive' && !(await isFile(path.join(dir, 'oci-layout')))) {
    throw new UserError(`${archive}: neither an oci-archive (no oci-layout) nor a docker-save archive (no manifest.json)`, 'EINPUT');
  }
  return { dir, kind };
}

interface BlobFacts {
  size: number;
  ok: boolean;
}

interface LayerFacts {
  diffId?: Digest;
}

class Checker {
  readonly problems: Problem[] = [];
  private found = 0;
  private images = 0;
  private readonly maxProblems: number;
  private readonly maxLayerBytes: number;
  private readonly maxLayerEntries: number;
  private root = '';
  private blobs = new Map<string, BlobFacts>();
  private documentsDone = new Set<string>();
  private layersDone = new Map<string, LayerFacts>();

  constructor(private readonly opts: ValidateOptions) {
    this.maxProblems = opts.maxProblems ?? 1000;
    this.maxLayerBytes = opts.maxLayerBytes ?? 64 * 1024 ** 3;
    this.maxLayerEntries = opts.maxLayerEntries ?? 10_000_000;
  }

  problem(where: string, message: string): void {
    this.found++;
    if (this.problems.length >= this.maxProblems) return;
    const p = { where, message };
    this.problems.push(p);
    this.opts.onProblem?.(p);
  }

  report(target: string, kind: ValidatedKind): ValidateReport {
    return { target, kind, problems: this.problems, images: this.images, blobs: this.blobs.size, truncated: this.found > this.problems.length };
  }

  // -------------------------------------------------------------------------------------------
  // OCI layout

  async layout(root: string, insideDockerArchive: boolean): Promise<void> {
    this.root = root;
    const layoutDoc = await this.readDocument(path.join(root, 'oci-layout'), 'oci-layout', 64 * 1024);
    if (layoutDoc === undefined) return;
    if (this.checkSchema('oci-layout', layoutDoc, 'oci-layout')) {
      const version = (layoutDoc as { imageLayoutVersion: string }).imageLayoutVersion;
      if (version !== '1.0.0') this.problem('oci-layout', `imageLayoutVersion ${JSON.stringify(version)}, expected "1.0.0"`);
    }
    await this.scanBlobs();
    const index = await this.readDocument(path.join(root, 'index.json'), 'index.json', MAX_INDEX_BYTES);
    if (index === undefined) return;
    // Schema problems are listed, and the descriptors that can be read are still followed.
    this.checkSchema('image-index', index, 'index.json');
    if (!isPlainObject(index) || !Array.isArray(index['manifests'])) return;
    if (index['mediaType'] !== undefined && index['mediaType'] !== MediaType.index) {
      this.problem('index.json', `mediaType ${JSON.stringify(index['mediaType'])}, expected ${MediaType.index}`);
    }
    const names = new Map<string, number>();
    const manifests = index['manifests'] as Record<string, unknown>[];
    for (const [i, d] of manifests.entries()) {
      const where = `index.json manifests[${i}]`;
      const annotations = isPlainObject(d['annotations']) ? d['annotations'] : {};
      const ref = annotations[REF_NAME_ANNOTATION];
      if (typeof ref === 'string') {
        try {
          checkRefName(ref, `${REF_NAME_ANNOTATION}`);
        } catch (err) {
          this.problem(where, (err as Error).message);
        }
        // docker 25+ archives hold the bare tag in ref.name and the full name beside it.
        const key = insideDockerArchive ? `${String(annotations['io.containerd.image.name'])} ${ref}` : ref;
        const other = names.get(key);
        if (other !== undefined) this.problem(where, `ref name ${JSON.stringify(ref)} also names manifests[${other}]`);
        names.set(key, i);
      }
      await this.descriptor(d, where, 0, []);
    }
  }

  /** Hash every file of blobs/sha256: a blob that lies about its name is a problem even when unused. */
  private async scanBlobs(): Promise<void> {
    const dir = path.join(this.root, 'blobs', 'sha256');
    let names: string[];
    try {
      names = (await fs.readdir(dir)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      this.problem('blobs/sha256', (fileError(dir, err) as Error).message);
      return;
    }
    for (const name of names) {
      const where = `blobs/sha256/${shortHex(name)}`;
      const file = path.join(dir, name);
      const st = await fs.lstat(file);
      if (!HEX_RE.test(name) || !st.isFile()) {
        this.problem(`blobs/sha256/${name}`, 'a stray entry in the blob store (a temporary file left behind?)');
        continue;
      }
      const hasher = new Hasher();
      await pipeline(createReadStream(file), hasher, sink());
      const { digest, size } = hasher.result();
      const ok = digest === `sha256:${name}`;
      if (!ok) this.problem(where, `content hashes to ${digest}`);
      this.blobs.set(name, { size, ok });
    }
  }

  /** Check one descriptor and what it points at (an index or a manifest), `depth` indexes down. */
  private async descriptor(d: unknown, where: string, depth: number, stack: string[]): Promise<void> {
    if (depth > MAX_INDEX_DEPTH) {
      this.problem(where, `indexes nested deeper than ${MAX_INDEX_DEPTH}`);
      return;
    }
    const blob = this.blobOf(d, where);
    if (!blob) return;
    const { digest, mediaType } = blob;
    if (stack.includes(digest)) {
      this.problem(where, `${digest} names itself (a cycle through ${stack.length} document(s))`);
      return;
    }
    const key = `${mediaType} ${digest}`;
    if (this.documentsDone.has(key)) return;
    this.documentsDone.add(key);
    if (mediaType === MediaType.index || mediaType === MediaType.dockerManifestList) {
      const doc = await this.readBlobDocument(digest, 'image-index');
      if (doc === undefined) return;
      this.checkDocumentMediaType(doc, mediaType, digest);
      const children = Array.isArray(doc['manifests']) ? doc['manifests'] : [];
      for (const [j, child] of children.entries()) await this.descriptor(child, `${blobWhere(digest)} manifests[${j}]`, depth + 1, [...stack, digest]);
      return;
    }
    if (mediaType === MediaType.manifest || mediaType === MediaType.dockerManifest) {
      await this.manifest(digest, mediaType);
      return;
    }
    // Artifacts and other media types are legal in an index; their blobs were still verified.
  }

  /**
   * The descriptor's digest once it is a valid descriptor naming a blob that is present, whole and
   * of the size it says; otherwise the problem is reported and undefined returned.
   */
  private blobOf(d: unknown, where: string): { digest: Digest; mediaType: string } | undefined {
    if (!isPlainObject(d)) {
      this.problem(where, 'a descriptor must be an object');
      return undefined;
    }
    const digest = d['digest'];
    if (!isDigest(digest)) {
      const shown = JSON.stringify(typeof digest === 'string' ? digest.slice(0, 80) : digest);
      this.problem(where, `digest ${shown} is not a sha256 digest (sha256: and 64 lowercase hex digits)`);
      return undefined;
    }
    if (!this.checkSchema('content-descriptor', d, where)) return undefined;
    const hex = digest.slice(7);
    const facts = this.blobs.get(hex);
    const urls = Array.isArray(d['urls']) ? ' (its urls are not fetched)' : '';
    if (!facts) {
      this.problem(where, `blob ${digest} is missing${urls}`);
      return undefined;
    }
    if (facts.size !== d['size']) {
      this.problem(blobWhere(digest), `size ${facts.size}, descriptor says ${String(d['size'])} (${where})`);
      return undefined;
    }
    if (!facts.ok) return undefined;
    return { digest, mediaType: String(d['mediaType']) };
  }

  private async manifest(digest: Digest, mediaType: string): Promise<void> {
    const where = blobWhere(digest);
    const doc = await this.readBlobDocument(digest, 'image-manifest');
    if (doc === undefined) return;
    this.images++;
    this.checkDocumentMediaType(doc, mediaType, digest);
    const configBlob = this.blobOf(doc['config'], `${where} config`);
    if (configBlob && (isLayerMediaType(configBlob.mediaType) || DOCUMENT_TYPES.has(configBlob.mediaType) && configBlob.mediaType !== MediaType.config && configBlob.mediaType !== MediaType.dockerConfig)) {
      this.problem(`${where} config`, `a config with the media type ${configBlob.mediaType}`);
    }
    const layers = Array.isArray(doc['layers']) ? (doc['layers'] as unknown[]) : [];
    let diffIds: unknown[] | undefined;
    if (configBlob) {
      const config = configBlob.mediaType === MediaType.config || configBlob.mediaType === MediaType.dockerConfig
        ? await this.readBlobDocument(configBlob.digest, 'image-config')
        : undefined;
      if (config) {
        const rootfs = isPlainObject(config['rootfs']) ? config['rootfs'] : {};
        diffIds = Array.isArray(rootfs['diff_ids']) ? rootfs['diff_ids'] : [];
        if (diffIds.length !== layers.length) this.problem(where, `${layers.length} layers, but the config lists ${diffIds.length} diff_ids`);
        this.checkHistory(config, layers.length, blobWhere(configBlob.digest));
      }
    }
    for (const [k, layer] of layers.entries()) {
      const lwhere = `${where} layers[${k}]`;
      const blob = this.blobOf(layer, lwhere);
      if (!blob) continue;
      if (DOCUMENT_TYPES.has(blob.mediaType)) this.problem(lwhere, `a layer with the media type of a document (${blob.mediaType})`);
      if (!isLayerMediaType(blob.mediaType)) continue;
      const facts = await this.layerOnce(blob.digest, blob.mediaType);
      const want = diffIds?.[k];
      if (facts.diffId !== undefined && want !== undefined && facts.diffId !== want) {
        this.problem(lwhere, `the uncompressed layer hashes to ${facts.diffId}, but the config's diff_ids[${k}] says ${String(want)}`);
      }
    }
  }

  private checkHistory(config: Record<string, unknown>, layerCount: number, where: string): void {
    const history = config['history'];
    if (!Array.isArray(history) || history.length === 0) return;
    const nonEmpty = history.filter((h) => !(isPlainObject(h) && h['empty_layer'] === true)).length;
    if (nonEmpty !== layerCount) this.problem(where, `history has ${nonEmpty} entries that are not empty_layer, for ${layerCount} layers`);
  }

  private checkDocumentMediaType(doc: Record<string, unknown>, mediaType: string, digest: Digest): void {
    const own = doc['mediaType'];
    if (own !== undefined && own !== mediaType) {
      this.problem(blobWhere(digest), `mediaType ${JSON.stringify(own)} differs from its descriptor's ${JSON.stringify(mediaType)}`);
    }
  }

  private async layerOnce(digest: Digest, mediaType: string): Promise<LayerFacts> {
    const key = `${mediaType} ${digest}`;
    const done = this.layersDone.get(key);
    if (done) return done;
    const facts = await this.layer(path.join(this.root, 'blobs', 'sha256', digest.slice(7)), blobWhere(digest), mediaType);
    this.layersDone.set(key, facts);
    return facts;
  }

  /**
   * One streamed pass over a layer: compression against the media type, decompressed size bounded,
   * diff_id hashed, every entry's path, link and whiteout checked. Memory stays flat.
   */
  async layer(file: string, where: string, mediaType: string | undefined): Promise<LayerFacts> {
    const { head, stream } = await peekHead(createReadStream(file), 4);
    const kind = detectCompression(head);
    const declared = mediaType === undefined ? undefined : compressionOfMediaType(mediaType);
    if (declared !== undefined && declared !== kind && mediaType!.startsWith('application/vnd.oci.')) {
      this.problem(where, `media type ${mediaType} but the bytes are ${describeCompression(kind)}`);
    }
    let bytes: Transform;
    try {
      bytes = decompressor(kind, where);
    } catch (err) {
      stream.destroy();
      if (err instanceof UserError) {
        this.problem(where, err.message.startsWith(`${where}: `) ? err.message.slice(where.length + 2) : err.message);
        return {};
      }
      throw err;
    }
    const limit = new ByteLimit(this.maxLayerBytes, where);
    const diff = new Hasher();
    const feeding = pipeline(stream, bytes, limit, diff).catch((err: unknown) => err as Error);
    let failed: string | undefined;
    try {
      await this.tarEntries(diff, where);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      failed = err.message;
    }
    if (failed !== undefined) {
      // The tar is already bad: stop reading the rest of it (it may be a bomb) and say why.
      const fed = await Promise.race([feeding, Promise.resolve(undefined)]);
      stream.destroy();
      await feeding;
      if (fed) this.problem(where, layerError(fed, kind));
      else this.problem(where, failed.startsWith(`${where}: `) ? failed.slice(where.length + 2) : failed);
      return {};
    }
    diff.resume();
    const fed = await feeding;
    if (fed) {
      this.problem(where, layerError(fed, kind));
      return {};
    }
    return { diffId: diff.result().digest };
  }

  private async tarEntries(input: Readable, where: string): Promise<void> {
    const seen = new Map<string, boolean>();
    let count = 0;
    for await (const e of readTar(input, where)) {
      if (++count > this.maxLayerEntries) throw new UserError(`${where}: more than ${this.maxLayerEntries} entries`, 'EINPUT');
      const name = JSON.stringify(e.name);
      if (e.name.startsWith('/')) this.problem(where, `entry ${name}: an absolute path`);
      const key = cleanPath(e.name);
      if (key === undefined) {
        this.problem(where, `entry ${name}: a ".." component climbs out of the root`);
        continue;
      }
      if (e.type === 'link') {
        const target = e.linkname ?? '';
        if (target.startsWith('/') || cleanPath(target) === undefined) this.problem(where, `hard link ${name} -> ${JSON.stringify(target)} escapes the layer`);
      }
      const base = baseName(key);
      if (base.startsWith(WHITEOUT)) {
        if (base === WHITEOUT) this.problem(where, `entry ${name}: a whiteout that names nothing`);
        else if (base.startsWith(`${WHITEOUT}${WHITEOUT}`) && base !== OPAQUE) this.problem(where, `entry ${name}: an unknown whiteout (only ${OPAQUE} is defined)`);
        else if (base !== OPAQUE && e.type !== 'file') this.problem(where, `entry ${name}: a whiteout must be a regular file, not a ${e.type}`);
      }
      const isDir = e.type === 'directory';
      const before = seen.get(key);
      if (before !== undefined && !(isDir && before)) this.problem(where, `entry ${name} appears twice`);
      seen.set(key, isDir);
      if (e.open) for await (const _chunk of e.open()) void _chunk;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Documents

  /** A JSON file of the layout: size-bounded, no duplicate keys, bounded nesting. */
  private async readDocument(file: string, where: string, limit: number): Promise<unknown> {
    let data: Buffer;
    try {
      const st = await fs.stat(file);
      if (st.size > limit) {
        this.problem(where, `${st.size} bytes, more than the ${limit} allowed`);
        return undefined;
      }
      data = await fs.readFile(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      this.problem(where, code === 'ENOENT' ? 'missing' : (err as Error).message);
      return undefined;
    }
    return this.parse(data, where);
  }

  private async readBlobDocument(digest: Digest, schema: SchemaName): Promise<Record<string, unknown> | undefined> {
    const where = blobWhere(digest);
    const facts = this.blobs.get(digest.slice(7))!;
    if (facts.size > MAX_JSON_BYTES) {
      this.problem(where, `${facts.size} bytes, more than the ${MAX_JSON_BYTES} allowed for a document`);
      return undefined;
    }
    const doc = this.parse(await fs.readFile(path.join(this.root, 'blobs', 'sha256', digest.slice(7))), where);
    if (doc === undefined) return undefined;
    if (!this.checkSchema(schema, doc, where) || !isPlainObject(doc)) return undefined;
    return doc;
  }

  parse(data: Buffer, where: string): unknown {
    const text = data.toString('utf8');
    const shape = jsonShapeProblem(text);
    if (shape !== undefined) {
      this.problem(where, shape);
      return undefined;
    }
    try {
      return JSON.parse(text);
    } catch (err) {
      this.problem(where, `not valid JSON: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** True when valid; otherwise each schema problem is reported. */
  checkSchema(name: SchemaName, doc: unknown, where: string): boolean {
    const problems = schemaProblems(name, doc);
    for (const p of problems.slice(0, 10)) this.problem(where, `${name} schema: ${p}`);
    return problems.length === 0;
  }

  // -------------------------------------------------------------------------------------------
  // Archives

  /**
   * Unpack an archive's regular files and directories into `scratch` (links are materialised
   * after, followed inside the archive). False when the archive itself cannot be used.
   */
  async unpack(archive: string, scratch: string): Promise<boolean> {
    const links = new Map<string, { target: string; hard: boolean; name: string }>();
    let count = 0;
    try {
      const input = createReadStream(archive);
      const { head, stream } = await peekHead(input, 4);
      const kind = detectCompression(head);
      const tarBytes = kind === 'none' ? stream : stream.pipe(decompressor(kind, archive));
      for await (const e of readTar(tarBytes, archive)) {
        if (++count > MAX_ARCHIVE_ENTRIES) throw new UserError(`${archive}: more than ${MAX_ARCHIVE_ENTRIES} entries`, 'EINPUT');
        const name = JSON.stringify(e.name);
        const key = cleanPath(e.name);
        if (e.name.startsWith('/') || key === undefined) {
          this.problem(archive, `entry ${name}: an unsafe path (absolute or climbing with "..")`);
          return false;
        }
        if (key === '') continue;
        if (e.type === 'directory') {
          await fs.mkdir(path.join(scratch, key), { recursive: true });
        } else if (e.type === 'file') {
          await fs.mkdir(path.join(scratch, parentOf(key)), { recursive: true });
          const out = path.join(scratch, key);
          if (links.has(key) || (await isFile(out))) this.problem(archive, `entry ${name} appears twice`);
          links.delete(key);
          await pipeline(e.open!(), createWriteStream(out));
        } else if (e.type === 'symlink' || e.type === 'link') {
          const raw = e.linkname ?? '';
          const resolved = e.type === 'symlink' ? resolveWithin(parentOf(key), raw) : { path: cleanPath(raw) ?? '', escapes: cleanPath(raw) === undefined };
          if (raw.startsWith('/') || resolved.escapes) {
            this.problem(archive, `link ${name} -> ${JSON.stringify(raw)} leaves the archive`);
            return false;
          }
          links.set(key, { target: resolved.path, hard: e.type === 'link', name: e.name });
        } else {
          this.problem(archive, `entry ${name}: a ${e.type} has no place in an image archive`);
        }
      }
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      this.problem(archive, err.message.startsWith(`${archive}: `) ? err.message.slice(archive.length + 2) : err.message);
      return false;
    }
    for (const [key, link] of links) {
      let target = link.target;
      let hops = 0;
      while (links.has(target) && hops < MAX_LINK_HOPS) {
        target = links.get(target)!.target;
        hops++;
      }
      if (links.has(target)) {
        this.problem(archive, `link ${JSON.stringify(link.name)}: a cycle of links, or more than ${MAX_LINK_HOPS} of them in a row`);
        continue;
      }
      const from = path.join(scratch, target);
      if (!(await isFile(from))) continue; // a dangling link is only a problem if something uses it
      await fs.mkdir(path.join(scratch, parentOf(key)), { recursive: true });
      await fs.link(from, path.join(scratch, key)).catch(() => undefined);
    }
    return true;
  }

  /** manifest.json of a docker-save archive (unpacked at `root`) and everything it names. */
  async dockerArchive(root: string): Promise<void> {
    this.root = root;
    const items = await this.readDocument(path.join(root, 'manifest.json'), 'manifest.json', MAX_MANIFEST_JSON_BYTES);
    if (items === undefined) return;
    if (!this.checkSchema('docker-manifest', items, 'manifest.json')) return;
    const tags: string[] = [];
    for (const [i, item] of (items as { Config: string; RepoTags?: string[] | null; Layers: string[] }[]).entries()) {
      const where = `manifest.json[${i}]`;
      this.images++;
      for (const [k, tag] of (item.RepoTags ?? []).entries()) {
        try {
          parseDockerRef(tag, `${where}.RepoTags[${k}]`);
          if (!/:[\w][\w.-]{0,127}$/.test(tag)) this.problem(`${where}.RepoTags[${k}]`, `${JSON.stringify(tag)} is not NAME:TAG`);
        } catch (err) {
          this.problem(`${where}.RepoTags[${k}]`, (err as Error).message);
        }
        tags.push(tag);
      }
      const configFile = this.archiveFile(root, item.Config, `${where}.Config`);
      let diffIds: unknown[] = [];
      if (configFile) {
        const hasher = new Hasher();
        await pipeline(createReadStream(configFile), hasher, sink());
        const stem = baseName(item.Config).replace(/\.json$/, '');
        if (HEX_RE.test(stem) && hasher.result().digest !== `sha256:${stem}`) this.problem(`${where}.Config`, `${item.Config} hashes to ${hasher.result().digest}`);
        const st = await fs.stat(configFile);
        const config = st.size > MAX_JSON_BYTES ? (this.problem(item.Config, `${st.size} bytes, more than the ${MAX_JSON_BYTES} allowed`), undefined) : this.parse(await fs.readFile(configFile), item.Config);
        if (config !== undefined && this.checkSchema('image-config', config, item.Config) && isPlainObject(config)) {
          const rootfs = isPlainObject(config['rootfs']) ? config['rootfs'] : {};
          diffIds = Array.isArray(rootfs['diff_ids']) ? rootfs['diff_ids'] : [];
          if (diffIds.length !== item.Layers.length) this.problem(where, `${item.Layers.length} Layers, but the config lists ${diffIds.length} diff_ids`);
          this.checkHistory(config, item.Layers.length, item.Config);
        }
      }
      for (const [k, name] of item.Layers.entries()) {
        const lwhere = `${where}.Layers[${k}]`;
        const file = this.archiveFile(root, name, lwhere);
        if (!file) continue;
        const facts = await this.layer(file, `${lwhere} ${name}`, undefined);
        if (facts.diffId !== undefined && diffIds[k] !== undefined && facts.diffId !== diffIds[k]) {
          this.problem(lwhere, `the uncompressed layer hashes to ${facts.diffId}, but the config's diff_ids[${k}] says ${String(diffIds[k])}`);
        }
      }
    }
    const reposFile = path.join(root, 'repositories');
    if (await isFile(reposFile)) {
      const repos = await this.readDocument(reposFile, 'repositories', MAX_MANIFEST_JSON_BYTES);
      if (repos !== undefined && this.checkSchema('docker-repositories', repos, 'repositories')) {
        for (const [name, tagMap] of Object.entries(repos as Record<string, Record<string, string>>)) {
          for (const tag of Object.keys(tagMap)) {
            if (!tags.some((t) => t === `${name}:${tag}` || t.endsWith(`/${name}:${tag}`))) this.problem('repositories', `${name}:${tag} is not among the RepoTags`);
          }
        }
      }
    }
  }

  /** The unpacked file a manifest.json path names (links were materialised by unpack), or a problem. */
  private archiveFile(root: string, name: string, where: string): string | undefined {
    const key = cleanPath(name);
    if (name.startsWith('/') || key === undefined) {
      this.problem(where, `${JSON.stringify(name)} leaves the archive`);
      return undefined;
    }
    const file = path.join(root, key);
    if (statOrUndefined(file)?.isFile()) return file;
    this.problem(where, `${JSON.stringify(name)} is not a file of the archive`);
    return undefined;
  }
}

/** A stat of a file in our own scratch folder (small, and keeps the callers simple). */
function statOrUndefined(file: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(file);
  } catch {
    return undefined;
  }
}

/** Fails once more than `limit` bytes have passed: a decompression bomb stops here. */
class ByteLimit extends Transform {
  private seen = 0;
  constructor(private readonly limit: number, private readonly where: string) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) cb(new UserError(`${this.where}: decompresses to more than ${this.limit} bytes; stopped there`, 'EINPUT'));
    else cb(null, chunk);
  }
}

function sink(): Writable {
  return new Writable({ write: (_c, _e, cb) => cb() });
}

function layerError(err: Error, kind: DetectedCompression): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && code.startsWith('Z_')) return `not valid ${kind} data: ${err.message}`;
  if (err instanceof UserError) return err.message.replace(/^.*?: (?=decompresses)/, '');
  return err.message;
}

function describeCompression(kind: DetectedCompression): string {
  return kind === 'none' ? 'not compressed' : kind;
}

function shortHex(name: string): string {
  return name.length > 12 ? `${name.slice(0, 12)}…` : name;
}

/** How a problem names a blob: blobs/sha256/ab12cd34ef56…. */
export function blobWhere(digest: Digest): string {
  return `blobs/sha256/${shortHex(digest.slice(7))}`;
}

async function isFile(file: string): Promise<boolean> {
  return (await fs.stat(file).catch(() => undefined))?.isFile() ?? false;
}
