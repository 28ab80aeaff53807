// The grammar every command shares: -q and --json, the layout positional, missing arguments in our
// words, help wrapped at spaces, progress on a terminal; to-docker - and a terminal; --tag @digest.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { main } from '../../src/cli/main.js';
import { BIN, HELLO, cli, haveCommand, readJson, runBin, tempDir } from '../helpers.js';

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/** The CLI in this process with a terminal (or not) on stdout and stderr. */
async function onTty(argv: string[], tty: { stdout?: boolean; stderr?: boolean } = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const status = await main(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), stderrIsTty: tty.stderr ?? false, stdoutIsTty: tty.stdout ?? false, columns: 80 });
  return { status, stdout, stderr };
}

async function layoutWith(t: TestContext, ...extra: string[]): Promise<string> {
  const out = path.join(await tempDir(t), 'out');
  const r = await cli('layout', out, '--add', `${HELLO}:/hello`, '--cmd', '/hello', '-q', ...extra);
  assert.equal(r.status, 0, r.stderr);
  return out;
}

test('to-docker - refuses a terminal on stdout (as docker save does), naming what to do', async (t) => {
  const out = await layoutWith(t, '--tag', 'h:1');
  const r = await onTty(['to-docker', '-', out], { stdout: true });
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'oci-pack: to-docker -: stdout is a terminal; redirect it (> hello.tar) or pipe it (| docker load)\n');
  if (haveCommand('script')) {
    // A real terminal: script(1) gives the command a pty for stdout.
    const s = spawnSync('script', ['-qec', `${process.execPath} ${BIN} to-docker - ${out}`, '/dev/null'], { encoding: 'utf8' });
    assert.match(s.stdout, /stdout is a terminal/);
    assert.ok(s.stdout.length < 400, 'no tar bytes on the screen');
  }
});

test('to-docker: the layout positional (default ./out), --layout still read; -q and --json', async (t) => {
  const out = await layoutWith(t, '--tag', 'h:1');
  const dir = await tempDir(t);
  const positional = await cli('to-docker', path.join(dir, 'a.tar'), out);
  const flag = await cli('to-docker', path.join(dir, 'b.tar'), '--layout', out);
  assert.equal(positional.status, 0, positional.stderr);
  assert.equal(positional.stdout, flag.stdout);
  assert.match(positional.stdout, /^sha256:[a-f0-9]{64} h:1\n$/);
  const cwd = path.dirname(out);
  const byDefault = runBin(['to-docker', 'c.tar', '-q'], { cwd });
  assert.equal(byDefault.status, 0, byDefault.stderr);
  assert.equal(byDefault.stdout, positional.stdout, './out by default');
  const j = await cli('to-docker', path.join(dir, 'd.tar'), out, '--json', '-q');
  const summary = JSON.parse(j.stdout) as { format: string; layout: string; images: Array<{ config: string; manifest: string; repoTags: string[] }> };
  assert.equal(summary.format, 'v1');
  assert.equal(summary.layout, out);
  assert.deepEqual(summary.images.map((i) => i.repoTags), [['h:1']]);
  assert.equal(summary.images[0]!.config, positional.stdout.split(' ')[0]);
  const help = runBin(['to-docker', '--help']);
  assert.match(help.stdout, /to-docker <archive> \[layout\]/);
  assert.match(help.stdout, /\[default: \.\/out\]/);
});

test('from-docker: -q and --json (diff_id, as the config names it), the layout positional', async (t) => {
  const out = await layoutWith(t, '--tag', 'h:1');
  const archive = path.join(await tempDir(t), 'h.tar');
  assert.equal((await cli('to-docker', archive, out, '-q')).status, 0);
  const target = path.join(await tempDir(t), 'imported');
  const q = await onTty(['from-docker', archive, target, '-q'], { stderr: true });
  assert.equal(q.status, 0, q.stderr);
  assert.equal(q.stderr, '', '-q: nothing on stderr, even on a terminal');
  assert.match(q.stdout, /^sha256:[a-f0-9]{64} h:1\n$/);
  const j = await cli('from-docker', archive, path.join(await tempDir(t), 'again'), '--json');
  const summary = JSON.parse(j.stdout) as { images: Array<{ digest: string; tags: string[]; layers: Array<Record<string, unknown>> }>; moved: unknown[] };
  assert.deepEqual(summary.images.map((i) => i.tags), [['h:1']]);
  assert.deepEqual(Object.keys(summary.images[0]!.layers[0]!).sort(), ['diff_id', 'digest', 'mediaType', 'size']);
  assert.deepEqual(summary.moved, []);
  const built = JSON.parse((await cli('layout', path.join(await tempDir(t), 'x'), '--add', `${HELLO}:/hello`, '--json')).stdout) as { layers: Array<Record<string, unknown>> };
  assert.deepEqual(Object.keys(built.layers[0]!).sort(), ['diff_id', 'digest', 'mediaType', 'size'], 'layout --json spells it the same');
});

