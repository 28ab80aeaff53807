import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { HELLO, blobFile, cli, listTar, readImage, run, runBin, snapshot, tempDir } from '../helpers.js';

/** A layout holding the hello image, and a snapshot of it to prove a failed command changed nothing. */
async function existingLayout(t: Parameters<typeof tempDir>[0]) {
  const base = await tempDir(t);
  const out = path.join(base, 'out');
  const r = await cli('layout', out, '--add', `${HELLO}:/hello`, '--tag', 'hello:latest');
  assert.equal(r.status, 0, r.stderr);
  return { base, out, before: await snapshot(out) };
}

/** The command fails with one line on stderr matching `message`, the status, and no stack trace. */
function assertFails(r: { status: number; stdout: string; stderr: string }, status: number, message: RegExp): void {
  assert.equal(r.status, status, r.stderr);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^oci-pack: /);
  assert.match(lines[0]!, message);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

test('bad input: one clear line, non-zero exit, and the layout exactly as it was', async (t) => {
  const { base, out, before } = await existingLayout(t);
  const evil = path.join(base, 'evil.tar');
  await run('python3', ['-c', `
import io, tarfile
with tarfile.open(${JSON.stringify(evil)}, 'w') as tf:
    ti = tarfile.TarInfo('../etc/passwd'); data = b'x'; ti.size = 1
    tf.addfile(ti, io.BytesIO(data))`]);
  const escaping = path.join(base, 'escaping.tar');
  await run('python3', ['-c', `
import tarfile
with tarfile.open(${JSON.stringify(escaping)}, 'w') as tf:
    ti = tarfile.TarInfo('a/link'); ti.type = tarfile.SYMTYPE; ti.linkname = '../../../etc'
    tf.addfile(ti)`]);
  const cases: Array<[string[], number, RegExp]> = [
    [['--add', `${base}/missing:/x`], 1, /--add .*missing:\/x: .*missing: no such file or directory$/],
    [['--add', `${HELLO}:relative/x`], 2, /--add .*: expected SRC:DEST, with DEST an absolute path/],
    [['--add', `${HELLO}:/a/../../x`], 2, /DEST must not contain "\.\."/],
    [['--env', 'NOVALUE'], 2, /--env "NOVALUE": expected KEY=VALUE/],
    [['--expose', '70000'], 2, /--expose 70000: expected PORT/],
    [['--expose', 'http'], 2, /--expose http: expected PORT/],
    [['--platform', 'linux'], 2, /--platform: "linux": /],
    [['--platform', 'plan10/amd64'], 2, /--platform: .*unknown OS "plan10"/],
    [['--tag', 'bad tag'], 2, /--tag: "bad tag": character " " is not allowed/],
    [['--tag', 'a//b'], 2, /--tag: "a\/\/b"/],
    [['--layer', evil], 1, /--layer .*evil\.tar: entry "\.\.\/etc\/passwd": /],
    [['--layer', escaping], 1, /entry "a\/link": symlink target "\.\.\/\.\.\/\.\.\/etc" points outside the root/],
    [['--layer', `${base}/nope.tar.gz`], 1, /nope\.tar\.gz: no such file or directory/],
    [['--compression', 'zstd'], 1, /--compression zstd: this Node\.js \(v20\.\d+\.\d+\) has no zstd/],
    [['--compression', 'lz4'], 2, /--compression lz4: expected gzip, zstd or none/],
    [['--compression-level', '12'], 2, /--compression-level 12: gzip levels are 0 to 9/],
    [['--chmod', '999', '--add', `${HELLO}:/x`], 2, /--chmod 999: expected an octal mode/],
    [['--chown', 'root', '--add', `${HELLO}:/x`], 2, /--chown root: expected UID\[:GID\] as numbers/],
    [['--workdir', 'app'], 2, /--workdir app: must be an absolute path/],
    [['--entrypoint', '["a", 1]'], 2, /--entrypoint/],
    [['--cmd', 'echo "unterminated'], 2, /--cmd: unterminated double quote/],
    [['--stop-signal', 'SIGWHAT'], 2, /--stop-signal SIGWHAT/],
    [['--label', 'nokey'], 2, /--label "nokey": expected KEY=VALUE/],
    [['--annotation', '=v'], 2, /--annotation "=v": expected KEY=VALUE/],
    [['--volume', 'data'], 2, /--volume data: must be an absolute path/],
    [['--nonsense'], 2, /Unknown argument: nonsense/],
  ];
  for (const [args, status, message] of cases) {
    const r = await cli('layout', out, '--add', `${HELLO}:/ok`, ...args, '--tag', 'hello:latest');
    assertFails(r, status, message);
    assert.deepEqual(await snapshot(out), before, `layout changed by ${args.join(' ')}`);
  }
});

