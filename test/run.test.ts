// The test tiers as npm runs them: fast unit tests by default, consumers and large cases apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { readJson, ROOT } from './helpers.js';
import { tierFiles, tierOf } from './run.js';

test('npm test runs the unit tier only; interop and slow have scripts of their own', async () => {
  const scripts = ((await readJson(path.join(ROOT, 'package.json'))) as { scripts: Record<string, string> }).scripts;
  assert.match(scripts['test']!, /node dist\/test\/run\.js unit$/);
  assert.match(scripts['test:interop']!, /node dist\/test\/run\.js interop$/);
  assert.match(scripts['test:slow']!, /node dist\/test\/run\.js slow$/);
  assert.equal(tierOf('build.test.js'), 'unit');
  assert.equal(tierOf('dockerfile/build.test.js'), 'unit');
  assert.equal(tierOf('interop/docker.test.js'), 'interop');
  assert.equal(tierOf('slow/sparse.slow.js'), 'slow');
  assert.equal(tierOf('helpers.js'), undefined);
  assert.equal(tierOf('slow/helper.test.js'), undefined);
  const unit = await tierFiles(path.join(ROOT, 'dist', 'test'), 'unit');
  assert.ok(unit.some((f) => f.endsWith(`${path.sep}layer.test.js`)));
  assert.ok(!unit.some((f) => /[/\\](interop|slow)[/\\]/.test(f)), 'no consumer or large test in the fast tier');
});
