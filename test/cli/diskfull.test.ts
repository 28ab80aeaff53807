// A full disk (a 2 MiB tmpfs): `layout`, `from-docker` and `to-docker` fail with one clear line,
// remove their temporary files and leave the layout exactly as it was.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { writeDockerArchive } from '../../src/docker/write.js';
import { CI, cli, HELLO, snapshot, tempDir } from '../helpers.js';

/** A 2 MiB tmpfs at a new folder, unmounted after the test; undefined (skipped) when mount is refused. */
async function smallDisk(t: TestContext): Promise<string | undefined> {
  // Cleaned up here, not by tempDir: the tmpfs must be unmounted before its folder is removed.
  const parent = await tempDir(undefined);
  const dir = path.join(parent, 'disk');
  await fs.mkdir(dir);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    const why = `cannot mount a tmpfs here: ${(r.stderr || r.error?.message || '').trim()}`;
    await fs.rm(parent, { recursive: true, force: true });
    if (CI) throw new Error(`${why}; CI=true allows no skip`);
    t.skip(why);
    return undefined;
  }
  t.after(async () => {
    spawnSync('umount', [dir]);
    await fs.rm(parent, { recursive: true, force: true });
  });
  return dir;
}

/** 3 MiB that gzip cannot shrink: more than the disk holds. */
async function bigFile(dir: string): Promise<string> {
  const file = path.join(dir, 'big');
  await fs.writeFile(file, randomBytes(3 * 1024 * 1024));
  return file;
}

test('layout on a full disk: a clear error, no temp files, the layout as it was', async (t) => {
  const disk = await smallDisk(t);
  if (!disk) return;
  const out = path.join(disk, 'out');
  assert.equal((await cli('layout', out, '-q', '--add', `${HELLO}:/hello`, '--tag', 'a:1')).status, 0);
  const before = await snapshot(out);
  const r = await cli('layout', out, '-q', '--add', `${await bigFile(await tempDir(t))}:/big`, '--tag', 'a:1');
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^oci-pack: .*no space left on device/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.deepEqual(await snapshot(out), before);
});

test('from-docker on a full disk: a clear error, no temp files, the layout as it was', async (t) => {
  const disk = await smallDisk(t);
  if (!disk) return;
  const work = await tempDir(t);
  const src = path.join(work, 'src');
  assert.equal((await cli('layout', src, '-q', '--add', `${await bigFile(work)}:/big`, '--tag', 'big:1')).status, 0);
  const archive = path.join(work, 'big.tar');
  await writeDockerArchive(src, archive, { tags: ['big:1'] });
  const out = path.join(disk, 'out');
  assert.equal((await cli('layout', out, '-q', '--add', `${HELLO}:/hello`, '--tag', 'a:1')).status, 0);
  const before = await snapshot(out);
  const r = await cli('from-docker', archive, out, '--compression', 'none');
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^oci-pack: .*no space left on device/);
  assert.deepEqual(await snapshot(out), before);
});

test('to-docker onto a full disk: a clear error, and no partial archive or temp file', async (t) => {
  const disk = await smallDisk(t);
  if (!disk) return;
  const work = await tempDir(t);
  const src = path.join(work, 'src');
  assert.equal((await cli('layout', src, '-q', '--add', `${await bigFile(work)}:/big`, '--tag', 'big:1')).status, 0);
  const before = await snapshot(src);
  await assert.rejects(writeDockerArchive(src, path.join(disk, 'big.tar'), { tags: ['big:1'] }), /no space left on device|ENOSPC/);
  assert.deepEqual(await fs.readdir(disk), []);
  assert.deepEqual(await snapshot(src), before);
});