test('sockets and FIFOs are refused, naming the file', async (t) => {
  const { base, out, before } = await existingLayout(t);
  const tree = path.join(base, 'tree');
  await fs.mkdir(tree);
  await fs.writeFile(path.join(tree, 'ok'), 'ok');
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(path.join(tree, 'sock'), r));
  t.after(() => server.close());
  let r = await cli('layout', out, '--add', `${tree}:/tree`);
  assertFails(r, 1, /tree\/sock: is a socket; only regular files, directories and symlinks can be added/);
  await fs.rm(path.join(tree, 'sock'), { force: true });
  await run('mkfifo', [path.join(tree, 'fifo')]);
  r = await cli('layout', out, '--add', `${tree}:/tree`);
  assertFails(r, 1, /tree\/fifo: is a FIFO/);
  assert.deepEqual(await snapshot(out), before);
});

test('a non-empty directory that is not a layout is refused and untouched', async (t) => {
  const base = await tempDir(t);
  await fs.writeFile(path.join(base, 'notes.txt'), 'mine');
  const before = await snapshot(base);
  assertFails(await cli('layout', base, '--add', `${HELLO}:/hello`), 1, /not empty and not an OCI layout \(no oci-layout file\)/);
  assert.deepEqual(await snapshot(base), before);
});

test('an unreadable file is a clear error (run as an unprivileged user when we are root)', async (t) => {
  const base = await tempDir(t);
  await fs.chmod(base, 0o777);
  const secret = path.join(base, 'secret');
  await fs.writeFile(secret, 'top secret');
  await fs.chmod(secret, 0o000);
  const out = path.join(base, 'out');
  const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  let r = runBin(['layout', out, '--add', `${HELLO}:/hello`, '--tag', 'x:1'], { ...asUser, cwd: base });
  assert.equal(r.status, 0, r.stderr);
  const before = await snapshot(out);
  r = runBin(['layout', out, '--add', `${secret}:/secret`, '--tag', 'x:1'], { ...asUser, cwd: base });
  assertFails(r, 1, /--add .*secret:\/secret: .*secret: permission denied$/);
  assert.deepEqual(await snapshot(out), before);
});

test('the executable prints the digest and exits 0; --json prints the summary', async (t) => {
  const base = await tempDir(t);
  const out = path.join(base, 'out');
  const r = runBin(['layout', out, '--add', `${HELLO}:/hello`, '--cmd', '/hello', '--tag', 'hello:latest']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^sha256:[a-f0-9]{64}\n$/);
  assert.equal(r.stderr, '');
  const img = await readImage(out, 'hello:latest');
  assert.equal(img.manifestDigest, r.stdout.trim());

  const j = await cli('layout', out, '--add', `${HELLO}:/hello`, '--cmd', '/hello', '--tag', 'hello:latest', '--json');
  assert.equal(j.status, 0, j.stderr);
  const summary = JSON.parse(j.stdout) as Record<string, unknown> & { layers: Array<Record<string, unknown>>; config: { digest: string } };
  assert.equal(summary.digest, r.stdout.trim());
  assert.deepEqual(summary.tags, ['hello:latest']);
  assert.equal(summary.config.digest, img.manifest.config.digest);
  assert.deepEqual(summary.layers, [{ digest: img.manifest.layers[0]!.digest, diff_id: img.config.rootfs.diff_ids[0], size: img.manifest.layers[0]!.size, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }]);
});

