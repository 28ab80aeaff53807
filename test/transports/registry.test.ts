// The registry transport against a small in-process registry: a blob stream that starts only when
// read, resumes a cut download with a Range request (or skips what a Range-deaf server resends),
// and fails on bytes that do not match; documents read by digest, checked, asked for once.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { MediaType } from '../../src/descriptor.js';
import { sha256 } from '../../src/digest.js';
import { canonicalJson } from '../../src/json.js';
import { RegistrySource } from '../../src/transports/registry.js';
import { readWhole } from '../../src/streams.js';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

async function serve(t: TestContext, handler: Handler): Promise<string> {
  const server = http.createServer((req, res) => (req.url === '/v2/' ? res.writeHead(200).end('{}') : handler(req, res)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const blob = randomBytes(256 * 1024);
const desc = { mediaType: MediaType.layerGzip, digest: sha256(blob), size: blob.length };

/** Serves `blob`: the first answer is cut after `cutAt` bytes; later ones honour Range unless `rangeDeaf`. */
function cuttingBlobServer(cutAt: number, rangeDeaf: boolean, ranges: (string | undefined)[]): Handler {
  return (req, res) => {
    ranges.push(req.headers.range);
    if (ranges.length === 1) {
      res.writeHead(200, { 'Content-Length': String(blob.length) });
      res.write(blob.subarray(0, cutAt), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (!m || rangeDeaf) return void res.writeHead(200, { 'Content-Length': String(blob.length) }).end(blob);
    const from = Number(m[1]);
    res.writeHead(206, { 'Content-Length': String(blob.length - from), 'Content-Range': `bytes ${from}-${blob.length - 1}/${blob.length}` }).end(blob.subarray(from));
  };
}

test('a blob stream asks nothing until read, and a download cut midway resumes from the byte it reached', async (t) => {
  const ranges: (string | undefined)[] = [];
  const host = await serve(t, cuttingBlobServer(100_000, false, ranges));
  const source = await RegistrySource.open(`docker://${host}/a/b:v1`, { backoffMs: 5 });
  t.after(() => source.close());
  const stream = source.open(desc);
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(ranges, [], 'opening is not fetching');
  const got = await readWhole(stream, blob.length, 'blob');
  assert.ok(got.equals(blob));
  assert.equal(ranges.length, 2);
  assert.equal(ranges[0], undefined);
  const from = Number(/^bytes=(\d+)-$/.exec(ranges[1] ?? '')?.[1]);
  assert.ok(from >= 100_000 - 65536 && from <= 100_000, `resumed near the cut, not from 0: ${ranges[1]}`);
});

test('a server that ignores Range resends the whole blob: what was passed on already is skipped', async (t) => {
  const ranges: (string | undefined)[] = [];
  const host = await serve(t, cuttingBlobServer(70_000, true, ranges));
  const source = await RegistrySource.open(`docker://${host}/a/b:v1`, { backoffMs: 5 });
  t.after(() => source.close());
  const got = await readWhole(source.open(desc), blob.length, 'blob');
  assert.ok(got.equals(blob));
  assert.equal(ranges.length, 2);
  assert.match(ranges[1] ?? '', /^bytes=\d+-$/);
});

test('bytes that do not match the digest fail the stream, naming the blob; not retried', async (t) => {
  let served = 0;
  const host = await serve(t, (_req, res) => {
    served++;
    res.writeHead(200).end(Buffer.alloc(blob.length));
  });
  const source = await RegistrySource.open(`docker://${host}/a/b:v1`, { backoffMs: 5 });
  t.after(() => source.close());
  await assert.rejects(readWhole(source.open(desc), blob.length, 'blob'), (err: Error & { code?: string }) => {
    assert.equal(err.message, `blob ${desc.digest} at ${host}/a/b: content hashes to ${sha256(Buffer.alloc(blob.length))}`);
    assert.equal(err.code, 'EDIGEST');
    return true;
  });
  assert.equal(served, 1);
});

test('lookup names the tagged manifest; read answers it from what lookup fetched, and checks what it fetches', async (t) => {
  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
  const manifest = canonicalJson({ schemaVersion: 2, mediaType: MediaType.manifest, config: { mediaType: MediaType.config, digest: sha256(config), size: config.length }, layers: [] });
  const asked: string[] = [];
  const host = await serve(t, (req, res) => {
    asked.push(`${req.method} ${req.url}`);
    if (req.url === '/v2/a/b/manifests/v1') return void res.writeHead(200, { 'Content-Type': MediaType.manifest }).end(manifest);
    if (req.url === `/v2/a/b/blobs/${sha256(config)}`) return void res.writeHead(200).end(config);
    res.writeHead(200).end('{"not":"it"}');
  });
  const source = await RegistrySource.open(`docker://${host}/a/b:v1`, { backoffMs: 5 });
  t.after(() => source.close());
  assert.equal(source.name, `docker://${host}/a/b:v1`);
  assert.deepEqual(await source.refs(), [`${host}/a/b:v1`]);
  const [top] = await source.lookup(undefined);
  assert.deepEqual(top, { mediaType: MediaType.manifest, digest: sha256(manifest), size: manifest.length });
  assert.ok((await source.read(top!)).equals(manifest));
  assert.ok((await source.read({ mediaType: MediaType.config, digest: sha256(config), size: config.length })).equals(config));
  assert.deepEqual(asked, ['GET /v2/a/b/manifests/v1', `GET /v2/a/b/blobs/${sha256(config)}`], 'the manifest once');
  const other = Buffer.from('{"x":1}');
  await assert.rejects(source.read({ mediaType: MediaType.manifest, digest: sha256(other), size: other.length }), /the registry sent content that hashes to/);
  await assert.rejects(source.read({ mediaType: MediaType.config, digest: sha256(other), size: other.length }), /content hashes to/);
});
