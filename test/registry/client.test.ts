// The registry client against a small in-process server: HTTP for loopback, retries on 5xx, a fresh
// token after a 401, timeouts, the distribution error JSON; and a pull that refuses bytes that do
// not match their digest, leaving the layout as it was.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sha256 } from '../../src/digest.js';
import { MediaType } from '../../src/descriptor.js';
import { canonicalJson } from '../../src/json.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pullImage } from '../../src/registry/pull.js';
import { manifestReference, parseRegistryRef, plainHttpAllowed, shownName } from '../../src/registry/reference.js';
import { mapLimit } from '../../src/registry/limit.js';
import { snapshot, tempDir } from '../helpers.js';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

async function serve(t: TestContext, handler: Handler): Promise<string> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('references: docker.io normalised, tag or digest, which hosts may be plain HTTP', () => {
  const hub = parseRegistryRef('docker://alpine', 'src');
  assert.deepEqual(hub, { registry: 'docker.io', host: 'registry-1.docker.io', repository: 'library/alpine' });
  assert.equal(manifestReference(hub), 'latest');
  const d = `sha256:${'a'.repeat(64)}`;
  const local = parseRegistryRef(`docker://localhost:5000/team/app:v1@${d}`, 'src');
  assert.deepEqual(local, { registry: 'localhost:5000', host: 'localhost:5000', repository: 'team/app', tag: 'v1', digest: d });
  assert.equal(manifestReference(local), d);
  assert.equal(shownName(local), `localhost:5000/team/app:v1@${d}`);
  assert.throws(() => parseRegistryRef('docker://x/Upper', 'dest'), /dest: "x\/Upper": the repository name "x\/Upper" must be lowercase/);
  assert.throws(() => parseRegistryRef('docker:///abs/path', 'dest'), /docker:\/\/ is followed by a name, not a path/);
  for (const h of ['localhost', 'localhost:5000', '127.0.0.1:1', '127.9.9.9', '[::1]:5000']) assert.ok(plainHttpAllowed(h, true), h);
  for (const h of ['ghcr.io', 'registry.example:5000', '10.0.0.1:5000', 'localhost.example']) assert.ok(!plainHttpAllowed(h, true), h);
  assert.ok(plainHttpAllowed('ghcr.io', false));
});

test('mapLimit keeps order, bounds concurrency and rejects with the first failure', async () => {
  let running = 0;
  let peak = 0;
  const out = await mapLimit([5, 1, 4, 2, 3], 2, async (n) => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, n));
    running--;
    return n * 10;
  });
  assert.deepEqual(out, [50, 10, 40, 20, 30]);
  assert.equal(peak, 2);
  await assert.rejects(mapLimit([1, 2, 3], 3, async (n) => { if (n === 2) throw new Error('two'); return n; }), /two/);
});

test('a loopback registry in plain HTTP; 503s retried; the error JSON in the message', async (t) => {
  let manifestCalls = 0;
  const host = await serve(t, (req, res) => {
    if (req.url === '/v2/') return void res.writeHead(200).end('{}');
    manifestCalls++;
    if (manifestCalls < 3) return void res.writeHead(503).end();
    res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":"tag x"}]}');
  });
  const out = await tempDir(t);
  await assert.rejects(pullImage({ ref: `docker://${host}/a/b:x`, layout: `${out}/l`, backoffMs: 5 }), (err: Error & { code?: string }) => {
    assert.equal(err.message, `manifest ${host}/a/b:x: the registry answered HTTP 404: MANIFEST_UNKNOWN: manifest unknown (tag x)`);
    assert.equal(err.code, 'ENOTFOUND');
    return true;
  });
  assert.equal(manifestCalls, 3, 'two 503s, then the answer');
});

test('a 401 on a request brings a token for its scope, fetched once', async (t) => {
  const tokens: string[] = [];
  const host = await serve(t, (req, res) => {
    const url = new URL(req.url!, 'http://x');
    const challenge = { 'WWW-Authenticate': `Bearer realm="http://${req.headers.host}/token",service="svc"` };
    if (url.pathname === '/token') {
      tokens.push(url.searchParams.getAll('scope').join(' '));
      return void res.writeHead(200).end(JSON.stringify({ token: `tok-${tokens.length}` }));
    }
    if (req.headers.authorization !== 'Bearer tok-1' && url.pathname !== '/v2/') return void res.writeHead(401, challenge).end();
    if (url.pathname === '/v2/') return void res.writeHead(401, challenge).end();
    res.writeHead(200, { 'Content-Type': MediaType.manifest }).end('nope');
  });
  const client = await RegistryClient.connect(parseRegistryRef(`${host}/a/b`, 'x'), {});
  t.after(() => client.close());
  for (let i = 0; i < 3; i++) {
    const res = await client.request('GET', '/v2/a/b/manifests/x', { scopes: ['repository:a/b:pull'] });
    assert.equal(res.status, 200);
    res.body.resume();
  }
  assert.deepEqual(tokens, ['repository:a/b:pull']);
});

