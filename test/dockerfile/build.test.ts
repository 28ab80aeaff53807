// Dockerfile builds through the library and the CLI: COPY and ADD rules, WORKDIR, heredocs,
// --chmod, FROM transports and platforms, stages, errors that leave the layout as it was.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { buildImage } from '../../src/build.js';
import { writeDockerArchive } from '../../src/docker/write.js';
import { MediaType } from '../../src/descriptor.js';
import { buildDockerfile, DEFAULT_PATH } from '../../src/dockerfile/build.js';
import { UserError } from '../../src/errors.js';
import { canonicalJson } from '../../src/json.js';
import { Layout } from '../../src/layout.js';
import { HELLO, blobFile, cli, readImage, run, snapshot, tempDir } from '../helpers.js';
import { AMD64, layerEntries, layoutImage, type Seen } from './fixtures.js';

/** A context directory holding `files` (a string is a file's text; null makes a directory). */
async function context(t: TestContext, files: Record<string, string | null>): Promise<string> {
  const dir = await tempDir(t, 'oci-pack-df-');
  for (const [name, content] of Object.entries(files)) {
    const p = path.join(dir, name);
    if (content === null) {
      await fs.mkdir(p, { recursive: true });
    } else {
      await fs.mkdir(path.dirname(p), { recursive: true });
      await fs.writeFile(p, content);
    }
  }
  return dir;
}

/** Build `dockerfile` in a context of `files` into a fresh layout, tagged t:1. */
async function build(t: TestContext, dockerfile: string, files: Record<string, string | null> = {}, extra: Partial<Parameters<typeof buildDockerfile>[0]> = {}) {
  const ctx = await context(t, { Dockerfile: dockerfile, ...files });
  const layout = (extra.layout as string | undefined) ?? path.join(await tempDir(t), 'out');
  const result = await buildDockerfile({ layout, context: ctx, platform: AMD64, tags: ['t:1'], ...extra });
  return { ctx, layout, result, image: await layoutImage(layout, 't:1') };
}

/** A layer's entries as "path type mode uid:gid [link] [content]" lines, sorted by path. */
async function layer(file: string, contents = false): Promise<string[]> {
  const entries = await layerEntries(file);
  const data = new Map<string, string>();
  if (contents) {
    for (const line of (await run('python3', ['-c', 'import sys,tarfile\nfor m in tarfile.open(sys.argv[1]):\n  print(m.name.rstrip("/"), (tarfile.open(sys.argv[1]).extractfile(m).read().decode() if m.isreg() else "").replace("\\n","|"))', file])).split('\n')) {
      const i = line.indexOf(' ');
      if (i > 0) data.set(line.slice(0, i).replace(/^\.\//, ''), line.slice(i + 1));
    }
  }
  const show = (p: string, e: Seen) => [p, e.type, e.mode.toString(8), `${e.uid}:${e.gid}`, e.linkname, contents ? data.get(p) ?? '' : ''].filter((x) => x !== '').join(' ');
  return [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([p, e]) => show(p, e));
}

/** A UserError with this message; the Dockerfile is named by its path, which the comparison leaves out. */
async function rejects(promise: Promise<unknown>, message: string | RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    if (!(e instanceof UserError)) return false;
    const text = e.message.replace(/^\S*\/(Dockerfile[:.])/, '$1');
    return typeof message === 'string' ? text === message : message.test(text);
  });
}

test('COPY: a file, into a directory (trailing / or existing), a directory\'s contents, relative to WORKDIR', async (t) => {
  const { image } = await build(
    t,
    ['FROM scratch', 'COPY f /f', 'COPY f /dir/', 'COPY d /d2', 'COPY d /dir', 'COPY f /dir', 'WORKDIR /w', 'COPY f .', 'COPY f rel/'].join('\n'),
    { f: 'F', 'd/x': 'X', 'd/sub/y': 'Y' },
  );
  const l = await Promise.all(image.layers.map((f) => layer(f)));
  assert.deepEqual(l, [
    ['f file 644 0:0'],
    ['dir dir 755 0:0', 'dir/f file 644 0:0'],
    ['d2 dir 755 0:0', 'd2/sub dir 755 0:0', 'd2/sub/y file 644 0:0', 'd2/x file 644 0:0'],
    ['dir dir 755 0:0', 'dir/sub dir 755 0:0', 'dir/sub/y file 644 0:0', 'dir/x file 644 0:0'],
    ['dir dir 755 0:0', 'dir/f file 644 0:0'],
    ['w dir 755 0:0'],
    ['w dir 755 0:0', 'w/f file 644 0:0'],
    ['w dir 755 0:0', 'w/rel dir 755 0:0', 'w/rel/f file 644 0:0'],
  ]);
  assert.deepEqual(image.config.config?.['Env'], [`PATH=${DEFAULT_PATH}`], 'docker gives a scratch image its default PATH');
});

