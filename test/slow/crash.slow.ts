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
    // The quickest of three whole runs: the first pays for cold caches, and kills timed from it
    // landed after most runs had finished.
    const span = Math.min(await runWhole(kind, bench), await runWhole(kind, bench), await runWhole(kind, bench));
    const r = await killRounds(kind, bench, ROUNDS, span, seeded(seed));
    t.diagnostic(`${r.killed} killed, ${r.finished} finished; a whole run takes ${span} ms`);
    // Enough kills that the test tests something; how many exactly depends on the machine's load.
    assert.ok(r.killed >= ROUNDS / 4, `only ${r.killed} of ${ROUNDS} runs were killed`);
  });
}
