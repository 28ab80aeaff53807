import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { BUNDLE, codeCacheFile, idLine } from '../../src/cli/bundle.js';
import { HELLO, ROOT, tempDir } from '../helpers.js';

const bundleModule = pathToFileURL(path.join(path.dirname(BUNDLE), 'bundle.js')).href;

/** loadBundle(file) in a fresh node (no test-runner flags: V8 takes a cache only under the flags it was made with). */
function loadIn(file: string): { cached: boolean; id: string; main: string } {
  const script = `const { loadBundle } = await import(${JSON.stringify(bundleModule)});
    const b = loadBundle(${JSON.stringify(file)});
    process.stdout.write(JSON.stringify({ cached: b.cached, id: b.id, main: typeof b.exports.main }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { cached: boolean; id: string; main: string };
}

test('the built bundle runs with the code cache the build made for it', async () => {
  const text = await fs.readFile(BUNDLE, 'latin1');
  assert.ok(/^[\x00-\x7f]*$/.test(text), 'the bundle is read as latin1: it must be ASCII');
  const loaded = loadIn(BUNDLE);
  assert.equal(loaded.main, 'function');
  assert.equal(text.startsWith(idLine(loaded.id)), true);
  assert.equal(loaded.cached, true);
});

test('a code cache made for other bundle text is not used, even of the same length', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'oci-pack.cjs');
  const text = await fs.readFile(BUNDLE, 'latin1');
  const cache = await fs.readFile(`${BUNDLE}.cache`);
  const id = text.slice(idLine('').length - 1, text.indexOf('\n'));
  // The same program in other text of the same length: V8 alone would take the cache for it.
  const other = text.replace('var __ociPackUrl', 'let __ociPackUrl');
  assert.notEqual(other, text);
  assert.equal(other.length, text.length);
  const otherId = id.replace(/^./, (c) => (c === '0' ? '1' : '0'));
  await fs.writeFile(file, idLine(otherId) + other.slice(idLine(id).length), 'latin1');
  await fs.copyFile(`${BUNDLE}.cache`, `${file}.cache`);
  assert.equal(loadIn(file).cached, false);
  // The same cache under the other id is taken: the id line is what decides.
  await fs.writeFile(`${file}.cache`, codeCacheFile(otherId, cache.subarray(idLine(id).length)));
  assert.equal(loadIn(file).cached, true);
});

test('without a bundle (a build by tsc alone) bin.js runs the CLI from its modules', async (t) => {
  // A copy of the package without the bundle: other tests run the real one meanwhile.
  const dir = await tempDir(t);
  await fs.cp(path.join(ROOT, 'dist', 'src'), path.join(dir, 'dist', 'src'), { recursive: true });
  await fs.copyFile(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  await fs.cp(path.join(ROOT, 'schemas'), path.join(dir, 'schemas'), { recursive: true });
  await fs.symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  const bin = path.join(dir, 'dist', 'src', 'cli', 'bin.js');
  const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: dir });
  const bundled = run(['layout', 'out', '--add', `${HELLO}:/hello`, '--cmd', '/hello', '-q']);
  assert.equal(bundled.status, 0, bundled.stderr);
  await fs.rm(path.join(dir, 'dist', 'src', 'cli', 'oci-pack.cjs'));
  await fs.rm(path.join(dir, 'out'), { recursive: true });
  const unbundled = run(['layout', 'out', '--add', `${HELLO}:/hello`, '--cmd', '/hello', '-q']);
  assert.equal(unbundled.status, 0, unbundled.stderr);
  // The same image, from the bundle and from the modules.
  assert.equal(unbundled.stdout, bundled.stdout);
  assert.match(unbundled.stdout, /^sha256:[0-9a-f]{64}\n$/);
});