test('a new destination directory is 0755 whatever the source\'s mode; parents docker makes for it stay root\'s', async (t) => {
  const ctx = await context(t, { 'd/x': 'x' });
  await fs.chmod(path.join(ctx, 'd'), 0o700);
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY --chown=5:6 d /a/b/c\nCOPY --chown=5:6 d/x /p/q/x\n');
  const layout = path.join(await tempDir(t), 'out');
  await buildDockerfile({ layout, context: ctx, platform: AMD64, tags: ['t:1'] });
  const image = await layoutImage(layout, 't:1');
  assert.deepEqual(await layer(image.layers[0]!), ['a dir 755 0:0', 'a/b dir 755 0:0', 'a/b/c dir 755 5:6', 'a/b/c/x file 644 5:6']);
  assert.deepEqual(await layer(image.layers[1]!), ['p dir 755 5:6', 'p/q dir 755 5:6', 'p/q/x file 644 5:6'], 'a file\'s new parents take the --chown owner');
});

test('several sources need a destination ending in /; wildcards expand in the context', async (t) => {
  await rejects(build(t, 'FROM scratch\nCOPY a b /x\n', { a: '', b: '' }), /^Dockerfile:2: When using COPY with more than one source file, the destination must be a directory and end with a \/$/);
  await rejects(build(t, 'FROM scratch\nCOPY *.txt /x\n', { 'a.txt': '', 'b.txt': '' }), /^Dockerfile:2: COPY \*\.txt: When using COPY with more than one source file/);
  await rejects(build(t, 'FROM scratch\nCOPY *.none /x/\n', { a: '' }), 'Dockerfile:2: COPY *.none: *.none: no source files were specified (nothing in the context matches)');
  const { image } = await build(t, 'FROM scratch\nCOPY *.md /one\nCOPY src/*.js /js/\n', { 'a.md': 'A', 'src/x.js': '', 'src/y.js': '', 'src/z.ts': '' });
  assert.deepEqual(await layer(image.layers[0]!), ['one file 644 0:0']);
  assert.deepEqual(await layer(image.layers[1]!), ['js dir 755 0:0', 'js/x.js file 644 0:0', 'js/y.js file 644 0:0']);
});

test('--chmod (BuildKit\'s, documented): files and directories copied get the mode; parents and links do not', async (t) => {
  const ctx = await context(t, { 'd/x': 'x', f: 'f' });
  await fs.symlink('x', path.join(ctx, 'd', 'link'));
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY --chmod=0750 d /p/d\nCOPY --chmod=600 f /q/\n');
  const layout = path.join(await tempDir(t), 'out');
  await buildDockerfile({ layout, context: ctx, platform: AMD64, tags: ['t:1'] });
  const image = await layoutImage(layout, 't:1');
  assert.deepEqual(await layer(image.layers[0]!), ['p dir 755 0:0', 'p/d dir 750 0:0', 'p/d/link symlink 777 0:0 x', 'p/d/x file 750 0:0']);
  assert.deepEqual(await layer(image.layers[1]!), ['q dir 755 0:0', 'q/f file 600 0:0']);
  const h = image.config.history!.map((e) => e['created_by']);
  assert.ok(h.includes('/bin/sh -c #(nop) COPY --chmod=0750 d in /p/d '));
});

test('heredocs (BuildKit\'s, documented): a file per heredoc, 0664, variables expanded unless the delimiter is quoted', async (t) => {
  const df = [
    'FROM scratch',
    'ARG WHO=world',
    'ENV GREETING=hello',
    'COPY <<EOF /etc/motd',
    '$GREETING ${WHO} "quoted" \\$kept',
    'EOF',
    "COPY --chown=3:4 <<'RAW' <<-TABS /dir/",
    '$GREETING stays',
    'RAW',
    '\t\tindented $WHO',
    '\tTABS',
  ].join('\n');
  const { image } = await build(t, df);
  assert.deepEqual(await layer(image.layers[0]!, true), ['etc dir 755 0:0', 'etc/motd file 664 0:0 hello world "quoted" \\$kept|']);
  assert.deepEqual(await layer(image.layers[1]!, true), ['dir dir 755 3:4', 'dir/RAW file 664 3:4 $GREETING stays|', 'dir/TABS file 664 3:4 indented world|']);
});

test('ADD extracts a local tar or tar.gz (owners and modes from the archive), copies other files, refuses URLs', async (t) => {
  const src = await context(t, { 'top.txt': 't', 'sub/in.txt': 'i' });
  const ctx = await context(t, { plain: 'p' });
  await run('tar', ['--owner=7', '--group=8', '--numeric-owner', '-C', src, '-cf', path.join(ctx, 'a.tar'), '.']);
  await run('tar', ['--owner=9', '--group=9', '--numeric-owner', '-C', src, '-czf', path.join(ctx, 'b.tar.gz'), 'top.txt']);
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nADD a.tar /x/\nADD --chown=1:1 b.tar.gz /y\nADD plain /z/\n');
  const layout = path.join(await tempDir(t), 'out');
  await buildDockerfile({ layout, context: ctx, platform: AMD64, tags: ['t:1'] });
  const image = await layoutImage(layout, 't:1');
  assert.deepEqual(await layer(image.layers[0]!), ['x dir 755 0:0', 'x/sub dir 755 7:8', 'x/sub/in.txt file 644 7:8', 'x/top.txt file 644 7:8']);
  assert.deepEqual(await layer(image.layers[1]!), ['y dir 755 0:0', 'y/top.txt file 644 9:9'], 'docker ignores --chown for an extracted archive');
  assert.deepEqual(await layer(image.layers[2]!), ['z dir 755 0:0', 'z/plain file 644 0:0']);
  await rejects(build(t, 'FROM scratch\nADD https://example.com/x.tgz /x/\n'), 'Dockerfile:2: ADD https://example.com/x.tgz: downloading is not supported (oci-pack builds from local files only): fetch it first and COPY it');
  const bz = await context(t, { Dockerfile: 'FROM scratch\nADD x.bz2 /x/\n' });
  await fs.writeFile(path.join(bz, 'x.bz2'), Buffer.from('BZh91AY&SY'));
  await rejects(buildDockerfile({ layout: path.join(await tempDir(t), 'o'), context: bz }), /^Dockerfile:2: ADD x\.bz2: x\.bz2: a bzip2-compressed file, .* oci-pack extracts plain and gzip tarballs only/);
});

