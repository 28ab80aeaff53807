import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { hostEntries } from '../../src/sources/host.js';
import { readTar, tarStream } from '../../src/tar.js';
import type { Entry } from '../../src/entries.js';
import { UserError } from '../../src/errors.js';
import { run, tempDir } from '../helpers.js';

async function all(it: AsyncIterable<Entry>): Promise<Array<Entry & { data?: string }>> {
  const out: Array<Entry & { data?: string }> = [];
  for await (const e of it) {
    let data: string | undefined;
    if (e.open) {
      const chunks: Buffer[] = [];
      for await (const c of e.open()) chunks.push(c as Buffer);
      data = Buffer.concat(chunks).toString();
    }
    out.push({ ...e, ...(data !== undefined ? { data } : {}) });
  }
  return out;
}

test('a tree: depth first, each directory\'s children in byte order, links as links, hard links once', async (t) => {
  const src = path.join(await tempDir(t), 'src');
  await fs.mkdir(path.join(src, 'b/inner'), { recursive: true });
  await fs.mkdir(path.join(src, 'empty'));
  await fs.writeFile(path.join(src, 'a.txt'), 'A');
  await fs.writeFile(path.join(src, 'b/inner/deep'), 'D');
  await fs.writeFile(path.join(src, 'B'), 'upper');
  await fs.link(path.join(src, 'a.txt'), path.join(src, 'z-hard'));
  await fs.symlink('a.txt', path.join(src, 'link'));
  await fs.chmod(path.join(src, 'B'), 0o4750);
  const entries = await all(hostEntries(src, 'app'));
  assert.deepEqual(
    entries.map((e) => [e.path, e.type, e.linkname ?? e.data ?? '']),
    [
      ['app', 'directory', ''],
      ['app/B', 'file', 'upper'],
      ['app/a.txt', 'file', 'A'],
      ['app/b', 'directory', ''],
      ['app/b/inner', 'directory', ''],
      ['app/b/inner/deep', 'file', 'D'],
      ['app/empty', 'directory', ''],
      ['app/link', 'symlink', 'a.txt'],
      ['app/z-hard', 'link', 'app/a.txt'],
    ],
  );
  assert.equal(entries[1]!.mode, 0o4750);
  assert.equal(entries[8]!.size, 0);
});

test('read-ahead keeps order and content across many small files and large ones', async (t) => {
  const src = path.join(await tempDir(t), 'src');
  await fs.mkdir(src);
  const expected: Array<[string, string]> = [];
  for (let i = 0; i < 300; i++) {
    const name = `f${String(i).padStart(3, '0')}`;
    // Every 50th file is larger than what is read ahead (512 KiB) and streams instead.
    const content = i % 50 === 0 ? `${name}:`.repeat(100_000) : `${name}:`.repeat(i + 1);
    await fs.writeFile(path.join(src, name), content);
    expected.push([`d/${name}`, content]);
  }
  const entries = await all(hostEntries(src, 'd'));
  assert.deepEqual(entries.slice(1).map((e) => [e.path, e.data]), expected);
  assert.ok(entries.slice(1).every((e) => e.size === Buffer.byteLength(e.data!)));
});

test('SRC itself is followed when it is a symlink; a FIFO inside is refused naming it', async (t) => {
  const base = await tempDir(t);
  await fs.writeFile(path.join(base, 'real'), 'real data');
  await fs.symlink('real', path.join(base, 'alias'));
  const [only] = await all(hostEntries(path.join(base, 'alias'), 'x'));
  assert.deepEqual([only?.type, only?.data], ['file', 'real data']);
  await fs.mkdir(path.join(base, 'tree'));
  await run('mkfifo', [path.join(base, 'tree', 'pipe')]);
  await assert.rejects(all(hostEntries(path.join(base, 'tree'), 't', { where: '--add tree:/t' })), (err: unknown) =>
    err instanceof UserError && /^--add tree:\/t: .*tree\/pipe: is a FIFO/.test(err.message));
  await assert.rejects(all(hostEntries(path.join(base, 'missing'), 'm')), /missing: no such file or directory/);
});

