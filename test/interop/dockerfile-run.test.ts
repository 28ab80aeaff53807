// Images built from the seed tutorials' Dockerfiles, and a Node.js app's, run in docker and podman
// and print what they should.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { buildImage } from '../../src/build.js';
import { HELLO, HELLO_LINE, podmanRun, ROOT, busyboxRootfs, cli, dockerRunning, requireTool, run, tempDir } from '../helpers.js';
import { makeContext } from '../dockerfile/fixtures.js';

/** Load an image of a layout into docker under a unique name, run it, and remove it. */
async function runInDocker(t: TestContext, layout: string, ref: string): Promise<string> {
  const name = `oci-pack-run-${randomBytes(4).toString('hex')}:1`;
  t.after(() => {
    spawnSync('docker', ['rmi', '-f', name], { stdio: 'ignore' });
  });
  await run('skopeo', ['copy', '-q', `oci:${layout}:${ref}`, `docker-daemon:${name}`]);
  return run('docker', ['run', '--rm', '--network', 'none', name]);
}

/**
 * Copy an image of a layout into podman's storage under a unique name (podman 4.3's own pull
 * of oci:DIR names the image after DIR, which a temp dir's capitals make invalid), run it, remove it.
 */
async function runInPodman(t: TestContext, layout: string, ref: string): Promise<string | undefined> {
  const name = `localhost/oci-pack-run-${randomBytes(4).toString('hex')}:1`;
  t.after(() => {
    spawnSync('podman', ['rmi', '-f', name], { stdio: 'ignore' });
  });
  await run('skopeo', ['copy', '-q', `oci:${layout}:${ref}`, `containers-storage:${name}`]);
  return podmanRun(t, name);
}

/** A context with the tutorial's Dockerfile and its static binary. */
async function tutorial(t: TestContext, from: string): Promise<string> {
  const dir = await tempDir(t);
  await fs.copyFile(HELLO, path.join(dir, 'hello'));
  await fs.chmod(path.join(dir, 'hello'), 0o755);
  await fs.writeFile(path.join(dir, 'Dockerfile'), `FROM ${from}\nADD hello /\nCMD ["/hello"]\n`);
  return dir;
}

test('the seed tutorial (FROM scratch, ADD hello /, CMD ["/hello"]) runs in docker and podman', { timeout: 180_000 }, async (t) => {
  if (!requireTool(t, 'docker', dockerRunning) || !requireTool(t, 'skopeo') || !requireTool(t, 'podman')) return;
  const ctx = await tutorial(t, 'scratch');
  const layout = path.join(await tempDir(t), 'out');
  const r = await cli('layout', layout, '--context', ctx, '--tag', 'hello:latest', '-q');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(await runInDocker(t, layout, 'hello:latest'), `${HELLO_LINE}\n`);
  const inPodman = await runInPodman(t, layout, 'hello:latest');
  if (inPodman !== undefined) assert.equal(inPodman, `${HELLO_LINE}\n`);
});

test('the seed tutorial on a busybox base runs in docker and podman, with the base shell beneath it', { timeout: 180_000 }, async (t) => {
  if (!requireTool(t, 'docker', dockerRunning) || !requireTool(t, 'skopeo') || !requireTool(t, 'podman')) return;
  const rootfs = await busyboxRootfs(t);
  if (!rootfs) return;
  const layout = path.join(await tempDir(t), 'out');
  await buildImage({ layout, layers: [{ kind: 'tarball', path: rootfs }], config: { cmd: ['/bin/sh'] }, tags: ['busybox:base'] });
  const ctx = await tutorial(t, 'busybox:base');
  const r = await cli('layout', layout, '--context', ctx, '--tag', 'hello:busybox', '-q');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(await runInDocker(t, layout, 'hello:busybox'), `${HELLO_LINE}\n`);
  const inPodman = await runInPodman(t, layout, 'hello:busybox');
  if (inPodman !== undefined) assert.equal(inPodman, `${HELLO_LINE}\n`);
  const name = `oci-pack-run-${randomBytes(4).toString('hex')}:1`;
  t.after(() => {
    spawnSync('docker', ['rmi', '-f', name], { stdio: 'ignore' });
  });
  await run('skopeo', ['copy', '-q', `oci:${layout}:hello:busybox`, `docker-daemon:${name}`]);
  assert.equal(await run('docker', ['run', '--rm', '--network', 'none', name, '/bin/sh', '-c', 'ls /hello && echo $PATH']), `/hello\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n`);
});

test('a Node.js app on a base of this machine\'s node and its libraries runs in docker', { timeout: 300_000 }, async (t) => {
  if (!requireTool(t, 'docker', dockerRunning) || !requireTool(t, 'skopeo') || !requireTool(t, 'ldd')) return;
  const work = await tempDir(t);
  const rootfs = path.join(work, 'node-rootfs.tar');
  await run('bash', [path.join(ROOT, 'fixtures', 'node', 'make-rootfs.sh'), rootfs]);
  const layout = path.join(work, 'out');
  await buildImage({ layout, layers: [{ kind: 'tarball', path: rootfs }], tags: ['node-base:latest'] });
  const ctx = await makeContext(t, 'node-app');
  const r = await cli('layout', layout, '--context', ctx, '--tag', 'app:1', '-q');
  assert.equal(r.status, 0, r.stderr);
  const out = await runInDocker(t, layout, 'app:1');
  assert.equal(out, `Hello from a Node.js app in an oci-pack image (${process.version} linux/x64, cwd /app)\n`);
});

test('FROM docker-archive: of a docker save, and FROM oci-archive: of a skopeo copy, run in docker', { timeout: 300_000 }, async (t) => {
  if (!requireTool(t, 'docker', dockerRunning) || !requireTool(t, 'skopeo')) return;
  const rootfs = await busyboxRootfs(t);
  if (!rootfs) return;
  const work = await tempDir(t);
  // A base made by docker itself: busybox imported, with an ENV that the built image must inherit.
  const baseName = `oci-pack-base-${randomBytes(4).toString('hex')}:1`;
  t.after(() => {
    spawnSync('docker', ['rmi', '-f', baseName], { stdio: 'ignore' });
  });
  await run('docker', ['import', '--change', 'ENV GREETING=from-the-base', rootfs, baseName]);
  const saved = path.join(work, 'base-docker.tar');
  await run('docker', ['save', '-o', saved, baseName]);
  const ociArchive = path.join(work, 'base-oci.tar');
  await run('skopeo', ['copy', '-q', `docker-archive:${saved}`, `oci-archive:${ociArchive}:base`]);
  for (const from of [`docker-archive:${saved}:${baseName}`, `oci-archive:${ociArchive}:base`]) {
    const ctx = await tutorial(t, from);
    await fs.appendFile(path.join(ctx, 'Dockerfile'), 'ENTRYPOINT ["/bin/sh", "-c", "/hello && echo $GREETING"]\nCMD []\n');
    const layout = path.join(await tempDir(t), 'out');
    const r = await cli('layout', layout, '--context', ctx, '--tag', 'on:archive', '-q');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(await runInDocker(t, layout, 'on:archive'), `${HELLO_LINE}\nfrom-the-base\n`, from);
  }
});
