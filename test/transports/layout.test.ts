// The layout transport and the one resolver: an index resolved to a platform or kept whole, and a
// copy between layouts that keeps every digest and names the copy in one transaction.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Layout } from '../../src/layout.js';
import { imagesOf } from '../../src/model.js';
import { resolve, resolveImage } from '../../src/resolve.js';
import { LayoutSink, LayoutSource } from '../../src/transports/layout.js';
import { validate } from '../../src/validate.js';
import { snapshot, tempDir } from '../helpers.js';

import { AMD64, ARM64, helloMultiLayout } from '../images.js';

async function multiLayout(t: TestContext): Promise<string> {
  const dir = path.join(await tempDir(t, 'oci-pack-tl-'), 'src');
  await helloMultiLayout(dir);
  return dir;
}

test('resolve picks the platform asked for from an index, and keeps it whole with all', async (t) => {
  const source = await LayoutSource.open(await multiLayout(t));
  const arm = await resolveImage(source, 'hello:multi', { platform: ARM64 });
  assert.equal(arm.platform.architecture, 'arm64');
  assert.equal(arm.layers.length, 1);
  const amd = await resolveImage(source, 'hello:multi', { platform: AMD64 });
  assert.equal(amd.platform.architecture, 'amd64');
  assert.notEqual(amd.descriptor.digest, arm.descriptor.digest);
  const whole = await resolve(source, 'hello:multi', { all: true });
  assert.equal(whole.kind, 'index');
  assert.deepEqual(imagesOf(whole).map((i) => i.platform.architecture), ['amd64', 'arm64']);
  await assert.rejects(resolveImage(source, 'hello:multi', { platform: { os: 'linux', architecture: 's390x' } }), /no image for linux\/s390x \(it has linux\/amd64, linux\/arm64\)/);
  await assert.rejects(resolve(source, 'nope'), /no image named "nope"/);
});

test('a layout sink copies an index whole, digests kept, and a failed copy leaves the target as it was', async (t) => {
  const from = await multiLayout(t);
  const source = await LayoutSource.open(from);
  const node = await resolve(source, 'hello:multi', { all: true });
  const to = path.join(path.dirname(from), 'dst');
  const sink = await LayoutSink.open(to);
  try {
    await sink.write([{ node, tags: ['copied'] }]);
  } finally {
    await sink.close();
  }
  const copied = await Layout.open(to);
  const [entry] = await copied.find('copied');
  assert.equal(entry!.digest, node.descriptor.digest);
  const report = await validate(to);
  assert.equal(report.problems.length, 0, JSON.stringify(report.problems));

  // A blob that does not match its digest stops the copy; the target is unchanged.
  const before = await snapshot(to);
  const layer = imagesOf(node)[1]!.layers[0]!.descriptor;
  const broken = path.join(from, 'blobs', 'sha256', layer.digest.slice('sha256:'.length));
  const bytes = await fs.readFile(broken);
  bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 1, bytes.length - 1);
  await fs.chmod(broken, 0o644);
  await fs.writeFile(broken, bytes);
  const other = await resolve(source, 'hello:multi', { all: true });
  const into = await LayoutSink.open(path.join(path.dirname(from), 'dst2'));
  await assert.rejects(into.write([{ node: other, tags: ['x'] }]), /hashes to|sha256/);
  await into.close();
  await assert.rejects(fs.stat(path.join(path.dirname(from), 'dst2', 'index.json')));
  assert.deepEqual(await snapshot(to), before);
});

test('copyImage between layouts: whole by default, one platform with --platform, the ref after the path names it', async (t) => {
  const { copyImage } = await import('../../src/copy.js');
  const from = await multiLayout(t);
  const dir = path.dirname(from);
  const whole = await copyImage(`oci:${from}:hello:multi`, `oci:${dir}/whole:all`);
  const original = (await (await Layout.open(from)).find('hello:multi'))[0]!;
  assert.equal(whole.digest, original.digest);
  const one = await copyImage(`oci:${from}:hello:multi`, `oci:${dir}/one:arm`, { platform: ARM64 });
  assert.equal(one.platform?.architecture, 'arm64');
  const [entry] = await (await Layout.open(path.join(dir, 'one'))).find('arm');
  assert.equal(entry!.digest, one.digest);
  assert.equal(entry!.platform?.architecture, 'arm64');
  await assert.rejects(copyImage(`oci:${from}:missing`, `oci:${dir}/none`), /no image named "missing"/);
  await assert.rejects(fs.stat(path.join(dir, 'none')));
});