test('files of every size are read whole and exactly, through the tar writer: empty, small, mid-sized, streamed', async (t) => {
  const src = path.join(await tempDir(t), 'src');
  await fs.mkdir(src);
  // Around the limits of the synchronous read (64 KiB) and of the read-ahead (512 KiB).
  const sizes = [0, 1, 511, 512, 513, 65535, 65536, 65537, 524288, 524289, 3 * 1024 * 1024 + 5];
  const expected = new Map<string, Buffer>();
  for (const size of sizes) {
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = (i * 31 + size) & 0xff;
    await fs.writeFile(path.join(src, `f${String(size).padStart(8, '0')}`), data);
    expected.set(`x/f${String(size).padStart(8, '0')}`, data);
  }
  const parts: Buffer[] = [];
  for await (const c of tarStream(hostEntries(src, 'x'))) parts.push(c as Buffer);
  const tar = Buffer.concat(parts);
  const seen = new Map<string, Buffer>();
  for await (const e of readTar(Readable.from([tar]), 'test')) {
    if (e.type !== 'file') continue;
    const chunks: Buffer[] = [];
    for await (const c of e.open!()) chunks.push(c as Buffer);
    seen.set(e.path, Buffer.concat(chunks));
  }
  assert.deepEqual([...seen.keys()], [...expected.keys()]);
  for (const [p, data] of expected) assert.ok(seen.get(p)!.equals(data), p);
});

/** A tree of a few thousand entries: more than the read-ahead holds, in nested directories. */
async function bigTree(src: string): Promise<void> {
  const files = 2600;
  for (let d = 0; d < 10; d++) await fs.mkdir(path.join(src, `d${d}`, 'sub'), { recursive: true });
  for (let i = 0; i < files; i++) {
    const dir = path.join(src, `d${i % 10}`, i % 3 === 0 ? 'sub' : '');
    // Empty, small, around 16 KiB, and streamed (> 512 KiB).
    const size = i % 500 === 7 ? 512 * 1024 + 1 : i % 97 === 0 ? 16 * 1024 + (i % 3) - 1 : i % 13 === 0 ? 0 : i % 200;
    const data = Buffer.alloc(size, `${i}:`);
    await fs.writeFile(path.join(dir, `f${String(i).padStart(5, '0')}`), data);
  }
  await fs.chmod(path.join(src, 'd9', 'f00029'), 0o4711);
  // Hard links: in one directory, and across two.
  await fs.link(path.join(src, 'd0', 'f00010'), path.join(src, 'd0', 'g-early'));
  await fs.link(path.join(src, 'd9', 'f00019'), path.join(src, 'd9', 'g-late'));
  await fs.link(path.join(src, 'd0', 'f00020'), path.join(src, 'd9', 'g-across'));
  await fs.symlink('../d0/f00010', path.join(src, 'd9', 'link'));
}

/** What a walk of `src` placed at `dest` should give, from a plain recursive walk. */
async function expectedTree(src: string, dest: string): Promise<Array<[string, string, number, string]>> {
  const out: Array<[string, string, number, string]> = [];
  const seen = new Map<number, string>();
  async function walk(dir: string, image: string): Promise<void> {
    const names = (await fs.readdir(dir)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const name of names) {
      const p = path.join(dir, name);
      const ip = `${image}/${name}`;
      const st = await fs.lstat(p);
      if (st.isDirectory()) {
        out.push([ip, 'directory', st.mode & 0o7777, '']);
        await walk(p, ip);
      } else if (st.isSymbolicLink()) {
        out.push([ip, 'symlink', st.mode & 0o7777, await fs.readlink(p)]);
      } else if (st.nlink > 1 && seen.has(st.ino)) {
        out.push([ip, 'link', st.mode & 0o7777, seen.get(st.ino)!]);
      } else {
        if (st.nlink > 1) seen.set(st.ino, ip);
        out.push([ip, 'file', st.mode & 0o7777, (await fs.readFile(p)).toString('base64')]);
      }
    }
  }
  await walk(src, dest);
  return out;
}

test('a tree of thousands of entries: order, metadata, data of every size, links', async (t) => {
  const src = path.join(await tempDir(t), 'src');
  await bigTree(src);
  const got = await all(hostEntries(src, 'app'));
  assert.ok(got.length > 2600);
  assert.deepEqual(got[0]?.path, 'app');
  const shown = got.slice(1).map((e): [string, string, number, string] => [
    e.path,
    e.type,
    e.mode,
    e.type === 'file' ? Buffer.from(e.data ?? '', 'latin1').toString('base64') : (e.linkname ?? ''),
  ]);
  // Compare data as bytes: the test data is ASCII, so latin1 and utf8 agree.
  assert.deepEqual(shown, await expectedTree(src, 'app'));
  for (const e of got) if (e.type === 'file') assert.equal(e.size, Buffer.byteLength(e.data ?? ''), e.path);
});
