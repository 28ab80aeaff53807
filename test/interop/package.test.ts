// The package as a user installs it: `npm pack`, installed into a project of its own (version
// 1.0.0), then run with npx. Needs npm and its registry (for our dependencies).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { HELLO, ROOT, readJson, requireTool, run, tempDir } from '../helpers.js';

test('npm pack, installed as a dependency: --version is ours, LICENSE and the sources the maps name ship, no install script', { timeout: 600_000 }, async (t) => {
  if (!requireTool(t, 'npm')) return;
  const ours = (await readJson(path.join(ROOT, 'package.json'))) as { version: string; scripts: Record<string, string>; engines: { node: string } };
  assert.equal(ours.scripts['prepare'], undefined, 'no install-time script for consumers');
  assert.equal(ours.engines.node, '>=20.10');
  const dir = await tempDir(t);
  const packed = (await run('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: ROOT })).trim().split('\n').at(-1)!;
  const project = path.join(dir, 'project');
  await fs.mkdir(project);
  await fs.writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  await run('npm', ['install', '--no-audit', '--no-fund', '--silent', path.join(dir, packed)], { cwd: project });
  assert.equal((await run('npx', ['--no-install', 'oci-pack', '--version'], { cwd: project })).trim(), ours.version);

  const installed = path.join(project, 'node_modules', 'oci-pack');
  assert.match(await fs.readFile(path.join(installed, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/);
  const maps = (await fs.readdir(path.join(installed, 'dist', 'src'), { recursive: true })).filter((f) => f.endsWith('.js.map'));
  assert.ok(maps.length > 10);
  for (const m of maps) {
    const file = path.join(installed, 'dist', 'src', m);
    const map = (await readJson(file)) as { sources: string[] };
    for (const s of map.sources) await fs.access(path.resolve(path.dirname(file), s));
  }
  // The CLI bundle ships with its code cache, and V8 takes it (same Node as the build here).
  const bundle = pathToFileURL(path.join(installed, 'dist', 'src', 'cli', 'bundle.js')).href;
  const cached = await run(process.execPath, ['--input-type=module', '-e', `const { loadBundle } = await import(${JSON.stringify(bundle)}); process.stdout.write(String(loadBundle().cached));`], { cwd: project });
  assert.equal(cached, 'true');
  const digest = (await run('npx', ['--no-install', 'oci-pack', 'layout', 'out', '--add', `${HELLO}:/hello`, '--cmd', '/hello', '--tag', 'hello:latest'], { cwd: project })).trim();
  assert.match(digest, /^sha256:[a-f0-9]{64}$/);
});
