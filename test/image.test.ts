import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyConfigChanges, checkSignal, createConfig, createManifest, isoTime, keyValues, parsePort } from '../src/image.js';
import { MediaType, type LayerDescriptor } from '../src/descriptor.js';
import { sha256 } from '../src/digest.js';
import { UserError } from '../src/errors.js';
import { schemaProblems } from '../src/schema.js';

const usage = (re: RegExp) => (err: unknown) => err instanceof UserError && err.code === 'EUSAGE' && re.test(err.message);

test('env replaces a key in place and appends new ones; malformed pairs are refused', () => {
  const out = applyConfigChanges({ Env: ['PATH=/bin', 'A=1'] }, { env: ['A=2', 'B=x=y', 'C='] });
  assert.deepEqual(out.Env, ['PATH=/bin', 'A=2', 'B=x=y', 'C=']);
  assert.throws(() => applyConfigChanges({}, { env: ['NOEQUALS'] }), usage(/--env "NOEQUALS": expected KEY=VALUE/));
  assert.throws(() => applyConfigChanges({}, { env: ['=v'] }), usage(/--env "=v"/));
});

test('ports: default tcp, ranges, protocols; out-of-range and junk refused', () => {
  assert.equal(parsePort('80'), '80/tcp');
  assert.equal(parsePort('53/udp'), '53/udp');
  assert.equal(parsePort('8000-8002/TCP'), '8000-8002/tcp');
  for (const bad of ['0', '65536', 'http', '80/icmp', '90-80', '']) {
    assert.throws(() => parsePort(bad), usage(/--expose .*expected PORT/), bad);
  }
  const cfg = applyConfigChanges({ ExposedPorts: { '22/tcp': {} } }, { expose: ['80', '53/udp'] });
  assert.deepEqual(cfg.ExposedPorts, { '22/tcp': {}, '80/tcp': {}, '53/udp': {} });
});

test('workdir and volumes must be absolute; user must be a name; signals are checked', () => {
  assert.throws(() => applyConfigChanges({}, { workdir: 'app' }), usage(/--workdir app: must be an absolute path/));
  assert.throws(() => applyConfigChanges({}, { volumes: ['data'] }), usage(/--volume data: must be an absolute path/));
  assert.throws(() => applyConfigChanges({}, { user: '' }), usage(/--user/));
  assert.equal(checkSignal('SIGTERM'), 'SIGTERM');
  assert.equal(checkSignal('term'), 'term');
  assert.equal(checkSignal('9'), '9');
  assert.equal(checkSignal('SIGRTMIN+3'), 'SIGRTMIN+3');
  assert.throws(() => checkSignal('SIGNOPE'), usage(/--stop-signal SIGNOPE/));
  const cfg = applyConfigChanges({}, { workdir: '/app', volumes: ['/data'], user: '1000:1000', stopSignal: 'SIGINT', labels: { a: 'b' } });
  assert.deepEqual(cfg, { WorkingDir: '/app', Volumes: { '/data': {} }, User: '1000:1000', StopSignal: 'SIGINT', Labels: { a: 'b' } });
});

test('keyValues keeps values with "=" and lets later keys win', () => {
  assert.deepEqual(keyValues(['a=1', 'b=x=y', 'a=3'], '--label'), { a: '3', b: 'x=y' });
  assert.throws(() => keyValues(['novalue'], '--label'), usage(/--label "novalue"/));
});

test('createConfig and createManifest give schema-valid documents with one diff_id per layer', () => {
  const layer: LayerDescriptor = { mediaType: MediaType.layerGzip, digest: sha256('gz'), size: 2, diffId: sha256('tar'), uncompressedSize: 3 };
  const cfg = createConfig({
    platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
    created: 0,
    runtime: { Cmd: ['/hello'] },
    layers: [layer],
    history: [{ created: isoTime(0), created_by: 'test' }],
  });
  assert.equal(cfg.created, '1970-01-01T00:00:00Z');
  assert.equal(cfg.variant, 'v7');
  assert.deepEqual(cfg.rootfs, { type: 'layers', diff_ids: [layer.diffId] });
  assert.deepEqual(schemaProblems('image-config', cfg), []);
  const m = createManifest({ mediaType: MediaType.config, digest: sha256('cfg'), size: 3 }, [layer], { 'org.example': 'x' });
  assert.deepEqual(m.layers, [{ mediaType: MediaType.layerGzip, digest: layer.digest, size: 2 }]);
  assert.deepEqual(schemaProblems('image-manifest', m), []);
  assert.equal(isoTime(1700000000), '2023-11-14T22:13:20Z');
});
