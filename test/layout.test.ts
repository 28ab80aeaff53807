import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { Layout, LOCK_FILE, acquireLock, placeImage } from '../src/layout.js';
import { MediaType, REF_NAME_ANNOTATION, type Descriptor } from '../src/descriptor.js';
import { sha256 } from '../src/digest.js';
import { UserError } from '../src/errors.js';
import { canonicalJson } from '../src/json.js';
import { readJson, tempDir } from './helpers.js';
import { concurrentCreators } from './concurrent-create.js';

function desc(name: string, ref?: string): Descriptor {
  const d: Descriptor = { mediaType: MediaType.manifest, digest: sha256(name), size: name.length };
  if (ref) d.annotations = { [REF_NAME_ANNOTATION]: ref };
  return d;
}
const refs = (ds: Descriptor[]) => ds.map((d) => `${d.digest.slice(7, 11)}:${d.annotations?.[REF_NAME_ANNOTATION] ?? '-'}`);

test('openOrCreate makes a valid empty layout in a missing or empty directory', async (t) => {
  const base = await tempDir(t);
  const empty = await tempDir(t);
  for (const dir of [path.join(base, 'missing', 'deeper'), empty]) {
    const layout = await Layout.openOrCreate(dir);
    assert.deepEqual(await readJson(path.join(dir, 'oci-layout')), { imageLayoutVersion: '1.0.0' });
    assert.deepEqual(await readJson(path.join(dir, 'index.json')), { manifests: [], mediaType: MediaType.index, schemaVersion: 2 });
    assert.ok((await fs.stat(path.join(dir, 'blobs', 'sha256'))).isDirectory());
    assert.equal(layout.isNew, true);
  }
  const again = await Layout.openOrCreate(empty);
  assert.equal(again.isNew, false);
});

test('a non-empty directory that is not a layout is refused and left alone', async (t) => {
  const dir = await tempDir(t);
  await fs.writeFile(path.join(dir, 'precious.txt'), 'keep me');
  await assert.rejects(Layout.openOrCreate(dir), (err: unknown) =>
    err instanceof UserError && err.code === 'ELAYOUT' && /not empty and not an OCI layout/.test(err.message));
  assert.deepEqual(await fs.readdir(dir), ['precious.txt']);
  await assert.rejects(Layout.open(dir), /not an OCI layout \(no oci-layout file\)/);
  const file = path.join(dir, 'precious.txt');
  await assert.rejects(Layout.openOrCreate(file), /exists and is not a directory/);
});

