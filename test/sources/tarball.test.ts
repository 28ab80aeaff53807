import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import type { Entry } from '../../src/entries.js';
import { UserError } from '../../src/errors.js';
import { tarballEntries } from '../../src/sources/tarball.js';
import { tarStream } from '../../src/tar.js';
import { execFileP, listTar, sparseFile, tempDir, type ListedEntry } from '../helpers.js';

// ---------------------------------------------------------------------------------------------
// Helpers

async function python(script: string, ...args: string[]): Promise<void> {
  await execFileP('python3', ['-c', script, ...args]);
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Every entry of a tarball, its data read as the contract asks. */
async function entriesOf(file: string, where?: string): Promise<Array<Entry & { data?: string }>> {
  const out: Array<Entry & { data?: string }> = [];
  for await (const e of tarballEntries(file, where === undefined ? {} : { where })) {
    out.push(e.open ? { ...e, data: (await collect(e.open())).toString() } : e);
  }
  return out;
}

function assertUserError(pattern: RegExp, code = 'EINPUT'): (err: unknown) => true {
  return (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  };
}

/**
 * A tarball made by python's tarfile from a list of members: [name, type, extra] where type is a
 * tarfile type constant name and extra holds TarInfo attributes (data goes in "data").
 */
async function pyTar(file: string, members: Array<[string, string, Record<string, unknown>?]>): Promise<void> {
  await python(
    `import tarfile, io, sys, json
with tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT) as tf:
    for name, type, extra in json.loads(sys.argv[2]):
        ti = tarfile.TarInfo(name); ti.type = getattr(tarfile, type)
        data = (extra or {}).pop('data', '').encode()
        ti.size = len(data)
        for k, v in (extra or {}).items(): setattr(ti, k, v)
        tf.addfile(ti, io.BytesIO(data))`,
    file,
    JSON.stringify(members.map(([n, t, e]) => [n, t, e ?? null])),
  );
}

/** Python's tarfile listing of an archive (test/helpers.ts): the reference reader the output must satisfy. */
type PyMember = Omit<ListedEntry, 'type' | 'typeflag' | 'pax'> & { type: string };

async function pyList(file: string): Promise<PyMember[]> {
  return (await listTar(file)).map(({ typeflag, type: _kind, pax: _pax, ...e }) => ({ ...e, type: typeflag }));
}

/** python's view of an archive, with the differences a rewrite may make taken out. */
function comparable(members: PyMember[], names: 'keep' | 'drop'): PyMember[] {
  const clean = (n: string) => (n === '.' ? '' : n.replace(/^(\.\/)+/, ''));
  return members.map((m) => ({
    ...m,
    name: clean(m.name),
    type: m.type === '7' ? '0' : m.type,
    linkname: m.type === '1' ? clean(m.linkname) : m.linkname,
    uname: names === 'keep' ? m.uname : '',
    gname: names === 'keep' ? m.gname : '',
  }));
}

const LONG_UTF8 = `données-${'é'.repeat(60)}.conf`;
const DEEP = Array.from({ length: 10 }, (_, i) => `répertoire-${i}`).join('/');

/** A small rootfs on disk: setuid/setgid files, symlinks, a hard link, a fifo, long UTF-8 names. */
async function rootfsTree(dir: string): Promise<string> {
  const tree = path.join(dir, 'tree');
  const mk = (p: string, mode: number) => fs.mkdir(path.join(tree, p), { recursive: true }).then(() => fs.chmod(path.join(tree, p), mode));
  await mk('bin', 0o755);
  await mk('usr/bin', 0o755);
  await mk('tmp', 0o1777);
  await mk('var/empty', 0o700);
  await mk('run', 0o755);
  await mk('etc', 0o755);
  await mk(DEEP, 0o750);
  const file = async (p: string, data: string, mode: number) => {
    await fs.writeFile(path.join(tree, p), data);
    await fs.chmod(path.join(tree, p), mode);
  };
  await file('bin/busybox', '#!busybox\n', 0o755);
  await fs.link(path.join(tree, 'bin/busybox'), path.join(tree, 'bin/ls'));
  await fs.symlink('busybox', path.join(tree, 'bin/sh'));
  await fs.symlink('/bin/busybox', path.join(tree, 'usr/bin/env'));
  await fs.symlink('../../etc/' + LONG_UTF8, path.join(tree, 'usr/bin/conf'));
  await file('usr/bin/su', 'su', 0o4755);
  await file('usr/bin/wall', 'wall', 0o2755);
  await file('etc/shadow', '', 0);
  await file(`etc/${LONG_UTF8}`, 'conf=1\n', 0o644);
  await file(`${DEEP}/fichier-profond.txt`, 'profond', 0o640);
  await execFileP('mkfifo', ['-m', '600', path.join(tree, 'run/initctl')]);
  return tree;
}

/** The tree as a python PAX tarball, with device nodes and binary xattrs added as records. */
async function pythonRootfs(t: TestContext, compressed: boolean): Promise<string> {
  const dir = await tempDir(t);
  const tree = await rootfsTree(dir);
  const file = path.join(dir, compressed ? 'rootfs-py.tar.gz' : 'rootfs-py.tar');
  await python(
    `import tarfile, io, sys
def owner(ti):
    ti.uid, ti.gid, ti.uname, ti.gname = 1000, 100, 'alice', 'users'
    return ti
with tarfile.open(sys.argv[1], 'w:gz' if sys.argv[3] == '1' else 'w', format=tarfile.PAX_FORMAT) as tf:
    tf.add(sys.argv[2], arcname='.', filter=owner)
    d = tarfile.TarInfo('./dev'); d.type = tarfile.DIRTYPE; d.mode = 0o755; d.mtime = 1600000000
    tf.addfile(d)
    for name, type, major, minor in [('./dev/null', tarfile.CHRTYPE, 1, 3), ('./dev/sda', tarfile.BLKTYPE, 8, 0)]:
        ti = tarfile.TarInfo(name); ti.type = type; ti.devmajor = major; ti.devminor = minor; ti.mode = 0o660
        tf.addfile(ti)
    ti = tarfile.TarInfo('./bin/ping'); ti.mode = 0o755; ti.size = 4
    ti.pax_headers = {'SCHILY.xattr.user.x': b'\\x00\\xff\\x80'.decode('utf-8', 'surrogateescape'),
                      'SCHILY.xattr.security.capability': bytes.fromhex('0100000200200000000000000000000000000000').decode('utf-8', 'surrogateescape')}
    tf.addfile(ti, io.BytesIO(b'ping'))`,
    file,
    tree,
    compressed ? '1' : '0',
  );
  return file;
}

/** tarballEntries → tarStream → a file, as a --layer does it (without the normalisation). */
async function rewrite(t: TestContext, input: string): Promise<string> {
  const out = path.join(await tempDir(t), 'rewritten.tar');
  await pipeline(tarStream(tarballEntries(input)), createWriteStream(out));
  return out;
}

// ---------------------------------------------------------------------------------------------

describe('tarballEntries', () => {
  it('round-trips a python PAX rootfs: modes, owners, types, links, devices, xattr bytes, data', async (t) => {
    const input = await pythonRootfs(t, false);
    const before = await pyList(input);
    // The fixture holds what the test claims it does.
    const byName = new Map(comparable(before, 'keep').map((m) => [m.name, m]));
    assert.equal(byName.get('usr/bin/su')!.mode, 0o4755);
    assert.equal(byName.get('usr/bin/wall')!.mode, 0o2755);
    assert.equal(byName.get('tmp')!.mode, 0o1777);
    assert.equal(byName.get('etc/shadow')!.mode, 0);
    assert.equal(byName.get('bin/ls')!.type, '1');
    assert.equal(byName.get('run/initctl')!.type, '6');
    assert.deepEqual([byName.get('dev/null')!.type, byName.get('dev/null')!.devmajor, byName.get('dev/null')!.devminor], ['3', 1, 3]);
    assert.equal(byName.get('bin/ping')!.xattrs['user.x'], '00ff80');
    assert.ok(byName.has(`etc/${LONG_UTF8}`) && byName.has(`${DEEP}/fichier-profond.txt`));

    const after = await pyList(await rewrite(t, input));
    assert.deepEqual(comparable(after, 'keep'), comparable(before, 'drop'));
  });

  it('round-trips a GNU tar gzip rootfs, dropping user and group names and keeping mtimes', async (t) => {
    const dir = await tempDir(t);
    const tree = await rootfsTree(dir);
    const input = path.join(dir, 'rootfs.tar.gz');
    await execFileP('tar', [
      '-C', tree, '--format=gnu', '--sort=name', '--owner=alice:1234', '--group=staff:5678',
      '--mtime=@1234567890', '-czf', input, '.',
    ]);
    const before = await pyList(input);
    assert.ok(before.some((m) => m.name.length > 100), 'the fixture has long names (GNU L records)');
    const entries = await entriesOf(input);
    assert.deepEqual(new Set(entries.map((e) => `${e.uid}:${e.gid}:${e.uname}:${e.gname}:${e.mtime}`)), new Set(['1234:5678:::1234567890']));
    assert.equal(entries[0]!.path, '');
    // GNU tar names the link target "./bin/busybox": it comes out as an image path.
    const ls = entries.find((e) => e.path === 'bin/ls')!;
    assert.deepEqual([ls.type, ls.linkname, ls.size, ls.open], ['link', 'bin/busybox', 0, undefined]);

    const after = await pyList(await rewrite(t, input));
    assert.deepEqual(comparable(after, 'keep'), comparable(before, 'drop'));
  });

  it('reads gzip detected from the bytes, whatever the file is called', async (t) => {
    const input = await pythonRootfs(t, true);
    const renamed = path.join(path.dirname(input), 'rootfs.tar');
    await fs.rename(input, renamed);
    const entries = await entriesOf(renamed);
    const ping = entries.find((e) => e.path === 'bin/ping')!;
    assert.equal(ping.data, 'ping');
    assert.deepEqual(ping.xattrs!.get('user.x'), Buffer.from([0x00, 0xff, 0x80]));
    const sda = entries.find((e) => e.path === 'dev/sda')!;
    assert.deepEqual([sda.type, sda.devmajor, sda.devminor, sda.mode], ['block', 8, 0, 0o660]);
    assert.equal(entries.find((e) => e.path === 'run/initctl')!.type, 'fifo');
  });

  it('keeps absolute symlinks, links that stay inside, the root as "./" or "/"', async (t) => {
    const file = path.join(await tempDir(t), 'ok.tar');
    await pyTar(file, [
      ['/', 'DIRTYPE', { mode: 0o700 }],
      ['bin/', 'DIRTYPE'],
      ['bin/busybox', 'REGTYPE', { data: 'v1' }],
      ['bin/env', 'SYMTYPE', { linkname: '/bin/busybox' }],
      ['bin/up', 'SYMTYPE', { linkname: '../bin/busybox' }],
      ['bin/root', 'SYMTYPE', { linkname: '..' }],
      ['./bin/ls', 'LNKTYPE', { linkname: './bin/busybox' }],
      ['bin//./cat', 'LNKTYPE', { linkname: 'bin/ls' }],
    ]);
    const entries = await entriesOf(file);
    assert.deepEqual(entries.map((e) => [e.path, e.type, e.linkname, e.data]), [
      ['', 'directory', undefined, undefined],
      ['bin', 'directory', undefined, undefined],
      ['bin/busybox', 'file', undefined, 'v1'],
      ['bin/env', 'symlink', '/bin/busybox', undefined],
      ['bin/up', 'symlink', '../bin/busybox', undefined],
      ['bin/root', 'symlink', '..', undefined],
      ['bin/ls', 'link', 'bin/busybox', undefined],
      ['bin/cat', 'link', 'bin/ls', undefined],
    ]);
    assert.equal(entries[0]!.mode.toString(8), '700');
  });

  it('refuses a path the archive lists twice (docker refuses such a layer), however it is spelt', async (t) => {
    for (const [first, second, shown] of [['./', '/', 'the root'], ['bin/busybox', './bin//busybox', '"bin/busybox"']] as const) {
      const file = path.join(await tempDir(t), 'twice.tar');
      const member = (name: string, data: string): [string, string, Record<string, unknown>] => (name.endsWith('/') ? [name, 'DIRTYPE', {}] : [name, 'REGTYPE', { data }]);
      await pyTar(file, [['bin/', 'DIRTYPE'], member(first, 'v1'), member(second, 'v2')]);
      await assert.rejects(entriesOf(file), (e: unknown) => e instanceof UserError && e.message.includes(`${file}: entry `) && e.message.includes(`${shown} comes twice in the archive`));
    }
  });

  describe('refuses unsafe entries, naming the archive and the entry', () => {
    const hostile: Array<[string, Array<[string, string, Record<string, unknown>?]>, RegExp]> = [
      ['a climbing path', [['../x', 'REGTYPE']], /^bad\.tar: entry "\.\.\/x": path has a "\.\." component$/],
      ['an absolute path', [['/etc/passwd', 'REGTYPE']], /^bad\.tar: entry "\/etc\/passwd": absolute path$/],
      ['".." in the middle', [['a/../../x', 'REGTYPE']], /^bad\.tar: entry "a\/\.\.\/\.\.\/x": path has a "\.\." component$/],
      ['"a/.." that stays inside', [['a/..', 'DIRTYPE']], /^bad\.tar: entry "a\/\.\.\/": path has a "\.\." component$/],
      ['an escaping symlink', [['a', 'SYMTYPE', { linkname: '../../etc' }]], /^bad\.tar: entry "a": symlink target "\.\.\/\.\.\/etc" points outside the root$/],
      ['a nested escaping symlink', [['sub/l', 'SYMTYPE', { linkname: '../../x' }]], /^bad\.tar: entry "sub\/l": symlink target "\.\.\/\.\.\/x" points outside the root$/],
      ['a hard link to an absolute path', [['h', 'LNKTYPE', { linkname: '/etc/shadow' }]], /^bad\.tar: entry "h": hard link target "\/etc\/shadow" is an absolute path$/],
      ['a hard link with ".."', [['a', 'REGTYPE'], ['h', 'LNKTYPE', { linkname: 'x/../a' }]], /^bad\.tar: entry "h": hard link target "x\/\.\.\/a" has a "\.\." component$/],
      ['a hard link to a later entry', [['h', 'LNKTYPE', { linkname: 'later' }], ['later', 'REGTYPE']], /^bad\.tar: entry "h": hard link to "later", which is not an earlier entry of the archive$/],
      ['a hard link to nothing', [['h', 'LNKTYPE', { linkname: 'nothing' }]], /^bad\.tar: entry "h": hard link to "nothing", which is not an earlier entry/],
      ['a hard link to a directory', [['d/', 'DIRTYPE'], ['h', 'LNKTYPE', { linkname: 'd' }]], /^bad\.tar: entry "h": hard link to the directory "d"$/],
      ['a root that is a file', [['.', 'REGTYPE']], /^bad\.tar: entry "\.": the root must be a directory, not a file$/],
    ];
    for (const [label, members, pattern] of hostile) {
      it(label, async (t) => {
        const file = path.join(await tempDir(t), 'bad.tar');
        await pyTar(file, [['ok', 'REGTYPE', { data: 'fine' }], ...members]);
        await assert.rejects(entriesOf(file, 'bad.tar'), assertUserError(pattern));
      });
    }

    it('GNU and PAX sparse files', async (t) => {
      const dir = await tempDir(t);
      const sparse = path.join(dir, 'holes');
      await sparseFile(sparse, 10 * 1024 * 1024, 5_000_000);
      for (const format of ['gnu', 'pax']) {
        const file = path.join(dir, `${format}.tar`);
        await execFileP('tar', ['-C', dir, '--sparse', `--format=${format}`, '-cf', file, 'holes']);
        await assert.rejects(entriesOf(file, `--layer ${format}.tar`), assertUserError(
          format === 'gnu'
            ? /^--layer gnu\.tar: entry "holes": unsupported entry type \(a GNU sparse file/
            : /^--layer pax\.tar: entry "holes": sparse file \(GNU\.sparse PAX records\) is not supported/,
        ));
      }
    });
  });

  it('refuses a truncated archive, plain or gzip', async (t) => {
    const dir = await tempDir(t);
    const whole = path.join(dir, 'whole.tar');
    await pyTar(whole, [['a', 'REGTYPE', { data: 'x'.repeat(5000) }], ['b', 'REGTYPE', { data: 'y' }]]);
    const bytes = await fs.readFile(whole);
    const plain = path.join(dir, 'cut.tar');
    await fs.writeFile(plain, bytes.subarray(0, 2048));
    await assert.rejects(entriesOf(plain), assertUserError(/^.*cut\.tar: is not a tar archive or is truncated: /));
    const gz = gzipSync(bytes);
    const gzCut = path.join(dir, 'cut.tar.gz');
    await fs.writeFile(gzCut, gz.subarray(0, gz.length - 40));
    await assert.rejects(entriesOf(gzCut, '--layer cut.tar.gz'), assertUserError(/^--layer cut\.tar\.gz: is not a tar archive or is truncated: /));
    const junk = path.join(dir, 'junk.tar');
    await fs.writeFile(junk, 'this is not a tar archive, just some text that goes on\n'.repeat(40));
    await assert.rejects(entriesOf(junk, '--layer junk.tar'), assertUserError(/^--layer junk\.tar: is not a tar archive or is truncated: Invalid tar header/));
  });

  it('refuses a missing file, a directory and zstd with clear errors', async (t) => {
    const dir = await tempDir(t);
    await assert.rejects(entriesOf(path.join(dir, 'missing.tar'), '--layer missing.tar'), assertUserError(/^--layer missing\.tar: no such file or directory$/, 'ENOENT'));
    await assert.rejects(entriesOf(dir, '--layer dir'), assertUserError(/^--layer dir: is a directory$/));
    const zst = path.join(dir, 'rootfs.tar.zst');
    await fs.writeFile(zst, Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00, 0x00, 0x00]));
    await assert.rejects(entriesOf(zst), assertUserError(/^.*rootfs\.tar\.zst: zstd-compressed, and this Node\.js .* cannot decompress zstd$/, 'EUNSUPPORTED'));
  });

  it('names the file by its path when no "where" is given', async (t) => {
    const file = path.join(await tempDir(t), 'evil.tar');
    await pyTar(file, [['../x', 'REGTYPE']]);
    await assert.rejects(entriesOf(file), assertUserError(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: entry "\\.\\./x"`)));
  });
});
