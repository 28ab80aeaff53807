// The bounds on hostile input (src/limits.ts) end in a one-line UserError naming the input, never
// a RangeError, an internal error (exit 70) or V8 running out of memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { MediaType, type Descriptor } from '../src/descriptor.js';
import { buildDockerfile } from '../src/dockerfile/build.js';
import { UserError } from '../src/errors.js';
import { canonicalJson, jsonDepth, parseJsonInput } from '../src/json.js';
import { Layout } from '../src/layout.js';
import { MAX_JSON_DEPTH } from '../src/limits.js';
import { cli, runBin, tempDir } from './helpers.js';
import { collect } from './docker/make.js';
import { AMD64 } from './dockerfile/fixtures.js';

test('JSON nesting is checked in one linear pass before JSON.parse, strings and escapes skipped', () => {
  assert.equal(jsonDepth('{"a":[1,{"b":"[[[{{{"}],"c":"\\"[["}'), 3);
  assert.equal(jsonDepth('[]'), 1);
  assert.equal(jsonDepth('"x"'), 0);
  const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
  assert.throws(() => parseJsonInput(deep, 'deep.json', 1 << 20), (e: unknown) =>
    e instanceof UserError && e.message === `deep.json: JSON nested more than ${MAX_JSON_DEPTH} levels deep`);
  const ok = `${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`;
  assert.ok(Array.isArray(parseJsonInput(ok, 'ok.json', 1 << 20)));
});

/** A layout holding one image whose manifest and config are exactly these bytes. */
async function handLayout(dir: string, manifestOf: (config: Descriptor) => Buffer, config: Buffer): Promise<void> {
  const layout = await Layout.openOrCreate(dir);
  const c = await layout.store.putBytes(config, { mediaType: MediaType.config });
  const m = await layout.store.putBytes(manifestOf(c), { mediaType: MediaType.manifest });
  await layout.addImage({ ...m, platform: AMD64 }, ['base:1']);
}

const GOOD_CONFIG = canonicalJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
const manifest = (extra: object = {}) => (c: Descriptor) => canonicalJson({ schemaVersion: 2, mediaType: MediaType.manifest, config: c, layers: [], ...extra });

async function fromBase(dir: string): Promise<unknown> {
  const context = path.join(dir, 'ctx');
  await fs.mkdir(context, { recursive: true });
  await fs.writeFile(path.join(context, 'Dockerfile'), `FROM oci:${path.join(dir, 'base')}:base:1\nENV X=1\n`);
  return buildDockerfile({ layout: path.join(dir, 'out'), context, platform: AMD64, tags: ['t:1'] });
}

test('a base config nested 100,000 deep is a clear error in FROM and in to-docker, not exit 70', async (t) => {
  const dir = await tempDir(t);
  const deep = Buffer.from(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
  await handLayout(path.join(dir, 'base'), manifest(), deep);
  await assert.rejects(fromBase(dir), (e: unknown) => e instanceof UserError && /nested more than 256 levels deep/.test(e.message));
  const r = runBin(['to-docker', path.join(dir, 'x.tar'), '--layout', path.join(dir, 'base')]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^oci-pack: .*config sha256:[0-9a-f]{64}: JSON nested more than 256 levels deep\n$/);
});

test('a manifest that is also an index, or an index that is also a manifest, is refused (CVE-2021-41190)', async (t) => {
  const dir = await tempDir(t);
  await handLayout(path.join(dir, 'base'), manifest({ manifests: [] }), GOOD_CONFIG);
  await assert.rejects(fromBase(dir), (e: unknown) =>
    e instanceof UserError && /a manifest must not have a manifests field: a document that is both a manifest and an index is ambiguous \(CVE-2021-41190\)/.test(e.message));

  const dir2 = await tempDir(t);
  const base = path.join(dir2, 'base');
  const layout = await Layout.openOrCreate(base);
  const c = await layout.store.putBytes(GOOD_CONFIG, { mediaType: MediaType.config });
  const m = await layout.store.putBytes(manifest()(c), { mediaType: MediaType.manifest });
  const index = canonicalJson({ schemaVersion: 2, mediaType: MediaType.index, manifests: [{ ...m, platform: AMD64 }], layers: [] });
  const i = await layout.store.putBytes(index, { mediaType: MediaType.index });
  await layout.addImage(i, ['base:1']);
  await assert.rejects(fromBase(dir2), (e: unknown) => e instanceof UserError && /an index must not have a layers or config field/.test(e.message));
  const r = await cli('to-docker', path.join(dir2, 'x.tar'), '--layout', base);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /an index must not have a layers or config field/);
});

/** A tar of one entry with these PAX records. */
async function paxTar(pax: Record<string, string>, name = 'f'): Promise<Buffer> {
  const pack = tar.pack();
  const out = collect(pack as unknown as Readable);
  pack.entry({ name, size: 1, mode: 0o644, mtime: new Date(0), pax }, Buffer.from('x'));
  pack.finalize();
  return out;
}

test('a NUL byte in a PAX path or linkpath, or a PAX header over 1 MiB, is a UserError (exit 1, not 70)', async (t) => {
  const dir = await tempDir(t);
  const cases: Array<[string, Buffer, RegExp]> = [
    ['path', await paxTar({ path: 'a\u0000b' }), /entry "a\\u0000b": name or link target holds a NUL byte/],
    ['linkpath', await (async () => {
      const pack = tar.pack();
      const out = collect(pack as unknown as Readable);
      pack.entry({ name: 's', type: 'symlink', linkname: 'x', mode: 0o777, mtime: new Date(0), pax: { linkpath: 't\u0000u' } });
      pack.finalize();
      return out;
    })(), /name or link target holds a NUL byte/],
    ['huge', await paxTar({ comment: 'x'.repeat(1024 * 1024 + 10) }), /a PAX extended header of \d+ bytes, more than the 1048576 allowed/],
  ];
  for (const [name, bytes, message] of cases) {
    const file = path.join(dir, `${name}.tar`);
    await fs.writeFile(file, bytes);
    const r = runBin(['layout', path.join(dir, 'out'), '--layer', file]);
    assert.equal(r.status, 1, `${name}: ${r.stderr}`);
    assert.match(r.stderr, message, name);
  }
});