test('WORKDIR makes its directory in a layer (root\'s, as the classic builder does), or no layer when it is there', async (t) => {
  const { image } = await build(t, 'FROM scratch\nUSER 1000\nWORKDIR /a/b\nWORKDIR /a\nWORKDIR b\nCOPY f .\n', { f: '' });
  assert.equal(image.layers.length, 2);
  assert.deepEqual(await layer(image.layers[0]!), ['a dir 755 0:0', 'a/b dir 755 0:0']);
  const h = image.config.history!.map((e) => [e['created_by'], Boolean(e['empty_layer'])]);
  assert.deepEqual(h, [
    ['/bin/sh -c #(nop)  USER 1000', true],
    ['/bin/sh -c #(nop) WORKDIR /a/b', false],
    ['/bin/sh -c #(nop) WORKDIR /a', true],
    ['/bin/sh -c #(nop) WORKDIR /a/b', true],
    ['/bin/sh -c #(nop) COPY f in . ', false],
  ]);
});

test('an image with no layers is refused: the OCI manifest schema needs one and docker cannot save one either', async (t) => {
  await rejects(build(t, 'FROM scratch\nENV A=1\nWORKDIR /\nCMD ["/x"]\n'), /^Dockerfile:1: the image would have no layers \(FROM scratch with no COPY, ADD or WORKDIR\)/);
  const ok = await build(t, 'FROM scratch AS meta\nENV A=1\nFROM meta\nWORKDIR /w\n');
  assert.equal(ok.image.layers.length, 1, 'an intermediate stage may have none');
});

test('RUN stops the build before anything is written, naming its line and what to do', async (t) => {
  const base = await tempDir(t);
  const layout = path.join(base, 'out');
  await buildImage({ layout, layers: [{ kind: 'add', src: HELLO, dest: '/hello' }], tags: ['keep:1'] });
  const before = await snapshot(layout);
  const ctx = await context(t, { Dockerfile: 'FROM scratch\nCOPY f /f\nRUN make\n', f: '' });
  const r = await cli('layout', layout, '--context', ctx);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^oci-pack: \S*Dockerfile:3: RUN is not supported: oci-pack builds images without a container runtime, so it cannot run commands; run them beforehand .* and COPY the files they produce\n$/);
  assert.deepEqual(await snapshot(layout), before);
  const fresh = path.join(base, 'fresh');
  assert.equal((await cli('layout', fresh, '--context', ctx)).status, 1);
  await assert.rejects(fs.stat(fresh), { code: 'ENOENT' });
});

test('--target builds a stage; RUN after it is never reached, RUN before it is refused (the classic builder runs every earlier stage)', async (t) => {
  const files = { f: 'f' };
  const { image } = await build(t, 'FROM scratch AS one\nCOPY f /one\nFROM one AS two\nRUN make\n', files, { target: 'one' });
  assert.equal(image.layers.length, 1);
  await rejects(build(t, 'FROM scratch AS one\nRUN make\nFROM scratch AS two\nCOPY f /f\n', files, { target: 'two' }), /^Dockerfile:2: RUN is not supported/);
  await rejects(build(t, 'FROM scratch AS one\nCOPY f /f\n', files, { target: 'nope' }), /^--target nope: \S*Dockerfile has no stage of that name \(stages: one\)$/);
});

test('stages: COPY --from by name and number keeps owners without --chown; only the target\'s blobs are published', async (t) => {
  const df = [
    'FROM scratch AS build',
    'COPY --chown=7:7 d /out',
    'COPY big /big',
    'FROM scratch',
    'COPY --from=build /out /a',
    'COPY --from=0 --chown=1:2 /out/x /b/',
    'COPY --from=build ../../out/x /c',
  ].join('\n');
  const { image, layout, result } = await build(t, df, { 'd/x': 'x', big: 'unused by the final image' });
  assert.deepEqual(await layer(image.layers[0]!), ['a dir 755 0:0', 'a/x file 644 7:7']);
  assert.deepEqual(await layer(image.layers[1]!), ['b dir 755 1:2', 'b/x file 644 1:2']);
  assert.deepEqual(await layer(image.layers[2]!), ['c file 644 7:7'], '".." stops at the image\'s root');
  const blobs = (await fs.readdir(path.join(layout, 'blobs', 'sha256'))).sort();
  const wanted = [result.descriptor.digest, result.configDescriptor.digest, ...result.layers.map((l) => l.descriptor.digest)].map((d) => d.slice(7)).sort();
  assert.deepEqual(blobs, wanted, 'the build stage\'s config, manifest and unused layer are not published');
  await rejects(build(t, 'FROM scratch\nCOPY --from=nowhere /x /x\n', {}, { pull: 'never' }), /^Dockerfile:2: COPY --from=nowhere: no stage named nowhere before this line \(stages before it: none\), and no image tagged nowhere in .* \(--pull never\)$/);
});

