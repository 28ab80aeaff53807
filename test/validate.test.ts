// validate on the generated hostile corpus (test/corpus.ts): each case's message, nothing written,
// the CLI's lines and --json, exit codes (test/interop/validate-oracle.test.ts compares with the oracle).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { validate } from '../src/validate.js';
import { writeDockerArchive } from '../src/docker/write.js';
import { jsonShapeProblem } from '../src/jsoncheck.js';
import { buildCorpus, HandLayout, type CorpusCase } from './corpus.js';
import { cli, HELLO, snapshot, tempDir } from './helpers.js';


let built: Promise<CorpusCase[]> | undefined;
let corpusDir: string | undefined;
after(async () => {
  if (corpusDir) await fs.rm(corpusDir, { recursive: true, force: true });
});
/** The corpus, generated once for this file's tests and removed when they end. */
async function corpus(): Promise<CorpusCase[]> {
  built ??= tempDir(undefined, 'oci-pack-corpus-').then((dir) => {
    corpusDir = dir;
    return buildCorpus(dir);
  });
  return built;
}

test('validate: every hostile case gives its message, and nothing is written', async (t) => {
  for (const c of await corpus()) {
    const folder = c.kind === 'layout' ? c.target : path.dirname(c.target);
    const before = await snapshot(folder);
    const report = await validate(c.target);
    const lines = report.problems.map((p) => `${p.where}: ${p.message}`);
    if (c.expect === undefined) assert.deepEqual(lines, [], `${c.name} should be valid`);
    else assert.ok(lines.some((l) => c.expect!.test(l)), `${c.name}: expected ${c.expect} among:\n${lines.join('\n')}`);
    assert.equal(report.kind, c.kind, c.name);
    assert.deepEqual(await snapshot(folder), before, `${c.name}: validate changed the target`);
  }
});

test('validate: a gzip bomb stops at the layer limit', async (t) => {
  const cases = await corpus();
  const bomb = cases.find((c) => c.name === 'gzip-bomb')!;
  const report = await validate(bomb.target, { maxLayerBytes: 8 * 1024 * 1024 });
  assert.match(report.problems.map((p) => `${p.where}: ${p.message}`).join('\n'), /decompresses to more than 8388608 bytes; stopped there/);
});

test('validate: JSON shape checks find duplicate keys at any depth and bound nesting', () => {
  assert.equal(jsonShapeProblem('{"a":{"b":1,"c":[{"d":1,"d":2}]}}'), '/a/c/0/d: the key appears twice in one object');
  assert.equal(jsonShapeProblem('{"a":"{\\"x\\":1,\\"x\\":2}"}'), undefined);
  assert.equal(jsonShapeProblem('{"a\\u0062":1,"ab":2}'), '/ab: the key appears twice in one object');
  assert.match(jsonShapeProblem('['.repeat(257))!, /nested more than 256 levels deep/);
  assert.equal(jsonShapeProblem('['.repeat(64) + ']'.repeat(64)), undefined);
});

test('oci-pack validate: one line per problem, exit 1; OK and exit 0 on a layout it wrote; --json', async (t) => {
  const dir = await tempDir(t);
  const out = path.join(dir, 'out');
  assert.equal((await cli('layout', out, '--add', `${HELLO}:/hello`, '--tag', 'hello:1')).status, 0);
  const ok = await cli('validate', out);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, '');
  assert.match(ok.stderr, /OK \(layout, 1 image\(s\)\)/);
  const index = JSON.parse(await fs.readFile(path.join(out, 'index.json'), 'utf8')) as { manifests: { size: number }[] };
  index.manifests[0]!.size += 1;
  await fs.writeFile(path.join(out, 'index.json'), JSON.stringify(index));
  const bad = await cli('validate', out);
  assert.equal(bad.status, 1);
  assert.match(bad.stdout, /^blobs\/sha256\/[0-9a-f]{12}…: size (\d+), descriptor says \d+ \(index\.json manifests\[0\]\)\n$/);
  const json = await cli('validate', out, '--json');
  assert.equal(json.status, 1);
  const report = JSON.parse(json.stdout) as { ok: boolean; problems: { where: string; message: string }[]; kind: string };
  assert.equal(report.ok, false);
  assert.equal(report.kind, 'layout');
  assert.equal(report.problems.length, 1);
  const quiet = await cli('validate', out, '-q');
  assert.equal(quiet.stderr, '');
  const missing = await cli('validate', path.join(dir, 'nope'));
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /nope: no such file or directory/);
});

test('validate: a manifest reached twice is read once, and deep chains stay bounded', async (t) => {
  const l = await HandLayout.create(path.join(await tempDir(t), 'l'));
  const { manifest } = await l.image();
  const list = Array.from({ length: 200 }, (_, i) => ({ ...manifest, annotations: { 'org.opencontainers.image.ref.name': `t${i}` } }));
  await l.index(list);
  const report = await validate(l.dir);
  assert.deepEqual(report.problems, []);
  assert.equal(report.images, 1);
});

test('validate passes the docker-save archives oci-pack writes, legacy and docker 25+, and sees a corrupted layer', async (t) => {
  const dir = await tempDir(t);
  const out = path.join(dir, 'out');
  assert.equal((await cli('layout', out, '-q', '--add', `${HELLO}:/hello`, '--tag', 'trust/hello:1')).status, 0);
  for (const format of ['v1', 'oci'] as const) {
    const archive = path.join(dir, `${format}.tar`);
    await writeDockerArchive(out, archive, { tags: ['trust/hello:1'], format });
    const report = await validate(archive);
    assert.deepEqual(report.problems, [], format);
    assert.equal(report.kind, 'docker-archive');
    assert.equal(report.images, format === 'oci' ? 2 : 1, format); // docker 25+: manifest.json and index.json both name it
  }
  // Flip a byte inside the first gzip-free layer of the legacy archive: its diff_id no longer holds.
  const bytes = await fs.readFile(path.join(dir, 'v1.tar'));
  const at = bytes.indexOf(Buffer.from('ELF'));
  bytes[at + 100] = bytes[at + 100]! ^ 0xff;
  await fs.writeFile(path.join(dir, 'bad.tar'), bytes);
  const bad = await validate(path.join(dir, 'bad.tar'));
  assert.match(bad.problems.map((p) => `${p.where}: ${p.message}`).join('\n'), /the uncompressed layer hashes to sha256:[0-9a-f]{64}, but the config's diff_ids\[0\] says/);
});
