// gc: unreachable blobs and dead writers' leftovers go, reachable blobs and live writers' files stay,
// --dry-run removes nothing, an unreadable reachable document stops it, and it is safe beside writers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { gc } from '../src/gc.js';
import { Layout, refNameOf } from '../src/layout.js';
import { validate } from '../src/validate.js';
import { BIN, cli, HELLO, snapshot, tempDir } from './helpers.js';

/** A pid that is certainly not running: a child that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid!;
}

async function build(out: string, ...args: string[]): Promise<string> {
  const r = await cli('layout', out, '-q', ...args);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test('gc removes what index.json no longer reaches; --dry-run only lists', async (t) => {
  const out = path.join(await tempDir(t), 'out');
  await build(out, '--add', `${HELLO}:/hello`, '--tag', 'a:1');
  const b = await build(out, '--add', `${HELLO}:/hello`, '--env', 'B=1', '--tag', 'b:1');
  assert.equal((await cli('untag', out, 'b:1', '-q')).status, 0);
  const before = await snapshot(out);
  const dry = await cli('gc', out, '--dry-run');
  assert.equal(dry.status, 0, dry.stderr);
  // b's manifest and config; its layer is a's too and stays.
  assert.equal(dry.stdout.trim().split('\n').length, 2);
  assert.match(dry.stdout, new RegExp(`^${b} \\d+$`, 'm'));
  assert.match(dry.stderr, /would remove 2 item\(s\)/);
  assert.deepEqual(await snapshot(out), before);
  const real = await cli('gc', out, '--json');
  const result = JSON.parse(real.stdout) as { blobs: { digest: string }[]; kept: number };
  assert.deepEqual(result.blobs.map((x) => x.digest).sort(), dry.stdout.trim().split('\n').map((l) => l.split(' ')[0]).sort());
  assert.equal(result.kept, 3);
  assert.deepEqual((await validate(out)).problems, []);
  assert.equal((await gc(out)).blobs.length, 0);
});

test("gc removes dead writers' temp files, staging folders and set-aside locks, and keeps a live writer's", async (t) => {
  const out = path.join(await tempDir(t), 'out');
  await build(out, '--add', `${HELLO}:/hello`, '--tag', 'a:1');
  const dead = deadPid();
  const deadStaging = path.join(out, `.oci-pack-${dead}-aa11.tmp`);
  await fs.mkdir(deadStaging);
  await fs.writeFile(path.join(deadStaging, 'f'.repeat(64)), 'staged');
  await fs.writeFile(path.join(out, `.oci-pack-${dead}-bb22.tmp`), 'temp');
  await fs.writeFile(path.join(out, 'blobs', 'sha256', `.oci-pack-${dead}-cc33.tmp`), 'temp');
  await fs.writeFile(path.join(out, `index.json.lock.stale-${dead}-dd44`), `${dead}@${hostname()}\n`);
  await fs.writeFile(path.join(out, 'index.json.lock'), `${dead}@${hostname()}\n`);
  const live = path.join(out, `.oci-pack-${process.pid}-ee55.tmp`);
  await fs.mkdir(live);
  const dry = await gc(out, { dryRun: true });
  assert.ok(dry.leftovers.includes('index.json.lock'));
  const r = await gc(out);
  assert.deepEqual(r.leftovers.sort(), [`.oci-pack-${dead}-aa11.tmp`, `.oci-pack-${dead}-bb22.tmp`, `blobs/sha256/.oci-pack-${dead}-cc33.tmp`, `index.json.lock.stale-${dead}-dd44`].sort());
  const names = (await fs.readdir(out)).sort();
  assert.deepEqual(names, [`.oci-pack-${process.pid}-ee55.tmp`, 'blobs', 'index.json', 'oci-layout']);
  await fs.rm(live, { recursive: true });
  assert.deepEqual((await validate(out)).problems, []);
});

test('gc refuses, removing nothing, when a document it must follow is unreadable', async (t) => {
  const out = path.join(await tempDir(t), 'out');
  const a = await build(out, '--add', `${HELLO}:/hello`, '--tag', 'a:1');
  await build(out, '--add', `${HELLO}:/x`, '--tag', 'b:1');
  assert.equal((await cli('untag', out, 'b:1', '-q')).status, 0);
  await fs.writeFile(path.join(out, 'blobs', 'sha256', a.slice(7)), '{"corrupt": true}');
  const before = await snapshot(out);
  const r = await cli('gc', out);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^oci-pack: index\.json manifests\[0\]: .*cannot tell what is reachable, so nothing was removed/);
  assert.deepEqual(await snapshot(out), before);
});

test('gc in a loop beside writers never takes a blob they are about to reference', async (t) => {
  const out = path.join(await tempDir(t), 'out');
  await build(out, '--add', `${HELLO}:/hello`, '--tag', 'seed');
  // Garbage the writers will want again: gc may remove it while they reuse it.
  for (let i = 0; i < 3; i++) await build(out, '--add', `${HELLO}:/w${i}`, '--tag', 'tmp');
  assert.equal((await cli('untag', out, 'tmp', '-q')).status, 0);
  const writers = Array.from({ length: 6 }, (_, i) => new Promise<number>((resolve) => {
    const env = { ...process.env, SOURCE_DATE_EPOCH: '0' };
    const p = spawn(process.execPath, [BIN, 'layout', out, '-q', '--add', `${HELLO}:/w${i % 3}`, '--env', `I=${i}`, '--tag', `w:${i}`], { env, stdio: 'ignore' });
    p.on('exit', (code) => resolve(code ?? -1));
  }));
  let running = true;
  let runs = 0;
  const loop = (async () => {
    while (running) {
      await gc(out);
      runs++;
    }
  })();
  const codes = await Promise.all(writers);
  running = false;
  await loop;
  assert.deepEqual(codes, [0, 0, 0, 0, 0, 0]);
  assert.ok(runs > 0);
  const index = await (await Layout.open(out)).readIndex();
  assert.deepEqual(index.manifests.map(refNameOf).sort(), ['seed', 'w:0', 'w:1', 'w:2', 'w:3', 'w:4', 'w:5']);
  assert.deepEqual((await validate(out)).problems, []);
});

test('a staged writer that reuses a stored blob keeps its own link: gc removing the blob meanwhile loses nothing', async (t) => {
  const out = path.join(await tempDir(t), 'out');
  await build(out, '--add', `${HELLO}:/hello`, '--tag', 'a:1');
  const layout = await Layout.open(out);
  const index = await layout.readIndex();
  const manifest = index.manifests[0]!;
  const bytes = await layout.store.read(manifest);
  const staging = await layout.store.stage();
  // The writer finds the manifest already stored and does not write it again...
  await staging.putBytes(bytes, { mediaType: manifest.mediaType });
  // ...then the image is untagged and gc removes its blobs before the writer records it.
  assert.equal((await cli('untag', out, 'a:1', '-q')).status, 0);
  assert.ok((await gc(out)).blobs.some((b) => b.digest === manifest.digest));
  const m = JSON.parse(bytes.toString()) as { config: { digest: string }; layers: { digest: string }[] };
  const children = [m.config, ...m.layers];
  for (const c of children) assert.equal(await layout.store.has(c.digest as never), false);
  // The writer's manifest is back, and recording an image whose children are gone is refused.
  await assert.rejects(layout.addImage(manifest, ['b:1'], { publish: { store: staging } }), /is no longer in the store \(removed by gc while this run used it\?\); run again/);
  assert.equal(await layout.store.has(manifest.digest), true);
  assert.deepEqual((await layout.readIndex()).manifests, []);
});

test('gc and inspect on a manifest nested 100,000 levels deep: one line, exit 1, nothing removed', async (t) => {
  const { HandLayout } = await import('./corpus.js');
  const l = await HandLayout.create(path.join(await tempDir(t), 'l'));
  const deep = await l.blob(`${'['.repeat(100_000)}${']'.repeat(100_000)}`, 'application/vnd.oci.image.manifest.v1+json');
  await l.index([deep]);
  await l.blob('garbage', 'application/octet-stream');
  const before = await snapshot(l.dir);
  for (const args of [['gc', l.dir], ['inspect', l.dir]]) {
    const r = await cli(...args);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /nested more than 256 levels deep/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
  assert.deepEqual(await snapshot(l.dir), before);
});
