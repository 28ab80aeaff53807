// FROM and `layout --from` reading a real distribution registry (Debian's docker-registry 2.8) on
// 127.0.0.1: docker:// names and plain registry names, --pull never|missing|always, a failed pull
// leaving the layout as it was, and the built image run by docker.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { buildDockerfile, buildImage, pushImage } from '../../src/index.js';
import { HELLO, HELLO_LINE, cli, dockerRunning, requireTool, run, snapshot, tempDir } from '../helpers.js';
import { needRegistry, startRegistry } from './registry-server.js';

const PREFIX = 'build-model'; // repositories and docker names carry the branch's name
const AMD64 = { os: 'linux', architecture: 'amd64' };


/** An image of the hello binary at `dest`, pushed to `ref`; its only layer's digest. */
async function pushHello(t: TestContext, dest: string, ref: string): Promise<string> {
  const dir = path.join(await tempDir(t, 'oci-pack-bm-base-'), 'layout');
  const built = await buildImage({ layout: dir, layers: [{ kind: 'add', src: HELLO, dest }], config: { cmd: [dest] }, platform: AMD64, tags: ['b:1'], sourceDateEpoch: 0 });
  await pushImage({ layout: dir, ref: 'b:1', dest: `docker://${ref}` });
  return built.layers[0]!.descriptor.digest;
}

async function context(t: TestContext, dockerfile: string): Promise<string> {
  const dir = await tempDir(t, 'oci-pack-bm-ctx-');
  await fs.writeFile(path.join(dir, 'Dockerfile'), dockerfile);
  await fs.writeFile(path.join(dir, 'f'), 'from the context\n');
  return dir;
}

