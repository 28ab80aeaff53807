// validate, inspect, tag/untag and gc on layouts and archives written by skopeo and umoci: they
// pass validate, and after our changes the tools still read them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { gc } from '../../src/gc.js';
import { inspect } from '../../src/inspect.js';
import { validate } from '../../src/validate.js';
import { cli, HELLO, requireTool, run, tempDir } from '../helpers.js';

test('layouts and archives written by skopeo validate; tag, untag and gc keep them readable by skopeo', async (t) => {
  if (!requireTool(t, 'skopeo')) return;
  const dir = await tempDir(t);
  const ours = path.join(dir, 'ours');
  assert.equal((await cli('layout', ours, '-q', '--add', `${HELLO}:/hello`, '--cmd', '/hello', '--tag', 'hello:1')).status, 0);
  const theirs = path.join(dir, 'theirs');
  await run('skopeo', ['copy', '--quiet', `oci:${ours}:hello:1`, `oci:${theirs}:hello:1`]);
  await run('skopeo', ['copy', '--quiet', `oci:${ours}:hello:1`, `oci:${theirs}:other`]);
  const dockerArchive = path.join(dir, 'd.tar');
  await run('skopeo', ['copy', '--quiet', `oci:${ours}:hello:1`, `docker-archive:${dockerArchive}:trust/hello:1`]);
  const ociArchive = path.join(dir, 'o.tar');
  await run('skopeo', ['copy', '--quiet', `oci:${ours}:hello:1`, `oci-archive:${ociArchive}:hello:1`]);
  for (const target of [theirs, dockerArchive, ociArchive]) assert.deepEqual((await validate(target)).problems, [], target);
  const fromArchive = await inspect(dockerArchive, undefined, { files: true });
  assert.deepEqual(fromArchive.images[0]!.files!.map((f) => f.path), ['/hello']);
  assert.deepEqual(fromArchive.images[0]!.config.Cmd, ['/hello']);
  assert.equal((await cli('tag', theirs, 'hello:1', 'hello:2', '-q')).status, 0);
  assert.equal((await cli('untag', theirs, 'hello:1', '-q')).status, 0);
  assert.equal((await cli('untag', theirs, 'other', '-q')).status, 0);
  await gc(theirs);
  assert.deepEqual((await validate(theirs)).problems, []);
  const seen = JSON.parse(await run('skopeo', ['inspect', `oci:${theirs}:hello:2`])) as { Layers: string[] };
  assert.equal(seen.Layers.length, 1);
});

test('layouts written by umoci validate and inspect; gc removes what umoci config left behind', async (t) => {
  if (!requireTool(t, 'umoci')) return;
  const dir = await tempDir(t);
  const image = path.join(dir, 'umoci');
  await run('umoci', ['init', '--layout', image]);
  await run('umoci', ['new', '--image', `${image}:base`]);
  await run('umoci', ['config', '--image', `${image}:base`, '--config.cmd', '/hello', '--config.env', 'A=1', '--tag', 'v2']);
  assert.deepEqual((await validate(image)).problems, []);
  const report = await inspect(image, 'v2');
  assert.deepEqual(report.images[0]!.config.Cmd, ['/hello']);
  assert.equal((await cli('untag', image, 'base', '-q')).status, 0);
  const removed = await gc(image);
  assert.ok(removed.blobs.length >= 1, 'the old config and manifest are garbage once base is untagged');
  assert.deepEqual((await validate(image)).problems, []);
  await run('umoci', ['unpack', '--rootless', '--image', `${image}:v2`, path.join(dir, 'bundle')]);
});