test('config flags all land in the config; annotations on the manifest; platform as asked', async (t) => {
  const base = await tempDir(t);
  const out = path.join(base, 'out');
  const r = await cli(
    'layout', out, '--add', `${HELLO}:/hello`,
    '--entrypoint', `/bin/sh -c 'echo "a b"' x\\ y`,
    '--cmd', '["--flag", "value with space"]',
    '--env', 'A=1', '--env', 'B=two words', '--env', 'A=3',
    '--workdir', '/srv', '--user', '1000:1000',
    '--expose', '80', '--expose', '53/udp',
    '--label', 'org.example.a=x', '--label', 'b=y=z',
    '--volume', '/data', '--stop-signal', 'SIGINT',
    '--platform', 'linux/arm64',
    '--annotation', 'org.opencontainers.image.version=1.2.3',
    '--tag', 'cfg:1',
  );
  assert.equal(r.status, 0, r.stderr);
  const img = await readImage(out, 'cfg:1');
  assert.deepEqual(img.config.config, {
    Entrypoint: ['/bin/sh', '-c', 'echo "a b"', 'x y'],
    Cmd: ['--flag', 'value with space'],
    Env: ['A=3', 'B=two words'],
    WorkingDir: '/srv',
    User: '1000:1000',
    ExposedPorts: { '80/tcp': {}, '53/udp': {} },
    Labels: { 'org.example.a': 'x', b: 'y=z' },
    Volumes: { '/data': {} },
    StopSignal: 'SIGINT',
  });
  assert.equal(img.config.architecture, 'arm64');
  assert.equal(img.config.os, 'linux');
  assert.deepEqual(img.manifest.annotations, { 'org.opencontainers.image.version': '1.2.3' });
  assert.deepEqual(img.index.manifests[0]?.platform, { architecture: 'arm64', os: 'linux' });
  // An empty --entrypoint clears it (as `--entrypoint ''` does for docker run).
  const e = await cli('layout', out, '--add', `${HELLO}:/hello`, '--entrypoint', '', '--tag', 'cfg:2');
  assert.equal(e.status, 0, e.stderr);
  assert.deepEqual((await readImage(out, 'cfg:2')).config.config, { Entrypoint: [] });
});

test('--chown and --chmod apply to the --add flags after them, in order; one layer per flag', async (t) => {
  const base = await tempDir(t);
  const dir = path.join(base, 'd');
  await fs.mkdir(path.join(dir, 'sub'), { recursive: true });
  await fs.writeFile(path.join(dir, 'sub', 'f'), 'f');
  const out = path.join(base, 'out');
  const r = await cli(
    'layout', out,
    '--add', `${HELLO}:/plain`,
    '--chown', '1000:2000', '--add', `${dir}:/owned`,
    '--chmod', '0700', '--add', `${HELLO}:/owned-and-700`,
    '--chown=7', '--chmod=4755', `--add=${HELLO}:/setuid`,
    '--tag', 'o:1',
  );
  assert.equal(r.status, 0, r.stderr);
  const img = await readImage(out, 'o:1');
  const layers = await Promise.all(img.manifest.layers.map((l) => listTar(blobFile(out, l.digest))));
  const show = (i: number) => layers[i]!.map((e) => `${e.name} ${e.mode.toString(8)} ${e.uid}:${e.gid}`);
  assert.deepEqual(show(0), ['plain 755 0:0']);
  assert.deepEqual(show(1), ['owned 755 1000:2000', 'owned/sub 755 1000:2000', 'owned/sub/f 644 1000:2000']);
  assert.deepEqual(show(2), ['owned-and-700 700 1000:2000']);
  assert.deepEqual(show(3), ['setuid 4755 7:7']);
  assert.deepEqual(img.config.history.map((h) => h.created_by), [
    'oci-pack layout --add hello:/plain',
    'oci-pack layout --chown 1000:2000 --add d:/owned',
    'oci-pack layout --chown 1000:2000 --chmod 0700 --add hello:/owned-and-700',
    'oci-pack layout --chown 7:7 --chmod 4755 --add hello:/setuid',
  ]);
});

test('a trailing-slash DEST puts the file inside under its own name', async (t) => {
  const base = await tempDir(t);
  const out = path.join(base, 'out');
  assert.equal((await cli('layout', out, '--add', `${HELLO}:/usr/local/bin/`, '--tag', 's:1')).status, 0);
  const img = await readImage(out, 's:1');
  const entries = await listTar(blobFile(out, img.manifest.layers[0]!.digest));
  assert.deepEqual(entries.map((e) => `${e.type} ${e.name}`), ['dir usr', 'dir usr/local', 'dir usr/local/bin', 'file usr/local/bin/hello']);
});

