// Many CLI processes started at once into a layout directory that does not exist yet: shared by
// the fast test (a few) and the slow one (20).
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { REF_NAME_ANNOTATION, type Descriptor } from '../src/descriptor.js';
import { BIN, HELLO, readJson, tempDir } from './helpers.js';

export async function concurrentCreators(t: TestContext, n: number): Promise<void> {
  const base = await tempDir(t);
  const dir = path.join(base, 'new', 'layout');
  const runs = Array.from({ length: n }, (_, i) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'layout', dir, '--add', `${HELLO}:/hello${i}`, '--tag', `w:${i}`], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('close', (code) => resolve({ code, stderr }));
    }));
  const results = await Promise.all(runs);
  const failed = results.filter((r) => r.code !== 0);
  assert.deepEqual(failed, [], `${failed.length} of ${n} failed`);
  const index = (await readJson(path.join(dir, 'index.json'))) as { manifests: Descriptor[] };
  const tags = index.manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION]).sort();
  assert.deepEqual(tags, Array.from({ length: n }, (_, i) => `w:${i}`).sort());
  assert.deepEqual((await fs.readdir(dir)).sort(), ['blobs', 'index.json', 'oci-layout']);
}