test('FROM and --from read registries: docker:// and plain names, --pull never|missing|always, nothing published by a failed pull, the image runs in docker', async (t) => {
  if (!needRegistry(t)) return;
  const reg = await startRegistry(t);
  const base = `${reg.host}/${PREFIX}/base:1`;
  const baseLayer = await pushHello(t, '/hello', base);

  await t.test('FROM docker://HOST/REPO:TAG: the base layers staged by digest and published with the image only', async (tt) => {
    const out = path.join(await tempDir(tt, 'oci-pack-bm-out-'), 'layout');
    const r = await buildDockerfile({ layout: out, context: await context(tt, `FROM docker://${base}\nCOPY f /f\n`), tags: ['app:1'] });
    assert.equal(r.layers[0]!.descriptor.digest, baseLayer);
    assert.deepEqual(r.config.config?.Cmd, ['/hello']);
    const blobs = (await fs.readdir(path.join(out, 'blobs', 'sha256'))).sort();
    assert.deepEqual(blobs, [r.descriptor.digest, r.configDescriptor.digest, ...r.layers.map((l) => l.descriptor.digest)].map((d) => d.slice(7)).sort(), 'the base\'s config and manifest are not published');
    const index = JSON.parse(await fs.readFile(path.join(out, 'index.json'), 'utf8')) as { manifests: unknown[] };
    assert.equal(index.manifests.length, 1, 'the pulled base is not tagged in the layout');
    assert.equal((await cli('validate', out)).status, 0);
  });

  await t.test('a plain registry name is pulled when the layout has no such tag (--pull missing, the default)', async (tt) => {
    const out = path.join(await tempDir(tt, 'oci-pack-bm-out-'), 'layout');
    const r = await buildDockerfile({ layout: out, context: await context(tt, `FROM ${base}\nCOPY f /f\n`), tags: ['app:1'] });
    assert.equal(r.layers[0]!.descriptor.digest, baseLayer);
  });

  await t.test('--pull: never fails in one line with the layout unchanged; missing takes the layout\'s tag; always asks the registry', async (tt) => {
    const dir = await tempDir(tt, 'oci-pack-bm-out-');
    const out = path.join(dir, 'layout');
    const ctx = await context(tt, `FROM ${base}\nCOPY f /f\n`);
    await buildImage({ layout: out, layers: [{ kind: 'add', src: HELLO, dest: '/keep' }], tags: ['keep:1'], platform: AMD64 });
    const before = await snapshot(out);
    const never = await cli('layout', out, '--context', ctx, '--pull', 'never');
    assert.equal(never.status, 1);
    assert.equal(never.stderr, `oci-pack: ${ctx}/Dockerfile:1: FROM ${base}: ${base} is not tagged in ${out}, and --pull never does not ask its registry (docker://${base})\n`);
    assert.deepEqual(await snapshot(out), before);

    // The layout's own image under the registry's name: missing takes it, never too.
    const local = await buildImage({ layout: out, layers: [{ kind: 'add', src: HELLO, dest: '/local' }], config: { cmd: ['/local'] }, tags: [base], platform: AMD64 });
    const localLayer = local.layers[0]!.descriptor.digest;
    assert.notEqual(localLayer, baseLayer);
    for (const pull of ['missing', 'never']) {
      const r = await cli('layout', out, '--context', ctx, '--pull', pull, '--tag', `app:${pull}`, '--json');
      assert.equal(r.status, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { layers: Array<{ digest: string }> }).layers[0]!.digest, localLayer, pull);
    }
    // The registry's tag moves to another image: only always sees it, so the registry was asked.
    const moved = await pushHello(tt, '/moved', base);
    const always = await cli('layout', out, '--context', ctx, '--pull', 'always', '--tag', 'app:always', '--json');
    assert.equal(always.status, 0, always.stderr);
    assert.equal((JSON.parse(always.stdout) as { layers: Array<{ digest: string }> }).layers[0]!.digest, moved);
    const missing = await cli('layout', out, '--context', ctx, '--pull', 'missing', '--tag', 'app:again', '--json');
    assert.equal((JSON.parse(missing.stdout) as { layers: Array<{ digest: string }> }).layers[0]!.digest, localLayer, 'the local tag still wins with missing');
    assert.equal((await cli('validate', out)).status, 0);
  });

  await t.test('a failed pull (no such tag, or the registry gone) leaves the layout as it was', async (tt) => {
    const out = path.join(await tempDir(tt, 'oci-pack-bm-out-'), 'layout');
    await buildImage({ layout: out, layers: [{ kind: 'add', src: HELLO, dest: '/keep' }], tags: ['keep:1'], platform: AMD64 });
    const before = await snapshot(out);
    const r = await cli('layout', out, '--from', `${reg.host}/${PREFIX}/nothere:1`, '--add', `${HELLO}:/x`, '--tag', 'keep:1');
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`^oci-pack: --from ${reg.host}/${PREFIX}/nothere:1: .*nothere.*\\n$`));
    assert.equal(r.stderr.split('\n').length, 2, 'one line');
    assert.deepEqual(await snapshot(out), before);
    await reg.kill();
    tt.after(() => reg.start());
    const gone = await cli('layout', out, '--from', `docker://${base}`, '--add', `${HELLO}:/x`, '--tag', 'keep:1', '--timeout', '5');
    assert.equal(gone.status, 1, gone.stderr);
    assert.equal(gone.stderr.split('\n').length, 2, 'one line');
    assert.deepEqual(await snapshot(out), before);
  });

  await t.test('layout --from docker://: the built image runs in docker', async (tt) => {
    if (!requireTool(tt, 'docker', dockerRunning)) return;
    const first = await pushHello(tt, '/hello', `${reg.host}/${PREFIX}/run:1`);
    const out = path.join(await tempDir(tt, 'oci-pack-bm-out-'), 'layout');
    const tag = `${PREFIX}-from:1`;
    const r = await cli('layout', out, '--from', `docker://${reg.host}/${PREFIX}/run:1`, '--add', `${HELLO}:/bin/hello2`, '--cmd', '/bin/hello2', '--tag', tag, '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { layers: Array<{ digest: string }> }).layers[0]!.digest, first);
    const archive = path.join(path.dirname(out), 'app.tar');
    const exported = await cli('to-docker', archive, out);
    assert.equal(exported.status, 0, exported.stderr);
    tt.after(() => run('docker', ['rmi', '-f', tag]).catch(() => undefined));
    assert.match(await run('docker', ['load', '-i', archive]), new RegExp(`Loaded image: ${tag}`));
    assert.equal(await run('docker', ['run', '--rm', '--network', 'none', tag]), `${HELLO_LINE}\n`);
    assert.equal(await run('docker', ['run', '--rm', '--network', 'none', tag, '/hello']), `${HELLO_LINE}\n`, 'the base\'s file is there too');
  });
});
