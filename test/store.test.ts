import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { spawn } from 'node:child_process';
import { BlobStore, removeStaleTemps, tempPath } from '../src/store.js';
import { Hasher, sha256, type Digest } from '../src/digest.js';
import { UserError } from '../src/errors.js';
import { tempDir } from './helpers.js';

const MT = 'application/octet-stream';

async function drain(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test('put stores bytes under their digest, hashed while streaming', async (t) => {
  const root = await tempDir(t);
  const store = new BlobStore(root);
  const data = Buffer.from('hello blob');
  const d = await store.put([Readable.from([data.subarray(0, 3), data.subarray(3)])], { mediaType: MT });
  assert.equal(d.digest, sha256(data));
  assert.equal(d.size, data.length);
  assert.equal(d.mediaType, MT);
  const file = path.join(root, 'blobs', 'sha256', d.digest.slice(7));
  assert.deepEqual(await fs.readFile(file), data);
  assert.equal((await fs.stat(file)).mode & 0o777, 0o644);
  assert.deepEqual(await drain(store.open(d)), data);
  // No temporary file is left anywhere.
  assert.deepEqual((await fs.readdir(root)).sort(), ['blobs']);
});

test('put with hashedBy takes the digest from that last stage, and refuses one that is not last', async (t) => {
  const root = await tempDir(t);
  const store = new BlobStore(root);
  const data = Buffer.from('hashed once');
  const hasher = new Hasher();
  const d = await store.put([Readable.from([data]), hasher], { mediaType: MT, hashedBy: hasher });
  assert.equal(d.digest, sha256(data));
  assert.equal(d.size, data.length);
  assert.deepEqual(await drain(store.open(d)), data);
  const early = new Hasher();
  await assert.rejects(store.put([Readable.from([data]), early, new Hasher()], { mediaType: MT, hashedBy: early }), /hashedBy must be the last stage/);
  // An expected digest is still checked against it.
  const wrong = sha256('other');
  const h = new Hasher();
  await assert.rejects(store.put([Readable.from([data]), h], { mediaType: MT, hashedBy: h, expected: { digest: wrong } }), /hashes to/);
});

test('put of a blob that exists does not write it again', async (t) => {
  const root = await tempDir(t);
  const store = new BlobStore(root);
  const data = Buffer.from('same');
  const d1 = await store.putBytes(data, { mediaType: MT });
  const file = store.blobPath(d1.digest);
  const before = (await fs.stat(file)).mtimeMs;
  await new Promise((r) => setTimeout(r, 20));
  const d2 = await store.putBytes(data, { mediaType: MT });
  assert.deepEqual(d1, d2);
  assert.equal((await fs.stat(file)).mtimeMs, before);
});

test('an expected digest is checked, never trusted: a mismatch stores nothing', async (t) => {
  const root = await tempDir(t);
  const store = new BlobStore(root);
  const wrong = sha256('something else');
  await assert.rejects(
    store.put([Readable.from([Buffer.from('actual')])], { mediaType: MT, expected: { digest: wrong } }),
    (err: unknown) => err instanceof UserError && err.code === 'EDIGEST' && /hashes to sha256:/.test(err.message),
  );
  assert.deepEqual(await store.list(), []);
  assert.deepEqual(await fs.readdir(root), ['blobs']);
});

test('a source that fails midway leaves no blob and no temp file', async (t) => {
  const root = await tempDir(t);
  const store = new BlobStore(root);
  async function* failing() {
    yield Buffer.alloc(100_000, 1);
    yield Buffer.alloc(100_000, 2);
    throw new Error('disk on fire');
  }
  await assert.rejects(store.put([Readable.from(failing())], { mediaType: MT }), /disk on fire/);
  assert.deepEqual(await store.list(), []);
  assert.deepEqual(await fs.readdir(root), ['blobs']);
  assert.deepEqual(await fs.readdir(path.join(root, 'blobs', 'sha256')), []);
});

test('reads are verified: a corrupted blob or a wrong size fails at the end of the stream', async (t) => {
  const root = await tempDir(t);
  const store = new BlobStore(root);
  const d = await store.putBytes(Buffer.from('pristine content'), { mediaType: MT });
  await fs.writeFile(store.blobPath(d.digest), 'tampered content');
  await assert.rejects(drain(store.open(d)), (err: unknown) => err instanceof UserError && /content hashes to/.test(err.message));
  await fs.writeFile(store.blobPath(d.digest), 'pristine content plus trailing bytes');
  await assert.rejects(drain(store.open(d)), /more than the 16 bytes/);
  await fs.writeFile(store.blobPath(d.digest), 'pristine');
  await assert.rejects(drain(store.open(d)), /8 bytes, its descriptor says 16/);
  await assert.rejects(drain(store.open({ digest: sha256('absent'), size: 1 })), /is missing/);
});

test('read refuses a document larger than the limit before reading it', async (t) => {
  const root = await tempDir(t);
  const store = new BlobStore(root);
  const d = await store.putBytes(Buffer.alloc(2048), { mediaType: MT });
  await assert.rejects(store.read(d, 1024), /more than the 1024 allowed/);
  assert.equal((await store.read(d, 4096)).length, 2048);
});

test('staged writes are invisible in blobs/sha256 until published, and discard leaves nothing', async (t) => {
  const root = await tempDir(t);
  const store = new BlobStore(root);
  const staged = await store.stage();
  const d = await staged.putBytes(Buffer.from('staged'), { mediaType: MT });
  assert.equal(await staged.has(d.digest, d.size), true);
  assert.equal(await store.has(d.digest), false);
  assert.deepEqual(await drain(staged.open(d)), Buffer.from('staged'));
  await staged.publish();
  assert.equal(await store.has(d.digest, d.size), true);
  assert.deepEqual((await fs.readdir(root)).sort(), ['blobs']);

  const again = await store.stage();
  const e = await again.putBytes(Buffer.from('dropped'), { mediaType: MT });
  await again.discard();
  assert.equal(await store.has(e.digest), false);
  assert.deepEqual((await fs.readdir(root)).sort(), ['blobs']);
});

test('publish(keep) moves only the blobs named; the others go with the staging folder', async (t) => {
  const root = await tempDir(t);
  const store = new BlobStore(root);
  const staged = await store.stage();
  const kept = await staged.putBytes(Buffer.from('kept'), { mediaType: MT });
  const dropped = await staged.putBytes(Buffer.from('dropped'), { mediaType: MT });
  await staged.publish(new Set([kept.digest]));
  assert.equal(await store.has(kept.digest, kept.size), true);
  assert.equal(await store.has(dropped.digest), false);
  assert.deepEqual((await fs.readdir(root)).sort(), ['blobs']);
});

test('stale temp files of dead runs are removed; a live run\'s are kept', async (t) => {
  const root = await tempDir(t);
  // A pid that is certainly dead: a child that has exited.
  const child = spawn(process.execPath, ['-e', '0']);
  const deadPid = child.pid!;
  await new Promise((r) => child.on('exit', r));
  const dead = path.join(root, `.oci-pack-${deadPid}-abcdef.tmp`);
  const deadDir = path.join(root, `.oci-pack-${deadPid}-0123ab.tmp`);
  await fs.writeFile(dead, 'x');
  await fs.mkdir(deadDir);
  await fs.writeFile(path.join(deadDir, 'blob'), 'y');
  const mine = tempPath(root);
  await fs.writeFile(mine, 'live');
  const other = path.join(root, 'unrelated.tmp');
  await fs.writeFile(other, 'z');
  assert.equal(await removeStaleTemps(root), 2);
  assert.deepEqual((await fs.readdir(root)).sort(), [path.basename(mine), 'unrelated.tmp'].sort());
});

test('concurrent puts of the same bytes both succeed and store one blob', async (t) => {
  const root = await tempDir(t);
  const store = new BlobStore(root);
  const data = Buffer.alloc(1 << 20, 7);
  const results = await Promise.all(
    Array.from({ length: 6 }, () => store.put([Readable.from([data])], { mediaType: MT })),
  );
  const digests = new Set(results.map((r) => r.digest));
  assert.equal(digests.size, 1);
  assert.deepEqual(await store.list(), [[...digests][0] as Digest]);
  assert.deepEqual((await fs.readdir(root)).sort(), ['blobs']);
});