test('a damaged oci-layout or index.json is a clear error', async (t) => {
  const dir = await tempDir(t);
  await Layout.openOrCreate(dir);
  await fs.writeFile(path.join(dir, 'oci-layout'), '{"imageLayoutVersion": 3}');
  await assert.rejects(Layout.open(dir), /oci-layout/);
  await fs.writeFile(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
  await assert.rejects(Layout.open(dir), /oci-layout: .*imageLayoutVersion.*2\.0\.0/);
  await fs.writeFile(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await fs.writeFile(path.join(dir, 'index.json'), '{"schemaVersion": 2, "manifests": [');
  const layout = await Layout.open(dir);
  await assert.rejects(layout.readIndex(), /index\.json: not valid JSON/);
});

test('placeImage: tags move, untagged entries fold in, re-adding changes nothing', () => {
  const a = desc('a');
  const b = desc('b');
  let m = placeImage([], a, ['hello:latest', 'hello:1']);
  assert.deepEqual(refs(m), [`${a.digest.slice(7, 11)}:hello:latest`, `${a.digest.slice(7, 11)}:hello:1`]);
  assert.deepEqual(placeImage(m, a, ['hello:latest', 'hello:1']), m);
  m = placeImage(m, b, ['hello:latest']);
  assert.deepEqual(refs(m), [`${a.digest.slice(7, 11)}:hello:1`, `${b.digest.slice(7, 11)}:hello:latest`]);
  // Untagged: recorded once, and not at all when the image is already named.
  const c = desc('c');
  m = placeImage(m, c, []);
  m = placeImage(m, c, []);
  assert.equal(m.filter((d) => d.digest === c.digest).length, 1);
  assert.deepEqual(placeImage(m, b, []), m);
  // Naming an untagged image replaces its untagged entry.
  m = placeImage(m, c, ['c:1']);
  assert.deepEqual(m.filter((d) => d.digest === c.digest).map((d) => d.annotations?.[REF_NAME_ANNOTATION]), ['c:1']);
});

test('updateIndex refuses to name a blob the store does not hold', async (t) => {
  const dir = await tempDir(t);
  const layout = await Layout.openOrCreate(dir);
  await assert.rejects(layout.addImage(desc('nothing-stored'), ['x:1']), /not in the store/);
  assert.deepEqual((await layout.readIndex()).manifests, []);
});

test('concurrent writers never lose each other\'s tags', async (t) => {
  const dir = await tempDir(t);
  const layout = await Layout.openOrCreate(dir);
  const descs = await Promise.all(
    Array.from({ length: 12 }, (_, i) => layout.store.putBytes(canonicalJson({ i }), { mediaType: MediaType.manifest })),
  );
  // Several Layout objects (as separate processes would have) writing at once.
  await Promise.all(descs.map(async (d, i) => (await Layout.open(dir)).addImage(d, [`img:${i}`])));
  const index = await layout.readIndex();
  assert.deepEqual(
    index.manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION]).sort(),
    descs.map((_, i) => `img:${i}`).sort(),
  );
  assert.deepEqual((await fs.readdir(dir)).sort(), ['blobs', 'index.json', 'oci-layout']);
});

test('concurrent writers in separate processes keep every tag', async (t) => {
  const dir = await tempDir(t);
  const layout = await Layout.openOrCreate(dir);
  const layoutModule = new URL('../src/layout.js', import.meta.url).href;
  const jsonModule = new URL('../src/json.js', import.meta.url).href;
  const script = `
    const { Layout } = await import(${JSON.stringify(layoutModule)});
    const { canonicalJson } = await import(${JSON.stringify(jsonModule)});
    const n = Number(process.argv[1]);
    const layout = await Layout.open(${JSON.stringify(dir)});
    for (let k = 0; k < 5; k++) {
      const d = await layout.store.putBytes(canonicalJson({ n, k }), { mediaType: 'application/vnd.oci.image.manifest.v1+json' });
      await layout.addImage(d, ['p' + n + ':' + k]);
    }`;
  await Promise.all(
    [0, 1, 2, 3].map(
      (n) =>
        new Promise<void>((resolve, reject) => {
          const c = spawn(process.execPath, ['--input-type=module', '-e', script, String(n)], { stdio: ['ignore', 'ignore', 'pipe'] });
          let err = '';
          c.stderr.on('data', (b) => (err += b));
          c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(err))));
        }),
    ),
  );
  const names = (await layout.readIndex()).manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION]).sort();
  assert.equal(names.length, 20);
  assert.deepEqual(names, [0, 1, 2, 3].flatMap((n) => [0, 1, 2, 3, 4].map((k) => `p${n}:${k}`)).sort());
});

test('a lock left by a dead process is taken over; a live one makes us wait, then time out', async (t) => {
  const dir = await tempDir(t);
  const layout = await Layout.openOrCreate(dir);
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => child.on('exit', r));
  await fs.writeFile(path.join(dir, LOCK_FILE), `${child.pid}@${hostname()}\n`);
  const d = await layout.store.putBytes(Buffer.from('{}'), { mediaType: MediaType.manifest });
  await layout.addImage(d, ['taken:over']);
  assert.equal((await layout.find('taken:over')).length, 1);
  await assert.rejects(fs.stat(path.join(dir, LOCK_FILE)), { code: 'ENOENT' });

  // Our own parent (alive) holds it: the writer waits and gives up with a clear message.
  await fs.writeFile(path.join(dir, LOCK_FILE), `${process.ppid}@${hostname()}\n`);
  await assert.rejects(layout.addImage(d, ['blocked:1'], { timeoutMs: 300 }), /locked by \d+@.* for more than/);
  await fs.rm(path.join(dir, LOCK_FILE));
});

