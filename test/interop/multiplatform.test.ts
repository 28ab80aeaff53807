// The multi-platform Dockerfile example (fixtures/dockerfiles/multi-platform): docker and podman on
// this amd64 host run the amd64 entry of the index; skopeo sees the arm64 entry and its arm64 binary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { CI, HELLO_LINE, PODMAN_RUN, ROOT, blobFile, cli, dockerRunning, readJson, requireTool, run, runBin, tempDir } from '../helpers.js';
import { makeContext } from '../dockerfile/fixtures.js';

const REF = 'multiarch-hello:latest';
/** ELF e_machine values (the two bytes at offset 18, little-endian). */
const EM_X86_64 = 62;
const EM_AARCH64 = 183;

test('the multi-platform example: an index docker, podman and skopeo each resolve to the right image', { timeout: 240_000 }, async (t) => {
  if (process.arch !== 'x64') {
    t.skip('runs the amd64 entry, so it needs an amd64 host');
    return;
  }
  if (!requireTool(t, 'docker', dockerRunning) || !requireTool(t, 'skopeo') || !requireTool(t, 'podman')) return;
  const ctx = await makeContext(t, 'multi-platform');
  // Lowercase and without '-' or '_': podman names an image pulled from oci:DIR after DIR.
  const layout = path.join(await tempDir(t, 'multiarch'), 'layout');
  const built = await cli('layout', layout, '--context', ctx, '--platform', 'linux/amd64,linux/arm64', '--tag', REF, '-q');
  assert.equal(built.status, 0, built.stderr);

  // docker: through to-docker --platform, the familiar way in.
  const name = `multiarch-hello-${randomBytes(4).toString('hex')}:amd64`;
  t.after(() => void spawnSync('docker', ['rmi', '-f', name], { stdio: 'ignore' }));
  const archive = path.join(await tempDir(t), 'amd64.tar');
  const exported = runBin(['to-docker', archive, '--layout', layout, '--platform', 'linux/amd64', '--tag', `${REF}`, '-q']);
  assert.equal(exported.status, 0, exported.stderr);
  await run('docker', ['load', '-q', '-i', archive]);
  await run('docker', ['tag', REF, name]);
  spawnSync('docker', ['rmi', REF], { stdio: 'ignore' });
  assert.equal(await run('docker', ['run', '--rm', '--network', 'none', name]), `${HELLO_LINE}\n`);

  // podman: its own pull of the index picks this host's platform.
  const pulled = (await run('podman', ['pull', '-q', `oci:${layout}:${REF}`])).trim().split('\n').pop()!;
  t.after(() => void spawnSync('podman', ['rmi', '-f', pulled], { stdio: 'ignore' }));
  assert.equal(await run('podman', [...PODMAN_RUN, pulled]), `${HELLO_LINE}\n`);
  const podmanArch = (await run('podman', ['image', 'inspect', '--format', '{{.Architecture}}', pulled])).trim();
  assert.equal(podmanArch, 'amd64');

  // skopeo: the arm64 entry, whose one layer holds an aarch64 /hello.
  for (const [arch, machine] of [['arm64', EM_AARCH64], ['amd64', EM_X86_64]] as const) {
    const seen = JSON.parse(await run('skopeo', ['inspect', '--override-arch', arch, `oci:${layout}:${REF}`])) as { Architecture: string; Os: string; Layers: string[] };
    assert.equal(seen.Architecture, arch);
    assert.equal(seen.Os, 'linux');
    assert.equal(seen.Layers.length, 1);
    const dir = await tempDir(t);
    await run('tar', ['-xzf', blobFile(layout, seen.Layers[0]!), '-C', dir]);
    const elf = await fs.readFile(path.join(dir, 'hello'));
    assert.equal(elf.subarray(0, 4).toString('latin1'), '\x7fELF');
    assert.equal(elf.readUInt16LE(18), machine, `${arch}: ELF machine`);
  }
  const raw = JSON.parse(await run('skopeo', ['inspect', '--raw', `oci:${layout}:${REF}`])) as { mediaType: string; manifests: Array<{ platform: { architecture: string } }> };
  assert.equal(raw.mediaType, 'application/vnd.oci.image.index.v1+json');
  assert.deepEqual(raw.manifests.map((m) => m.platform.architecture), ['amd64', 'arm64']);
  const top = (await readJson(path.join(layout, 'index.json'))) as { manifests: unknown[] };
  assert.equal(top.manifests.length, 1, 'only the index is tagged, as buildx writes it');

  // The oracle's structural checks. --no-tools: its consumers include umoci unpack, which (0.4.7)
  // refuses any tag naming an index of several manifests ("tag is ambiguous"); the consumers that
  // do read indexes ran above.
  const oracle = [path.join(ROOT, '..', 'shared', 'oracle', 'check-layout'), path.join(ROOT, '..', '..', 'shared', 'oracle', 'check-layout')].find((p) => existsSync(p));
  if (!oracle) {
    if (CI) throw new Error('../shared/oracle/check-layout is missing, and CI=true allows no skip');
    t.diagnostic('../shared/oracle/check-layout not found: oracle step skipped');
    return;
  }
  await run(oracle, [layout, '--no-tools']);
});