test('a silent registry: the timeout names the request', async (t) => {
  const host = await serve(t, (req, res) => {
    if (req.url === '/v2/') return void res.writeHead(200).end('{}');
    // never answers
  });
  const client = await RegistryClient.connect(parseRegistryRef(`${host}/a/b`, 'x'), { timeoutMs: 200, retries: 1, backoffMs: 5 });
  t.after(() => client.close());
  await assert.rejects(client.request('GET', '/v2/a/b/tags/list', { scopes: [] }), (err: Error & { code?: string }) => {
    assert.equal(err.message, `GET http://${host}/v2/a/b/tags/list: the registry did not answer for 0.2s (timeout; raise it with --timeout)`);
    assert.equal(err.code, 'ENETWORK');
    return true;
  });
});

test('a blob whose bytes do not match its digest is refused, and the layout stays as it was', async (t) => {
  const layer = Buffer.from('the real layer');
  const config = Buffer.from(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["${sha256(layer)}"]}}`);
  const manifest = canonicalJson({
    schemaVersion: 2,
    mediaType: MediaType.manifest,
    config: { mediaType: MediaType.config, digest: sha256(config), size: config.length },
    layers: [{ mediaType: MediaType.layerGzip, digest: sha256(layer), size: layer.length }],
  });
  let served = 0;
  const host = await serve(t, (req, res) => {
    if (req.url === '/v2/') return void res.writeHead(200).end('{}');
    if (req.url?.includes('/manifests/')) return void res.writeHead(200, { 'Content-Type': MediaType.manifest }).end(manifest);
    if (req.url?.endsWith(sha256(config))) return void res.writeHead(200).end(config);
    served++;
    res.writeHead(200).end(Buffer.from('the fake layer'));
  });
  const dir = await tempDir(t);
  const before = await snapshot(dir);
  await assert.rejects(pullImage({ ref: `docker://${host}/a/b:v1`, layout: dir, backoffMs: 5 }), (err: Error & { code?: string }) => {
    assert.equal(err.message, `blob ${sha256(layer)} at ${host}/a/b: content hashes to ${sha256(Buffer.from('the fake layer'))}`);
    assert.equal(err.code, 'EDIGEST');
    return true;
  });
  assert.equal(served, 1, 'a digest mismatch is not retried');
  assert.deepEqual(await snapshot(dir), before, 'the empty directory is empty again');
});

test('a blob redirected to storage elsewhere is fetched there, without our credentials', async (t) => {
  const layer = Buffer.from('layer bytes');
  const config = Buffer.from(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["${sha256(layer)}"]}}`);
  const manifest = canonicalJson({
    schemaVersion: 2,
    mediaType: MediaType.manifest,
    config: { mediaType: MediaType.config, digest: sha256(config), size: config.length },
    layers: [{ mediaType: MediaType.layerGzip, digest: sha256(layer), size: layer.length }],
  });
  const storageAuth: (string | undefined)[] = [];
  const storage = await serve(t, (req, res) => {
    storageAuth.push(req.headers.authorization);
    res.writeHead(200).end(req.url === '/layer' ? layer : config);
  });
  const host = await serve(t, (req, res) => {
    if (req.headers.authorization !== `Basic ${Buffer.from('u:p').toString('base64')}`) return void res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="r"' }).end();
    if (req.url === '/v2/') return void res.writeHead(200).end('{}');
    if (req.url?.includes('/manifests/')) return void res.writeHead(200, { 'Content-Type': MediaType.manifest }).end(manifest);
    res.writeHead(307, { Location: `http://${storage}/${req.url?.endsWith(sha256(layer)) ? 'layer' : 'config'}` }).end();
  });
  const dir = await tempDir(t);
  const got = await pullImage({ ref: `docker://${host}/a/b:v1`, layout: dir, creds: 'u:p' });
  assert.deepEqual(got.blobs, { fetched: 2, present: 0 });
  assert.deepEqual(storageAuth, [undefined, undefined]);
});

test('an index without the platform asked for: the platforms it has are named, nothing written', async (t) => {
  const index = canonicalJson({
    schemaVersion: 2,
    mediaType: MediaType.index,
    manifests: [
      { mediaType: MediaType.manifest, digest: sha256('a'), size: 1, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { mediaType: MediaType.manifest, digest: sha256('b'), size: 1, platform: { os: 'linux', architecture: 's390x' } },
    ],
  });
  const host = await serve(t, (req, res) => {
    if (req.url === '/v2/') return void res.writeHead(200).end('{}');
    res.writeHead(200, { 'Content-Type': MediaType.index }).end(index);
  });
  const dir = await tempDir(t);
  await assert.rejects(pullImage({ ref: `docker://${host}/a/b:v1`, layout: dir, platform: { os: 'linux', architecture: 'amd64' } }), (err: Error & { code?: string }) => {
    assert.equal(err.message, `${host}/a/b:v1: no image for linux/amd64 (it has linux/arm64/v8, linux/s390x); choose one with --platform`);
    assert.equal(err.code, 'ENOTFOUND');
    return true;
  });
  assert.deepEqual(await snapshot(dir), {});
});
