// The long kill test: hundreds of SIGKILLs of `layout`, `from-docker` and `to-docker` at random
// moments; after each the layout validates and holds the old or the new image.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { killRounds, makeBench, runWhole, seeded, type Killed } from '../crash.js';
import { tempDir } from '../helpers.js';

const ROUNDS = Number(process.env['OCI_PACK_KILL_ROUNDS'] ?? 100);

for (const kind of ['layout', 'from-docker', 'to-docker'] as Killed[]) {
  test(`${kind} killed ${ROUNDS} times`, { timeout: 30 * 60_000 }, async (t) => {
    const seed = Number(process.env['OCI_PACK_KILL_SEED'] ?? Date.now() % 1_000_000);
    t.diagnostic(`seed ${seed}`);
    const bench = await makeBench(await tempDir(t), kind);
    const span = await runWhole(kind, bench);
    const r = await killRounds(kind, bench, ROUNDS, Math.ceil(span * 1.2), seeded(seed));
    t.diagnostic(`${r.killed} killed, ${r.finished} finished; a whole run takes ${span} ms`);
    assert.ok(r.killed > ROUNDS / 2, `only ${r.killed} of ${ROUNDS} runs were killed`);
  });
}
