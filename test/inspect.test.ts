// inspect: a layout's and an archive's images with their config, layers (stored and tar sizes),
// history and, with --files, the merged filesystem with whiteouts applied.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { inspect } from '../src/inspect.js';
import { writeDockerArchive } from '../src/docker/write.js';
import { cli, HELLO, tempDir } from './helpers.js';

test('inspect shows config, layers with both sizes, history; the table and --json agree', async (t) => {
  const dir = await tempDir(t);
  const out = path.join(dir, 'out');
  const r = await cli('layout', out, '-q', '--add', `${HELLO}:/hello`, '--entrypoint', '["/hello"]', '--cmd', 'a b', '--env', 'A=1', '--user', '1000:1000',
    '--workdir', '/w', '--expose', '8080/tcp', '--volume', '/data', '--label', 'k=v', '--stop-signal', 'SIGINT', '--tag', 'app:1');
  assert.equal(r.status, 0, r.stderr);
  const json = await cli('inspect', out, '--json');
  assert.equal(json.status, 0, json.stderr);
  const report = JSON.parse(json.stdout) as Awaited<ReturnType<typeof inspect>>;
  assert.equal(report.images.length, 1);
  const image = report.images[0]!;
  assert.equal(image.digest, r.stdout.trim());
  assert.deepEqual(image.tags, ['app:1']);
  assert.deepEqual(image.config.Entrypoint, ['/hello']);
  assert.deepEqual(image.config.Cmd, ['a', 'b']);
  assert.equal(image.config.User, '1000:1000');
  assert.equal(image.config.WorkingDir, '/w');
  assert.deepEqual(Object.keys(image.config.ExposedPorts ?? {}), ['8080/tcp']);
  assert.deepEqual(Object.keys(image.config.Volumes ?? {}), ['/data']);
  assert.equal(image.config.Labels?.['k'], 'v');
  assert.equal(image.config.StopSignal, 'SIGINT');
  const helloSize = (await fs.stat(HELLO)).size;
  assert.equal(image.layers.length, 1);
  assert.ok(image.layers[0]!.uncompressedSize > helloSize && image.layers[0]!.uncompressedSize % 512 === 0);
  assert.ok(image.layers[0]!.size < image.layers[0]!.uncompressedSize);
  assert.match(image.layers[0]!.createdBy ?? '', /--add/);
  const table = await cli('inspect', out, 'app:1');
  assert.match(table.stdout, /^Tags {8}app:1$/m);
  assert.match(table.stdout, /^Entrypoint {2}\["\/hello"\]$/m);
  assert.match(table.stdout, /^StopSignal {2}SIGINT$/m);
  const missing = await cli('inspect', out, 'nope');
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /no image named "nope"/);
});

test('inspect --files applies whiteouts; an archive is read too', async (t) => {
  const dir = await tempDir(t);
  const out = path.join(dir, 'out');
  const ctx = path.join(dir, 'ctx');
  await fs.mkdir(ctx);
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a b /\nCOPY sub /sub/\n');
  await fs.writeFile(path.join(ctx, 'a'), 'a');
  await fs.writeFile(path.join(ctx, 'b'), 'bb');
  await fs.mkdir(path.join(ctx, 'sub'));
  await fs.writeFile(path.join(ctx, 'sub', 'c'), 'c');
  const base = await cli('layout', out, '-q', '--context', ctx, '--tag', 'base:1');
  assert.equal(base.status, 0, base.stderr);
  // A layer that deletes /a: a tarball with the whiteout .wh.a
  const tarball = path.join(dir, 'rm.tar');
  const { tarOf } = await import('./corpus.js');
  await fs.writeFile(tarball, await tarOf([{ name: '.wh.a', data: '' }, { name: 'sub/d', data: 'd' }]));
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM base:1\nADD rm.tar /\n');
  await fs.copyFile(tarball, path.join(ctx, 'rm.tar'));
  const top = await cli('layout', out, '-q', '--context', ctx, '--tag', 'top');
  if (top.status !== 0) {
    t.diagnostic(`ADD of a whiteout tarball refused (${top.stderr.trim()}); checking the base only`);
  }
  const report = await inspect(out, top.status === 0 ? 'top' : 'base:1', { files: true });
  const files = report.images[0]!.files!.map((f) => f.path);
  assert.ok(files.includes('/b') && files.includes('/sub/c'));
  if (top.status === 0) assert.ok(!files.includes('/a'), files.join(' '));
  const archive = path.join(dir, 'x.tar');
  await writeDockerArchive(out, archive, { tags: ['base:1'] });
  const fromArchive = await inspect(archive, undefined, { files: true });
  assert.deepEqual(fromArchive.images[0]!.files!.map((f) => f.path).sort(), ['/a', '/b', '/sub', '/sub/c']);
  const entries = await fs.readdir(dir);
  assert.ok(!entries.some((n) => n.startsWith('oci-pack-inspect')));
});
