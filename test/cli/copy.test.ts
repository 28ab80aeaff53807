// `oci-pack copy`: usage errors in one line with exit 2, the result on stdout (digest and names, or
// JSON), --platform taking one image of an index, progress only on a terminal, failures leaving nothing.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { main } from '../../src/cli/main.js';
import { Layout } from '../../src/layout.js';
import { HELLO, ROOT, cli, tempDir } from '../helpers.js';

async function multiLayout(t: TestContext): Promise<string> {
  const out = path.join(await tempDir(t, 'oci-pack-cc-'), 'out');
  for (const [arch, binary] of [['amd64', HELLO], ['arm64', path.join(ROOT, 'fixtures', 'hello', 'hello-arm64')]] as const) {
    const r = await cli('layout', out, '--add', `${binary}:/hello`, '--cmd', '/hello', '--platform', `linux/${arch}`, '--tag', `hello:${arch}`, '-q');
    assert.equal(r.status, 0, r.stderr);
  }
  const r = await cli('index', out, '--tag', 'hello:multi', 'hello:amd64', 'hello:arm64', '-q');
  assert.equal(r.status, 0, r.stderr);
  return out;
}

async function digestOf(layout: string, ref: string): Promise<string> {
  return (await (await Layout.open(layout)).find(ref))[0]!.digest;
}

test('copy: usage errors are one line and exit 2, before anything is read or written', async (t) => {
  const dir = await tempDir(t, 'oci-pack-cc-');
  const cases: [string[], RegExp][] = [
    [['copy'], /^oci-pack: copy: name the source and the destination: oci-pack copy oci:DIR:REF oci-archive:TAR:REF \(see oci-pack --help\)\n$/],
    [['copy', 'out', `oci:${dir}/x`], /^oci-pack: source "out": expected a transport and a reference: oci:DIR\[:REF\], oci-archive:TAR\[:REF\], .*\n$/],
    [['copy', `oci:${dir}/x`, 'tar:x.tar'], /^oci-pack: destination "tar:x\.tar": expected a transport and a reference: .*\n$/],
    [['copy', `oci:${dir}/x`, 'oci-archive::v1'], /^oci-pack: destination oci-archive::v1: the archive path is empty\n$/],
    [['copy', '--all', '--platform', 'linux/arm64', `oci:${dir}/x`, `oci:${dir}/y`], /^oci-pack: --all and --platform: give one \(all platforms, or one\)\n$/],
    [['copy', '--platform', 'linux', `oci:${dir}/x`, `oci:${dir}/y`], /^oci-pack: --platform: "linux": expected OS\/ARCH\[\/VARIANT\].*\n$/],
    [['copy', '--concurrency', '0', `oci:${dir}/x`, `oci:${dir}/y`], /^oci-pack: --concurrency 0: expected 1 or more\n$/],
    [['copy', '--format', 'v2', `oci:${dir}/x`, `docker-archive:${dir}/y.tar`], /^oci-pack: --format v2: expected v1 or oci\n$/],
    [['copy', '--compression', 'lz4', `docker-archive:${dir}/x.tar`, `oci:${dir}/y`], /^oci-pack: --compression lz4: .*\n$/],
  ];
  for (const [argv, message] of cases) {
    const r = await cli(...argv);
    assert.equal(r.status, 2, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stdout, '');
  }
  assert.deepEqual(await fs.readdir(dir), []);
});

