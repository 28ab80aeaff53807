// Progress lines: silent off a terminal, redrawn in place at most ten times a second, a bar where
// the total is known, one screen line each.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Io } from '../../src/cli/io.js';
import { Progress } from '../../src/cli/progress.js';

function fakeIo(tty: boolean, columns = 80): { io: Io; out: () => string; clock: { t: number } } {
  let text = '';
  const clock = { t: 1000 };
  return { io: { stdout: () => undefined, stderr: (s) => void (text += s), stderrIsTty: tty, columns, now: () => clock.t }, out: () => text, clock };
}

const REDRAW = /\r\x1b\[(\d+)A\x1b\[J/g;

test('nothing at all when stderr is not a terminal, or with --quiet', () => {
  for (const [tty, quiet] of [[false, false], [true, true]] as const) {
    const { io, out } = fakeIo(tty);
    const p = Progress.for(io, quiet);
    p.start('a', 'layer a', 100);
    p.update('a', 50);
    p.done('a', 'done');
    p.finish();
    assert.equal(out(), '');
  }
});

test('bytes, rate and a bar, redrawn in place no more than ten times a second; done lines stay', () => {
  const { io, out, clock } = fakeIo(true);
  const p = Progress.for(io, false);
  p.start('a', '[1/2] layer a', 2_000_000);
  p.start('b', '[2/2] layer b');
  const before = out().length;
  for (let i = 1; i <= 50; i++) {
    clock.t += 1; // 50 updates within 50 ms: at most one redraw
    p.update('a', i * 1000);
  }
  assert.equal(out().slice(before), '', 'throttled: the last redraw was under 100 ms ago');
  clock.t += 1000;
  p.update('a', 1_000_000);
  p.update('b', 3_000_000);
  clock.t += 1000;
  p.update('b', 4_000_000);
  const last = out().split(REDRAW).at(-1)!;
  assert.match(last, /^\[1\/2\] layer a  \[==========>         \] 1\.0 MB\/2\.0 MB  487\.8 kB\/s\n\[2\/2\] layer b  4\.0 MB  2\.0 MB\/s\n$/);
  p.done('a', 'sha256:abc 1.0 MB');
  const afterDone = out().split(REDRAW).at(-1)!;
  assert.equal(afterDone.split('\n')[0], '[1/2] layer a  sha256:abc 1.0 MB');
  assert.match(afterDone.split('\n')[1]!, /^\[2\/2\] layer b  4\.0 MB/);
  p.message('oci-pack: warning: x\n');
  assert.match(out().split(REDRAW).at(-1)!, /^oci-pack: warning: x\n\[2\/2\] layer b/);
  p.finish();
  assert.equal(out().split(REDRAW).at(-1), '', 'finish clears the live block');
  // The block is two lines while both run, so each redraw moves up over two of them.
  assert.ok([...out().matchAll(REDRAW)].slice(1, 3).every((m) => m[1] === '2'));
});

test('a line longer than the terminal is cut to fit, so redraws count lines right', () => {
  const { io, out } = fakeIo(true, 40);
  const p = Progress.for(io, false);
  p.start('a', `COPY ${'x'.repeat(100)} /dest`);
  const line = out().split('\n')[0]!;
  assert.ok([...line].length <= 39, line);
  assert.ok(line.endsWith('…'));
});