test('a held lock is exclusive: the second acquirer waits for the first to release', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'x.lock');
  const first = await acquireLock(file, 1000);
  let secondGot = false;
  const second = acquireLock(file, 5000).then((l) => {
    secondGot = true;
    return l;
  });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(secondGot, false);
  await first.release();
  await (await second).release();
  assert.equal(secondGot, true);
});

test('a failed first writer never removes an image another process committed meanwhile', async (t) => {
  const base = await tempDir(t);
  for (const existed of [false, true]) {
    const dir = path.join(base, existed ? 'empty' : 'missing');
    if (existed) await fs.mkdir(dir);
    const first = await Layout.openOrCreate(dir);
    assert.equal(first.isNew, true);
    // Another process commits an image while the first is still at work.
    const other = await Layout.openOrCreate(dir);
    const blob = await other.store.putBytes(Buffer.from('{}'), { mediaType: MediaType.config });
    const image = { mediaType: MediaType.manifest, digest: blob.digest, size: blob.size };
    await other.addImage(image, ['other:1']);
    // The first writer fails and undoes its creation: the other image must survive.
    await first.discardIfNew();
    assert.deepEqual((await other.find('other:1')).map((d) => d.digest), [blob.digest]);
    assert.ok(await other.store.has(blob.digest, blob.size));
  }
  // A blob published but not yet recorded, or another writer's staging folder, also keeps it.
  for (const busy of ['blob', 'staging'] as const) {
    const dir = path.join(base, `busy-${busy}`);
    const first = await Layout.openOrCreate(dir);
    const other = await Layout.openOrCreate(dir);
    // Another (live) process's staging folder: named for its pid.
    if (busy === 'staging') await fs.mkdir(path.join(dir, `.oci-pack-${process.ppid}-0123456789ab.tmp`));
    else await other.store.putBytes(Buffer.from('x'), { mediaType: 'text/plain' });
    await first.discardIfNew();
    assert.ok((await fs.readdir(dir)).includes('oci-layout'), `${busy}: the layout was removed under a writer`);
  }
  // Alone, a failed first writer still leaves nothing behind.
  const alone = path.join(base, 'alone');
  await (await Layout.openOrCreate(alone)).discardIfNew();
  await assert.rejects(fs.stat(alone), { code: 'ENOENT' });
});

test('a directory holding only the skeleton another creator is making is joined, not refused', async (t) => {
  const dir = await tempDir(t);
  // What a concurrent creator has made so far: blobs/sha256 and an empty index.json, no oci-layout.
  await fs.mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  const layout = await Layout.openOrCreate(dir);
  assert.equal(layout.isNew, true);
  await fs.rm(path.join(dir, 'oci-layout'));
  const again = await Layout.openOrCreate(dir);
  assert.deepEqual((await again.readIndex()).manifests, []);
  // index.json with an image in it is not a skeleton: never overwritten, and without oci-layout refused.
  await layout.addImage(desc('a', 'a:1'), ['a:1']).catch(() => undefined);
  await fs.writeFile(path.join(dir, 'blobs', 'sha256', 'x'), 'x');
  await fs.rm(path.join(dir, 'oci-layout'));
  await assert.rejects(Layout.openOrCreate(dir), /not empty and not an OCI layout/);
});

test('writers started at once into a directory that does not exist yet all succeed, all tags kept', async (t) => {
  // 8 here; test/slow/layout-create.slow.ts starts 20.
  await concurrentCreators(t, 8);
});