test('copy oci -> oci-archive -> oci: the digest and name on stdout, --json, the index kept whole by default', async (t) => {
  const out = await multiLayout(t);
  const dir = path.dirname(out);
  const multi = await digestOf(out, 'hello:multi');
  const tar = path.join(dir, 'hello.tar');

  const r = await cli('copy', `oci:${out}:hello:multi`, `oci-archive:${tar}:v1`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${multi} v1\n`);
  assert.equal(r.stderr, '', 'no progress when stderr is not a terminal');

  const j = await cli('copy', '--json', `oci-archive:${tar}:v1`, `oci:${dir}/back:copied`);
  assert.equal(j.status, 0, j.stderr);
  const result = JSON.parse(j.stdout) as Record<string, unknown>;
  assert.deepEqual(result, { source: `oci-archive:${tar}:v1`, destination: `oci:${dir}/back:copied`, digest: multi, mediaType: 'application/vnd.oci.image.index.v1+json', size: result.size, tags: ['copied'] });
  assert.equal(typeof result.size, 'number');
  assert.equal(await digestOf(path.join(dir, 'back'), 'copied'), multi);
});

test('copy --platform takes one image of an index; --no-all this machine\'s', async (t) => {
  const out = await multiLayout(t);
  const dir = path.dirname(out);
  const r = await cli('copy', '--json', '--platform', 'linux/arm64', `oci:${out}:hello:multi`, `oci-archive:${dir}/arm.tar:arm`);
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { digest: string; platform: unknown; mediaType: string };
  assert.equal(result.digest, await digestOf(out, 'hello:arm64'));
  assert.deepEqual(result.platform, { os: 'linux', architecture: 'arm64' });
  assert.equal(result.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  const host = await cli('copy', '--no-all', `oci:${out}:hello:multi`, `oci:${dir}/host:h`);
  assert.equal(host.status, 0, host.stderr);
  const arch = process.arch === 'x64' ? 'amd64' : 'arm64';
  assert.equal(host.stdout, `${await digestOf(out, `hello:${arch}`)} h\n`);
  const none = await cli('copy', '--platform', 'linux/s390x', `oci:${out}:hello:multi`, `oci:${dir}/none`);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /^oci-pack: oci:.*:hello:multi: no image for linux\/s390x \(it has linux\/amd64, linux\/arm64\); choose one with --platform\n$/);
  await assert.rejects(fs.stat(path.join(dir, 'none')));
});

test('copy: a missing source is one line, exit 1, and nothing is created; progress shows on a terminal', async (t) => {
  const out = await multiLayout(t);
  const dir = path.dirname(out);
  const r = await cli('copy', `oci-archive:${dir}/missing.tar`, `oci:${dir}/dst`);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^oci-pack: oci-archive:.*missing\.tar: .*missing\.tar: no such file or directory\n$/);
  assert.deepEqual((await fs.readdir(dir)).sort(), ['out']);

  let stderr = '';
  let stdout = '';
  const status = await main(['copy', `oci:${out}:hello:amd64`, `oci-archive:${dir}/a.tar`], { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), stderrIsTty: true, columns: 100 });
  assert.equal(status, 0, stderr);
  assert.match(stderr, /write .*a\.tar .* written/);
  const back = await main(['copy', `oci-archive:${dir}/a.tar`, `oci:${dir}/b:x`], { stdout: () => undefined, stderr: (s) => void (stderr += s), stderrIsTty: true, columns: 100 });
  assert.equal(back, 0, stderr);
  assert.match(stderr, /read .*a\.tar .* read/);
  assert.match(stderr, /blob sha256:[0-9a-f]{12} already there \(\d+ B\)/, 'the archive unpacked into the staging');
  assert.match(stderr, /\[>? *\] 0 B\/(\d+\.\d kB)\n.*\1 written/s, 'the total is the archive\'s size');
  const quiet = await main(['copy', '-q', `oci-archive:${dir}/a.tar`, `oci:${dir}/c:x`], { stdout: () => undefined, stderr: (s) => void (stderr = `${stderr}QUIET${s}`), stderrIsTty: true, columns: 100 });
  assert.equal(quiet, 0);
  assert.doesNotMatch(stderr, /QUIET/);
});

test('copy --format oci writes a docker 25+ archive; --compression says how a docker archive\'s plain layers are stored', async (t) => {
  const out = await multiLayout(t);
  const dir = path.dirname(out);
  const amd = await digestOf(out, 'hello:amd64');
  const tar = path.join(dir, 'oci-form.tar');
  const r = await cli('copy', '--format', 'oci', `oci:${out}:hello:amd64`, `docker-archive:${tar}:hello:1`);
  assert.equal(r.status, 0, r.stderr);
  // The docker 25+ form is an OCI layout too: the manifest keeps its digest.
  const back = await cli('copy', '--json', `oci-archive:${tar}`, `oci:${dir}/from-oci-form:x`);
  assert.equal(back.status, 0, back.stderr);
  assert.equal((JSON.parse(back.stdout) as { digest: string }).digest, amd);

  const v1 = path.join(dir, 'v1.tar');
  assert.equal((await cli('copy', `oci:${out}:hello:amd64`, `docker-archive:${v1}:hello:1`)).status, 0);
  const plain = await cli('copy', '--json', '--compression', 'none', `docker-archive:${v1}`, `oci:${dir}/plain:x`);
  assert.equal(plain.status, 0, plain.stderr);
  const gz = await cli('copy', '--json', `docker-archive:${v1}`, `oci:${dir}/gz:x`);
  assert.equal(gz.status, 0, gz.stderr);
  const layerType = async (layout: string) => {
    const o = await Layout.open(layout);
    const [d] = await o.find('x');
    return (JSON.parse((await o.store.read(d!)).toString('utf8')) as { layers: Array<{ mediaType: string }> }).layers[0]!.mediaType;
  };
  assert.equal(await layerType(path.join(dir, 'plain')), 'application/vnd.oci.image.layer.v1.tar');
  assert.equal(await layerType(path.join(dir, 'gz')), 'application/vnd.oci.image.layer.v1.tar+gzip');
});
