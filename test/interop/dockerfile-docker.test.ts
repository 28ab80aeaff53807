// The differential test: the same Dockerfiles and contexts built by oci-pack and by docker's
// classic builder (DOCKER_BUILDKIT=0), compared config field by field and layer by layer.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { buildDockerfile } from '../../src/dockerfile/build.js';
import { writeDockerArchive } from '../../src/docker/write.js';
import { HELLO_LINE, dockerRunning, execFileP, readJson, requireTool, run, tempDir } from '../helpers.js';
import { AMD64, buildBase, layerEntries, layoutImage, makeContext, type ImageSeen, type Seen } from '../dockerfile/fixtures.js';

/** The runtime settings compared one by one. */
const FIELDS = ['Entrypoint', 'Cmd', 'Env', 'WorkingDir', 'User', 'ExposedPorts', 'Volumes', 'Labels', 'StopSignal', 'Healthcheck', 'Shell', 'OnBuild', 'ArgsEscaped'];

interface Run {
  prefix: string;
  layout: string;
  baseTag: string;
  baseLayers: number;
  dockerTags: string[];
}

/** One layout and one base image (in the layout and in docker) shared by the cases; docker's images go at the end. */
async function setUp(t: TestContext): Promise<Run | undefined> {
  if (!requireTool(t, 'docker', dockerRunning) || !requireTool(t, 'skopeo') || !requireTool(t, 'python3')) return undefined;
  const prefix = `oci-pack-dt-${randomBytes(4).toString('hex')}`;
  const layout = path.join(await tempDir(t), 'layout');
  const baseTag = `${prefix}-base:1`;
  const dockerTags: string[] = [baseTag];
  t.after(() => {
    spawnSync('docker', ['rmi', '-f', ...dockerTags], { stdio: 'ignore' });
  });
  const baseLayers = await buildBase(t, layout, baseTag);
  if (baseLayers === undefined) return undefined;
  await run('skopeo', ['copy', '-q', `oci:${layout}:${baseTag}`, `docker-daemon:${baseTag}`]);
  return { prefix, layout, baseTag, baseLayers, dockerTags };
}

interface Case {
  name: string;
  file?: string;
  target?: string;
  buildArgs?: Record<string, string>;
}

