// Legacy layer ids and json files: the values skopeo (containers/image) derives, pinned, and the
// Go encoding/json details they depend on (compaction, HTML escapes, raw top-level fields).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chainIds, goCompact, legacyLayers, topLevelFields } from '../../src/docker/legacy.js';
import { sha256, type Digest } from '../../src/digest.js';

// The bundled example's config and diff_id (test/build.test.ts pins them), and the id and json that
// `skopeo copy oci:out:hello:latest docker-archive:...` (skopeo 1.9.3) wrote for its one layer.
const HELLO_CONFIG = Buffer.from(
  '{"architecture":"amd64","config":{"Cmd":["/hello"]},"created":"1970-01-01T00:00:00Z","history":[{"created":"1970-01-01T00:00:00Z","created_by":"oci-pack layout --add hello:/hello"}],"os":"linux","rootfs":{"diff_ids":["sha256:5d29ddb45130e359b6aa51df03e3257f964ae4d9447108095f8adebe98a7723c"],"type":"layers"}}',
);
const HELLO_DIFF_ID = 'sha256:5d29ddb45130e359b6aa51df03e3257f964ae4d9447108095f8adebe98a7723c' as Digest;
const SKOPEO_ID = 'e881abf2b56b1024149bd607167ca7607e6a5bbf8f668e874454a3bfb8fcc5db';
const SKOPEO_JSON =
  '{"architecture":"amd64","config":{"Cmd":["/hello"]},"container":null,"container_config":null,"created":"1970-01-01T00:00:00Z","docker_version":null,"id":"e881abf2b56b1024149bd607167ca7607e6a5bbf8f668e874454a3bfb8fcc5db","os":"linux"}';

test('the example image gets the layer id and json skopeo writes for it', () => {
  assert.equal(sha256(HELLO_CONFIG), 'sha256:c98cc00d0699ae1755512a57474ec43554bda58c7b5cde9731ce31fec6252336');
  const [layer, ...rest] = legacyLayers([HELLO_DIFF_ID], HELLO_CONFIG);
  assert.equal(rest.length, 0);
  assert.equal(layer?.id, SKOPEO_ID);
  assert.equal(layer?.json.toString(), SKOPEO_JSON);
});

test('chain IDs follow docker: the first diff_id, then sha256("<chain> <diff_id>")', () => {
  const a = sha256('a');
  const b = sha256('b');
  const c = sha256('c');
  const ab = sha256(`${a} ${b}`);
  assert.deepEqual(chainIds([a, b, c]), [a, ab, sha256(`${ab} ${c}`)]);
  assert.deepEqual(chainIds([]), []);
});

test('lower layers chain by parent and carry no config; the top layer carries the config', () => {
  const a = sha256('a');
  const b = sha256('b');
  const layers = legacyLayers([a, b], HELLO_CONFIG);
  const [lower, top] = layers.map((l) => JSON.parse(l.json.toString()) as Record<string, unknown>);
  assert.deepEqual(lower, { id: layers[0]!.id });
  assert.equal(layers[0]!.id, sha256(`{"layer_id":"${a}"}`).slice(7));
  assert.equal(top!['parent'], layers[0]!.id);
  assert.equal(top!['id'], layers[1]!.id);
  assert.deepEqual(top!['config'], { Cmd: ['/hello'] });
  assert.equal('layer_id' in top!, false);
  // The same layers under another config: the lower id is shared, the top id is not.
  const other = legacyLayers([a, b], Buffer.from(HELLO_CONFIG.toString().replace('/hello', '/other')));
  assert.equal(other[0]!.id, layers[0]!.id);
  assert.notEqual(other[1]!.id, layers[1]!.id);
  // The same diff_id twice in one image: two ids (the chain differs).
  const twice = legacyLayers([a, a], HELLO_CONFIG);
  assert.notEqual(twice[0]!.id, twice[1]!.id);
});

test('config fields are taken raw and compacted as Go marshals a json.RawMessage', () => {
  const spaced = Buffer.from('{ "os" : "linux",\n "config": { "Env": [ "A=<b> & c", "x y" ],\n "Cmd":null },"architecture":"amd64", "created":"2024-01-01T00:00:00Z" }');
  const top = JSON.parse(legacyLayers([sha256('a')], spaced)[0]!.json.toString()) as Record<string, unknown>;
  assert.deepEqual(top['config'], { Env: ['A=<b> & c', 'x y'], Cmd: null });
  const json = legacyLayers([sha256('a')], spaced)[0]!.json.toString();
  // Key order inside config is the config's own; whitespace in strings stays; <, >, & are escaped.
  assert.match(json, /"config":\{"Env":\["A=\\u003cb\\u003e \\u0026 c","x y"\],"Cmd":null\}/);
});

test('goCompact: whitespace outside strings goes, escapes inside strings stay, U+2028/9 are escaped', () => {
  assert.equal(goCompact(Buffer.from('{ "a" : [ 1 , "b\\" c" ] }')).toString(), '{"a":[1,"b\\" c"]}');
  assert.equal(goCompact(Buffer.from('"\u2028\u2029"')).toString(), '"\\u2028\\u2029"');
  assert.equal(goCompact(Buffer.from('"é"')).toString(), '"é"');
});

test('topLevelFields: raw value bytes, nested braces in strings, the last of a repeated key', () => {
  const doc = Buffer.from('{"a": {"x": "}{\\"", "y": [1, {"z": 2}]}, "b": 12.50, "c": "s", "a2": null, "b": true}');
  const fields = topLevelFields(doc);
  assert.equal(fields.get('a')?.toString(), '{"x": "}{\\"", "y": [1, {"z": 2}]}');
  assert.equal(fields.get('b')?.toString(), 'true');
  assert.equal(fields.get('c')?.toString(), '"s"');
  assert.equal(fields.get('a2')?.toString(), 'null');
  assert.deepEqual([...fields.keys()], ['a', 'b', 'c', 'a2']);
});