test('a single-word tag is kept, with a warning that says what to write; --quiet silences it', async (t) => {
  const base = await tempDir(t);
  const out = path.join(base, 'out');
  const r = await cli('layout', out, '--add', `${HELLO}:/hello`, '--tag', 'hello');
  assert.equal(r.status, 0);
  assert.match(r.stderr, /^oci-pack: warning: --tag hello: a single word; .*hello:latest/);
  const index = JSON.parse(await fs.readFile(path.join(out, 'index.json'), 'utf8')) as { manifests: Array<{ annotations?: Record<string, string> }> };
  assert.equal(index.manifests[0]?.annotations?.['org.opencontainers.image.ref.name'], 'hello');
  const q = await cli('layout', out, '--add', `${HELLO}:/hello`, '--tag', 'hello', '--quiet');
  assert.equal(q.stderr, '');
});

test('--compression none writes plain tar layers; levels change the bytes, not the diff_id', async (t) => {
  const base = await tempDir(t);
  const out = path.join(base, 'out');
  const none = JSON.parse((await cli('layout', out, '--add', `${ROOT_FILE}:/f`, '--compression', 'none', '--json')).stdout) as { layers: Array<{ digest: string; diff_id: string; mediaType: string }> };
  assert.equal(none.layers[0]?.mediaType, 'application/vnd.oci.image.layer.v1.tar');
  assert.equal(none.layers[0]?.digest, none.layers[0]?.diff_id);
  const fast = JSON.parse((await cli('layout', out, '--add', `${ROOT_FILE}:/f`, '--compression-level', '1', '--json')).stdout) as typeof none;
  const best = JSON.parse((await cli('layout', out, '--add', `${ROOT_FILE}:/f`, '--compression-level', '9', '--json')).stdout) as typeof none;
  assert.equal(fast.layers[0]?.diff_id, none.layers[0]?.diff_id);
  assert.equal(best.layers[0]?.diff_id, none.layers[0]?.diff_id);
  assert.notEqual(fast.layers[0]?.digest, best.layers[0]?.digest);
  const gz = await fs.readFile(blobFile(out, best.layers[0]!.digest));
  assert.deepEqual([...gz.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 0xff], 'no name, mtime 0, OS byte 255');
});

const ROOT_FILE = path.join(path.dirname(HELLO), 'hello.S');

test('progress goes to stderr only on a terminal, and --quiet silences it', async (t) => {
  const { main } = await import('../../src/cli/main.js');
  const base = await tempDir(t);
  const runWith = async (tty: boolean, ...extra: string[]) => {
    let stderr = '';
    let stdout = '';
    const status = await main(['layout', path.join(base, 'out'), '--add', `${HELLO}:/hello`, '--add', `${ROOT_FILE}:/src.S`, '--tag', 'p:1', ...extra], {
      stdout: (s) => void (stdout += s),
      stderr: (s) => void (stderr += s),
      stderrIsTty: tty,
    });
    assert.equal(status, 0, stderr);
    assert.match(stdout, /^sha256:[a-f0-9]{64}\n$/);
    return stderr;
  };
  const shown = await runWith(true);
  assert.match(shown, /\x1b\[\d+A\x1b\[J/, 'redrawn in place');
  // What stays on the screen once the redraws are done: a line per layer, done.
  const screen = shown.split(/\r\x1b\[\d+A\x1b\[J/).at(-1)!;
  const lines = shown.replace(/\r\x1b\[\d+A\x1b\[J/g, '');
  assert.match(lines, /^\[1\/2\] oci-pack layout --add hello:\/hello  sha256:[a-f0-9]{12} \d+ B$/m);
  assert.match(lines, /^\[2\/2\] oci-pack layout --add hello\.S:\/src\.S  sha256:[a-f0-9]{12} \d+ B$/m);
  assert.doesNotMatch(screen, /\x1b/, 'nothing left to redraw at the end');
  assert.equal(await runWith(false), '');
  assert.equal(await runWith(true, '--quiet'), '');
});