test('progress on a terminal for to-docker and from-docker: per layer, then the archive; none off a terminal', async (t) => {
  const out = await layoutWith(t, '--tag', 'h:1');
  const archive = path.join(await tempDir(t), 'h.tar');
  const shown = await onTty(['to-docker', archive, out], { stderr: true });
  assert.equal(shown.status, 0, shown.stderr);
  const lines = shown.stderr.replace(/\r\x1b\[\d+A\x1b\[J/g, '');
  assert.match(lines, /^verify 1: h:1: layer 0 \(sha256:[a-f0-9]{12}\)  verified \d+(\.\d)? k?B$/m);
  assert.match(lines, /^write .*h\.tar  \d+(\.\d)? kB written$/m);
  const imported = await onTty(['from-docker', archive, path.join(await tempDir(t), 'o')], { stderr: true });
  assert.match(imported.stderr.replace(/\r\x1b\[\d+A\x1b\[J/g, ''), /^stage [a-f0-9]{12}\/layer\.tar  sha256:[a-f0-9]{12} \d+ B$/m);
  assert.equal((await onTty(['to-docker', `${archive}2`, out])).stderr, '');
});

test('missing arguments are answered in our words, exit 2', async () => {
  for (const [argv, words] of [
    [['layout'], 'oci-pack: layout: name the layout to write: oci-pack layout <dir> (see oci-pack --help)\n'],
    [['to-docker'], 'oci-pack: to-docker: name the archive to write, or - for stdout: oci-pack to-docker <archive|-> [layout] (see oci-pack --help)\n'],
    [['from-docker', 'x.tar'], 'oci-pack: from-docker: name the archive (or - for stdin) and the layout: oci-pack from-docker <archive|-> <layout> (see oci-pack --help)\n'],
  ] as const) {
    const r = await cli(...argv);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, words);
  }
});

test('help wraps at spaces, to the terminal\'s width', async () => {
  const narrow = runBin(['--help']);
  assert.equal(narrow.status, 0);
  const lines = narrow.stdout.split('\n');
  assert.ok(lines.every((l) => l.length <= 80), 'off a terminal: 80 columns');
  assert.match(narrow.stdout.replace(/\s+/g, ' '), /write images of the OCI layout \[layout\] as a docker-save archive/, 'no word cut in two');
  if (haveCommand('script')) {
    const wide = spawnSync('script', ['-qec', `stty cols 150; ${process.execPath} ${BIN} --help`, '/dev/null'], { encoding: 'utf8' });
    const widths = wide.stdout.split(/\r?\n/).map((l) => l.length);
    assert.ok(Math.max(...widths) > 80 && Math.max(...widths) <= 150, `a 150-column terminal: ${Math.max(...widths)}`);
  }
});

test('to-docker --tag @sha256:DIGEST or a unique prefix exports an untagged image', async (t) => {
  const out = await layoutWith(t);
  const other = await cli('layout', out, '--add', `${HELLO}:/other`, '-q');
  const index = (await readJson(path.join(out, 'index.json'))) as { manifests: Array<{ digest: string }> };
  assert.equal(index.manifests.length, 2);
  const [a, b] = index.manifests.map((m) => m.digest);
  assert.equal(other.stdout.trim(), b);
  const dir = await tempDir(t);
  for (const tag of [`@${a}`, `@${a!.slice(7, 19)}`]) {
    const r = await cli('to-docker', path.join(dir, 'x.tar'), out, '--tag', tag, '-q');
    assert.equal(r.status, 0, r.stderr);
    const manifest = await tarManifest(path.join(dir, 'x.tar'));
    assert.deepEqual(manifest.map((m) => m.RepoTags), [[]], `${tag}: untagged in the archive, one image`);
  }
  let common = 7;
  while (a![common] === b![common]) common++;
  const ambiguous = await cli('to-docker', path.join(dir, 'y.tar'), out, '--tag', `@${a!.slice(7, common)}`);
  if (common > 7) {
    assert.equal(ambiguous.status, 2);
    assert.match(ambiguous.stderr, /2 images of .* have digests starting so/);
  }
  const none = await cli('to-docker', path.join(dir, 'y.tar'), out, '--tag', '@ffffffffffffffffffffffff');
  assert.equal(none.status, 1);
  assert.match(none.stderr, /--tag @f+: no image in .* has a manifest digest starting sha256:f+/);
  await assert.rejects(fs.stat(path.join(dir, 'y.tar')), { code: 'ENOENT' });
});

async function tarManifest(file: string): Promise<Array<{ RepoTags: string[] }>> {
  const r = spawnSync('tar', ['-xOf', file, 'manifest.json'], { encoding: 'utf8' });
  return JSON.parse(r.stdout) as Array<{ RepoTags: string[] }>;
}

test('a tag moved to a new image says so, and that the old blobs wait for gc; --json lists it', async (t) => {
  const out = await layoutWith(t, '--tag', 'h:1');
  const first = ((await readJson(path.join(out, 'index.json'))) as { manifests: Array<{ digest: string }> }).manifests[0]!.digest;
  const r = await cli('layout', out, '--add', `${HELLO}:/moved`, '--tag', 'h:1', '--json');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, `oci-pack: h:1 moved from ${first.slice(0, 19)} to the new image; the old image's blobs stay in the layout until \`oci-pack gc\` removes what no tag holds\n`);
  assert.deepEqual((JSON.parse(r.stdout) as { moved: unknown }).moved, [{ tag: 'h:1', from: first }]);
  const again = await cli('layout', out, '--add', `${HELLO}:/moved`, '--tag', 'h:1', '-q');
  assert.equal(again.stderr, '', 'the same image again moves nothing');
  const archive = path.join(await tempDir(t), 'h.tar');
  assert.equal((await cli('to-docker', archive, path.join(await tempDir(t), 'none-here'))).status, 1);
  const old = await layoutWith(t, '--tag', 'h:1');
  assert.equal((await cli('to-docker', archive, old, '-q')).status, 0);
  const imported = await cli('from-docker', archive, out);
  assert.match(imported.stderr, /^oci-pack: h:1 moved from sha256:[a-f0-9]{12} to the new image; .*oci-pack gc/);
});
