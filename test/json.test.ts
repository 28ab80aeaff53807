// JSON as Go's encoding/json writes it: keys by UTF-8 bytes, integer-like keys in their place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { buildImage } from '../src/build.js';
import { canonicalJson } from '../src/json.js';
import { HELLO, blobFile, readImage, tempDir } from './helpers.js';

// Go sorts map keys as byte strings: "10" < "2" (0x31 < 0x32) < "z" (0x7a) < "é" (C3 A9)
// < "！" U+FF01 (EF BC 81) < "😀" U+1F600 (F0 9F 98 80). JavaScript would put "2" before "10"
// (integer-like keys first, numerically) and "😀" (D83D DE00) before "！" (FF01) by UTF-16 units.
const LABELS = { z: 'c', '😀': 'f', '2': 'b', 'é': 'd', '10': 'a', '！': 'e' };
const GO = '{"10":"a","2":"b","z":"c","é":"d","！":"e","😀":"f"}';

test('canonicalJson sorts keys by UTF-8 bytes and leaves integer-like keys in that order, at every level', () => {
  assert.equal(canonicalJson(LABELS).toString('utf8'), GO);
  assert.equal(canonicalJson({ b: [{ '1': 1, a: null, u: undefined }], a: { '9': true, '10': false } }).toString('utf8'), '{"a":{"10":false,"9":true},"b":[{"1":1,"a":null}]}');
  assert.equal(canonicalJson([undefined, 'x']).toString('utf8'), '[null,"x"]');
});

test('a config with such labels holds them in Go\'s order', async (t) => {
  const layout = path.join(await tempDir(t), 'out');
  await buildImage({ layout, layers: [{ kind: 'add', src: HELLO, dest: '/hello' }], config: { labels: LABELS }, platform: { os: 'linux', architecture: 'amd64' }, tags: ['t:1'] });
  const img = await readImage(layout, 't:1');
  const text = await fs.readFile(blobFile(layout, img.manifest.config.digest), 'utf8');
  assert.ok(text.includes(`"Labels":${GO}`), text);
});
