// Manifests and indexes on a registry: GET/HEAD by tag or digest with the Accept list of the OCI and
// docker v2 types, the digest checked, the children they name; and PUT with their own media type.
import { parseDigest, sha256, type Digest } from '../digest.js';
import { MediaType, type Descriptor } from '../descriptor.js';
import { UserError } from '../errors.js';
import { parseJsonInput } from '../json.js';
import { checkInput } from '../schema.js';
import { MAX_JSON_BYTES } from '../store.js';
import { registryError, type RegistryClient } from './client.js';
import { drain, readBody } from './http.js';

export const MANIFEST_ACCEPT = [MediaType.index, MediaType.manifest, MediaType.dockerManifestList, MediaType.dockerManifest].join(', ');
const INDEX_TYPES = new Set<string>([MediaType.index, MediaType.dockerManifestList]);
const IMAGE_TYPES = new Set<string>([MediaType.manifest, MediaType.dockerManifest]);

export interface FetchedManifest {
  descriptor: Descriptor;
  bytes: Buffer;
  kind: 'index' | 'image';
  /** For an index: its entries; for an image: config then layers. */
  children: Descriptor[];
}

export function isIndexType(mediaType: string): boolean {
  return INDEX_TYPES.has(mediaType);
}

export function manifestPath(repository: string, reference: string): string {
  return `/v2/${repository}/manifests/${reference}`;
}

/** GET a manifest or index by tag or digest; its bytes are hashed and checked against what was asked. */
export async function fetchManifest(client: RegistryClient, repository: string, reference: string, scopes: readonly string[]): Promise<FetchedManifest> {
  const got = await getManifest(client, repository, reference, scopes);
  return parseManifest(got.bytes, got.digest, got.mediaType, got.what);
}

/** A manifest's bytes as the registry serves them, bounded, their digest checked; not parsed. */
export async function getManifest(client: RegistryClient, repository: string, reference: string, scopes: readonly string[]): Promise<{ bytes: Buffer; digest: Digest; mediaType: string | undefined; what: string }> {
  const what = `manifest ${client.registry}/${repository}:${reference}`.replace(/:(sha256:)/, '@$1');
  const res = await client.request('GET', manifestPath(repository, reference), { scopes, headers: { Accept: MANIFEST_ACCEPT } });
  if (res.status !== 200) throw await registryError(res, what);
  const bytes = await readBody(res, MAX_JSON_BYTES, what);
  const digest = sha256(bytes);
  if (reference.startsWith('sha256:') && digest !== reference) {
    throw new UserError(`${what}: the registry sent content that hashes to ${digest}`, 'EDIGEST');
  }
  const header = res.headers['docker-content-digest'];
  if (typeof header === 'string' && header.startsWith('sha256:') && header !== digest) {
    throw new UserError(`${what}: Docker-Content-Digest says ${header}, the content hashes to ${digest}`, 'EDIGEST');
  }
  return { bytes, digest, mediaType: contentType(res.headers['content-type']), what };
}

/** Whether the registry has a manifest by this digest in the repository (HEAD). */
export async function hasManifest(client: RegistryClient, repository: string, digest: Digest, scopes: readonly string[]): Promise<boolean> {
  const res = await client.request('HEAD', manifestPath(repository, digest), { scopes, headers: { Accept: MANIFEST_ACCEPT } });
  await drain(res);
  if (res.status === 200) return true;
  if (res.status === 404) return false;
  throw await registryError(res, `manifest ${client.registry}/${repository}@${digest}`);
}

/** The media type, from the document (authoritative when set) or the Content-Type. */
export function parseManifest(bytes: Buffer, digest: Digest, headerType: string | undefined, where: string): FetchedManifest {
  const doc = parseJsonInput(bytes, where, MAX_JSON_BYTES) as { mediaType?: unknown; schemaVersion?: unknown; manifests?: unknown; config?: unknown; layers?: unknown };
  if (doc.schemaVersion === 1) throw new UserError(`${where}: a docker schema 1 manifest, which oci-pack does not read`, 'EUNSUPPORTED');
  let mediaType = typeof doc.mediaType === 'string' ? doc.mediaType : headerType;
  if (mediaType === undefined || (!INDEX_TYPES.has(mediaType) && !IMAGE_TYPES.has(mediaType))) {
    // Without a media type anywhere, the shape decides, as containers/image guesses it.
    if (Array.isArray(doc.manifests)) mediaType = MediaType.index;
    else if (doc.config !== undefined) mediaType = MediaType.manifest;
    else throw new UserError(`${where}: media type ${JSON.stringify(mediaType ?? null)} is neither an image manifest nor an index`, 'EUNSUPPORTED');
  }
  const descriptor: Descriptor = { mediaType, digest, size: bytes.length };
  if (INDEX_TYPES.has(mediaType)) {
    checkInput('image-index', doc, where);
    const children = (doc.manifests as Descriptor[]).map((d, i) => ({ ...d, digest: parseDigest(d.digest, `${where}: manifests[${i}].digest`) }));
    return { descriptor, bytes, kind: 'index', children };
  }
  checkInput('image-manifest', doc, where);
  const config = doc.config as Descriptor;
  const layers = doc.layers as Descriptor[];
  const children = [config, ...layers].map((d, i) => ({ ...d, digest: parseDigest(d.digest, `${where}: ${i === 0 ? 'config' : `layers[${i - 1}]`}.digest`) }));
  return { descriptor, bytes, kind: 'image', children };
}

/** PUT a manifest or index under `reference` (a tag or its digest); the registry's digest is checked. */
export async function putManifest(client: RegistryClient, repository: string, reference: string, desc: Descriptor, bytes: Buffer, scopes: readonly string[]): Promise<void> {
  const what = `manifest ${desc.digest} to ${client.registry}/${repository}:${reference}`.replace(/:(sha256:)/, '@$1');
  const res = await client.request('PUT', manifestPath(repository, reference), {
    scopes,
    headers: { 'Content-Type': desc.mediaType },
    body: () => bytes,
  });
  if (res.status !== 201 && res.status !== 200) throw await registryError(res, `push ${what}`);
  await drain(res);
  const header = res.headers['docker-content-digest'];
  if (typeof header === 'string' && header.startsWith('sha256:') && header !== desc.digest) {
    throw new UserError(`push ${what}: the registry stored it as ${header}`, 'EREGISTRY');
  }
}

function contentType(header: string | undefined): string | undefined {
  return header?.split(';')[0]?.trim() || undefined;
}
