// A run stopped by SIGTERM or SIGINT undoes what it started (staging folder, temp file, a layout it
// created), and what a SIGKILLed run left beside a to-docker output is swept by the next run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { BIN, HELLO, cli, sparseFile, tempDir } from './helpers.js';

/** Start the CLI, wait until `ready` sees its work under way, send `signal`; its exit code and what `ready` saw. */
async function interrupt(args: string[], ready: () => Promise<boolean>, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; caught: boolean }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: 'ignore' });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, sig) => resolve({ code, signal: sig })));
  let done = false;
  void exited.then(() => (done = true));
  let caught = false;
  while (!done) {
    if (await ready()) {
      caught = child.kill(signal);
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return { ...(await exited), caught };
}

const tempsIn = async (dir: string) => (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith('.oci-pack-'));

test('SIGTERM or SIGINT of `layout` removes its staging folder and the new layout directory it made', async (t) => {
  const dir = await tempDir(t);
  const big = path.join(dir, 'big');
  await sparseFile(big, 256 * 1024 * 1024, 1);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const out = path.join(dir, `new-${signal}`);
    const r = await interrupt(['layout', out, '--add', `${big}:/big`, '--compression', 'none'], async () => (await tempsIn(out)).length > 0, signal);
    if (!r.caught) {
      t.diagnostic(`${signal}: the run ended before it could be interrupted`);
      continue;
    }
    assert.equal(r.code, signal === 'SIGTERM' ? 143 : 130, `${signal}: exit status`);
    const left = await fs.readdir(out, { recursive: true }).catch(() => undefined);
    assert.equal(left, undefined, `${signal}: the new layout directory was left behind: ${JSON.stringify(left)}`);
  }
  // Into an existing layout: its staging folder goes, what was there stays.
  const existing = path.join(dir, 'existing');
  assert.equal((await cli('layout', existing, '--add', `${HELLO}:/hello`, '--tag', 'kept:1')).status, 0);
  const before = (await fs.readdir(existing)).sort();
  const r = await interrupt(['layout', existing, '--add', `${big}:/big`, '--compression', 'none'], async () => (await tempsIn(existing)).length > 0, 'SIGTERM');
  if (r.caught) {
    assert.equal(r.code, 143);
    assert.deepEqual((await fs.readdir(existing)).sort(), before);
  }
});

test('to-docker: SIGTERM removes its temp file; a SIGKILLed run\'s temp file is swept by the next run', async (t) => {
  const dir = await tempDir(t);
  const layout = path.join(dir, 'layout');
  const big = path.join(dir, 'big');
  await sparseFile(big, 96 * 1024 * 1024, 1);
  assert.equal((await cli('layout', layout, '--add', `${big}:/big`, '--compression', 'none', '--tag', 'big:1')).status, 0);
  const outDir = path.join(dir, 'out');
  await fs.mkdir(outDir);
  const r = await interrupt(['to-docker', path.join(outDir, 'big.tar'), '--layout', layout], async () => (await tempsIn(outDir)).length > 0, 'SIGTERM');
  if (r.caught) {
    assert.equal(r.code, 143);
    assert.deepEqual(await fs.readdir(outDir), []);
  } else {
    t.diagnostic('to-docker ended before it could be interrupted');
  }
  // What a SIGKILL leaves: a temp file named for a pid that is gone. A live writer's is kept.
  const dead = spawnSync(process.execPath, ['-e', '']).pid!;
  const stale = path.join(outDir, `.oci-pack-${dead}-0123456789ab.tmp`);
  const live = path.join(outDir, `.oci-pack-${process.pid}-0123456789ab.tmp`);
  await fs.writeFile(stale, 'partial');
  await fs.writeFile(live, 'in progress');
  const small = path.join(dir, 'small');
  assert.equal((await cli('layout', small, '--add', `${HELLO}:/hello`, '--tag', 'h:1')).status, 0);
  const again = await cli('to-docker', path.join(outDir, 'h.tar'), '--layout', small);
  assert.equal(again.status, 0, again.stderr);
  assert.deepEqual((await fs.readdir(outDir)).sort(), [path.basename(live), 'h.tar'].sort());
});
