// What `oci-pack layout` writes, handed to the real consumers: skopeo, umoci, docker and podman.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { HELLO, HELLO_LINE, podmanRun, cli, dockerRunning, requireTool, run, tempDir } from '../helpers.js';

async function helloLayout(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const out = path.join(await tempDir(t), 'out');
  const r = await cli('layout', out, '--add', `${HELLO}:/hello`, '--cmd', '/hello', '--tag', 'hello:latest');
  assert.equal(r.status, 0, r.stderr);
  return out;
}

test('skopeo inspect oci:out:hello:latest succeeds and sees our manifest', async (t) => {
  if (!requireTool(t, 'skopeo')) return;
  const out = await helloLayout(t);
  const info = JSON.parse(await run('skopeo', ['inspect', `oci:${out}:hello:latest`])) as { Digest: string; Architecture: string; Os: string; Layers: string[] };
  const index = JSON.parse(await fs.readFile(path.join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  assert.equal(info.Digest, index.manifests[0]?.digest);
  assert.equal(info.Os, 'linux');
  assert.equal(info.Layers.length, 1);
  // skopeo also copies it out as a whole (reading and checking every blob).
  const copy = path.join(path.dirname(out), 'copy');
  await run('skopeo', ['copy', '--quiet', `oci:${out}:hello:latest`, `oci:${copy}:hello:latest`]);
});

test('umoci unpack holds /hello with mode 0755, owned by root', async (t) => {
  if (!requireTool(t, 'umoci')) return;
  const out = await helloLayout(t);
  const bundle = path.join(path.dirname(out), 'bundle');
  await run('umoci', ['unpack', '--image', `${out}:hello:latest`, bundle]);
  const st = await fs.stat(path.join(bundle, 'rootfs', 'hello'));
  assert.equal(st.mode & 0o7777, 0o755);
  assert.ok(st.isFile());
  if (process.getuid?.() === 0) assert.equal(st.uid, 0);
  const config = JSON.parse(await fs.readFile(path.join(bundle, 'config.json'), 'utf8')) as { process: { args: string[] } };
  assert.deepEqual(config.process.args, ['/hello']);
});

test('docker run of the image prints its line', async (t) => {
  if (!requireTool(t, 'skopeo') || !requireTool(t, 'docker', dockerRunning)) return;
  const out = await helloLayout(t);
  const name = `oci-pack-test-${randomBytes(4).toString('hex')}:latest`;
  t.after(() => run('docker', ['rmi', '-f', name]).catch(() => undefined));
  await run('skopeo', ['copy', '--quiet', `oci:${out}:hello:latest`, `docker-daemon:${name}`]);
  const printed = await run('docker', ['run', '--rm', '--network', 'none', name]);
  assert.equal(printed, `${HELLO_LINE}\n`);
});

test('podman run of the image prints its line', async (t) => {
  if (!requireTool(t, 'podman')) return;
  const out = await helloLayout(t);
  const pulled = (await run('podman', ['pull', '-q', `oci:${out}:hello:latest`])).trim().split('\n').at(-1)!;
  t.after(() => run('podman', ['rmi', '-f', pulled]).catch(() => undefined));
  const printed = await podmanRun(t, pulled);
  if (printed !== undefined) assert.equal(printed, `${HELLO_LINE}\n`);
});

test('round trip through umoci unpack: long and UTF-8 names, links, hard links, empty dirs, setuid', async (t) => {
  if (!requireTool(t, 'umoci')) return;
  const base = await tempDir(t);
  const src = path.join(base, 'src');
  const long100 = `${'d'.repeat(60)}/${'f'.repeat(60)}`; // 121 bytes: over ustar's 100-byte name field
  const deep = Array.from({ length: 5 }, (_, i) => `${i}${'x'.repeat(59)}`).join('/'); // over 255 bytes in all
  const utf8 = 'ünïcødé/日本語ファイル.txt';
  const files: Record<string, string> = {
    [long100]: 'long name',
    [`${deep}/leaf-${'y'.repeat(100)}`]: 'deep name',
    [utf8]: 'utf-8',
    'bin/tool': 'setuid tool',
    'data/original': 'linked twice',
  };
  for (const [rel, content] of Object.entries(files)) {
    await fs.mkdir(path.join(src, path.dirname(rel)), { recursive: true });
    await fs.writeFile(path.join(src, rel), content);
  }
  await fs.chmod(path.join(src, 'bin/tool'), 0o4755);
  await fs.link(path.join(src, 'data/original'), path.join(src, 'data/hardlink'));
  await fs.mkdir(path.join(src, 'empty/inside'), { recursive: true });
  await fs.symlink('../data/original', path.join(src, 'bin/relative-link'));
  await fs.symlink('/data/original', path.join(src, 'bin/absolute-link'));
  await fs.symlink(`../${utf8}`, path.join(src, 'bin/link-to-utf8'));
  await fs.symlink('x'.repeat(150), path.join(src, 'bin/long-target'));
  const out = path.join(base, 'out');
  const r = await cli('layout', out, '--add', `${src}:/`, '--tag', 'rt:1');
  assert.equal(r.status, 0, r.stderr);
  const bundle = path.join(base, 'bundle');
  await run('umoci', ['unpack', '--image', `${out}:rt:1`, bundle]);
  const rootfs = path.join(bundle, 'rootfs');
  for (const [rel, content] of Object.entries(files)) {
    assert.equal(await fs.readFile(path.join(rootfs, rel), 'utf8'), content, rel);
  }
  assert.ok(Buffer.byteLength(`${deep}/leaf-${'y'.repeat(100)}`) > 255);
  assert.equal((await fs.stat(path.join(rootfs, 'bin/tool'))).mode & 0o7777, 0o4755);
  const a = await fs.stat(path.join(rootfs, 'data/original'));
  const b = await fs.stat(path.join(rootfs, 'data/hardlink'));
  assert.equal(a.ino, b.ino, 'hard link restored as one inode');
  assert.equal(a.nlink, 2);
  assert.deepEqual(await fs.readdir(path.join(rootfs, 'empty/inside')), []);
  assert.equal(await fs.readlink(path.join(rootfs, 'bin/relative-link')), '../data/original');
  assert.equal(await fs.readlink(path.join(rootfs, 'bin/absolute-link')), '/data/original');
  assert.equal(await fs.readlink(path.join(rootfs, 'bin/link-to-utf8')), `../${utf8}`);
  assert.equal(await fs.readlink(path.join(rootfs, 'bin/long-target')), 'x'.repeat(150));
});
