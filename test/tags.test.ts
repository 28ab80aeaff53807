// tag and untag: names move without rebuilding, by ref name or digest, under the index lock; bad
// names are usage errors and unknown sources one-line errors that leave index.json as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Layout, refNameOf } from '../src/layout.js';
import { tagImage, untagImage } from '../src/tags.js';
import { cli, HELLO, snapshot, tempDir } from './helpers.js';

async function twoImages(t: Parameters<typeof tempDir>[0]): Promise<{ out: string; a: string; b: string }> {
  const out = path.join(await tempDir(t), 'out');
  const a = await cli('layout', out, '--add', `${HELLO}:/hello`, '--tag', 'a:1', '-q');
  const b = await cli('layout', out, '--add', `${HELLO}:/bin/hello`, '--tag', 'b:1', '-q');
  assert.equal(a.status + b.status, 0, a.stderr + b.stderr);
  return { out, a: a.stdout.trim(), b: b.stdout.trim() };
}

async function tags(out: string): Promise<Record<string, string>> {
  const index = await (await Layout.open(out)).readIndex();
  return Object.fromEntries(index.manifests.map((d) => [refNameOf(d) ?? '', d.digest]));
}

test('tag by ref name and by digest; a tag held by another image moves', async (t) => {
  const { out, a, b } = await twoImages(t);
  const r = await cli('tag', out, 'a:1', 'a:latest');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${a} a:latest\n`);
  assert.equal((await cli('tag', out, b, 'a:latest')).status, 0);
  assert.deepEqual(await tags(out), { 'a:1': a, 'b:1': b, 'a:latest': b });
  const json = await cli('tag', out, 'b:1', 'c', '--json');
  assert.equal((JSON.parse(json.stdout) as { descriptor: { digest: string } }).descriptor.digest, b);
  assert.equal((await cli('validate', out, '-q')).status, 0);
});

test('untag removes the name only; the blobs stay for gc', async (t) => {
  const { out, a, b } = await twoImages(t);
  const r = await cli('untag', out, 'a:1');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${a} a:1\n`);
  assert.deepEqual(await tags(out), { 'b:1': b });
  assert.ok(await (await Layout.open(out)).store.has(a as never));
});

test('bad names and unknown sources: one line, index.json unchanged', async (t) => {
  const { out } = await twoImages(t);
  const before = await snapshot(out);
  const bad = await cli('tag', out, 'a:1', 'no spaces');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^oci-pack: DST: "no spaces": character " " is not allowed/);
  const unknown = await cli('tag', out, 'zzz', 'x');
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /^oci-pack: SRC zzz: no image is tagged so in /);
  const digest = await cli('tag', out, `sha256:${'0'.repeat(64)}`, 'x');
  assert.equal(digest.status, 1);
  assert.match(digest.stderr, /SRC sha256:0{64}: no such blob/);
  const traversal = await cli('tag', out, 'sha256:../../x', 'x');
  assert.equal(traversal.status, 1);
  assert.match(traversal.stderr, /is not a sha256 digest/);
  const untag = await cli('untag', out, 'nope:1');
  assert.equal(untag.status, 1);
  assert.match(untag.stderr, /no image is tagged "nope:1"/);
  assert.deepEqual(await snapshot(out), before);
});

test('twenty concurrent tag calls all land', async (t) => {
  const { out, a } = await twoImages(t);
  await Promise.all(Array.from({ length: 20 }, (_, i) => tagImage(out, 'a:1', `t:${i}`)));
  const now = await tags(out);
  for (let i = 0; i < 20; i++) assert.equal(now[`t:${i}`], a);
  await Promise.all(Array.from({ length: 20 }, (_, i) => untagImage(out, `t:${i}`)));
  assert.deepEqual(Object.keys(await tags(out)).sort(), ['a:1', 'b:1']);
});
