// The test helpers' own rules: a podman that cannot start containers skips a test outside CI only.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { podmanRun, tempDir } from './helpers.js';

test('podmanRun: a container podman cannot start skips with podman\'s reason outside CI, fails under CI', async (t) => {
  const bin = await tempDir(t);
  await fs.writeFile(
    path.join(bin, 'podman'),
    '#!/bin/sh\necho "Error: OCI runtime error: crun: cgroups in hybrid mode not supported, drop all controllers from cgroupv2" >&2\nexit 126\n',
    { mode: 0o755 },
  );
  const saved = process.env['PATH'];
  process.env['PATH'] = `${bin}:${saved}`;
  t.after(() => void (process.env['PATH'] = saved));
  const skipped: string[] = [];
  const fake = { skip: (why: string) => void skipped.push(why) } as unknown as TestContext;
  assert.equal(await podmanRun(fake, 'x', false), undefined);
  assert.deepEqual(skipped, ['podman cannot start a container here: OCI runtime error: crun: cgroups in hybrid mode not supported, drop all controllers from cgroupv2']);
  await assert.rejects(podmanRun(fake, 'x', true), /OCI runtime error/);
  await fs.writeFile(path.join(bin, 'podman'), '#!/bin/sh\necho "Error: x: image not known" >&2\nexit 125\n');
  await assert.rejects(podmanRun(fake, 'x', false), /image not known/, 'other failures are failures');
});
