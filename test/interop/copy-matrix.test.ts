// `oci-pack copy` (the executable) between every ordered pair of the four transports — oci:,
// oci-archive:, docker-archive:, docker:// — on the hello image, each result handed to a real
// consumer: skopeo reads every destination, umoci unpacks a layout, podman and docker load, pull and
// run some of them. Then an index row: oci, oci-archive and docker:// keep it whole (--all), and into
// docker-archive it is resolved to this host's platform. One registry (Debian's docker-registry on
// 127.0.0.1) serves every docker:// end.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { hostPlatform, sha256 } from '../../src/index.js';
import { BIN, CI, HELLO, HELLO_LINE, ROOT, blobFile, dockerRunning, podmanRun, requireTool, run, tempDir, type CliResult } from '../helpers.js';
import { registryAvailable, REGISTRY_BIN, startRegistry } from './registry-server.js';

const TRANSPORTS = ['oci', 'oci-archive', 'docker-archive', 'docker'] as const;
type Transport = (typeof TRANSPORTS)[number];
/** Every image, container and repository name this file makes starts with this. */
const NAME = `matrix-${process.pid}`;

/** `node dist/src/cli/bin.js ARGS`, without blocking the event loop (the registry's log pipe stays drained). */
function bin(...args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => void (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => void (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr }));
  });
}

interface Copied {
  digest: string;
  tags: string[];
}

