// The property test's slow tier: thousands of mutated inputs in this process and a few hundred
// through the executable (test/fuzz.ts), from the same fixed seed unless FUZZ_SEED says otherwise.
import { test } from 'node:test';
import * as path from 'node:path';
import { corpus, plan, runCase, runCliCase } from '../fuzz.js';
import { tempDir } from '../helpers.js';

test('thousands of mutated inputs end in success or a one-line UserError, in this process', async (t) => {
  const { targets, cases, seed, seedOf } = plan(1500, 1_000_000);
  t.diagnostic(`seed ${seed}, ${cases} cases per target`);
  const c = await corpus();
  const work = await tempDir(t);
  for (const target of targets) {
    const seen = { ok: 0, refused: 0 };
    for (let i = 0; i < cases; i++) seen[await runCase(target, seedOf(i), c, path.join(work, `${target}-${i}`), 30_000)]++;
    t.diagnostic(`${target}: ${seen.ok} accepted, ${seen.refused} refused`);
  }
});

test('a few hundred mutated inputs through the executable exit 0, 1 or 2, never 70 or a hang', async (t) => {
  const { targets, cases, seedOf } = plan(100, 2_000_000);
  const c = await corpus();
  const work = await tempDir(t);
  for (const target of targets) {
    for (let i = 0; i < cases; i++) await runCliCase(target, seedOf(i), c, path.join(work, `${target}-${i}`), 60_000);
  }
});
