// Where credentials come from: --creds, then the auth files in podman's order, docker's key forms,
// podman's per-namespace keys, credential helpers; and what login writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { authFiles, findCredentials, loginFile, parseCreds, storeCredentials } from '../../src/registry/credentials.js';
import { tempDir } from '../helpers.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function write(file: string, doc: unknown): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, JSON.stringify(doc));
}

test('--creds splits at the first colon and wins over every file', async (t) => {
  assert.deepEqual(parseCreds('me:pa:ss'), { username: 'me', password: 'pa:ss' });
  assert.throws(() => parseCreds(':x'), /--creds: expected USER:PASSWORD/);
  assert.throws(() => parseCreds('nocolon'), /--creds: expected USER:PASSWORD/);
  const home = await tempDir(t);
  await write(path.join(home, '.docker', 'config.json'), { auths: { 'r.example': { auth: b64('file:user') } } });
  assert.deepEqual(await findCredentials('r.example', 'x', { creds: 'cli:pw', env: { HOME: home } }), { username: 'cli', password: 'pw' });
});

test("the files in podman's order; docker's https://host/v1/ keys; docker.io's aliases; namespaces", async (t) => {
  const home = await tempDir(t);
  const env = { HOME: home, XDG_RUNTIME_DIR: path.join(home, 'run'), REGISTRY_AUTH_FILE: path.join(home, 'explicit.json') };
  assert.deepEqual(authFiles({ env }), [
    path.join(home, 'explicit.json'),
    path.join(home, 'run', 'containers', 'auth.json'),
    path.join(home, '.config', 'containers', 'auth.json'),
    path.join(home, '.docker', 'config.json'),
  ]);
  assert.equal(await findCredentials('r.example', 'x', { env }), undefined, 'no files: anonymous');
  await write(path.join(home, '.docker', 'config.json'), {
    auths: { 'https://r.example/v1/': { auth: b64('docker:one') }, 'https://index.docker.io/v1/': { auth: b64('hub:pw') } },
  });
  assert.deepEqual(await findCredentials('r.example', 'x', { env }), { username: 'docker', password: 'one' });
  assert.deepEqual(await findCredentials('docker.io', 'library/alpine', { env }), { username: 'hub', password: 'pw' });
  await write(path.join(home, 'run', 'containers', 'auth.json'), {
    auths: { 'r.example': { auth: b64('podman:two') }, 'r.example/team/app': { auth: b64('team:three') } },
  });
  assert.deepEqual(await findCredentials('r.example', 'x', { env }), { username: 'podman', password: 'two' }, 'the runtime dir before docker');
  assert.deepEqual(await findCredentials('r.example', 'team/app', { env }), { username: 'team', password: 'three' }, 'the most specific key');
  await write(env.REGISTRY_AUTH_FILE, { auths: { 'r.example': { username: 'plain', password: 'four' } } });
  assert.deepEqual(await findCredentials('r.example', 'team/app', { env }), { username: 'plain', password: 'four' });
  assert.deepEqual(await findCredentials('r.example', 'x', { env, authFile: path.join(home, '.docker', 'config.json') }), { username: 'docker', password: 'one' });
  await write(env.REGISTRY_AUTH_FILE, { auths: { 'r.example': { auth: b64('no-colon') } } });
  await assert.rejects(findCredentials('r.example', 'x', { env }), /explicit\.json: auths entry for r\.example: "auth" is not base64 of user:password/);
});

test('credHelpers and credsStore run docker-credential-<name> get with the server on stdin', async (t) => {
  const home = await tempDir(t);
  const bin = path.join(home, 'bin');
  await fs.mkdir(bin);
  const helper = (name: string, answer: string): Promise<void> =>
    fs.writeFile(path.join(bin, `docker-credential-${name}`), `#!/bin/sh\nread server\necho "$server" >> ${home}/asked\n${answer}\n`, { mode: 0o755 });
  await helper('one', `echo '{"ServerURL":"x","Username":"helper","Secret":"s1"}'`);
  await helper('store', `[ "$server" = "https://index.docker.io/v1/" ] && echo '{"Username":"<token>","Secret":"idtok"}' && exit 0; echo "credentials not found in native keychain"; exit 1`);
  const env = { HOME: home, PATH: `${bin}:${process.env.PATH}` };
  const saved = process.env.PATH;
  process.env.PATH = env.PATH;
  t.after(() => (process.env.PATH = saved));
  await write(path.join(home, '.docker', 'config.json'), { credHelpers: { 'r.example': 'one' }, credsStore: 'store' });
  assert.deepEqual(await findCredentials('r.example', 'x', { env }), { username: 'helper', password: 's1' });
  assert.deepEqual(await findCredentials('docker.io', 'library/x', { env }), { username: '', password: '', identityToken: 'idtok' });
  assert.equal(await findCredentials('other.example', 'x', { env }), undefined, '"credentials not found" is no credentials, not an error');
  assert.deepEqual((await fs.readFile(path.join(home, 'asked'), 'utf8')).trim().split('\n'), ['r.example', 'https://index.docker.io/v1/', 'other.example']);
  await write(path.join(home, '.docker', 'config.json'), { credHelpers: { 'r.example': 'missing' } });
  await assert.rejects(findCredentials('r.example', 'x', { env }), /credential helper docker-credential-missing is not installed/);
});

