import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Entry } from '../src/entries.js';
import { UserError } from '../src/errors.js';
import { readTar, tarStream, type TarEntry } from '../src/tar.js';
import { execFileP, listTar, sparseFile, tempDir, type ListedEntry } from './helpers.js';

// ---------------------------------------------------------------------------------------------
// Helpers

function entry(path: string, fields: Partial<Entry> = {}): Entry {
  return { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0, ...fields };
}

function fileEntry(path: string, data: Buffer | string, fields: Partial<Entry> = {}): Entry {
  const bytes = Buffer.from(data);
  return entry(path, { size: bytes.length, open: () => Readable.from([bytes]), ...fields });
}

async function* lazily<T>(items: Iterable<T>): AsyncGenerator<T> {
  for (const item of items) yield item;
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function tarOf(entries: Entry[]): Promise<Buffer> {
  return collect(tarStream(lazily(entries)));
}

async function writeTar(t: TestContext, entries: Entry[]): Promise<{ file: string; bytes: Buffer }> {
  const bytes = await tarOf(entries);
  const file = path.join(await tempDir(t), 'out.tar');
  await fs.writeFile(file, bytes);
  return { file, bytes };
}

/** Python's tarfile listing of an archive (test/helpers.ts): the reference reader the output must satisfy. */
type PyMember = Omit<ListedEntry, 'type' | 'typeflag' | 'pax'> & { type: string };

async function pyList(file: string): Promise<PyMember[]> {
  return (await listTar(file)).map(({ typeflag, type: _kind, pax: _pax, ...e }) => ({ ...e, type: typeflag }));
}

async function python(script: string, ...args: string[]): Promise<string> {
  const { stdout } = await execFileP('python3', ['-c', script, ...args], { maxBuffer: 64 << 20 });
  return stdout;
}

/** GNU tar's verbose listing, one line per entry. */
async function gnuList(file: string): Promise<string[]> {
  const { stdout } = await execFileP('tar', ['--numeric-owner', '--utc', '-tvf', file], { env: { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8' } });
  return stdout.trimEnd().split('\n');
}

interface RawHeader {
  name: string;
  typeflag: string;
  size: number;
  block: Buffer;
}

/** Every header block of an archive, PAX and long-name headers included, in order. */
function rawHeaders(archive: Buffer): RawHeader[] {
  const headers: RawHeader[] = [];
  let at = 0;
  while (at + 512 <= archive.length) {
    const block = archive.subarray(at, at + 512);
    if (block.every((b) => b === 0)) break;
    const field = (offset: number, length: number) => {
      const raw = block.subarray(offset, offset + length);
      const nul = raw.indexOf(0);
      return raw.subarray(0, nul < 0 ? length : nul).toString('latin1');
    };
    let size = 0;
    if (block[124]! & 0x80) for (let i = 125; i < 136; i++) size = size * 256 + block[i]!;
    else size = parseInt(field(124, 12).trim() || '0', 8);
    const typeflag = String.fromCharCode(block[156]!);
    headers.push({ name: field(0, 100), typeflag, size, block: Buffer.from(block) });
    const data = '123456'.includes(typeflag) ? 0 : size;
    at += 512 + Math.ceil(data / 512) * 512;
  }
  return headers;
}

function field(block: Buffer, offset: number, length: number): string {
  const raw = block.subarray(offset, offset + length);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul < 0 ? length : nul).toString('latin1');
}

async function readAll(archive: Buffer | string, where = 'test.tar'): Promise<Array<TarEntry & { data?: Buffer }>> {
  const input = typeof archive === 'string' ? createReadStream(archive) : Readable.from([archive]);
  const out: Array<TarEntry & { data?: Buffer }> = [];
  for await (const e of readTar(input, where)) {
    const data = e.open ? await collect(e.open()) : undefined;
    out.push(data === undefined ? e : { ...e, data });
  }
  return out;
}

function assertUserError(pattern: RegExp): (err: unknown) => true {
  return (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.match(err.message, pattern);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  };
}

const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

// ---------------------------------------------------------------------------------------------
// Writer

describe('tarStream', () => {
  it('sets every header field from the entry: mtime 0 stays 1970, names stay empty, devices kept', async (t) => {
    const { file, bytes } = await writeTar(t, [
      fileEntry('plain', 'hi', { mtime: 0, uid: 12, gid: 34 }),
      fileEntry('named', 'x', { mtime: 1234567890, uname: 'alice', gname: 'staff' }),
      entry('tty', { type: 'char', mode: 0o620, devmajor: 4, devminor: 64 }),
      entry('sda', { type: 'block', mode: 0o660, devmajor: 8, devminor: 0 }),
      entry('pipe', { type: 'fifo', mode: 0o600 }),
    ]);
    const members = await pyList(file);
    assert.deepEqual(
      members.map((m) => [m.name, m.type, m.mtime, m.uid, m.gid, m.uname, m.gname, m.devmajor, m.devminor]),
      [
        ['plain', '0', 0, 12, 34, '', '', 0, 0],
        ['named', '0', 1234567890, 0, 0, 'alice', 'staff', 0, 0],
        ['tty', '3', 0, 0, 0, '', '', 4, 64],
        ['sda', '4', 0, 0, 0, '', '', 8, 0],
        ['pipe', '6', 0, 0, 0, '', '', 0, 0],
      ],
    );
    assert.equal(members[0]!.sha256, sha('hi'));
    // ustar magic and version: the POSIX format, not GNU's.
    for (const h of rawHeaders(bytes)) assert.equal(h.block.toString('latin1', 257, 265), 'ustar\u000000');
  });

  it('keeps permission bits exactly: 0000, 4755, 2755, 1777', async (t) => {
    const { file } = await writeTar(t, [
      entry('d', { type: 'directory', mode: 0o1777 }),
      fileEntry('d/none', '', { mode: 0 }),
      fileEntry('d/suid', 'x', { mode: 0o4755 }),
      fileEntry('d/sgid', 'x', { mode: 0o2755 }),
      entry('d/empty', { type: 'directory', mode: 0 }),
      entry('d/link', { type: 'symlink', mode: 0o777, linkname: 'suid' }),
    ]);
    const modes = (await pyList(file)).map((m) => [m.name, m.mode.toString(8)]);
    assert.deepEqual(modes, [
      ['d', '1777'],
      ['d/none', '0'],
      ['d/suid', '4755'],
      ['d/sgid', '2755'],
      ['d/empty', '0'],
      ['d/link', '777'],
    ]);
    const gnu = await gnuList(file);
    assert.match(gnu[0]!, /^drwxrwxrwt /);
    assert.match(gnu[1]!, /^---------- /);
    assert.match(gnu[2]!, /^-rwsr-xr-x /);
    assert.match(gnu[3]!, /^-rwxr-sr-x /);
  });

  it('writes the root as "./" and directory names with a trailing "/"', async () => {
    const bytes = await tarOf([
      entry('', { type: 'directory', mode: 0o755 }),
      entry('etc', { type: 'directory', mode: 0o755 }),
      entry('etc/ssl', { type: 'directory', mode: 0o755 }),
      fileEntry('etc/hosts', 'x'),
    ]);
    assert.deepEqual(rawHeaders(bytes).map((h) => [h.name, h.typeflag]), [
      ['./', '5'],
      ['etc/', '5'],
      ['etc/ssl/', '5'],
      ['etc/hosts', '0'],
    ]);
  });

  it('writes hard links with size 0 and no data, so the next entry is intact', async (t) => {
    const { file, bytes } = await writeTar(t, [
      fileEntry('bin/a', 'payload!'),
      entry('bin/b', { type: 'link', linkname: 'bin/a' }),
      fileEntry('bin/c', 'after'),
    ]);
    const headers = rawHeaders(bytes);
    assert.equal(headers[1]!.typeflag, '1');
    assert.equal(headers[1]!.size, 0);
    assert.equal(field(headers[1]!.block, 157, 100), 'bin/a');
    const members = await pyList(file);
    assert.deepEqual(members.map((m) => [m.name, m.type, m.size, m.linkname]), [
      ['bin/a', '0', 8, ''],
      ['bin/b', '1', 0, 'bin/a'],
      ['bin/c', '0', 5, ''],
    ]);
    assert.equal(members[2]!.sha256, sha('after'));
  });

  it('puts UTF-8 and long names and link targets in PAX records that GNU tar and python read', async (t) => {
    const long101 = `${'dir/'.repeat(10)}${'n'.repeat(80)}`; // > 100 bytes but splits into ustar prefix + name
    const long300 = `${'deep/'.repeat(40)}${'f'.repeat(100)}`; // > 255 bytes
    const utf8 = 'données/été/café ☕.txt';
    const longLink = `../${'t'.repeat(150)}`;
    const utf8Dir = 'répertoire';
    const { file, bytes } = await writeTar(t, [
      fileEntry(utf8, 'u'),
      fileEntry(long101, 'l'),
      fileEntry(long300, 'L'),
      entry(utf8Dir, { type: 'directory', mode: 0o755 }),
      entry('sym', { type: 'symlink', mode: 0o777, linkname: longLink }),
      entry('symé', { type: 'symlink', mode: 0o777, linkname: 'cible/été' }),
      entry('hard', { type: 'link', linkname: long300 }),
    ]);
    const expectedNames = [utf8, long101, long300, utf8Dir, 'sym', 'symé', 'hard'];
    const members = await pyList(file);
    assert.deepEqual(members.map((m) => m.name), expectedNames);
    assert.deepEqual(members.map((m) => m.linkname), ['', '', '', '', longLink, 'cible/été', long300]);
    assert.deepEqual(members.map((m) => m.sha256), [sha('u'), sha('l'), sha('L'), undefined, undefined, undefined, undefined]);

    const gnu = await gnuList(file);
    assert.deepEqual(gnu.map((line) => line.replace(/^.* 1970-01-01 00:00 /, '')), [
      utf8,
      long101,
      long300,
      `${utf8Dir}/`,
      `sym -> ${longLink}`,
      'symé -> cible/été',
      `hard link to ${long300}`,
    ]);

    // Exactly one PAX header of ours before each entry that needs one: none of tar-stream's own
    // "PaxHeader" entries, none for the name that fits the ustar prefix.
    const headers = rawHeaders(bytes);
    assert.deepEqual(headers.map((h) => h.typeflag), ['x', '0', '0', 'x', '0', 'x', '5', 'x', '2', 'x', '2', 'x', '1']);
    for (const h of headers) {
      if (h.typeflag === 'x') assert.equal(h.name, '././@PaxHeader');
      else assert.doesNotMatch(h.name, /PaxHeader/);
      assert.match(h.name, /^[\x01-\x7f]*$/, 'ustar names stay ASCII');
    }
    assert.ok(headers[6]!.name.endsWith('/'), 'a directory fallback name ends in "/"');
  });

  it('never gives a file a fallback name ending in "/"', async () => {
    const name = `${'a'.repeat(99)}/é`;
    const headers = rawHeaders(await tarOf([fileEntry(name, 'x')]));
    assert.equal(headers[1]!.typeflag, '0');
    assert.equal(headers[1]!.name.length, 100);
    assert.ok(!headers[1]!.name.endsWith('/'));
    const [back] = await readAll(await tarOf([fileEntry(name, 'x')]));
    assert.equal(back!.path, name);
  });

  it('puts large uid/gid and out-of-range mtimes in PAX records and clamps the ustar fields', async (t) => {
    const { file, bytes } = await writeTar(t, [
      fileEntry('big-ids', 'x', { uid: 300000, gid: 1 << 30 }),
      fileEntry('max-ids', 'x', { uid: 262143, gid: 262143 }),
      fileEntry('before-1970', 'x', { mtime: -86400 }),
      fileEntry('after-2038', 'x', { mtime: 2 ** 31 }),
      fileEntry('year-2242', 'x', { mtime: 2 ** 33 }),
      fileEntry('max-mtime', 'x', { mtime: 2 ** 31 - 1 }),
    ]);
    const members = await pyList(file);
    assert.deepEqual(members.map((m) => [m.name, m.uid, m.gid, m.mtime]), [
      ['big-ids', 300000, 1 << 30, 0],
      ['max-ids', 262143, 262143, 0],
      ['before-1970', 0, 0, -86400],
      ['after-2038', 0, 0, 2 ** 31],
      ['year-2242', 0, 0, 2 ** 33],
      ['max-mtime', 0, 0, 2 ** 31 - 1],
    ]);
    const gnu = await gnuList(file);
    assert.match(gnu[0]!, / 300000\/1073741824 /);
    assert.match(gnu[2]!, / 1969-12-31 00:00 before-1970$/);
    assert.match(gnu[3]!, / 2038-01-19 03:14 after-2038$/);

    const headers = rawHeaders(bytes);
    assert.deepEqual(headers.map((h) => h.typeflag), ['x', '0', '0', 'x', '0', 'x', '0', 'x', '0', '0']);
    const ustar = headers.filter((h) => h.typeflag === '0');
    assert.equal(field(ustar[0]!.block, 108, 8).trim(), '777777');
    assert.equal(field(ustar[0]!.block, 116, 8).trim(), '777777');
    assert.equal(parseInt(field(ustar[2]!.block, 136, 12), 8), 0);
    assert.equal(parseInt(field(ustar[3]!.block, 136, 12), 8), 2 ** 31 - 1);
    assert.equal(parseInt(field(ustar[4]!.block, 136, 12), 8), 2 ** 31 - 1);
  });

  it('writes xattrs as SCHILY.xattr records with their exact bytes', async (t) => {
    const odd = Buffer.from('a=b\nc\u0000d', 'latin1');
    const { file } = await writeTar(t, [
      fileEntry('cap', 'x', {
        xattrs: new Map([
          ['user.x', Buffer.from([0x00, 0xff, 0x80])],
          ['security.capability', Buffer.from('0100000200200000000000000000000000000000', 'hex')],
          ['user.odd', odd],
          ['user.empty', Buffer.alloc(0)],
        ]),
      }),
    ]);
    const [member] = await pyList(file);
    assert.deepEqual(member!.xattrs, {
      'security.capability': '0100000200200000000000000000000000000000',
      'user.empty': '',
      'user.odd': odd.toString('hex'),
      'user.x': '00ff80',
    });
    const [back] = await readAll(file);
    assert.deepEqual(back!.xattrs, new Map([
      ['security.capability', Buffer.from('0100000200200000000000000000000000000000', 'hex')],
      ['user.empty', Buffer.alloc(0)],
      ['user.odd', odd],
      ['user.x', Buffer.from([0x00, 0xff, 0x80])],
    ]));
  });

  it('refuses xattr names a PAX record cannot hold, and device numbers ustar cannot hold', async () => {
    await assert.rejects(
      tarOf([fileEntry('f', 'x', { xattrs: new Map([['user.a=b', Buffer.from('v')]]) })]),
      assertUserError(/^\/f: extended attribute name "user\.a=b"/),
    );
    await assert.rejects(
      tarOf([entry('dev', { type: 'char', devmajor: 1, devminor: 1 << 20 })]),
      assertUserError(/^\/dev: device numbers 1,1048576 do not fit/),
    );
  });

  it('gives sizes of 8 GiB and more a header that python and GNU tar decode (base-256 plus PAX size)', async (t) => {
    const size = 9 * 2 ** 30;
    let produced = 0;
    const zeros = new Readable({
      read() {
        produced += 65536;
        this.push(Buffer.alloc(65536));
      },
    });
    const out = tarStream(lazily([entry('huge', { size, open: () => zeros })]));
    const chunks: Buffer[] = [];
    let have = 0;
    for await (const chunk of out) {
      chunks.push(chunk as Buffer);
      have += (chunk as Buffer).length;
      if (have >= 4096) break; // leaving the loop destroys the stream
    }
    assert.ok(produced < 2 ** 24, 'only the start of the data was read');
    const head = Buffer.concat(chunks).subarray(0, 4096);
    const headers = rawHeaders(head);
    assert.deepEqual(headers.map((h) => h.typeflag).slice(0, 2), ['x', '0']);
    assert.equal(headers[1]!.block[124], 0x80, 'the ustar size field is base-256');
    assert.equal(headers[1]!.size, size);

    const file = path.join(await tempDir(t), 'head.tar');
    await fs.writeFile(file, head);
    const fromPython = await python(
      `import tarfile, sys
blocks = open(sys.argv[1], 'rb').read()
ustar = tarfile.TarInfo.frombuf(blocks[1024:1536], 'utf-8', 'surrogateescape')
tf = tarfile.open(sys.argv[1], 'r|')
m = tf.next()
print(ustar.size, m.size, m.name)`,
      file,
    );
    assert.equal(fromPython.trim(), `${size} ${size} huge`);
    const gnu = await execFileP('tar', ['-tvf', file]).catch((err: { stdout: string }) => err);
    assert.match(gnu.stdout, new RegExp(` ${size} .* huge\\n`));
  });

  it('fails naming the path when the data is longer or shorter than the size', async () => {
    await assert.rejects(
      tarOf([{ ...fileEntry('etc/grew', 'xyz'), size: 0 }, entry('etc/after')]),
      assertUserError(/^\/etc\/grew: file changed size while being read \(expected 0 bytes, got more\)$/),
    );
    await assert.rejects(
      tarOf([{ ...fileEntry('etc/shrank', 'abc'), size: 10 }]),
      assertUserError(/^\/etc\/shrank: file changed size while being read \(expected 10 bytes, got 3\)$/),
    );
  });

  it('destroys the output with the error of a source that fails midway', async () => {
    const failing = new Readable({
      read() {
        if (this.readableLength === 0 && !(this as { sent?: boolean }).sent) {
          (this as { sent?: boolean }).sent = true;
          this.push(Buffer.alloc(1000));
        } else {
          this.destroy(new Error('disk on fire'));
        }
      },
    });
    const out = tarStream(lazily([fileEntry('ok', 'fine'), entry('bad', { size: 5000, open: () => failing }), fileEntry('never', 'x')]));
    await assert.rejects(pipeline(out, new Writable({ write: (_c, _e, cb) => cb() })), /disk on fire/);
    assert.ok(out.destroyed);
  });

  it('destroys the output with the error of the entries themselves', async () => {
    async function* entries(): AsyncGenerator<Entry> {
      yield fileEntry('first', 'x');
      throw new UserError('rootfs.tar: entry "../x": path has a ".." component');
    }
    await assert.rejects(collect(tarStream(entries())), assertUserError(/"\.\." component/));
  });

  it('is deterministic: the same entries give the same bytes', async () => {
    const entries = () => [
      entry('', { type: 'directory', mode: 0o755 }),
      fileEntry('a', 'alpha', { mtime: 1700000000, uid: 1000, gid: 1000 }),
      fileEntry('ü'.repeat(80), 'beta', { xattrs: new Map([['user.b', Buffer.from('2')], ['user.a', Buffer.from('1')]]) }),
      entry('l', { type: 'symlink', mode: 0o777, linkname: 'a' }),
    ];
    const one = await tarOf(entries());
    const two = await tarOf(entries());
    assert.ok(one.equals(two));
    assert.equal(one.length % 512, 0);
    assert.ok(one.subarray(-1024).equals(Buffer.alloc(1024)), 'ends with two zero blocks');
  });

  it('writes ustar headers byte for byte as the tar-stream packer it replaced did (layer digests stay)', async () => {
    const long = `${'dir/'.repeat(30)}file`; // over 100 bytes: split into prefix and name
    const written: Entry[] = [
      entry('', { type: 'directory', mode: 0o755, mtime: 5 }),
      fileEntry('a', 'alpha', { mtime: 1700000000, uid: 1000, gid: 1000, mode: 0o4755 }),
      fileEntry(long, 'x'.repeat(700), { uname: 'alice', gname: 'staff' }),
      entry('empty', { mode: 0 }),
      entry('l', { type: 'symlink', mode: 0o777, linkname: 'a' }),
      entry('h', { type: 'link', linkname: 'a' }),
      entry('tty', { type: 'char', mode: 0o620, devmajor: 4, devminor: 64 }),
      entry('pipe', { type: 'fifo', mode: 0o600, mtime: 2 ** 31 - 1 }),
      fileEntry('big', Buffer.alloc(70 * 1024, 7), { uid: 0o777777, gid: 0o777777 }),
    ];
    const ours = await tarOf(written);
    const tarStream3 = await import('tar-stream');
    const pack = tarStream3.pack();
    const types = { file: 'file', directory: 'directory', symlink: 'symlink', link: 'link', char: 'character-device', block: 'block-device', fifo: 'fifo' } as const;
    const bits = { file: 0o100000, directory: 0o040000, symlink: 0o120000, link: 0o100000, char: 0o020000, block: 0o060000, fifo: 0o010000 } as const;
    const theirs = collect(Readable.from(pack as unknown as AsyncIterable<Buffer>));
    for (const e of written) {
      const data = e.open ? await collect(e.open()) : Buffer.alloc(0);
      const name = e.path === '' ? './' : e.type === 'directory' ? `${e.path}/` : e.path;
      pack.entry({
        name, type: types[e.type], mode: bits[e.type] | e.mode, uid: e.uid, gid: e.gid, uname: e.uname ?? '', gname: e.gname ?? '',
        mtime: new Date(e.mtime * 1000), size: data.length, linkname: e.linkname ?? '', devmajor: e.devmajor ?? 0, devminor: e.devminor ?? 0,
      }, data);
    }
    pack.finalize();
    assert.ok(ours.equals(await theirs));
  });

  it('pulls entries lazily, only as the reader wants bytes', async () => {
    let pulled = 0;
    const count = 5000;
    async function* many(): AsyncGenerator<Entry> {
      for (let i = 0; i < count; i++) {
        pulled++;
        yield entry(`d${i}`, { type: 'directory', mode: 0o755 });
      }
    }
    const out = tarStream(many());
    const ticks = async () => {
      for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    };
    await ticks();
    assert.equal(pulled, 0, 'nothing is pulled before the first read');
    await new Promise<void>((resolve) => out.once('readable', resolve));
    assert.ok(out.read(512) !== null);
    await ticks();
    assert.ok(pulled > 0 && pulled < 300, `pulled ${pulled} of ${count} with no reader`);
    const rest = await collect(out);
    assert.equal(pulled, count);
    assert.equal(rest.length + 512, count * 512 + 1024);
  });
});

// ---------------------------------------------------------------------------------------------
// Reader

describe('readTar', () => {
  it('reads back what tarStream writes, field for field', async () => {
    const written: Entry[] = [
      entry('', { type: 'directory', mode: 0o755, mtime: 5 }),
      fileEntry('bin/sh', 'ELF', { mode: 0o4755, uid: 300000, gid: 7, mtime: -3, uname: 'root', gname: 'wheel' }),
      entry('bin/ash', { type: 'link', linkname: 'bin/sh' }),
      entry('bin/busybox', { type: 'symlink', mode: 0o777, linkname: '/bin/sh' }),
      entry('dev/null', { type: 'char', mode: 0o666, devmajor: 1, devminor: 3 }),
      entry('dev/sda', { type: 'block', mode: 0o660, devmajor: 8, devminor: 0 }),
      entry('run/fifo', { type: 'fifo', mode: 0o600 }),
      entry(`${'é'.repeat(200)}`, { type: 'directory', mode: 0o1777, mtime: 2 ** 34 }),
    ];
    const back = await readAll(await tarOf(written));
    assert.deepEqual(back.map((e) => [e.path, e.type, e.mode, e.uid, e.gid, e.mtime, e.size, e.linkname, e.devmajor, e.devminor]), written.map((e) => [
      e.path, e.type, e.mode, e.uid, e.gid, e.mtime, e.size, e.linkname, e.devmajor, e.devminor,
    ]));
    assert.deepEqual(back.map((e) => e.name), ['./', 'bin/sh', 'bin/ash', 'bin/busybox', 'dev/null', 'dev/sda', 'run/fifo', `${'é'.repeat(200)}/`]);
    assert.equal(back[1]!.uname, 'root');
    assert.equal(back[1]!.data!.toString(), 'ELF');
    assert.equal(back[2]!.open, undefined);
  });

  it('reads GNU archives: L/K long names and base-256 numbers', async (t) => {
    const dir = await tempDir(t);
    const longName = `${'sub/'.repeat(30)}${'z'.repeat(120)}`;
    const longTarget = 't'.repeat(150);
    const file = path.join(dir, 'gnu.tar');
    await python(
      `import tarfile, io, sys
with tarfile.open(sys.argv[1], 'w', format=tarfile.GNU_FORMAT) as tf:
    ti = tarfile.TarInfo(sys.argv[2]); ti.size = 3; ti.uid = 3000000; ti.gid = 2 ** 40; ti.mtime = 2 ** 36; ti.mode = 0o640
    tf.addfile(ti, io.BytesIO(b'abc'))
    ti = tarfile.TarInfo('link'); ti.type = tarfile.SYMTYPE; ti.linkname = sys.argv[3]; ti.mode = 0o777
    tf.addfile(ti)
    ti = tarfile.TarInfo('neg'); ti.size = 0; ti.mtime = -2 ** 40
    tf.addfile(ti)`,
      file,
      longName,
      longTarget,
    );
    const headers = rawHeaders(await fs.readFile(file));
    assert.deepEqual(headers.map((h) => h.typeflag), ['L', '0', 'K', '2', '0']);
    const back = await readAll(file);
    assert.deepEqual(back.map((e) => [e.path, e.type, e.uid, e.gid, e.mtime, e.mode, e.linkname]), [
      [longName, 'file', 3000000, 2 ** 40, 2 ** 36, 0o640, undefined],
      ['link', 'symlink', 0, 0, 0, 0o777, longTarget],
      // tar-stream decodes negative base-256 one second off (it negates instead of two's complement).
      ['neg', 'file', 0, 0, -(2 ** 40) + 1, 0o644, undefined],
    ]);
    assert.equal(back[0]!.data!.toString(), 'abc');
  });

  it('reads GNU tar archives with long names in every format', async (t) => {
    const dir = await tempDir(t);
    const tree = path.join(dir, 'tree');
    const deep = path.join(tree, ...Array.from({ length: 12 }, (_, i) => `niveau-${i}-é`));
    await fs.mkdir(deep, { recursive: true });
    await fs.writeFile(path.join(deep, 'fichier.txt'), 'contenu');
    await fs.symlink('../'.repeat(3) + 'x'.repeat(120), path.join(tree, 'lien'));
    const rel = path.relative(tree, path.join(deep, 'fichier.txt'));
    for (const format of ['gnu', 'pax', 'oldgnu']) {
      const file = path.join(dir, `${format}.tar`);
      await execFileP('tar', ['-C', tree, `--format=${format}`, '-cf', file, 'lien', rel]);
      const back = await readAll(file);
      assert.deepEqual(back.map((e) => [e.path, e.type, e.linkname]), [
        ['lien', 'symlink', '../'.repeat(3) + 'x'.repeat(120)],
        [rel, 'file', undefined],
      ], format);
      assert.equal(back[1]!.data!.toString(), 'contenu');
    }
  });

  it('reads ustar prefix names', async (t) => {
    const dir = await tempDir(t);
    const name = `${'p'.repeat(120)}/${'n'.repeat(90)}`;
    await fs.mkdir(path.join(dir, 'p'.repeat(120)));
    await fs.writeFile(path.join(dir, name), 'u');
    const file = path.join(dir, 'ustar.tar');
    await execFileP('tar', ['-C', dir, '--format=ustar', '-cf', file, name]);
    const back = await readAll(file);
    assert.deepEqual(back.map((e) => e.path), [name]);
  });

  it('applies PAX records: global and local, fractional mtimes, names, binary xattrs', async (t) => {
    const file = path.join(await tempDir(t), 'pax.tar');
    await python(
      `import tarfile, io, sys
with tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT, pax_headers={'uid': '4242', 'comment': 'global'}) as tf:
    ti = tarfile.TarInfo('plain'); ti.size = 1
    tf.addfile(ti, io.BytesIO(b'p'))
    ti = tarfile.TarInfo('frac'); ti.size = 1; ti.mtime = 1700000000.75; ti.uname = 'üser'; ti.gname = 'grüppe'
    tf.addfile(ti, io.BytesIO(b'f'))
    ti = tarfile.TarInfo('neg'); ti.mtime = -1.5
    tf.addfile(ti)
    ti = tarfile.TarInfo('xattr'); ti.size = 2; ti.uid = 5
    ti.pax_headers = {'SCHILY.xattr.user.x': b'\\x00\\xff\\x80'.decode('utf-8', 'surrogateescape'),
                      'SCHILY.xattr.security.selinux': 'system_u:object_r:bin_t:s0\\x00'}
    tf.addfile(ti, io.BytesIO(b'xa'))`,
      file,
    );
    const back = await readAll(file);
    assert.deepEqual(back.map((e) => [e.path, e.uid, e.mtime]), [
      ['plain', 4242, 0],
      ['frac', 4242, 1700000000],
      ['neg', 4242, -2],
      ['xattr', 4242, 0], // the global uid record wins over the ustar field, as in python and GNU tar
    ]);
    assert.equal(back[1]!.uname, 'üser');
    assert.equal(back[1]!.gname, 'grüppe');
    assert.deepEqual(back[3]!.xattrs, new Map([
      ['user.x', Buffer.from([0x00, 0xff, 0x80])],
      ['security.selinux', Buffer.from('system_u:object_r:bin_t:s0\0')],
    ]));
    assert.equal(back[0]!.paxRecords.get('comment')!.toString(), 'global');
    assert.deepEqual(back.map((e) => e.data!.toString()), ['p', 'f', '', 'xa']);
  });

  it('maps every type, reads contiguous files as files and old "name/" files as directories', async (t) => {
    const file = path.join(await tempDir(t), 'types.tar');
    await python(
      `import tarfile, io, sys
with tarfile.open(sys.argv[1], 'w', format=tarfile.USTAR_FORMAT) as tf:
    def add(name, type, data=b'', **kw):
        ti = tarfile.TarInfo(name); ti.type = type; ti.size = len(data)
        for k, v in kw.items(): setattr(ti, k, v)
        tf.addfile(ti, io.BytesIO(data))
    add('c', tarfile.CHRTYPE, devmajor=5, devminor=1)
    add('b', tarfile.BLKTYPE, devmajor=7, devminor=2)
    add('p', tarfile.FIFOTYPE)
    add('cont', tarfile.CONTTYPE, b'contig')
    add('old/', tarfile.REGTYPE)
    add('s', tarfile.SYMTYPE, linkname='cont')
    add('h', tarfile.LNKTYPE, linkname='./cont')`,
      file,
    );
    const back = await readAll(file);
    assert.deepEqual(back.map((e) => [e.path, e.type, e.devmajor, e.devminor, e.linkname]), [
      ['c', 'char', 5, 1, undefined],
      ['b', 'block', 7, 2, undefined],
      ['p', 'fifo', undefined, undefined, undefined],
      ['cont', 'file', undefined, undefined, undefined],
      ['old', 'directory', undefined, undefined, undefined],
      ['s', 'symlink', undefined, undefined, 'cont'],
      ['h', 'link', undefined, undefined, 'cont'],
    ]);
    assert.equal(back[3]!.data!.toString(), 'contig');
  });

  it('turns names into image paths without judging them, keeping the raw name', async (t) => {
    const file = path.join(await tempDir(t), 'names.tar');
    await python(
      `import tarfile, sys
with tarfile.open(sys.argv[1], 'w', format=tarfile.USTAR_FORMAT) as tf:
    for name in ['./', '/', '//', './a/', '././b', '/etc/passwd', '../x', 'a/../../y']:
        ti = tarfile.TarInfo(name); ti.type = tarfile.DIRTYPE if name.endswith('/') else tarfile.REGTYPE
        tf.addfile(ti)`,
      file,
    );
    const back = await readAll(file);
    assert.deepEqual(back.map((e) => [e.name, e.path]), [
      ['./', ''],
      ['/', ''],
      ['//', ''],
      ['./a/', 'a'],
      ['././b', 'b'],
      ['/etc/passwd', '/etc/passwd'],
      ['../x', '../x'],
      ['a/../../y', 'a/../../y'],
    ]);
  });

  it('refuses GNU sparse entries, PAX sparse entries (0.0, 0.1 and 1.0) and unknown types', async (t) => {
    const dir = await tempDir(t);
    const sparse = path.join(dir, 'holes');
    await sparseFile(sparse, 10 * 1024 * 1024, 5_000_000);
    const variants: Array<[string, string[]]> = [
      ['gnu', ['--format=gnu']],
      ['pax-1.0', ['--format=pax']],
      ['pax-0.1', ['--format=pax', '--sparse-version=0.1']],
      ['pax-0.0', ['--format=pax', '--sparse-version=0.0']],
    ];
    for (const [label, flags] of variants) {
      const file = path.join(dir, `${label}.tar`);
      await execFileP('tar', ['-C', dir, '--sparse', ...flags, '-cf', file, 'holes']);
      await assert.rejects(readAll(file, `--layer ${label}.tar`), assertUserError(
        label === 'gnu'
          ? /^--layer gnu\.tar: entry "holes": unsupported entry type \(a GNU sparse file/
          : new RegExp(`^--layer ${label.replace('.', '\\.')}\\.tar: entry "holes": sparse file \\(GNU\\.sparse PAX records\\)`),
      ), label);
    }
    const volume = path.join(dir, 'volume.tar');
    await python(
      `import tarfile, sys
with tarfile.open(sys.argv[1], 'w', format=tarfile.USTAR_FORMAT) as tf:
    ti = tarfile.TarInfo('label'); ti.type = b'V'
    tf.addfile(ti)`,
      volume,
    );
    await assert.rejects(readAll(volume), assertUserError(/^test\.tar: entry "label": unsupported entry type/));
  });

  it('refuses names that are not UTF-8', async (t) => {
    const file = path.join(await tempDir(t), 'latin1.tar');
    await python(
      `import tarfile, sys
with tarfile.open(sys.argv[1], 'w', format=tarfile.USTAR_FORMAT, encoding='latin-1') as tf:
    tf.addfile(tarfile.TarInfo('caf\\xe9'))`,
      file,
    );
    await assert.rejects(readAll(file), assertUserError(/^test\.tar: entry "caf\uFFFD": name or link target is not valid UTF-8$/));
  });

  it('turns a truncated or corrupt archive into a UserError naming it', async () => {
    const archive = await tarOf([fileEntry('first', 'x'.repeat(3000)), fileEntry('second', 'y')]);
    // Cut in the middle of the first entry's data: the entry's data stream fails too.
    const cut = archive.subarray(0, 1536);
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const e of readTar(Readable.from([cut]), 'cut.tar')) {
          seen.push(e.path);
          await collect(e.open!());
        }
      })(),
      assertUserError(/^cut\.tar: is not a tar archive or is truncated: /),
    );
    assert.deepEqual(seen, ['first']);
    // Cut in a header.
    await assert.rejects(readAll(archive.subarray(0, 3584 + 100), 'cut.tar'), assertUserError(/^cut\.tar: is not a tar archive or is truncated: Unexpected end of data$/));
    // Not a tar at all.
    await assert.rejects(readAll(Buffer.alloc(2048, 'not a tar archive\n'), 'junk.bin'), assertUserError(/^junk\.bin: is not a tar archive or is truncated: Invalid tar header/));
    // A malformed PAX record.
    const pax = await tarOf([fileEntry('é', 'x')]);
    pax.write('99', 512, 'latin1');
    await assert.rejects(readAll(pax, 'pax.tar'), assertUserError(/^pax\.tar: malformed PAX extended header$/));
  });

  it('skips the data of entries the consumer does not open', async () => {
    const archive = await tarOf([
      fileEntry('a', 'A'.repeat(100000)),
      fileEntry('b', 'B'.repeat(700)),
      fileEntry('c', 'C'.repeat(70000)),
      fileEntry('d', 'D'),
    ]);
    const seen: Array<[string, string]> = [];
    for await (const e of readTar(Readable.from([archive]), 'skip.tar')) {
      if (e.path === 'c' || e.path === 'd') {
        const data = await collect(e.open!());
        seen.push([e.path, sha(data)]);
      } else {
        seen.push([e.path, '-']);
      }
    }
    assert.deepEqual(seen, [['a', '-'], ['b', '-'], ['c', sha('C'.repeat(70000))], ['d', sha('D')]]);
  });

  it('reads binary PAX values exactly (this fails if the hook into tar-stream stops working)', async () => {
    const value = Buffer.from([0xc3, 0x28, 0x00, 0xff, 0xfe, 0x0a, 0x3d]);
    const [back] = await readAll(await tarOf([fileEntry('f', 'x', { xattrs: new Map([['user.bin', value]]) })]));
    assert.deepEqual(back!.paxRecords.get('SCHILY.xattr.user.bin'), value);
    assert.deepEqual(back!.xattrs!.get('user.bin'), value);
  });
});

describe('tarStream onEntry', () => {
  it('sees each entry before it is written; its throw fails the stream and pulls no more', async () => {
    const seen: string[] = [];
    let pulled = 0;
    async function* entries(): AsyncGenerator<Entry> {
      for (const name of ['a', 'b', 'c', 'd']) {
        pulled++;
        yield fileEntry(name, name.repeat(3));
      }
    }
    const ok = await collect(tarStream(entries(), { onEntry: (e) => seen.push(e.path) }));
    assert.deepEqual(seen, ['a', 'b', 'c', 'd']);
    assert.ok(ok.equals(await tarOf(['a', 'b', 'c', 'd'].map((n) => fileEntry(n, n.repeat(3))))), 'the same bytes as without onEntry');
    pulled = 0;
    const failing = tarStream(entries(), { onEntry: (e) => { if (e.path === 'b') throw new Error('b refused'); } });
    await assert.rejects(collect(failing), /b refused/);
    assert.equal(pulled, 2);
  });
});
