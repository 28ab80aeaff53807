// The multi-gigabyte case: a sparse host file over 8 GiB becomes a dense tar entry that GNU tar
// lists with the right size, streamed in one pass with memory that does not grow with the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN, ROOT, blobFile, readImage, run, tempDir } from '../helpers.js';

const SIZE = 8 * 1024 ** 3 + 123_456_789; // over 8 GiB: the tar size field needs base-256

test('a sparse 8 GiB+ file: one layer, GNU tar lists its size, diff_id right, memory flat', { timeout: 30 * 60_000 }, async (t) => {
  const base = await tempDir(t);
  const big = path.join(base, 'big.img');
  const fh = await fs.open(big, 'w');
  try {
    await fh.truncate(SIZE);
    // A few real bytes, so the content is not all zeros.
    await fh.write(Buffer.from('start'), 0, 5, 0);
    await fh.write(Buffer.from('middle'), 0, 6, 4 * 1024 ** 3);
    await fh.write(Buffer.from('end!'), 0, 4, SIZE - 4);
  } finally {
    await fh.close();
  }
  const out = path.join(base, 'out');
  // Run the build in its own process to read its peak memory.
  const script = `
    const { buildImage } = await import(${JSON.stringify(new URL('../../src/index.js', import.meta.url).href)});
    const r = await buildImage({ layout: ${JSON.stringify(out)}, layers: [{ kind: 'add', src: ${JSON.stringify(big)}, dest: '/big.img' }], tags: ['big:1'] });
    console.log(JSON.stringify({ digest: r.descriptor.digest, maxRssKiB: process.resourceUsage().maxRSS }));`;
  const started = Date.now();
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: ROOT });
  assert.equal(child.status, 0, child.stderr);
  const { maxRssKiB } = JSON.parse(child.stdout) as { maxRssKiB: number };
  t.diagnostic(`built an ${SIZE}-byte file into a layer in ${((Date.now() - started) / 1000).toFixed(1)} s, peak RSS ${(maxRssKiB / 1024).toFixed(0)} MiB`);
  assert.ok(maxRssKiB < 256 * 1024, `peak RSS ${maxRssKiB} KiB: memory grew with the file`);

  const img = await readImage(out, 'big:1');
  const layer = blobFile(out, img.manifest.layers[0]!.digest);
  const listing = await run('tar', ['--numeric-owner', '-tvzf', layer], { timeout: 20 * 60_000 });
  const fields = listing.trim().split(/\s+/);
  assert.equal(fields[2], String(SIZE), listing);
  assert.equal(fields.at(-1), 'big.img');
  const diffId = (await run('sh', ['-c', `gzip -dc '${layer}' | sha256sum`], { timeout: 20 * 60_000 })).split(' ')[0];
  assert.equal(`sha256:${diffId}`, img.config.rootfs.diff_ids[0]);
  const tail = await run('sh', ['-c', `tar -xzOf '${layer}' big.img | tail -c 4`], { timeout: 20 * 60_000 });
  assert.equal(tail, 'end!');

  // to-docker writes a layer over 8 GiB in place: its header needs a PAX size record, so the bytes
  // written behind a one-block header move up to make room. GNU tar must read the archive whole.
  const archive = path.join(base, 'big.tar');
  const exported = spawnSync(process.execPath, [BIN, 'to-docker', archive, out, '-q'], { encoding: 'utf8', cwd: ROOT });
  assert.equal(exported.status, 0, exported.stderr);
  const manifest = JSON.parse(await run('tar', ['-xOf', archive, 'manifest.json'], { timeout: 20 * 60_000 })) as Array<{ Layers: string[] }>;
  const member = manifest[0]!.Layers[0]!;
  const members = await run('tar', ['-tvf', archive], { timeout: 20 * 60_000 });
  assert.match(members, new RegExp(`\\b${member.replace(/[.]/g, '\\.')}\\n`));
  const exportedDiff = (await run('sh', ['-c', `tar -xOf '${archive}' '${member}' | sha256sum`], { timeout: 20 * 60_000 })).split(' ')[0];
  assert.equal(`sha256:${exportedDiff}`, img.config.rootfs.diff_ids[0]);
});