test('login writes where podman does, keeps other entries, mode 0600', async (t) => {
  const home = await tempDir(t);
  assert.equal(loginFile({ env: { HOME: home } }), path.join(home, '.config', 'containers', 'auth.json'));
  assert.equal(loginFile({ env: { HOME: home, XDG_RUNTIME_DIR: '/run/user/1' } }), '/run/user/1/containers/auth.json');
  assert.equal(loginFile({ env: { HOME: home, XDG_RUNTIME_DIR: '/run/user/1', REGISTRY_AUTH_FILE: '/x.json' } }), '/x.json');
  const file = path.join(home, 'c', 'auth.json');
  await write(file, { auths: { 'keep.example': { auth: b64('k:k') } }, other: 1 });
  await storeCredentials(file, 'r.example', { username: 'me', password: 'pw' });
  const doc = JSON.parse(await fs.readFile(file, 'utf8')) as { auths: Record<string, { auth: string }>; other: number };
  assert.deepEqual(doc, { auths: { 'keep.example': { auth: b64('k:k') }, 'r.example': { auth: b64('me:pw') } }, other: 1 });
  assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
  assert.deepEqual(await fs.readdir(path.dirname(file)), ['auth.json'], 'no temp file left');
});

test('login into a docker config.json (--authfile): docker\'s keys, an older entry replaced, a credsStore helper given the secret', async (t) => {
  const home = await tempDir(t);
  const file = path.join(home, '.docker', 'config.json');
  await write(file, { auths: { 'https://r.example/v1/': { auth: b64('old:old') }, 'keep.example': { auth: b64('k:k') } }, HttpHeaders: { 'X-Keep': '1' } });
  await storeCredentials(file, 'r.example', { username: 'me', password: 'pw' });
  await storeCredentials(file, 'docker.io', { username: 'hub', password: 'hubpw' });
  const doc = JSON.parse(await fs.readFile(file, 'utf8')) as { auths: Record<string, { auth?: string }>; HttpHeaders: unknown };
  assert.deepEqual(doc.auths, { 'keep.example': { auth: b64('k:k') }, 'r.example': { auth: b64('me:pw') }, 'https://index.docker.io/v1/': { auth: b64('hub:hubpw') } });
  assert.deepEqual(doc.HttpHeaders, { 'X-Keep': '1' });
  assert.deepEqual(await findCredentials('r.example', 'x', { authFile: file }), { username: 'me', password: 'pw' });
  assert.deepEqual(await findCredentials('docker.io', 'library/x', { authFile: file }), { username: 'hub', password: 'hubpw' });

  // With a credsStore, the secret goes to the helper and the file keeps an empty entry, as docker login does.
  const bin = path.join(home, 'bin');
  await fs.mkdir(bin);
  const kept = path.join(home, 'kept.json');
  await fs.writeFile(
    path.join(bin, 'docker-credential-ocipackstore'),
    `#!/bin/sh\nif [ "$1" = store ]; then cat > ${kept}; exit 0; fi\nread server\n[ -f ${kept} ] && sed 's/"ServerURL":"[^"]*",//' ${kept} && exit 0\necho "credentials not found"; exit 1\n`,
    { mode: 0o755 },
  );
  const saved = process.env.PATH;
  process.env.PATH = `${bin}:${saved}`;
  t.after(() => (process.env.PATH = saved));
  const stored = path.join(home, 'store', 'config.json');
  await write(stored, { credsStore: 'ocipackstore' });
  await storeCredentials(stored, 's.example', { username: 'alice', password: 'se:cret' });
  assert.deepEqual(JSON.parse(await fs.readFile(kept, 'utf8')), { ServerURL: 's.example', Username: 'alice', Secret: 'se:cret' });
  assert.deepEqual((JSON.parse(await fs.readFile(stored, 'utf8')) as { auths: unknown }).auths, { 's.example': {} });
  assert.deepEqual(await findCredentials('s.example', 'x', { authFile: stored }), { username: 'alice', password: 'se:cret' });
});
