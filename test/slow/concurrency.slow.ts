// Many writer processes at once (the fast tier's test/concurrency.test.ts does it in one process):
// twenty `layout` runs into an existing layout and into a new one, two writers of the same blobs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Layout, refNameOf } from '../../src/layout.js';
import { validate } from '../../src/validate.js';
import { assertTwentyTagged, BIN, cli, HELLO, tempDir } from '../helpers.js';

interface Run { code: number; stderr: string }

function writer(out: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    let stderr = '';
    const p = spawn(process.execPath, [BIN, 'layout', out, '-q', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.on('exit', (code) => resolve({ code: code ?? -1, stderr }));
  });
}

async function twentyWriters(out: string): Promise<void> {
  const runs = await Promise.all(Array.from({ length: 20 }, (_, i) => writer(out, ['--add', `${HELLO}:/hello`, '--env', `N=${i}`, '--tag', `w:${i}`])));
  const failed = runs.map((r, i) => (r.code === 0 ? '' : `writer ${i}: exit ${r.code}: ${r.stderr.trim()}`)).filter(Boolean);
  assert.deepEqual(failed, []);
  await assertTwentyTagged(out);
}

test('twenty writers into one existing layout: all succeed, all tags kept', async (t) => {
  const out = path.join(await tempDir(t), 'out');
  assert.equal((await cli('layout', out, '-q', '--add', `${HELLO}:/hello`, '--tag', 'seed')).status, 0);
  await twentyWriters(out);
});

test('twenty writers into a layout that does not exist yet: all succeed, all tags kept', async (t) => {
  await twentyWriters(path.join(await tempDir(t), 'new', 'out'));
});

test('two writers of the same blobs both succeed; each blob is stored once', async (t) => {
  const out = path.join(await tempDir(t), 'out');
  assert.equal((await cli('layout', out, '-q', '--add', `${HELLO}:/seed`)).status, 0);
  const runs = await Promise.all(['a', 'b'].map((tag) => writer(out, ['--add', `${HELLO}:/hello`, '--tag', tag])));
  assert.deepEqual(runs.map((r) => r.code), [0, 0], runs.map((r) => r.stderr).join(''));
  const index = await (await Layout.open(out)).readIndex();
  const a = index.manifests.find((d) => refNameOf(d) === 'a')!;
  const b = index.manifests.find((d) => refNameOf(d) === 'b')!;
  assert.equal(a.digest, b.digest);
  assert.equal((await fs.readdir(path.join(out, 'blobs', 'sha256'))).length, 6);
  assert.deepEqual((await validate(out)).problems, []);
});