async function copy(src: string, dst: string, ...flags: string[]): Promise<Copied> {
  const r = await bin('copy', '--json', ...flags, src, dst);
  assert.equal(r.status, 0, `copy ${src} ${dst}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Copied;
}

/** The manifest (or index) bytes and the config bytes skopeo reads at `ref`, as digests. */
async function skopeoDigests(ref: string, ...flags: string[]): Promise<{ top: string; config: string; architecture: string }> {
  const tls = ref.startsWith('docker://') ? ['--tls-verify=false'] : [];
  const top = sha256(await run('skopeo', ['inspect', ...tls, ...flags, '--raw', ref]));
  const config = sha256(await run('skopeo', ['inspect', ...tls, ...flags, '--config', '--raw', ref]));
  const { Architecture } = JSON.parse(await run('skopeo', ['inspect', ...tls, ...flags, ref])) as { Architecture: string };
  return { top, config, architecture: Architecture };
}

async function configOf(layout: string, manifest: string): Promise<string> {
  return (JSON.parse(await fs.readFile(blobFile(layout, manifest), 'utf8')) as { config: { digest: string } }).config.digest;
}

function needTools(t: TestContext): boolean {
  if (!registryAvailable()) {
    if (CI) throw new Error(`${REGISTRY_BIN} is missing, and CI=true allows no skip (run ../shared/oracle/install-tools)`);
    t.skip('docker-registry not installed');
    return false;
  }
  return requireTool(t, 'skopeo') && requireTool(t, 'umoci') && requireTool(t, 'podman') && requireTool(t, 'docker', dockerRunning);
}

test('copy between every pair of transports: skopeo, umoci, podman and docker take each result', async (t) => {
  if (!needTools(t)) return;
  const reg = await startRegistry(t);
  const dir = await tempDir(t, 'oci-pack-matrix-');
  const dockerNames: string[] = [];
  const podmanNames: string[] = [];
  t.after(async () => {
    for (const n of dockerNames) await run('docker', ['rmi', '-f', n]).catch(() => undefined);
    for (const n of podmanNames) await run('podman', ['rmi', '-f', n]).catch(() => undefined);
  });

  // The layout every source is copied from: hello for amd64 and arm64, and an index of both.
  const layout = path.join(dir, 'layout');
  for (const [arch, binary] of [['amd64', HELLO], ['arm64', path.join(ROOT, 'fixtures', 'hello', 'hello-arm64')]] as const) {
    const r = await bin('layout', layout, '--add', `${binary}:/hello`, '--cmd', '/hello', '--platform', `linux/${arch}`, '--tag', `hello:${arch}`, '-q');
    assert.equal(r.status, 0, r.stderr);
  }
  assert.equal((await bin('index', layout, '--tag', 'hello:multi', 'hello:amd64', 'hello:arm64', '-q')).status, 0);
  const index = JSON.parse(await fs.readFile(path.join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const named = (ref: string): string => index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === ref)!.digest;
  const manifest = named('hello:amd64');
  const config = await configOf(layout, manifest);
  const multi = named('hello:multi');
  const host = hostPlatform().architecture;
  assert.ok(host === 'amd64' || host === 'arm64', `the index has no image for this host (${host})`);
  const hostConfig = await configOf(layout, named(`hello:${host}`));

  /** Where a transport keeps the image `label` names: a source, or the destination of one pair. */
  const refOf = (transport: Transport, label: string): string => {
    switch (transport) {
      case 'oci':
        return `oci:${dir}/${label}-layout:${NAME}:${label}`;
      case 'oci-archive':
        return `oci-archive:${dir}/${label}-oci.tar:${NAME}:${label}`;
      case 'docker-archive':
        return `docker-archive:${dir}/${label}-docker.tar:${NAME}:${label}`;
      case 'docker':
        return `docker://${reg.host}/${NAME}/${label}:v1`;
    }
  };

  // Each source is a copy from the layout, checked like any destination.
  const sources = {} as Record<Transport, string>;
  for (const s of TRANSPORTS) {
    sources[s] = refOf(s, `src-${s}`);
    const result = await copy(`oci:${layout}:hello:amd64`, sources[s]);
    assert.equal(result.digest, manifest, `layout -> ${s}`);
  }

  /** Load and run a docker-archive with docker: the image ID is the config digest, the line is printed. */
  const dockerLoadRun = async (ref: string, wantConfig: string): Promise<void> => {
    const tar = ref.slice('docker-archive:'.length).split(':')[0]!;
    const tag = ref.slice(`docker-archive:${tar}:`.length);
    dockerNames.push(tag);
    assert.match(await run('docker', ['load', '-i', tar]), new RegExp(`Loaded image: ${tag}`));
    assert.equal((await run('docker', ['image', 'inspect', '-f', '{{.Id}}', tag])).trim(), wantConfig);
    assert.equal(await run('docker', ['run', '--rm', '--network', 'none', tag]), `${HELLO_LINE}\n`);
  };

  for (const s of TRANSPORTS) {
    for (const d of TRANSPORTS) {
      await t.test(`${s} -> ${d}`, async (tt) => {
        const label = `${s}-to-${d}`;
        const dst = refOf(d, label);
        const result = await copy(sources[s], dst);
        const seen = await skopeoDigests(dst);
        // The config (the image ID) survives every pair.
        assert.equal(seen.config, config, 'the config digest');
        assert.equal(seen.architecture, 'amd64');
        if (s !== 'docker-archive' && d !== 'docker-archive') {
          // The manifest survives byte for byte where neither end is a docker archive: a v1 docker
          // archive (docker save) holds no manifest, only the config and the layers, so one read from it is
          // rebuilt, and skopeo shows one it makes up for the one written to it.
          assert.equal(result.digest, manifest, 'copy reports the manifest digest');
          assert.equal(seen.top, manifest, 'the manifest digest');
        } else if (d !== 'docker-archive') {
          assert.equal(seen.top, result.digest, 'the manifest written is the one copy reports');
        }

        // Beyond skopeo: each kind of destination goes to a runtime at least once.
        if (label === 'docker-to-oci') {
          const bundle = path.join(dir, `${label}-bundle`);
          await run('umoci', ['unpack', '--rootless', '--image', dst.slice('oci:'.length), bundle]);
          assert.deepEqual(await fs.readFile(path.join(bundle, 'rootfs', 'hello')), await fs.readFile(HELLO));
        }
        if (label === 'oci-archive-to-oci') {
          // podman names an image pulled from a layout after its directory.
          const layoutDir = dst.slice('oci:'.length).split(':')[0]!;
          const name = `localhost${layoutDir}:latest`;
          podmanNames.push(name);
          await run('podman', ['pull', '-q', dst]);
          const out = await podmanRun(tt, name);
          if (out !== undefined) assert.equal(out, `${HELLO_LINE}\n`);
        }
        if (label === 'docker-archive-to-oci-archive') {
          const name = `localhost/${NAME}:${label}`;
          podmanNames.push(name);
          assert.match(await run('podman', ['load', '-i', `${dir}/${label}-oci.tar`]), new RegExp(`Loaded image: ${name}`));
          const out = await podmanRun(tt, name);
          if (out !== undefined) assert.equal(out, `${HELLO_LINE}\n`);
        }
        if (label === 'docker-to-docker-archive' || label === 'docker-archive-to-docker-archive') await dockerLoadRun(dst, config);
        if (label === 'docker-archive-to-docker') {
          const name = dst.slice('docker://'.length);
          dockerNames.push(name);
          await run('docker', ['pull', '-q', name]);
          assert.equal((await run('docker', ['image', 'inspect', '-f', '{{.Id}}', name])).trim(), config);
          assert.equal(await run('docker', ['run', '--rm', '--network', 'none', name]), `${HELLO_LINE}\n`);
        }
      });
    }
  }

  // The index row: where an index can live it is copied whole (--all) and keeps its digest; into a
  // docker archive, which holds images only, it is resolved to this host's platform.
  const INDEX_TRANSPORTS = ['oci', 'oci-archive', 'docker'] as const;
  const multiSources = {} as Record<(typeof INDEX_TRANSPORTS)[number], string>;
  for (const s of INDEX_TRANSPORTS) {
    multiSources[s] = refOf(s, `multi-${s}`);
    assert.equal((await copy(`oci:${layout}:hello:multi`, multiSources[s], '--all')).digest, multi, `layout -> ${s}`);
  }
  for (const s of INDEX_TRANSPORTS) {
    for (const d of TRANSPORTS) {
      await t.test(`index: ${s} -> ${d}`, async (tt) => {
        const label = `multi-${s}-to-${d}`;
        const dst = refOf(d, label);
        if (d === 'docker-archive') {
          await copy(multiSources[s], dst);
          const seen = await skopeoDigests(dst);
          assert.equal(seen.config, hostConfig, `the ${host} image's config`);
          assert.equal(seen.architecture, host);
          if (s === 'oci-archive') await dockerLoadRun(dst, hostConfig);
          return;
        }
        const result = await copy(multiSources[s], dst, '--all');
        assert.equal(result.digest, multi, 'copy reports the index digest');
        const seen = await skopeoDigests(dst, '--override-arch', 'arm64');
        assert.equal(seen.top, multi, 'the index digest');
        assert.equal(seen.config, await configOf(layout, named('hello:arm64')), 'the arm64 config, from the copied index');
        assert.equal(seen.architecture, 'arm64');
        if (label === 'multi-oci-archive-to-docker') {
          // podman resolves the pushed index to this host's image and runs it.
          const name = dst.slice('docker://'.length);
          podmanNames.push(name);
          await run('podman', ['pull', '-q', '--tls-verify=false', name]);
          const out = await podmanRun(tt, name);
          if (out !== undefined) assert.equal(out, `${HELLO_LINE}\n`);
        }
      });
    }
  }
});

