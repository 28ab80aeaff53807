// Helpers of the Dockerfile tests: build contexts from fixtures/dockerfiles, base images built by
// the tests themselves, and an image's config and layer entries read back from a layout.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { buildImage } from '../../src/build.js';
import { ROOT, blobFile, busyboxRootfs, listTar, readImage, run, tempDir, type ListedEntry } from '../helpers.js';

export const AMD64 = { os: 'linux', architecture: 'amd64' };
export const MAKE_CONTEXT = path.join(ROOT, 'fixtures', 'dockerfiles', 'make-context.sh');

/** A fresh copy of a test case's build context (fixtures/dockerfiles/make-context.sh). */
export async function makeContext(t: TestContext, name: string): Promise<string> {
  const dir = path.join(await tempDir(t, `oci-pack-ctx-${name}-`), 'ctx');
  await run('bash', [MAKE_CONTEXT, name, dir]);
  return dir;
}

/**
 * The base image of the differential tests, tagged `tag` in `layout`: busybox (a shell and
 * /etc/passwd with nobody) plus a layer of links and modes (make-context.sh base-extra), with a
 * config of its own to inherit. Undefined where busybox cannot be had (skipped; CI fails).
 */
export async function buildBase(t: TestContext, layout: string, tag: string): Promise<number | undefined> {
  const rootfs = await busyboxRootfs(t);
  if (!rootfs) return undefined;
  const extra = path.join(await tempDir(t), 'extra');
  await run('bash', [MAKE_CONTEXT, 'base-extra', extra]);
  const r = await buildImage({
    layout,
    layers: [{ kind: 'tarball', path: rootfs }, { kind: 'tarball', path: path.join(extra, 'base-extra.tar') }],
    config: {
      cmd: ['/bin/sh'],
      env: ['FOO=bar'],
      labels: { base: 'yes' },
      expose: ['80'],
      volumes: ['/data'],
      workdir: '/',
    },
    platform: AMD64,
    tags: [tag],
  });
  return r.layers.length;
}

/** An entry as the comparisons see it: everything but times. */
export interface Seen {
  type: ListedEntry['type'];
  mode: number;
  uid: number;
  gid: number;
  linkname: string;
  sha256?: string;
}

/** A layer tar's entries by image path ("" is the root), read by python's tarfile. */
export async function layerEntries(file: string): Promise<Map<string, Seen>> {
  const out = new Map<string, Seen>();
  for (const e of await listTar(file)) {
    const name = e.name.replace(/^(\.\/)+/, '').replace(/\/+$/, '').replace(/^\.$/, '');
    const seen: Seen = { type: e.type, mode: e.mode & 0o7777, uid: e.uid, gid: e.gid, linkname: e.linkname };
    if (e.sha256 !== undefined) seen.sha256 = e.sha256;
    // docker's ApplyLayer refuses a layer that lists a path twice; a map would hide the second.
    if (out.has(name)) throw new Error(`${file}: ${JSON.stringify(name)} comes twice in the layer`);
    out.set(name, seen);
  }
  return out;
}

export interface ImageSeen {
  config: Record<string, unknown> & { config?: Record<string, unknown>; history?: Array<Record<string, unknown>> };
  layers: string[];
}

/** An image of an OCI layout: its config document and its layers' blob files. */
export async function layoutImage(layout: string, ref: string): Promise<ImageSeen> {
  const img = await readImage(layout, ref);
  return { config: img.config as unknown as ImageSeen['config'], layers: img.manifest.layers.map((l) => blobFile(layout, l.digest)) };
}

/** The files of a layout (for before/after comparisons), or [] when it is not there. */
export async function listing(dir: string): Promise<string[]> {
  return (await fs.readdir(dir, { recursive: true }).catch(() => [] as string[])).sort();
}