test('COPY --chown with names looks them up in the image\'s /etc/passwd and /etc/group', async (t) => {
  const layout = path.join(await tempDir(t), 'out');
  const etc = await context(t, { passwd: 'root:x:0:0::/root:/bin/sh\napp:x:1234:99::/app:/bin/false\n', group: 'root:x:0:\nstaff:x:50:\napp:x:4321:\n' });
  await buildImage({ layout, layers: [{ kind: 'add', src: etc, dest: '/etc' }], tags: ['accounts:1'], platform: AMD64 });
  const r = await build(t, 'FROM accounts:1\nCOPY --chown=app f /f1\nCOPY --chown=app:staff f /f2\nCOPY --chown=app:7 f /f3\n', { f: '' }, { layout });
  assert.deepEqual(await Promise.all(r.image.layers.slice(1).map((l) => layer(l))), [['f1 file 644 1234:4321'], ['f2 file 644 1234:50'], ['f3 file 644 1234:7']]);
  await rejects(build(t, 'FROM accounts:1\nCOPY --chown=nobody f /f\n', { f: '' }, { layout }), 'Dockerfile:2: COPY f: --chown=nobody: no user "nobody" in the image\'s /etc/passwd');
  await rejects(build(t, 'FROM scratch\nCOPY --chown=app f /f\n', { f: '' }), 'Dockerfile:2: COPY f: --chown=app: the image has no /etc/passwd to look the user "app" up in');
});

test('.dockerignore: ignored paths are not in the context, exceptions are; symlinks stay inside the context', async (t) => {
  const files = { '.dockerignore': '*.log\nsecret\ndocs\n!docs/keep.md\n', 'a.log': '', 'ok.txt': 'ok', secret: 's', 'docs/keep.md': 'k', 'docs/drop.md': 'd' };
  const { image, ctx } = await build(t, 'FROM scratch\nCOPY . /c/\n', files);
  assert.deepEqual(await layer(image.layers[0]!), [
    'c dir 755 0:0', 'c/.dockerignore file 644 0:0', 'c/Dockerfile file 644 0:0', 'c/docs dir 755 0:0', 'c/docs/keep.md file 644 0:0', 'c/ok.txt file 644 0:0',
  ]);
  await rejects(buildDockerfile({ layout: path.join(await tempDir(t), 'o'), context: ctx, dockerfile: path.join(ctx, 'Dockerfile.2') }), /Dockerfile\.2: no such file/);
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY secret /s\n');
  await rejects(buildDockerfile({ layout: path.join(await tempDir(t), 'o'), context: ctx }), 'Dockerfile:2: COPY secret: secret: file not found in build context or excluded by .dockerignore');
  await fs.symlink('/etc/hostname', path.join(ctx, 'abs-link'));
  await fs.symlink('ok.txt', path.join(ctx, 'rel-link'));
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY rel-link /r\n');
  const out = path.join(await tempDir(t), 'o');
  await buildDockerfile({ layout: out, context: ctx, tags: ['t:1'] });
  assert.deepEqual(await layer((await layoutImage(out, 't:1')).layers[0]!, true), ['r file 644 0:0 ok'], 'a source symlink is followed');
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY abs-link /r\n');
  await rejects(buildDockerfile({ layout: out, context: ctx }), /^Dockerfile:2: COPY abs-link: abs-link: file not found in build context/);
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY ../x /r\n');
  await rejects(buildDockerfile({ layout: out, context: ctx }), 'Dockerfile:2: COPY ../x: ../x: forbidden path outside the build context');
});

