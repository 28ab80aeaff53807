import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBin } from '../helpers.js';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

test('--version prints the package version, from the fast path and through the parser alike', () => {
  const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const fast = runBin(['--version']);
  assert.equal(fast.status, 0, fast.stderr);
  assert.equal(fast.stdout, `${version}\n`);
  // Not the lone flag: yargs answers, and must agree.
  const parsed = runBin(['layout', '--version']);
  assert.equal(parsed.status, 0, parsed.stderr);
  assert.equal(parsed.stdout, `${version}\n`);
});

test('--help lists every command without loading them', () => {
  const help = runBin(['--help']);
  assert.equal(help.status, 0, help.stderr);
  for (const command of ['layout', 'to-docker', 'from-docker']) assert.match(help.stdout, new RegExp(`oci-pack ${command}`));
});
