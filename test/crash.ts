// The kill test shared by the fast tier (test/cli/crash.test.ts) and the slow one: run `layout`,
// `from-docker` or `to-docker` as a process, SIGKILL it at a random moment, and check what is left.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { writeDockerArchive } from '../src/docker/write.js';
import { gc } from '../src/gc.js';
import { Layout, refNameOf } from '../src/layout.js';
import { validate } from '../src/validate.js';
import { BIN, HELLO, ROOT, cli } from './helpers.js';

export type Killed = 'layout' | 'from-docker' | 'to-docker';

const TAG = 'app:1';

export interface Bench {
  dir: string;
  out: string;
  oldDigest: string;
  newDigest: string;
  archive: string;
  exported: string;
}

/** A layout holding the old image as app:1, and a docker archive of a new image also named app:1. */
export async function makeBench(dir: string, kind: Killed): Promise<Bench> {
  const out = path.join(dir, 'out');
  const old = await cli('layout', out, '-q', '--add', `${HELLO}:/hello`, '--env', 'V=old', '--tag', TAG);
  assert.equal(old.status, 0, old.stderr);
  const other = path.join(dir, 'other');
  // Several layers, so a kill can land between them.
  const adds = ['a', 'b', 'c', 'd'].flatMap((n) => ['--add', `${path.join(ROOT, 'src')}:/${n}`]);
  const made = await cli('layout', other, '-q', ...adds, '--env', 'V=new', '--tag', TAG);
  assert.equal(made.status, 0, made.stderr);
  const archive = path.join(dir, 'new.tar');
  await writeDockerArchive(other, archive, { tags: [TAG] });
  const newDigest = kind === 'from-docker' ? '' : made.stdout.trim();
  return { dir, out, oldDigest: old.stdout.trim(), newDigest, archive, exported: path.join(dir, 'exported.tar') };
}

function command(kind: Killed, bench: Bench): string[] {
  const adds = ['a', 'b', 'c', 'd'].flatMap((n) => ['--add', `${path.join(ROOT, 'src')}:/${n}`]);
  switch (kind) {
    case 'layout':
      return [BIN, 'layout', bench.out, '-q', ...adds, '--env', 'V=new', '--tag', TAG];
    case 'from-docker':
      return [BIN, 'from-docker', bench.archive, bench.out];
    case 'to-docker':
      // Through the library, so that the test does not depend on to-docker's flags.
      return ['--input-type=module', '-e', `import { writeDockerArchive } from ${JSON.stringify(path.join(ROOT, 'dist', 'src', 'docker', 'write.js'))};
await writeDockerArchive(${JSON.stringify(bench.out)}, ${JSON.stringify(bench.exported)}, { tags: [${JSON.stringify(TAG)}] });`];
  }
}

/** Run the command to its end; its duration in ms. */
export async function runWhole(kind: Killed, bench: Bench): Promise<number> {
  const start = Date.now();
  const code = await runFor(kind, bench, undefined);
  assert.equal(code, 0, `${kind} did not succeed unkilled`);
  return Date.now() - start;
}

function runFor(kind: Killed, bench: Bench, killAfterMs: number | undefined): Promise<number | string> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, command(kind, bench), { stdio: 'ignore' });
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => p.kill('SIGKILL'), killAfterMs);
    p.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve(code ?? signal ?? -1);
    });
  });
}

/** A small seeded generator (the benchmark's mulberry32), so that a failing round can be replayed. */
export { prng as seeded } from '../bench/prng.js';

/**
 * `rounds` kills at random moments within `span` ms; after each the layout passes validate and
 * app:1 is the old or the new image. Then an unkilled run succeeds, and gc leaves no leftovers.
 */
export async function killRounds(kind: Killed, bench: Bench, rounds: number, span: number, random: () => number): Promise<{ killed: number; finished: number }> {
  let killed = 0;
  let finished = 0;
  for (let i = 0; i < rounds; i++) {
    const delay = Math.floor(random() * span);
    const result = await runFor(kind, bench, delay);
    if (result === 'SIGKILL') killed++;
    else finished++;
    const report = await validate(bench.out);
    assert.deepEqual(report.problems, [], `${kind} killed after ${delay} ms: the layout does not validate`);
    const tagged = (await (await Layout.open(bench.out)).readIndex()).manifests.filter((d) => refNameOf(d) === TAG).map((d) => d.digest as string);
    assert.equal(tagged.length, 1, `${kind} killed after ${delay} ms: ${TAG} names ${tagged.length} images`);
    if (kind === 'to-docker') assert.equal(tagged[0], bench.oldDigest);
    else if (bench.newDigest !== '') assert.ok([bench.oldDigest, bench.newDigest].includes(tagged[0]!), `${kind} killed after ${delay} ms: ${TAG} is ${tagged[0]}`);
    else if (tagged[0] !== bench.oldDigest) bench.newDigest = tagged[0]!;
    if (kind === 'to-docker' && (await fs.stat(bench.exported).catch(() => undefined))) {
      assert.deepEqual((await validate(bench.exported)).problems, [], `to-docker killed after ${delay} ms left a broken archive`);
    }
  }
  assert.equal(await runFor(kind, bench, undefined), 0, `${kind}: the run after the kills failed`);
  await gc(bench.out);
  const left = (await fs.readdir(bench.out)).filter((n) => !['blobs', 'index.json', 'oci-layout'].includes(n));
  assert.deepEqual(left, [], `${kind}: gc left these behind`);
  const stray = (await fs.readdir(path.join(bench.out, 'blobs', 'sha256'))).filter((n) => !/^[a-f0-9]{64}$/.test(n));
  assert.deepEqual(stray, []);
  assert.deepEqual((await validate(bench.out)).problems, []);
  return { killed, finished };
}