// What `docker push` puts in a registry is a Docker v2 manifest; oci: and oci-archive: hold OCI only
// (skopeo, podman and umoci refuse a layout naming a Docker v2 manifest), so copy converts it there, as
// skopeo does: a new manifest over the same config and layers; --preserve-digests refuses instead.
test('an image docker pushed (Docker v2) copied to oci: and oci-archive: is OCI there: skopeo, umoci and podman take it', async (t) => {
  if (!needTools(t)) return;
  const reg = await startRegistry(t);
  const dir = await tempDir(t, 'oci-pack-matrix-v2-');
  const tag = `${NAME}-v2:pushed`;
  const pushed = `${reg.host}/${NAME}/v2:pushed`;
  const podmanNames: string[] = [];
  t.after(async () => {
    for (const n of [tag, pushed]) await run('docker', ['rmi', '-f', n]).catch(() => undefined);
    for (const n of podmanNames) await run('podman', ['rmi', '-f', n]).catch(() => undefined);
  });
  const layout = path.join(dir, 'layout');
  assert.equal((await bin('layout', layout, '--add', `${HELLO}:/hello`, '--cmd', '/hello', '--platform', 'linux/amd64', '--tag', 'hello', '-q')).status, 0);
  await copy(`oci:${layout}:hello`, `docker-archive:${dir}/hello.tar:${tag}`);
  await run('docker', ['load', '-i', `${dir}/hello.tar`]);
  const config = (await run('docker', ['image', 'inspect', '-f', '{{.Id}}', tag])).trim();
  await run('docker', ['tag', tag, pushed]);
  await run('docker', ['push', '-q', pushed]);
  const raw = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${pushed}`])) as { mediaType: string; config: { digest: string } };
  assert.equal(raw.mediaType, 'application/vnd.docker.distribution.manifest.v2+json', 'docker pushed a Docker v2 manifest');
  assert.equal(raw.config.digest, config);
  const pushedDigest = (await skopeoDigests(`docker://${pushed}`)).top;

  const ociDst = `oci:${dir}/v2-layout:${NAME}:v2`;
  const archiveDst = `oci-archive:${dir}/v2-oci.tar:${NAME}:v2`;
  for (const dst of [ociDst, archiveDst]) {
    // Refused with --preserve-digests: one line naming the manifest, nothing written.
    const refused = await bin('copy', '--preserve-digests', `docker://${pushed}`, dst, '--tls-verify=false');
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr.trim(), new RegExp(`^oci-pack: .*${pushedDigest} is a Docker v2 manifest; .*--preserve-digests refuses[^\\n]*$`));
    await assert.rejects(fs.stat(dst.split(':')[1]!), { code: 'ENOENT' });

    const result = await copy(`docker://${pushed}`, dst, '--tls-verify=false');
    const seen = await skopeoDigests(dst);
    assert.equal(seen.top, result.digest, 'copy reports the manifest written');
    assert.notEqual(result.digest, pushedDigest);
    assert.equal(seen.config, config, 'the config (the image ID) is the same blob');
    const manifest = JSON.parse(await run('skopeo', ['inspect', '--raw', dst])) as { mediaType: string; config: { mediaType: string }; layers: { mediaType: string }[] };
    assert.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(manifest.config.mediaType, 'application/vnd.oci.image.config.v1+json');
    assert.deepEqual(manifest.layers.map((l) => l.mediaType), ['application/vnd.oci.image.layer.v1.tar+gzip']);
  }

  const bundle = path.join(dir, 'v2-bundle');
  await run('umoci', ['unpack', '--rootless', '--image', `${dir}/v2-layout:${NAME}:v2`, bundle]);
  assert.deepEqual(await fs.readFile(path.join(bundle, 'rootfs', 'hello')), await fs.readFile(HELLO));

  // podman names an image pulled from a layout after its directory, one loaded from an archive after its ref name.
  const fromLayout = `localhost${dir}/v2-layout:latest`;
  podmanNames.push(fromLayout);
  await run('podman', ['pull', '-q', ociDst]);
  const out = await podmanRun(t, fromLayout);
  if (out !== undefined) assert.equal(out, `${HELLO_LINE}\n`);
  const fromArchive = `localhost/${NAME}:v2`;
  podmanNames.push(fromArchive);
  assert.match(await run('podman', ['load', '-i', `${dir}/v2-oci.tar`]), new RegExp(`Loaded image: ${fromArchive}`));
  const loaded = await podmanRun(t, fromArchive);
  if (loaded !== undefined) assert.equal(loaded, `${HELLO_LINE}\n`);
});