/** Build a case with docker and with oci-pack; both images, read back. */
async function buildBoth(t: TestContext, r: Run, c: Case, tag: string): Promise<{ docker: ImageSeen; ours: ImageSeen }> {
  const ctx = await makeContext(t, c.name);
  const file = path.join(ctx, c.file ?? 'Dockerfile');
  const args = Object.entries(c.buildArgs ?? {}).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
  r.dockerTags.push(tag);
  try {
    await execFileP('docker', ['build', '-q', '-t', tag, '-f', file, ...args, ...(c.target ? ['--target', c.target] : []), ctx], {
      env: { ...process.env, DOCKER_BUILDKIT: '0' },
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    throw new Error(`docker build of ${c.name} failed: ${(err as { stderr?: string }).stderr ?? String(err)}`);
  }
  const docker = await dockerSaved(t, tag);
  await buildDockerfile({
    layout: r.layout,
    context: ctx,
    dockerfile: file,
    ...(c.buildArgs ? { buildArgs: c.buildArgs } : {}),
    ...(c.target ? { target: c.target } : {}),
    platform: AMD64,
    tags: [tag],
  });
  return { docker, ours: await layoutImage(r.layout, tag) };
}

/** An image as `docker save` writes it: its config and its layer tars, in order. */
async function dockerSaved(t: TestContext, tag: string): Promise<ImageSeen> {
  const dir = await tempDir(t);
  await run('docker', ['save', '-o', path.join(dir, 'image.tar'), tag]);
  await run('tar', ['-C', dir, '-xf', path.join(dir, 'image.tar')]);
  const [entry] = (await readJson(path.join(dir, 'manifest.json'))) as Array<{ Config: string; Layers: string[] }>;
  return { config: (await readJson(path.join(dir, entry!.Config))) as ImageSeen['config'], layers: entry!.Layers.map((l) => path.join(dir, l)) };
}

/** Null, "" and absent mean the same in a config (docker writes "Cmd": null, "User": ""). */
function value(v: unknown): unknown {
  return v === null || v === '' ? undefined : v;
}

/**
 * The COPY or ADD history line reduced to what both builders write the same way: docker names
 * the sources by a content hash (file:..., dir:..., multi:...), oci-pack by their names.
 */
function copyLine(createdBy: string): string {
  const docker = /^(.*#\(nop\) )(COPY|ADD) (--chown=\S+?)?(?:file|dir|multi):[0-9a-f]{64} in (.*) $/.exec(createdBy);
  if (docker) return `${docker[1]}${docker[2]} ${docker[3] ?? ''} in ${docker[4]}`;
  const ours = /^(.*#\(nop\) )(COPY|ADD) (?:--from=\S+ )?(--chown=\S+ )?(?:--chmod=\S+ )?.* in (.*) $/.exec(createdBy);
  if (ours) return `${ours[1]}${ours[2]} ${ours[3]?.trim() ?? ''} in ${ours[4]}`;
  return createdBy;
}

/**
 * The classic builder chowns every file it copies (unless COPY --from keeps owners), and
 * chown(2) clears a regular file's setuid bit and its setgid bit when the group may execute it.
 * oci-pack keeps those bits, as BuildKit does; this applies the kernel's rule to compare.
 */
function afterClassicChown(e: Seen): Seen {
  if (e.type !== 'file') return e;
  let mode = e.mode & ~0o4000;
  if (mode & 0o010) mode &= ~0o2000;
  return { ...e, mode };
}

async function assertSameImage(c: string, docker: ImageSeen, ours: ImageSeen, baseLayers: number): Promise<void> {
  for (const field of FIELDS) {
    assert.deepEqual(value(ours.config.config?.[field]), value(docker.config.config?.[field]), `${c}: config.${field}`);
  }
  assert.equal(ours.config['author'], docker.config['author'], `${c}: author`);
  assert.equal(ours.config['architecture'], docker.config['architecture'], `${c}: architecture`);
  assert.equal(ours.config['os'], docker.config['os'], `${c}: os`);

  const dh = docker.config.history ?? [];
  const oh = ours.config.history ?? [];
  assert.equal(oh.length, dh.length, `${c}: history length`);
  dh.forEach((d, i) => {
    const o = oh[i]!;
    assert.equal(Boolean(o['empty_layer']), Boolean(d['empty_layer']), `${c}: history[${i}].empty_layer (${String(d['created_by'])})`);
    assert.equal(copyLine(String(o['created_by'])), copyLine(String(d['created_by'])), `${c}: history[${i}].created_by`);
    assert.equal(o['author'], d['author'], `${c}: history[${i}].author`);
  });

  assert.equal(ours.layers.length, docker.layers.length, `${c}: layer count`);
  const layerHistory = oh.filter((h) => !h['empty_layer']);
  for (let i = baseLayers; i < docker.layers.length; i++) {
    const createdBy = String(layerHistory[i]?.['created_by'] ?? '');
    const keepsBits = /#\(nop\) COPY --from=/.test(createdBy) && !/--chown=/.test(createdBy);
    const want = await layerEntries(docker.layers[i]!);
    const got = await layerEntries(ours.layers[i]!);
    const shown = (m: Map<string, Seen>) => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, keepsBits ? v : afterClassicChown(v)]));
    assert.deepEqual(shown(got), shown(want), `${c}: layer ${i} (${createdBy})`);
  }
}

test('differential: FROM scratch with every instruction but RUN gives the image docker builds', { timeout: 300_000 }, async (t) => {
  const r = await setUp(t);
  if (!r) return;
  const tag = `${r.prefix}-scratch:1`;
  const { docker, ours } = await buildBoth(t, r, { name: 'scratch-all' }, tag);
  await assertSameImage('scratch-all', docker, ours, 0);
  // The cases the comparison rests on, stated outright.
  assert.deepEqual(ours.config.config?.['Cmd'], ['/bin/ash', '-eo', 'pipefail', '-c', 'echo hello']);
  assert.equal(ours.layers.length, 16, 'one layer per COPY and ADD, and per WORKDIR that creates its directory');
});

test('differential: on a base image: inherited config, ENTRYPOINT resets CMD, --chown names, links, WORKDIR', { timeout: 300_000 }, async (t) => {
  const r = await setUp(t);
  if (!r) return;
  const { docker, ours } = await buildBoth(t, r, { name: 'on-base', buildArgs: { BASE: r.baseTag } }, `${r.prefix}-onbase:1`);
  await assertSameImage('on-base', docker, ours, r.baseLayers);
  assert.equal(ours.config.config?.['Cmd'], undefined, 'the base Cmd is reset by ENTRYPOINT');
  const emptyWorkdir = ours.config.history?.find((h) => h['created_by'] === '/bin/sh -c #(nop) WORKDIR /tmp');
  assert.equal(emptyWorkdir?.['empty_layer'], true, 'WORKDIR of an existing directory writes no layer');
});

test('differential: stages, COPY --from by name, number and pattern, and --target', { timeout: 300_000 }, async (t) => {
  const r = await setUp(t);
  if (!r) return;
  const final = await buildBoth(t, r, { name: 'multi-stage', buildArgs: { BASE: r.baseTag } }, `${r.prefix}-multi:1`);
  await assertSameImage('multi-stage', final.docker, final.ours, 0);
  const suid = await layerEntries(final.ours.layers[1]!);
  assert.equal(suid.get('suid')?.mode, 0o4755, 'COPY --from without --chown keeps the setuid bit');
  const build = await buildBoth(t, r, { name: 'multi-stage', buildArgs: { BASE: r.baseTag }, target: 'build' }, `${r.prefix}-multi:build`);
  await assertSameImage('multi-stage --target build', build.docker, build.ours, r.baseLayers);
});

test('differential: ONBUILD triggers of a base run in the image built FROM it', { timeout: 300_000 }, async (t) => {
  const r = await setUp(t);
  if (!r) return;
  const ctx = await makeContext(t, 'onbuild');
  const onbuildTag = `${r.prefix}-onbuild:1`;
  await buildDockerfile({ layout: r.layout, context: ctx, dockerfile: path.join(ctx, 'Dockerfile.base'), buildArgs: { BASE: r.baseTag }, platform: AMD64, tags: [onbuildTag] });
  r.dockerTags.push(onbuildTag);
  await run('skopeo', ['copy', '-q', `oci:${r.layout}:${onbuildTag}`, `docker-daemon:${onbuildTag}`]);
  const { docker, ours } = await buildBoth(t, r, { name: 'onbuild', buildArgs: { BASE: onbuildTag } }, `${r.prefix}-onbuild-child:1`);
  await assertSameImage('onbuild', docker, ours, r.baseLayers);
  assert.equal(ours.config.config?.['OnBuild'], undefined, 'triggers run once and are not inherited');
  assert.ok((ours.config.config?.['Env'] as string[]).includes('X=1'));
  await fs.rm(ctx, { recursive: true, force: true });
});

test('differential: COPY of several sources into one directory: the layer lists it once, and docker loads ours', { timeout: 300_000 }, async (t) => {
  const r = await setUp(t);
  if (!r) return;
  const tag = `${r.prefix}-copymulti:1`;
  const { docker, ours } = await buildBoth(t, r, { name: 'copy-multi' }, tag);
  // layerEntries refuses a path listed twice, so this also checks each layer lists a path once.
  await assertSameImage('copy-multi', docker, ours, 0);
  const dir = await tempDir(t);
  for (const format of ['v1', 'oci'] as const) {
    // docker's copy goes first, so what runs below can only be ours.
    await run('docker', ['rmi', '-f', tag]);
    const archive = path.join(dir, `${format}.tar`);
    await writeDockerArchive(r.layout, archive, { tags: [tag], format });
    await run('docker', ['load', '-q', '-i', archive]);
    assert.equal((await run('docker', ['run', '--rm', '--network', 'none', tag])).trim(), HELLO_LINE, `${format}: docker loads and runs ours`);
  }
});