test('FROM oci:DIR:REF copies the base\'s layers by digest, byte for byte, and leaves that layout alone', async (t) => {
  const base = await tempDir(t);
  const src = path.join(base, 'src');
  await buildImage({ layout: src, layers: [{ kind: 'add', src: HELLO, dest: '/hello' }], config: { cmd: ['/hello'], env: ['PATH=/bin'] }, tags: ['hello:1'], platform: AMD64 });
  const before = await snapshot(src);
  const ctx = await context(t, { Dockerfile: `FROM oci:${src}:hello:1\nLABEL a=b\nCOPY f /f\n`, f: '' });
  const out = path.join(base, 'out');
  const r = await buildDockerfile({ layout: out, context: ctx, tags: ['t:1'] });
  const srcImage = await readImage(src, 'hello:1');
  assert.equal(r.layers[0]!.descriptor.digest, srcImage.manifest.layers[0]!.digest);
  assert.deepEqual(await fs.readFile(blobFile(out, r.layers[0]!.descriptor.digest)), await fs.readFile(blobFile(src, r.layers[0]!.descriptor.digest)));
  assert.deepEqual(await snapshot(src), before);
  const cfg = (await layoutImage(out, 't:1')).config;
  assert.deepEqual(cfg.config, { Cmd: ['/hello'], Env: ['PATH=/bin'], Labels: { a: 'b' } }, 'a base with a PATH keeps it');
  assert.equal(cfg.history!.length, 3);
  // With one image in the layout, the ref may be left out; with two it may not.
  const alone = await context(t, { Dockerfile: `FROM oci:${src}\nCOPY f /f\n`, f: '' });
  await buildDockerfile({ layout: out, context: alone });
  await buildImage({ layout: src, layers: [{ kind: 'add', src: HELLO, dest: '/other' }], tags: ['other:1'] });
  await rejects(buildDockerfile({ layout: out, context: alone }), new RegExp(`^Dockerfile:1: FROM oci:${src}: oci:${src}: holds 2 images; name one \\(oci:${src}:REF\\) \\(it has "hello:1", "other:1"\\)$`));
  const missing = await context(t, { Dockerfile: `FROM oci:${src}:nope\n` });
  await rejects(buildDockerfile({ layout: out, context: missing }), new RegExp(`^Dockerfile:1: FROM oci:${src}:nope: oci:${src}: no image named "nope" \\(it has "hello:1", "other:1"\\)$`));
});

test('a multi-platform base resolves with --platform (default: this machine\'s)', async (t) => {
  const base = await tempDir(t);
  const src = path.join(base, 'src');
  const arm = await buildImage({ layout: src, layers: [{ kind: 'add', src: HELLO, dest: '/arm' }], platform: { os: 'linux', architecture: 'arm64' } });
  const amd = await buildImage({ layout: src, layers: [{ kind: 'add', src: HELLO, dest: '/amd' }], platform: AMD64 });
  const layout = await Layout.open(src);
  const staged = await layout.store.stage();
  const index = { schemaVersion: 2, mediaType: MediaType.index, manifests: [{ ...arm.descriptor, platform: arm.platform }, { ...amd.descriptor, platform: amd.platform }] };
  const desc = await staged.putBytes(canonicalJson(index), { mediaType: MediaType.index });
  await staged.publish();
  await layout.addImage(desc, ['multi:1']);
  const ctx = await context(t, { Dockerfile: `FROM oci:${src}:multi:1\nCOPY f /f\n`, f: '' });
  const onArm = await buildDockerfile({ layout: path.join(base, 'a'), context: ctx, platform: { os: 'linux', architecture: 'arm64' } });
  assert.deepEqual(onArm.platform, { os: 'linux', architecture: 'arm64' });
  assert.equal(onArm.layers[0]!.descriptor.digest, arm.layers[0]!.descriptor.digest);
  if (process.arch === 'x64') {
    const onHost = await buildDockerfile({ layout: path.join(base, 'b'), context: ctx });
    assert.equal(onHost.layers[0]!.descriptor.digest, amd.layers[0]!.descriptor.digest);
  }
  await rejects(buildDockerfile({ layout: path.join(base, 'c'), context: ctx, platform: { os: 'linux', architecture: 's390x' } }), /^Dockerfile:1: FROM oci:.*: no image for linux\/s390x \(it has linux\/arm64, linux\/amd64\); choose one with --platform$/);
  const single = await context(t, { Dockerfile: `FROM oci:${src}:multi:1\nFROM --platform=linux/arm64 oci:${path.join(base, 'b')}\nCOPY f /f\n`, f: '' });
  if (process.arch === 'x64') await rejects(buildDockerfile({ layout: path.join(base, 'd'), context: single }), /^Dockerfile:2: FROM oci:.*: no image for linux\/arm64 \(it has linux\/amd64\); choose one with --platform$/);
});

test('FROM a name: tagged in the layout as written or as docker normalises it; else a registry, which gets a clear error', async (t) => {
  const layout = path.join(await tempDir(t), 'out');
  await buildImage({ layout, layers: [{ kind: 'add', src: HELLO, dest: '/hello' }], tags: ['base:latest'], platform: AMD64 });
  for (const name of ['base', 'base:latest', 'docker.io/library/base']) {
    const r = await build(t, `FROM ${name}\nCOPY f /f\n`, { f: '' }, { layout });
    assert.equal(r.image.layers.length, 2, name);
  }
  await rejects(
    build(t, 'FROM alpine:3.18\nCOPY f /f\n', { f: '' }, { layout, pull: 'never' }),
    /^Dockerfile:1: FROM alpine:3\.18: alpine:3\.18 is not tagged in .*, and --pull never does not ask its registry \(docker:\/\/docker\.io\/library\/alpine:3\.18\)$/,
  );
  await rejects(build(t, 'FROM oci-archive:nowhere.tar\nCOPY f /f\n', { f: '' }), /^Dockerfile:1: FROM oci-archive:nowhere\.tar: .*nowhere\.tar: no such file or directory$/);
  await rejects(build(t, 'FROM docker-archive:nowhere.tar:x:1\nCOPY f /f\n', { f: '' }), /^Dockerfile:1: FROM docker-archive:nowhere\.tar:x:1: .*nowhere\.tar: no such file or directory$/);
});

