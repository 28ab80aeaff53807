// Reading a docker-save archive (legacy v1, podman and skopeo's, docker 25+) into a blob store: one
// streamed pass that stages layers compressed as asked, then manifest.json decides what is kept.
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decompressor, detectCompression, type Compressor } from '../compress.js';
import { Hasher, type Digest } from '../digest.js';
import { MediaType, type Descriptor, type LayerDescriptor } from '../descriptor.js';
import { cleanPath, parentOf, resolveWithin } from '../entries.js';
import { UserError } from '../errors.js';
import { createManifest, type ImageConfig } from '../image.js';
import { canonicalJson, parseJsonInput } from '../json.js';
import { checkRefName, familiarName, parseDockerRef, withDefaultTag } from '../ref.js';
import { assertValid, checkInput } from '../schema.js';
import { tempPath, type BlobStore } from '../store.js';
import { MAX_ARCHIVE_ENTRIES, MAX_JSON_BYTES, MAX_MANIFEST_JSON_BYTES } from '../limits.js';
import { openArchiveFile, readTar, type TarEntry } from '../tar.js';
import { LayerCheckStream } from '../safety.js';
import { counting, peekHead, readWhole } from '../streams.js';

export { MAX_MANIFEST_JSON_BYTES };
/** Symlinks followed from one name before we call it a loop. */
const MAX_LINK_DEPTH = 16;
const HEX_NAME_RE = /^(?:blobs\/sha256\/([a-f0-9]{64})|([a-f0-9]{64})\.json)$/;

/** What an import reports as it goes: each layer staged, bytes read of it, tags moved. */
export type ImportEvent =
  | { type: 'layer-start'; name: string; size: number }
  | { type: 'layer-progress'; name: string; bytes: number }
  | { type: 'layer-done'; name: string; layer: LayerDescriptor }
  /** A tag left another image of the layout for an imported one; that image's blobs stay until a gc. */
  | { type: 'tag-moved'; tag: string; from: Digest };

type Emit = (event: ImportEvent) => void;

/** An image of the archive as staged: its synthesized manifest and the ref names its RepoTags give. */
export interface StagedImage {
  manifest: Descriptor;
  /** The RepoTags in docker's familiar form (hello:latest), each once. */
  tags: string[];
}

/** A regular file of the archive, as its bytes passed by. */
type ArchiveFile =
  /** Not JSON: run through the layer pipeline into the staging store as it passed. */
  | { kind: 'layer'; raw: Digest; layer: LayerDescriptor; name: string; problem?: Error }
  /** JSON-looking (a config, a legacy json, an OCI document): copied as it is into scratch. */
  | { kind: 'document'; raw: Digest; size: number; file: string; name: string };

interface ArchiveContents {
  files: Map<string, ArchiveFile>;
  /** Symlinks (resolved against their folder) and hard links, by the name they stand at. */
  links: Map<string, { target: string; name: string }>;
  directories: Set<string>;
  manifest?: Buffer;
  repositories?: Buffer;
}

