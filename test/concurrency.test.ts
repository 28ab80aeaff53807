// Many writers at once, in one process (test/slow/concurrency.slow.ts runs them as processes):
// twenty builds into one existing layout and into one not yet created keep every tag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { buildImage } from '../src/build.js';
import { Layout, refNameOf } from '../src/layout.js';
import { validate } from '../src/validate.js';
import { HELLO, tempDir } from './helpers.js';

const AMD64 = { os: 'linux', architecture: 'amd64' };

async function twentyWriters(out: string): Promise<void> {
  const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) =>
    buildImage({ layout: out, layers: [{ kind: 'add', src: HELLO, dest: `/hello${i % 2}` }], config: { env: [`N=${i}`] }, platform: AMD64, tags: [`w:${i}`], sourceDateEpoch: 0 })));
  const failed = results.map((r, i) => (r.status === 'rejected' ? `writer ${i}: ${(r.reason as Error).message}` : '')).filter(Boolean);
  assert.deepEqual(failed, []);
  const index = await (await Layout.open(out)).readIndex();
  const tags = index.manifests.map(refNameOf).filter((x) => x?.startsWith('w:')).sort();
  assert.deepEqual(tags, Array.from({ length: 20 }, (_, i) => `w:${i}`).sort());
  assert.deepEqual((await validate(out)).problems, []);
  const leftovers = (await fs.readdir(out)).filter((n) => n.startsWith('.oci-pack-') || n.endsWith('.lock'));
  assert.deepEqual(leftovers, []);
}

test('twenty writers into one existing layout: all succeed, all tags kept', async (t) => {
  const out = path.join(await tempDir(t), 'out');
  await buildImage({ layout: out, layers: [{ kind: 'add', src: HELLO, dest: '/seed' }], platform: AMD64, tags: ['seed'] });
  await twentyWriters(out);
});

// Layout creation races with itself until the fix on branch `hostile` lands.
test('twenty writers into a layout that does not exist yet: all succeed, all tags kept', async (t) => {
  await twentyWriters(path.join(await tempDir(t), 'new', 'out'));
});