test('FROM oci-archive:TAR[:REF] and docker-archive:TAR[:NAME:TAG|:@N] build on an archive\'s image', async (t) => {
  const base = await tempDir(t);
  const src = path.join(base, 'src');
  const one = await buildImage({ layout: src, layers: [{ kind: 'add', src: HELLO, dest: '/hello' }], config: { cmd: ['/hello'], env: ['PATH=/bin'] }, tags: ['base:1'], platform: AMD64 });
  await buildImage({ layout: src, layers: [{ kind: 'add', src: HELLO, dest: '/other' }], tags: ['other:2'], platform: AMD64 });
  // An OCI archive is a layout in a tar (skopeo's oci-archive: writes the same).
  const ociTar = path.join(base, 'base-oci.tar');
  await run('tar', ['-C', src, '-cf', ociTar, '.']);
  const dockerTar = path.join(base, 'base-docker.tar');
  await writeDockerArchive(src, dockerTar);

  const fromOci = await build(t, `FROM oci-archive:${ociTar}:base:1\nCOPY f /f\n`, { f: '' });
  assert.equal(fromOci.result.layers[0]!.descriptor.digest, one.layers[0]!.descriptor.digest, 'the archive\'s layer, byte for byte');
  assert.deepEqual(fromOci.image.config.config, { Cmd: ['/hello'], Env: ['PATH=/bin'] });
  assert.deepEqual((await fs.readdir(path.join(fromOci.layout, 'blobs', 'sha256'))).length, 4, 'only what the image uses is published: 2 layers, config, manifest');

  const fromDocker = await build(t, `FROM docker-archive:${dockerTar}:base:1\nCOPY f /f\n`, { f: '' });
  assert.equal(fromDocker.result.layers[0]!.descriptor.diffId, one.layers[0]!.descriptor.diffId);
  assert.deepEqual(fromDocker.image.config.config, { Cmd: ['/hello'], Env: ['PATH=/bin'] });
  const byIndex = await build(t, `FROM docker-archive:${dockerTar}:@1\nCOPY f /f\n`, { f: '' });
  assert.equal(byIndex.result.layers.length, 2);
  // Left out, the name is needed when the archive holds more than one image.
  await rejects(build(t, `FROM docker-archive:${dockerTar}\n`, {}), /^Dockerfile:1: FROM docker-archive:.*: docker-archive:.*: holds 2 images; name one \(docker-archive:.*:NAME:TAG or :@N\) \(it has base:1, other:2\)$/);
  await rejects(build(t, `FROM docker-archive:${dockerTar}:nope:3\n`, {}), /: no image tagged nope:3 \(it has base:1, other:2\)$/);
  await rejects(build(t, `FROM docker-archive:${dockerTar}:@7\n`, {}), /: no image @7: it holds 2 \(@0 to @1\)$/);
  await rejects(build(t, `FROM oci-archive:${ociTar}\n`, {}), /: oci-archive:.*: holds 2 images; name one \(oci-archive:.*:REF\) \(it has "base:1", "other:2"\)$/);
  const notAnArchive = path.join(base, 'junk.tar');
  await run('tar', ['-C', base, '-cf', notAnArchive, 'base-docker.tar']);
  await rejects(build(t, `FROM oci-archive:${notAnArchive}\n`, {}), /: not an OCI archive \(no oci-layout in it\)$/);
});

test('reproducible: twice, after touching every file of the context, and from a copy elsewhere, the same digest', async (t) => {
  const df = [
    'FROM scratch AS build',
    'COPY src /src',
    'FROM scratch',
    'ADD bundle.tar /b/',
    'WORKDIR /app',
    'COPY --from=build /src .',
    'COPY <<EOF /note',
    'hi',
    'EOF',
  ].join('\n');
  const ctx = await context(t, { Dockerfile: df, 'src/a.js': 'a', 'src/lib/b.js': 'b' });
  await run('tar', ['--mtime=@5', '--owner=0', '--group=0', '--numeric-owner', '-C', ctx, '-cf', path.join(ctx, 'bundle.tar'), 'src']);
  const base = await tempDir(t);
  const digest = async (dir: string, out: string) => (await buildDockerfile({ layout: path.join(base, out), context: dir, tags: ['r:1'] })).descriptor.digest;
  const first = await digest(ctx, 'one');
  assert.equal(await digest(ctx, 'two'), first);
  for (const p of ['Dockerfile', 'bundle.tar', 'src', 'src/a.js', 'src/lib', 'src/lib/b.js', '.']) await fs.utimes(path.join(ctx, p), 2e9, 2e9);
  assert.equal(await digest(ctx, 'three'), first);
  const copy = path.join(base, 'elsewhere', 'ctx');
  await fs.mkdir(path.dirname(copy));
  await run('cp', ['-r', ctx, copy]);
  assert.equal(await digest(copy, 'four'), first);
});

