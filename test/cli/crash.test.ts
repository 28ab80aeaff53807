// SIGKILL `layout`, `from-docker` and `to-docker` at random moments (a few dozen in all; hundreds in
// test/slow/crash.slow.ts): the layout always validates and holds the old or the new image.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { killRounds, makeBench, runWhole, seeded, type Killed } from '../crash.js';
import { tempDir } from '../helpers.js';

const ROUNDS = 8;

for (const kind of ['layout', 'from-docker', 'to-docker'] as Killed[]) {
  test(`${kind} killed ${ROUNDS} times at random moments leaves a valid layout with the old or the new image`, async (t) => {
    const seed = Number(process.env['OCI_PACK_KILL_SEED'] ?? Date.now() % 1_000_000);
    t.diagnostic(`seed ${seed} (OCI_PACK_KILL_SEED replays it)`);
    const bench = await makeBench(await tempDir(t), kind);
    const span = await runWhole(kind, bench);
    const r = await killRounds(kind, bench, ROUNDS, span, seeded(seed));
    t.diagnostic(`${r.killed} killed, ${r.finished} finished before the kill; a whole run takes ${span} ms`);
    assert.equal(r.killed + r.finished, ROUNDS);
  });
}
