// Blobs on a registry: HEAD (does it have it?), GET streamed and verified into a layout's store
// (following redirects to storage), and uploads: cross-repository mount, monolithic PUT, chunked PATCH.
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import type { Digest } from '../digest.js';
import type { Descriptor } from '../descriptor.js';
import { UserError } from '../errors.js';
import { VerifyingStream, type BlobStore } from '../store.js';
import { registryError, type RegistryClient } from './client.js';
import { drain, NetworkError, type HttpResponse } from './http.js';

const MAX_REDIRECTS = 5;
/** Larger blobs go up in PATCH chunks of this size: a proxy's body limit is likelier met, and progress is acknowledged. */
export const DEFAULT_CHUNK_SIZE = 256 * 1024 * 1024;

/** Where the bytes of a blob to push come from: the whole blob verified, or a byte range of it. */
export interface BlobSource {
  desc: Descriptor;
  open(): Readable;
  openRange(start: number, endInclusive: number): Readable;
}

export interface UploadOptions {
  /** Blobs larger than this go up in PATCH chunks of this size, smaller ones in one PUT; 0: always one PUT. */
  chunkSize?: number;
  /** Repositories of the same registry to mount the blob from before uploading it. */
  mountFrom?: readonly string[];
}

export type UploadOutcome = 'exists' | 'mounted' | 'pushed';

function blobWhat(client: RegistryClient, repository: string, digest: Digest): string {
  return `blob ${digest} at ${client.registry}/${repository}`;
}

/** Whether the repository has the blob (HEAD /v2/<name>/blobs/<digest>). */
export async function hasBlob(client: RegistryClient, repository: string, digest: Digest, scopes: readonly string[]): Promise<boolean> {
  const res = await client.request('HEAD', `/v2/${repository}/blobs/${digest}`, { scopes });
  await drain(res);
  if (res.status === 200) return true;
  if (res.status === 404) return false;
  throw await registryError(res, blobWhat(client, repository, digest));
}

/** GET a blob into `store` (a staging store), verified against its digest and size while it streams. */
export async function fetchBlob(client: RegistryClient, repository: string, desc: Descriptor, store: BlobStore, scopes: readonly string[]): Promise<void> {
  const what = blobWhat(client, repository, desc.digest);
  await named(what, client.withRetries(async () => {
    let url = client.url(`/v2/${repository}/blobs/${desc.digest}`);
    let res = await client.request('GET', url, { scopes, retry: false });
    for (let n = 0; [301, 302, 303, 307, 308].includes(res.status) && typeof res.headers.location === 'string'; n++) {
      if (n === MAX_REDIRECTS) throw new UserError(`${what}: more than ${MAX_REDIRECTS} redirects`, 'EREGISTRY');
      url = new URL(res.headers.location, url);
      await drain(res);
      res = await client.request('GET', url, { scopes, retry: false });
    }
    if (res.status !== 200) throw await registryError(res, what);
    await store.put([res.body, new VerifyingStream(desc.digest, desc.size, what)], { mediaType: desc.mediaType, expected: { digest: desc.digest, size: desc.size } });
  }));
}

/** A dropped connection's error, which names only a URL, prefixed with the blob it was for. */
async function named<T>(what: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof NetworkError) throw new NetworkError(`${what}: ${err.message}`, err.cause);
    throw err;
  }
}

/**
 * Put a blob into the repository unless it is there: HEAD, then a mount from a sibling repository,
 * then an upload (one PUT, or PATCH chunks then PUT), retried from a fresh session when it fails.
 */
export async function pushBlob(client: RegistryClient, repository: string, src: BlobSource, scopes: readonly string[], opts: UploadOptions = {}): Promise<UploadOutcome> {
  const { digest } = src.desc;
  const what = `push ${blobWhat(client, repository, digest)}`;
  if (await hasBlob(client, repository, digest, scopes)) return 'exists';
  let session: URL | undefined;
  for (const from of opts.mountFrom ?? []) {
    if (from === repository) continue;
    const res = await client.request('POST', `/v2/${repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`, {
      scopes: [...scopes, `repository:${from}:pull`],
      headers: { 'Content-Length': '0' },
    });
    if (res.status === 201) {
      await drain(res);
      return 'mounted';
    }
    if (res.status === 202) {
      // The registry could not mount (it lacks the blob there) and opened an upload session instead.
      session = location(client, res, what);
      await drain(res);
      break;
    }
    // Mounting is an optimisation: a refusal (no access to that repository, no support) is not an error.
    await drain(res);
  }
  await named(what, client.withRetries(async () => {
    const start = session ?? (await startUpload(client, repository, scopes, what));
    session = undefined;
    const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (chunkSize > 0 && src.desc.size > chunkSize) await uploadChunks(client, start, src, chunkSize, scopes, what);
    else await uploadWhole(client, start, src, scopes, what);
  }));
  return 'pushed';
}

async function startUpload(client: RegistryClient, repository: string, scopes: readonly string[], what: string): Promise<URL> {
  const res = await client.request('POST', `/v2/${repository}/blobs/uploads/`, { scopes, headers: { 'Content-Length': '0' }, retry: false });
  if (res.status !== 202) throw await registryError(res, `${what} (start upload)`);
  await drain(res);
  return location(client, res, what);
}

function location(client: RegistryClient, res: HttpResponse, what: string): URL {
  const loc = res.headers.location;
  if (typeof loc !== 'string' || loc === '') throw new UserError(`${what}: the registry opened an upload without a Location`, 'EREGISTRY');
  return new URL(loc, client.url('/'));
}

function withDigest(url: URL, digest: Digest): URL {
  const u = new URL(url);
  u.searchParams.set('digest', digest);
  return u;
}

async function uploadWhole(client: RegistryClient, session: URL, src: BlobSource, scopes: readonly string[], what: string): Promise<void> {
  const res = await client.request('PUT', withDigest(session, src.desc.digest), {
    scopes,
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(src.desc.size) },
    body: () => src.open(),
    retry: false,
  });
  if (res.status !== 201) throw await registryError(res, what);
  await drain(res);
}

/** PATCH the blob in chunks (each read from disk as it goes), hashing them to check what we sent. */
async function uploadChunks(client: RegistryClient, session: URL, src: BlobSource, chunkSize: number, scopes: readonly string[], what: string): Promise<void> {
  const hash = createHash('sha256');
  let url = session;
  for (let start = 0; start < src.desc.size; start += chunkSize) {
    const end = Math.min(start + chunkSize, src.desc.size) - 1;
    const res = await client.request('PATCH', url, {
      scopes,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(end - start + 1), 'Content-Range': `${start}-${end}` },
      body: () => src.openRange(start, end).pipe(hashing(hash)),
      retry: false,
    });
    if (res.status !== 202) throw await registryError(res, `${what} (chunk ${start}-${end})`);
    await drain(res);
    url = location(client, res, what);
  }
  const sent = `sha256:${hash.digest('hex')}`;
  if (sent !== src.desc.digest) throw new UserError(`${what}: the layout's file hashes to ${sent}; not finished`, 'EDIGEST');
  const res = await client.request('PUT', withDigest(url, src.desc.digest), { scopes, headers: { 'Content-Length': '0' }, body: () => Buffer.alloc(0), retry: false });
  if (res.status !== 201) throw await registryError(res, what);
  await drain(res);
}

function hashing(hash: ReturnType<typeof createHash>): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
}