test('bad Dockerfiles: Dockerfile:LINE: and why, exit 1, the layout unchanged', async (t) => {
  const layout = path.join(await tempDir(t), 'out');
  await buildImage({ layout, layers: [{ kind: 'add', src: HELLO, dest: '/hello' }], tags: ['keep:1'] });
  const before = await snapshot(layout);
  const cases: Array<[string, RegExp]> = [
    ['FROM scratch\nCOPY f /f\nFROBNICATE x\n', /^oci-pack: Dockerfile:3: unknown instruction FROBNICATE$/],
    ['FROM scratch\nCOPY f /f\nCOPY missing /m\n', /^oci-pack: Dockerfile:3: COPY missing: missing: file not found in build context or excluded by \.dockerignore$/],
    ['FROM scratch AS a\nCOPY f /f\nFROM scratch\nCOPY --from=b /f /f\n', /^oci-pack: Dockerfile:4: COPY --from=b: no stage named b before this line \(stages before it: a\), and no image tagged b in /],
    ['FROM scratch\nENV A="open\nCOPY f /f\n', /^oci-pack: Dockerfile:2: ENV A: unexpected end of statement while looking for matching double-quote/],
    ['FROM scratch\nCOPY f /f\nCOPY <<EOF /x\nnever closed\n', /^oci-pack: Dockerfile:3: unterminated heredoc <<EOF: no line "EOF" ends it$/],
    ['FROM nowhere:1\nCOPY f /f\n', /^oci-pack: Dockerfile:1: FROM nowhere:1: nowhere:1 is not tagged in .*, and --pull never does not ask its registry \(docker:\/\/docker\.io\/library\/nowhere:1\)$/],
  ];
  for (const [dockerfile, message] of cases) {
    const ctx = await context(t, { Dockerfile: dockerfile, f: 'f' });
    const r = await cli('layout', layout, '--context', ctx, '--tag', 'keep:1', '--pull', 'never');
    assert.equal(r.status, 1, dockerfile);
    assert.match(r.stderr.trimEnd().replace(/^oci-pack: \S*\/Dockerfile:/, 'oci-pack: Dockerfile:'), message);
    assert.equal(r.stderr.split('\n').length, 2, 'one line');
    assert.deepEqual(await snapshot(layout), before, dockerfile);
    const fresh = path.join(path.dirname(layout), 'fresh');
    assert.equal((await cli('layout', fresh, '--context', ctx, '--pull', 'never')).status, 1);
    await assert.rejects(fs.stat(fresh), { code: 'ENOENT' }, `a layout the failed build created is removed (${dockerfile})`);
  }
});

test('the CLI: ./Dockerfile, else ./Containerfile, else one line saying what was looked for', async (t) => {
  const ctx = await context(t, { f: 'f' });
  const out = path.join(await tempDir(t), 'out');
  const none = await cli('layout', out, '--context', ctx);
  assert.equal(none.status, 2);
  assert.equal(none.stderr, `oci-pack: nothing to build: no --add or --layer, and no Dockerfile (looked for ${path.join(ctx, 'Dockerfile')} and ${path.join(ctx, 'Containerfile')})\n`);
  await fs.writeFile(path.join(ctx, 'Containerfile'), 'FROM scratch\nCOPY f /from-containerfile\n');
  const r = await cli('layout', out, '--context', ctx, '--tag', 'c:1', '--json');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).tags[0], 'c:1');
  assert.deepEqual(await layer((await layoutImage(out, 'c:1')).layers[0]!), ['from-containerfile file 644 0:0']);
  const elsewhere = path.join(await tempDir(t), 'Other.dockerfile');
  await fs.writeFile(elsewhere, 'FROM scratch\nCOPY f /from-f\n');
  assert.equal((await cli('layout', out, '--context', ctx, '-f', elsewhere, '--tag', 'f:1')).status, 0);
  assert.deepEqual(await layer((await layoutImage(out, 'f:1')).layers[0]!), ['from-f file 644 0:0']);
  const mixed = await cli('layout', out, '-f', elsewhere, '--add', `${HELLO}:/hello`);
  assert.equal(mixed.status, 2);
  assert.match(mixed.stderr, /^oci-pack: --file: a Dockerfile option, and --from\/--add\/--layer build without a Dockerfile; give one or the other\n$/);
});

test('the CLI: --build-arg K=V and K (from the environment), config flags on top of the Dockerfile, a warning for unused args', async (t) => {
  const ctx = await context(t, { Dockerfile: 'FROM scratch\nARG A\nARG B=dflt\nARG C\nENV A=$A B=$B C=$C\nLABEL from=dockerfile keep=1\nCOPY f /f\nCMD ["/df"]\n', f: '' });
  const out = path.join(await tempDir(t), 'out');
  process.env.OCI_PACK_TEST_C = 'from-env';
  t.after(() => delete process.env.OCI_PACK_TEST_C);
  await fs.writeFile(path.join(ctx, 'Dockerfile'), (await fs.readFile(path.join(ctx, 'Dockerfile'), 'utf8')).replace('ARG C', 'ARG OCI_PACK_TEST_C').replace('C=$C', 'C=$OCI_PACK_TEST_C'));
  const r = await cli('layout', out, '--context', ctx, '--tag', 'a:1', '--build-arg', 'A=given', '--build-arg', 'OCI_PACK_TEST_C', '--build-arg', 'UNUSED=1', '--label', 'from=flag', '--env', 'B=flag', '--cmd', '/flag');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, 'oci-pack: warning: one or more build-args [UNUSED] were not consumed\n');
  const cfg = (await layoutImage(out, 'a:1')).config.config!;
  assert.deepEqual(cfg['Env'], [`PATH=${DEFAULT_PATH}`, 'A=given', 'B=flag', 'C=from-env']);
  assert.deepEqual(cfg['Labels'], { from: 'flag', keep: '1' });
  assert.deepEqual(cfg['Cmd'], ['/flag']);
});