interface ManifestItem {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/**
 * Every image of a docker-save archive, staged into `store` (a staging store: nothing published,
 * nothing recorded): layers compressed by `compressor` with their diff_ids verified, configs byte
 * for byte, a new OCI manifest each, in manifest.json's order: what the docker-archive: source reads.
 */
export async function stageDockerArchive(input: Readable, store: BlobStore, opts: { where: string; compressor: Compressor; onEvent?: Emit }): Promise<StagedImage[]> {
  const scratch = tempPath(store.staging ?? store.root);
  try {
    await fs.mkdir(scratch);
    const contents = await readArchive(input, opts.where, store, scratch, opts.compressor, opts.onEvent ?? (() => undefined));
    return await assemble(contents, opts.where, store, opts.compressor);
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

/** A docker-save archive on disk, opened for one streamed read. */
export const openArchive = openArchiveFile;


// ---------------------------------------------------------------------------------------------
// The streamed pass

async function readArchive(input: Readable, where: string, store: BlobStore, scratch: string, compressor: Compressor, emit: Emit): Promise<ArchiveContents> {
  const contents: ArchiveContents = { files: new Map(), links: new Map(), directories: new Set() };
  let count = 0;
  for await (const entry of readTar(input, where)) {
    if (++count > MAX_ARCHIVE_ENTRIES) throw new UserError(`${where}: more than ${MAX_ARCHIVE_ENTRIES} entries; not a docker-save archive`, 'EINPUT');
    const key = safeName(entry, where);
    const refuse = (why: string): never => {
      throw new UserError(`${where}: entry ${JSON.stringify(entry.name)}: ${why}`, 'EINPUT');
    };
    switch (entry.type) {
      case 'directory':
        if (contents.files.has(key) || contents.links.has(key)) refuse('appears twice, once as a directory');
        if (key !== '') contents.directories.add(key);
        break;
      case 'symlink': {
        const target = entry.linkname ?? '';
        const resolved = resolveWithin(parentOf(key), target);
        if (target.startsWith('/') || resolved.escapes) refuse(`a link to ${JSON.stringify(target)}, outside the archive`);
        addLink(contents, key, resolved.path, entry.name, refuse);
        break;
      }
      case 'link': {
        const target = cleanPath(entry.linkname ?? '');
        if (target === undefined || (entry.linkname ?? '').startsWith('/')) refuse(`a hard link to ${JSON.stringify(entry.linkname)}, outside the archive`);
        if (!contents.files.has(target!)) refuse(`a hard link to ${JSON.stringify(entry.linkname)}, which is not an earlier file of the archive`);
        addLink(contents, key, target!, entry.name, refuse);
        break;
      }
      case 'file':
        await readFile(entry, key, contents, where, store, scratch, compressor, refuse, emit);
        break;
      default:
        refuse(`a ${entry.type} entry has no place in a docker-save archive`);
    }
  }
  return contents;
}

/** The archive name as a clean relative path; absolute names and ".." are refused. */
function safeName(entry: TarEntry, where: string): string {
  const key = cleanPath(entry.path);
  if (entry.name.startsWith('/') || entry.path.startsWith('/')) {
    throw new UserError(`${where}: entry ${JSON.stringify(entry.name)}: an absolute path`, 'EINPUT');
  }
  if (key === undefined) throw new UserError(`${where}: entry ${JSON.stringify(entry.name)}: a ".." component climbs out of the archive`, 'EINPUT');
  return key;
}

function addLink(contents: ArchiveContents, key: string, target: string, name: string, refuse: (why: string) => never): void {
  const before = contents.links.get(key);
  if (before ? before.target !== target : contents.files.has(key) || contents.directories.has(key)) refuse('appears twice with different content');
  contents.links.set(key, { target, name });
}

async function readFile(
  entry: TarEntry,
  key: string,
  contents: ArchiveContents,
  where: string,
  store: BlobStore,
  scratch: string,
  compressor: Compressor,
  refuse: (why: string) => never,
  emit: Emit,
): Promise<void> {
  if (contents.links.has(key) || contents.directories.has(key)) refuse('appears twice with different content');
  const data = entry.open ? entry.open() : Readable.from([]);
  if (key === 'manifest.json' || key === 'repositories') {
    const bytes = await readWhole(data, MAX_MANIFEST_JSON_BYTES, `${where}: ${key}`);
    const before = key === 'manifest.json' ? contents.manifest : contents.repositories;
    if (before && !before.equals(bytes)) refuse('appears twice with different content');
    if (key === 'manifest.json') contents.manifest = bytes;
    else contents.repositories = bytes;
    return;
  }
  const { head, stream } = await peekHead(data, 64);
  const text = head.toString('latin1').trimStart();
  const isDocument = detectCompression(head) === 'none' && (text.startsWith('{') || text.startsWith('['));
  const file = isDocument
    ? await spoolDocument(stream, entry.name, scratch, contents.files.size)
    : await stageLayer(stream, head, entry.name, where, store, compressor, { emit, size: entry.size });
  const before = contents.files.get(key);
  if (before && before.raw !== file.raw) refuse('appears twice with different content');
  contents.files.set(key, file);
}

async function spoolDocument(data: Readable, name: string, scratch: string, n: number): Promise<ArchiveFile> {
  const file = path.join(scratch, String(n));
  const raw = new Hasher();
  await pipeline(data, raw, createWriteStream(file, { flags: 'wx' }));
  return { kind: 'document', raw: raw.result().digest, size: raw.result().size, file, name };
}

/** The one pass of a layer: raw digest → decompress → diff_id → compress → staging store. */
async function stageLayer(
  data: Readable,
  head: Buffer,
  name: string,
  where: string,
  store: BlobStore,
  compressor: Compressor,
  progress?: { emit: Emit; size: number },
): Promise<ArchiveFile> {
  progress?.emit({ type: 'layer-start', name, size: progress.size });
  const counted = progress ? [counting((bytes) => progress.emit({ type: 'layer-progress', name, bytes }))] : [];
  const raw = new Hasher();
  const what = `${where}: entry ${JSON.stringify(name)}`;
  const diff = new Hasher();
  try {
    // The layer's entries are checked by the rules `--layer` applies: an import must not bring in
    // what a build would refuse (absolute names, "..", links out of the root).
    const check = new LayerCheckStream(what);
    // A plain tar (docker save writes them) is its own diff: one hash serves as both digests.
    const kind = detectCompression(head);
    const stages = kind === 'none' ? [data, ...counted, raw, check] : [data, ...counted, raw, decompressor(kind, what), diff, check];
    const desc = await store.put([...stages, ...compressor.create()], { mediaType: compressor.mediaType });
    const uncompressed = (kind === 'none' ? raw : diff).result();
    const layer: LayerDescriptor = { ...desc, diffId: uncompressed.digest, uncompressedSize: uncompressed.size };
    progress?.emit({ type: 'layer-done', name, layer });
    return { kind: 'layer', raw: raw.result().digest, layer, name, ...(check.problem ? { problem: check.problem } : {}) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    if (typeof code === 'string' && code.startsWith('Z_')) throw new UserError(`${what}: not valid compressed data: ${(err as Error).message}`, 'EINPUT');
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// manifest.json → images

async function assemble(contents: ArchiveContents, where: string, store: BlobStore, compressor: Compressor): Promise<StagedImage[]> {
  if (!contents.manifest) {
    throw new UserError(`${where}: no manifest.json: not a docker-save archive (or one from docker before 1.10, which oci-pack does not read)`, 'EINPUT');
  }
  const manifestWhere = `${where}: manifest.json`;
  const items = parseJsonInput(contents.manifest, manifestWhere, MAX_MANIFEST_JSON_BYTES);
  checkInput('docker-manifest', items, manifestWhere);
  if (contents.repositories) {
    const reposWhere = `${where}: repositories`;
    checkInput('docker-repositories', parseJsonInput(contents.repositories, reposWhere, MAX_MANIFEST_JSON_BYTES), reposWhere);
  }
  const images: (StagedImage & { config: Digest })[] = [];
  const tagOwner = new Map<string, number>();
  for (const [i, item] of (items as ManifestItem[]).entries()) {
    const image = await assembleImage(contents, item, `${manifestWhere}[${i}]`, where, store, compressor);
    for (const tag of image.tags) {
      const other = tagOwner.get(tag);
      if (other !== undefined && images[other]!.config !== image.config) {
        throw new UserError(`${manifestWhere}[${i}].RepoTags: ${tag} also names the different image of manifest.json[${other}]`, 'EINPUT');
      }
      tagOwner.set(tag, i);
    }
    images.push(image);
  }
  return images.map(({ manifest, tags }) => ({ manifest, tags }));
}

async function assembleImage(
  contents: ArchiveContents,
  item: ManifestItem,
  itemWhere: string,
  where: string,
  store: BlobStore,
  compressor: Compressor,
): Promise<StagedImage & { config: Digest }> {
  const configFile = lookup(contents, item.Config, `${itemWhere}.Config`);
  const configWhere = `${where}: ${item.Config}`;
  if (configFile.kind !== 'document') throw new UserError(`${configWhere}: the config is not valid JSON`, 'EINPUT');
  checkNamedDigest(item.Config, configFile.raw, `${itemWhere}.Config`);
  if (configFile.size > MAX_JSON_BYTES) throw new UserError(`${configWhere}: ${configFile.size} bytes, more than the ${MAX_JSON_BYTES} allowed for a config`, 'EINPUT');
  const configBytes = await fs.readFile(configFile.file);
  const config = parseJsonInput(configBytes, configWhere, MAX_JSON_BYTES) as ImageConfig;
  checkInput('image-config', config, configWhere);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== item.Layers.length) {
    throw new UserError(`${itemWhere}: ${item.Layers.length} Layers, but ${item.Config} rootfs.diff_ids lists ${diffIds.length}`, 'EINPUT');
  }
  if (Array.isArray(config.history)) {
    const nonEmpty = config.history.filter((h) => !h.empty_layer).length;
    if (nonEmpty !== item.Layers.length) {
      throw new UserError(`${configWhere}: history has ${nonEmpty} entries that are not empty_layer, for ${item.Layers.length} layers`, 'EINPUT');
    }
  }
  const layers: LayerDescriptor[] = [];
  for (const [j, layerPath] of item.Layers.entries()) {
    const field = `${itemWhere}.Layers[${j}]`;
    const file = lookup(contents, layerPath, field);
    checkNamedDigest(layerPath, file.raw, field);
    const staged = file.kind === 'layer' ? file : await stageSpooledLayer(file, where, store, compressor);
    if (staged.problem) throw staged.problem;
    const layer = staged.layer;
    if (layer.diffId !== diffIds[j]) {
      throw new UserError(`${field} ${JSON.stringify(layerPath)}: the uncompressed layer hashes to ${layer.diffId}, but ${item.Config} rootfs.diff_ids[${j}] says ${diffIds[j]}`, 'EDIGEST');
    }
    layers.push(layer);
  }
  const configDesc = await store.putBytes(configBytes, { mediaType: MediaType.config });
  const manifest = createManifest(configDesc, layers);
  assertValid('image-manifest', manifest, 'image manifest');
  const manifestDesc = await store.putBytes(canonicalJson(manifest), { mediaType: MediaType.manifest });
  const tags = (item.RepoTags ?? []).map((t, k) => repoTagName(t, `${itemWhere}.RepoTags[${k}]`));
  return { manifest: manifestDesc, config: configDesc.digest, tags: [...new Set(tags)] };
}

/** A RepoTag (docker.io/library/hello:latest, hello:latest) as the ref name we tag with: hello:latest. */
function repoTagName(tag: string, field: string): string {
  const name = familiarName(withDefaultTag(parseDockerRef(tag, field)));
  checkRefName(name, field);
  return name;
}

/** The file a manifest.json path names, following symlinks and hard links inside the archive. */
function lookup(contents: ArchiveContents, name: string, field: string): ArchiveFile {
  let key = cleanPath(name);
  for (let depth = 0; key !== undefined && contents.links.has(key); depth++) {
    if (depth >= MAX_LINK_DEPTH) throw new UserError(`${field}: ${JSON.stringify(name)}: too many levels of links`, 'EINPUT');
    key = contents.links.get(key)!.target;
  }
  const file = key === undefined ? undefined : contents.files.get(key);
  if (!file) throw new UserError(`${field}: ${JSON.stringify(name)} is not a file of the archive`, 'EINPUT');
  return file;
}

/** blobs/sha256/<hex> and <hex>.json name their content's digest: a file that says otherwise is corrupt. */
function checkNamedDigest(name: string, raw: Digest, field: string): void {
  const m = HEX_NAME_RE.exec(cleanPath(name) ?? '');
  const hex = m?.[1] ?? m?.[2];
  if (hex !== undefined && raw !== `sha256:${hex}`) {
    throw new UserError(`${field}: ${JSON.stringify(name)} hashes to ${raw}`, 'EDIGEST');
  }
}

/** A layer that looked like JSON as it passed (its first byte is "{"): through the layer pipeline now. */
async function stageSpooledLayer(file: ArchiveFile & { kind: 'document' }, where: string, store: BlobStore, compressor: Compressor): Promise<ArchiveFile & { kind: 'layer' }> {
  const { head, stream } = await peekHead(createReadStream(file.file), 4);
  return (await stageLayer(stream, head, file.name, where, store, compressor)) as ArchiveFile & { kind: 'layer' };
}
