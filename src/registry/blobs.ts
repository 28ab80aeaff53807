// Blobs on a registry: HEAD (does it have it?), GET streamed and verified into a layout's store
// (following redirects to storage), and uploads: cross-repository mount, monolithic PUT, chunked PATCH.
import { Readable } from 'node:stream';
import type { Descriptor } from '../descriptor.js';
import { UserError } from '../errors.js';
import { sha256, type Digest } from '../digest.js';
import { VerifyingStream } from '../store.js';
import { isRetryable, registryError, type RegistryClient } from './client.js';
import { drain, NetworkError, readBody, type HttpResponse } from './http.js';

const MAX_REDIRECTS = 5;
/** Larger blobs go up in PATCH chunks of this size: a proxy's body limit is likelier met, and progress is acknowledged. */
export const DEFAULT_CHUNK_SIZE = 256 * 1024 * 1024;

/** Where the bytes of a blob to push come from: a stream of the whole blob, verified at its end, opened once per attempt. */
export interface BlobSource {
  desc: Descriptor;
  open(): Readable;
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

/**
 * GET a blob (following redirects to storage, which get no credentials), from byte `from` on when
 * resuming: the answer is 200 (whole) or 206 (the range), any other status an error.
 */
export async function getBlob(client: RegistryClient, repository: string, digest: Digest, scopes: readonly string[], from = 0): Promise<HttpResponse> {
  const what = blobWhat(client, repository, digest);
  const headers: Record<string, string> = from > 0 ? { Range: `bytes=${from}-` } : {};
  let url = client.url(`/v2/${repository}/blobs/${digest}`);
  let res = await client.request('GET', url, { scopes, headers, retry: false });
  for (let n = 0; [301, 302, 303, 307, 308].includes(res.status) && typeof res.headers.location === 'string'; n++) {
    if (n === MAX_REDIRECTS) throw new UserError(`${what}: more than ${MAX_REDIRECTS} redirects`, 'EREGISTRY');
    url = new URL(res.headers.location, url);
    await drain(res);
    res = await client.request('GET', url, { scopes, headers, retry: false });
  }
  if (res.status !== 200 && !(res.status === 206 && from > 0)) throw await registryError(res, what);
  return res;
}

/** A small blob (a config) read whole, bounded, verified against its digest and size; retried. */
export async function readBlob(client: RegistryClient, repository: string, desc: Descriptor, scopes: readonly string[], limit: number): Promise<Buffer> {
  const what = blobWhat(client, repository, desc.digest);
  return named(what, client.withRetries(async () => {
    const res = await getBlob(client, repository, desc.digest, scopes);
    const bytes = await readBody(res, limit, what);
    const got = sha256(bytes);
    if (got !== desc.digest) throw new UserError(`${what}: content hashes to ${got}`, 'EDIGEST');
    if (bytes.length !== desc.size) throw new UserError(`${what}: ${bytes.length} bytes, its descriptor says ${desc.size}`, 'EDIGEST');
    return bytes;
  }));
}

/**
 * A blob's bytes as one stream, verified against digest and size at its end. The request starts on
 * the first read; a connection lost midway is resumed with a Range request from the byte it
 * stopped at (as containers/image does), up to the client's retries. `what` names it in errors.
 */
export function openBlob(client: RegistryClient, repository: string, desc: Descriptor, scopes: readonly string[]): Readable {
  const what = blobWhat(client, repository, desc.digest);
  const out = new VerifyingStream(desc.digest, desc.size, what);
  out.startOnRead(() => void feedBlob(client, repository, desc, scopes, out, what));
  return out;
}

async function feedBlob(client: RegistryClient, repository: string, desc: Descriptor, scopes: readonly string[], out: VerifyingStream, what: string): Promise<void> {
  const passed = { bytes: 0 };
  for (let attempt = 0; ; attempt++) {
    let res: HttpResponse | undefined;
    try {
      res = await getBlob(client, repository, desc.digest, scopes, passed.bytes);
      // A registry that ignores Range answers 200 with the whole blob: skip what was already passed on.
      await relay(res, out, res.status === 200 ? passed.bytes : 0, passed);
      if (!out.destroyed) out.end();
      return;
    } catch (err) {
      res?.body.destroy();
      if (out.destroyed) return;
      const failure = bodyError(err, res, client.url(`/v2/${repository}/blobs/${desc.digest}`));
      if (attempt < client.retries && isRetryable(failure)) {
        await client.pause(attempt);
        continue;
      }
      out.destroy(failure instanceof NetworkError ? new NetworkError(`${what}: ${failure.message}`, failure.cause) : (failure as Error));
      return;
    }
  }
}

/**
 * Pass a response body on to `out` (piped, with backpressure), dropping its first `skip` bytes and
 * counting in `passed` what went on; resolves when the body ends or `out` is gone, rejects when the
 * body fails or stops short.
 */
function relay(res: HttpResponse, out: VerifyingStream, skip: number, passed: { bytes: number }): Promise<void> {
  const body = res.body;
  return new Promise((resolve, reject) => {
    const finish = (err?: unknown): void => {
      body.off('data', onData).off('end', onEnd).off('error', finish);
      out.off('drain', onDrain).off('close', onClose);
      if (err !== undefined) reject(err);
      else resolve();
    };
    const onData = (chunk: Buffer): void => {
      let data = chunk;
      if (skip > 0) {
        const n = Math.min(skip, data.length);
        skip -= n;
        data = data.subarray(n);
        if (data.length === 0) return;
      }
      passed.bytes += data.length;
      if (!out.write(data)) body.pause();
    };
    const onDrain = (): void => void body.resume();
    const onEnd = (): void => finish(body.complete ? undefined : Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    const onClose = (): void => {
      body.destroy();
      finish();
    };
    body.on('data', onData).on('end', onEnd).on('error', finish);
    out.on('drain', onDrain).on('close', onClose);
  });
}

/** A connection lost while the body streams is a network failure like any other (retried). */
function bodyError(err: unknown, res: HttpResponse | undefined, url: URL): unknown {
  if (err instanceof UserError || res === undefined) return err;
  const reason = (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? 'connection reset by the registry' : (err as Error).message;
  return new NetworkError(`GET ${url.origin}${url.pathname}: ${reason}`, err);
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

/**
 * PATCH the blob in chunks cut from one stream of it, then PUT to finish: the stream is read to its
 * end first, so bytes that do not match the digest (the verified stream fails) never complete an upload.
 * A chunk that fails on the way is resumed, not restarted: the session's status (GET, its Range)
 * says how much the registry holds, and the upload goes on from there (distribution-spec).
 */
async function uploadChunks(client: RegistryClient, session: URL, src: BlobSource, chunkSize: number, scopes: readonly string[], what: string): Promise<void> {
  const size = src.desc.size;
  let url = session;
  let offset = 0;
  for (let resumes = 0; ; resumes++) {
    const data = src.open();
    const reader = new ByteReader(data, what);
    try {
      await reader.skip(offset);
      for (let start = offset; start < size; start += chunkSize) {
        const end = Math.min(start + chunkSize, size) - 1;
        const body = Readable.from(reader.take(end - start + 1), { objectMode: false });
        const res = await client.request('PATCH', url, {
          scopes,
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(end - start + 1), 'Content-Range': `${start}-${end}` },
          body: () => body,
          retry: false,
        });
        if (res.status !== 202) throw await registryError(res, `${what} (chunk ${start}-${end})`);
        await drain(res);
        url = location(client, res, what);
        offset = end + 1;
      }
      await reader.end();
      break;
    } catch (err) {
      if (resumes >= client.retries || !isRetryable(err)) throw err;
      await client.pause(resumes);
      const held = await uploadStatus(client, url, scopes).catch(() => undefined);
      // Nothing the registry confirms holding (or no status at all): a fresh session is the caller's retry.
      if (held === undefined) throw err;
      ({ url, offset } = held);
    } finally {
      data.destroy();
    }
  }
  const res = await client.request('PUT', withDigest(url, src.desc.digest), { scopes, headers: { 'Content-Length': '0' }, body: () => Buffer.alloc(0), retry: false });
  if (res.status !== 201) throw await registryError(res, what);
  await drain(res);
}

/**
 * How many bytes an upload session holds: GET answers 204 with `Range: 0-LAST`. "0-0" is left
 * undefined: the distribution registry writes it for an empty session and for one byte alike.
 */
async function uploadStatus(client: RegistryClient, url: URL, scopes: readonly string[]): Promise<{ url: URL; offset: number } | undefined> {
  const res = await client.request('GET', url, { scopes });
  await drain(res);
  const range = /^0-(\d+)$/.exec(String(res.headers.range ?? ''));
  if (res.status !== 204 || !range || Number(range[1]) === 0) return undefined;
  const loc = res.headers.location;
  return { url: typeof loc === 'string' && loc !== '' ? new URL(loc, url) : url, offset: Number(range[1]) + 1 };
}

/** Reads a stream in pieces of a given length, each piece its own iterable. */
class ByteReader {
  private readonly it: AsyncIterator<Buffer>;
  private rest: Buffer = Buffer.alloc(0);

  constructor(stream: Readable, private readonly what: string) {
    this.it = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  async *take(n: number): AsyncGenerator<Buffer> {
    while (n > 0) {
      if (this.rest.length === 0) {
        const next = await this.it.next();
        if (next.done) throw new UserError(`${this.what}: the blob ended ${n} bytes early`, 'EDIGEST');
        this.rest = next.value;
      }
      const part = this.rest.subarray(0, n);
      this.rest = this.rest.subarray(part.length);
      n -= part.length;
      yield part;
    }
  }

  /** Pass over the first `n` bytes (they were sent before a resumed upload). */
  async skip(n: number): Promise<void> {
    for await (const _ of this.take(n)) {
      // Read and dropped; the stream's verifier still hashes them.
    }
  }

  /** Read to the end: a verified stream fails here when its bytes do not match its digest. */
  async end(): Promise<void> {
    const next = this.rest.length > 0 ? { done: false } : await this.it.next();
    if (!next.done) throw new UserError(`${this.what}: more bytes than its descriptor gives`, 'EDIGEST');
  }
}