test('history: docker\'s created_by lines, empty_layer for metadata, MAINTAINER as author', async (t) => {
  const df = 'FROM scratch\nMAINTAINER Me <me@x>\nEXPOSE 9000-9001/udp 80\nVOLUME /v\nSTOPSIGNAL 15\nHEALTHCHECK --interval=30s --retries=2 CMD ["/bin/check"]\nSHELL ["/bin/bash", "-c"]\nCOPY f /f\nENTRYPOINT /bin/start "x"\n';
  const { image } = await build(t, df, { f: '' });
  assert.equal(image.config['author'], 'Me <me@x>');
  assert.deepEqual(image.config.history, [
    { author: 'Me <me@x>', created: '1970-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop)  MAINTAINER Me <me@x>', empty_layer: true },
    { author: 'Me <me@x>', created: '1970-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop)  EXPOSE 80 9000-9001/udp', empty_layer: true },
    { author: 'Me <me@x>', created: '1970-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop)  VOLUME [/v]', empty_layer: true },
    { author: 'Me <me@x>', created: '1970-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop)  STOPSIGNAL 15', empty_layer: true },
    { author: 'Me <me@x>', created: '1970-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop)  HEALTHCHECK &{["CMD" "/bin/check"] "30s" "0s" "0s" \'\\x02\'}', empty_layer: true },
    { author: 'Me <me@x>', created: '1970-01-01T00:00:00Z', created_by: '/bin/bash -c #(nop)  SHELL [/bin/bash -c]', empty_layer: true },
    { author: 'Me <me@x>', created: '1970-01-01T00:00:00Z', created_by: '/bin/bash -c #(nop) COPY f in /f ' },
    { author: 'Me <me@x>', created: '1970-01-01T00:00:00Z', created_by: '/bin/bash -c #(nop)  ENTRYPOINT ["/bin/bash" "-c" "/bin/start \\"x\\""]', empty_layer: true },
  ]);
  assert.deepEqual(image.config.config!['ExposedPorts'], { '80/tcp': {}, '9000/udp': {}, '9001/udp': {} });
  assert.deepEqual(image.config.config!['Healthcheck'], { Test: ['CMD', '/bin/check'], Interval: 30e9, Retries: 2 });
});

test('ENV A=$A$A repeated, or a value copied many times, stops at a line-numbered error', async (t) => {
  const doubling = `FROM scratch\nENV A=0123456789abcdef\n${'ENV A=$A$A\n'.repeat(40)}`;
  await rejects(build(t, doubling), /^Dockerfile:19: the expanded word is longer than 1048576 characters in "\$A\$A"$/);
  const copies = `FROM scratch\nARG A=0123456789abcdef\n${'ARG A=$A$A\n'.repeat(15)}${'ENV B=$A\n'.repeat(40)}`;
  await rejects(build(t, copies), /^Dockerfile:\d+: variable expansion has produced more than 16777216 characters in this Dockerfile$/);
  await rejects(build(t, `FROM scratch\nLABEL a=${'${X:-'.repeat(100)}v${'}'.repeat(100)}\n`), /^Dockerfile:2: LABEL a: \$\{\.\.\.\} nested more than 64 deep in "/);
});

test('COPY --link and ADD --link (BuildKit\'s cache hint) are accepted and write the layer they write without it', async (t) => {
  const files = { f: 'F', 'd/x': 'X' };
  const linked = await build(t, 'FROM scratch\nCOPY --link f /f\nCOPY --link=true d /d\nADD --link=false f /g\n', files);
  const plain = await build(t, 'FROM scratch\nCOPY f /f\nCOPY d /d\nADD f /g\n', files);
  assert.deepEqual(linked.image.config['rootfs'], plain.image.config['rootfs']);
  assert.equal(linked.image.layers.length, 3);
});

test('a NUL byte in a COPY or ADD path, or in WORKDIR, is a line-numbered error, not a crash', async (t) => {
  await rejects(build(t, 'FROM scratch\nARG D="/a\0b"\nCOPY f $D\n', { f: 'F' }), /^Dockerfile:3: COPY "\/a\\u0000b": a path cannot hold a NUL byte$/);
  await rejects(build(t, 'FROM scratch\nADD "f\0" /x\n', { f: 'F' }), /^Dockerfile:2: ADD "f\\u0000": a path cannot hold a NUL byte$/);
  await rejects(build(t, 'FROM scratch\nWORKDIR /a\0b\n', { f: 'F' }), /^Dockerfile:2: WORKDIR "\/a\\u0000b": a path cannot hold a NUL byte$/);
});
