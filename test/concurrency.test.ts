// Many writers at once, in one process (test/slow/concurrency.slow.ts runs them as processes):
// twenty builds into one existing layout and into one not yet created keep every tag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { buildImage } from '../src/build.js';
import { assertTwentyTagged, HELLO, tempDir } from './helpers.js';

const AMD64 = { os: 'linux', architecture: 'amd64' };

async function twentyWriters(out: string): Promise<void> {
  const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) =>
    buildImage({ layout: out, layers: [{ kind: 'add', src: HELLO, dest: `/hello${i % 2}` }], config: { env: [`N=${i}`] }, platform: AMD64, tags: [`w:${i}`], sourceDateEpoch: 0 })));
  const failed = results.map((r, i) => (r.status === 'rejected' ? `writer ${i}: ${(r.reason as Error).message}` : '')).filter(Boolean);
  assert.deepEqual(failed, []);
  await assertTwentyTagged(out);
}

test('twenty writers into one existing layout: all succeed, all tags kept', async (t) => {
  const out = path.join(await tempDir(t), 'out');
  await buildImage({ layout: out, layers: [{ kind: 'add', src: HELLO, dest: '/seed' }], platform: AMD64, tags: ['seed'] });
  await twentyWriters(out);
});

test('twenty writers into a layout that does not exist yet: all succeed, all tags kept', async (t) => {
  await twentyWriters(path.join(await tempDir(t), 'new', 'out'));
});
