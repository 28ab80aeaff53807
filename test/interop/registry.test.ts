// push and pull against a real distribution registry (Debian's docker-registry 2.8) on 127.0.0.1:
// plain, htpasswd basic auth and bearer tokens; skopeo, docker and podman read what we push and we
// read what skopeo pushes; faults come from a proxy in front (500s, stalls, cuts, a killed registry).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { buildImage, Layout, MediaType, pullImage, pushImage, type PushEvent } from '../../src/index.js';
import { sha256 } from '../../src/digest.js';
import { canonicalJson } from '../../src/json.js';
import { BIN, CI, HELLO, HELLO_LINE, PODMAN_RUN, ROOT, cli, dockerRunning, execFileP, readJson, requireTool, run, runBin, snapshot, tempDir } from '../helpers.js';
import { forward, needRegistry, startProxy, startRegistry, type RegistryServer } from './registry-server.js';

const PREFIX = 'registry-test'; // repositories and local names carry the branch's name
const ORACLE = path.join(ROOT, '..', 'shared', 'oracle', 'check-layout');


async function helloLayout(t: TestContext, tag = 'hello:latest', extra?: { name: string; text: string }): Promise<string> {
  const dir = await tempDir(t, 'oci-pack-reg-layout-');
  const layers: Parameters<typeof buildImage>[0]['layers'] = [{ kind: 'add', src: HELLO, dest: '/hello' }];
  if (extra) {
    const file = path.join(dir, '..', `${path.basename(dir)}-${extra.name}`);
    await fs.writeFile(file, extra.text);
    t.after(() => fs.rm(file, { force: true }));
    layers.push({ kind: 'add', src: file, dest: `/${extra.name}` });
  }
  await buildImage({ layout: dir, layers, config: { cmd: ['/hello'] }, platform: { os: 'linux', architecture: 'amd64' }, tags: [tag], sourceDateEpoch: 0 });
  return dir;
}

async function topDigest(layout: string, ref: string): Promise<string> {
  const l = await Layout.open(layout);
  const found = await l.find(ref);
  assert.equal(found.length, 1, `${ref} in ${layout}`);
  return found[0]!.digest;
}

async function skopeoDigest(ref: string, extra: string[] = []): Promise<string> {
  return (await run('skopeo', ['inspect', '--tls-verify=false', ...extra, '--format', '{{.Digest}}', ref])).trim();
}

/** The executable run without blocking this process, which serves the token issuer. */
function runBinAsync(args: string[], opts: { env: NodeJS.ProcessEnv; input?: Buffer }): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...opts.env }, cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr }));
    child.stdin.end(opts.input ?? Buffer.alloc(0));
  });
}

function fast(): { retries: number; backoffMs: number } {
  return { retries: 3, backoffMs: 50 };
}

test('plain registry: skopeo, docker and podman read what oci-pack pushes; oci-pack reads what skopeo pushes', async (t) => {
  if (!needRegistry(t) || !requireTool(t, 'skopeo')) return;
  const reg = await startRegistry(t);
  const layout = await helloLayout(t);
  const digest = await topDigest(layout, 'hello:latest');
  const dest = `docker://${reg.host}/${PREFIX}/hello:v1`;

  await t.test('push by the CLI prints the name with its digest, and skopeo sees that digest', async () => {
    const r = await cli('push', layout, 'hello:latest', dest);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), `${reg.host}/${PREFIX}/hello:v1@${digest}`);
    assert.equal(r.stderr, '', 'progress only on a terminal');
    assert.equal(await skopeoDigest(dest), digest);
    const raw = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', dest]);
    const local = await fs.readFile(path.join(layout, 'blobs', 'sha256', digest.slice(7)), 'utf8');
    assert.equal(raw, local, 'the registry serves our manifest byte for byte');
  });

  await t.test('a second push sends no blob; a push to another repository mounts them', async () => {
    const events: PushEvent[] = [];
    const again = await pushImage({ layout, ref: 'hello:latest', dest, onEvent: (e) => events.push(e) });
    assert.deepEqual(again.blobs, { exists: 2, mounted: 0, pushed: 0 });
    const other = await pushImage({ layout, ref: digest, dest: `docker://${reg.host}/${PREFIX}/other:v1`, mountFrom: [`${PREFIX}/hello`] });
    assert.deepEqual(other.blobs, { exists: 0, mounted: 2, pushed: 0 });
    assert.equal(await skopeoDigest(`docker://${reg.host}/${PREFIX}/other:v1`), digest);
  });

  await t.test('skopeo copies it into an OCI layout with the same digest, which the oracle accepts', async (tt) => {
    const out = await tempDir(tt, 'oci-pack-reg-skopeo-');
    await run('skopeo', ['copy', '--src-tls-verify=false', dest, `oci:${out}:copied`]);
    assert.equal(await topDigest(out, 'copied'), digest);
  });

  await t.test('oci-pack pull writes a layout the oracle accepts, and a second pull fetches nothing', async (tt) => {
    const out = path.join(await tempDir(tt, 'oci-pack-reg-pull-'), 'layout');
    const r = await cli('pull', dest, out);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), `${digest} ${reg.host}/${PREFIX}/hello:v1`);
    assert.equal(await topDigest(out, `${reg.host}/${PREFIX}/hello:v1`), digest);
    if (existsSync(ORACLE)) await run(ORACLE, [out]);
    else if (CI) throw new Error(`${ORACLE} is missing`);
    const again = await pullImage({ ref: dest, layout: out, tag: 'second' });
    assert.deepEqual(again.blobs, { fetched: 0, present: 2 });
    // Pushed to another repository of the same registry: the pulled ref name says where to mount from.
    const mounted = await pushImage({ layout: out, ref: 'second', dest: `docker://${reg.host}/${PREFIX}/auto-mount:v1` });
    assert.deepEqual(mounted.blobs, { exists: 0, mounted: 2, pushed: 0 });
  });

  await t.test('docker pulls and runs it', async (tt) => {
    if (!requireTool(tt, 'docker', dockerRunning)) return;
    const name = `${reg.host}/${PREFIX}/hello:v1`;
    tt.after(() => run('docker', ['rmi', '-f', name]).catch(() => undefined));
    await run('docker', ['pull', '-q', name]);
    assert.equal((await run('docker', ['run', '--rm', '--network', 'none', name])).trim(), HELLO_LINE);
  });

  await t.test('podman pulls and runs it', async (tt) => {
    if (!requireTool(tt, 'podman')) return;
    const name = `${reg.host}/${PREFIX}/hello:v1`;
    tt.after(() => run('podman', ['rmi', '-f', name]).catch(() => undefined));
    await run('podman', ['pull', '-q', '--tls-verify=false', name]);
    assert.equal((await run('podman', [...PODMAN_RUN, name])).trim(), HELLO_LINE);
  });

  await t.test('what skopeo pushes (converted to docker v2), oci-pack pulls as OCI, config kept; --preserve-digests refuses it', async (tt) => {
    const theirs = `docker://${reg.host}/${PREFIX}/by-skopeo:v2s2`;
    await run('skopeo', ['copy', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${layout}:hello:latest`, theirs]);
    const raw = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', theirs]);
    const docker = JSON.parse(raw) as { mediaType: string; config: { digest: string }; layers: { digest: string }[] };
    assert.equal(docker.mediaType, MediaType.dockerManifest);
    const out = await tempDir(tt, 'oci-pack-reg-pull2-');
    // Refused with --preserve-digests: one line, exit status not 0, the layout as it was.
    const before = await snapshot(out);
    const refused = await cli('pull', '--preserve-digests', theirs, out, '--tag', 'theirs');
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, new RegExp(`${await skopeoDigest(theirs)} is a Docker v2 manifest; .*--preserve-digests refuses`));
    assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
    assert.deepEqual(await snapshot(out), before);
    // By default: an OCI layout holds OCI, as skopeo writes it; config and layers are the same blobs.
    const got = await pullImage({ ref: theirs, layout: out, tag: 'theirs' });
    assert.notEqual(got.digest, await skopeoDigest(theirs));
    assert.equal(got.mediaType, MediaType.manifest);
    assert.equal(await topDigest(out, 'theirs'), got.digest);
    const manifest = await readJson(path.join(out, 'blobs', 'sha256', got.digest.slice(7))) as { mediaType: string; config: { mediaType: string; digest: string }; layers: { mediaType: string; digest: string }[] };
    assert.equal(manifest.mediaType, MediaType.manifest);
    assert.deepEqual(manifest.config, { ...manifest.config, mediaType: MediaType.config, digest: docker.config.digest });
    assert.deepEqual(manifest.layers.map((l) => [l.mediaType, l.digest]), docker.layers.map((l) => [MediaType.layerGzip, l.digest]));
    assert.equal(got.blobs.fetched, 1 + docker.layers.length, 'configs and layers counted, the manifest not');
    // skopeo reads the pulled layout, and finds the config it pushed.
    assert.equal(sha256(await run('skopeo', ['inspect', '--config', '--raw', `oci:${out}:theirs`])), docker.config.digest);
    // And back out again: the registry gets the OCI manifest under a new name.
    const back = await pushImage({ layout: out, ref: 'theirs', dest: `docker://${reg.host}/${PREFIX}/roundtrip:v1` });
    assert.equal(back.digest, got.digest);
  });

  await t.test('an index goes up after its manifests and comes back whole (--all) or one platform', async (tt) => {
    const dir = await helloLayout(tt, 'amd');
    await buildImage({ layout: dir, layers: [{ kind: 'add', src: HELLO, dest: '/hello-arm' }], config: { cmd: ['/hello'] }, platform: { os: 'linux', architecture: 'arm64' }, tags: ['arm'], sourceDateEpoch: 0 });
    const l = await Layout.open(dir);
    const [amd] = await l.find('amd');
    const [arm] = await l.find('arm');
    const manifests = [
      { mediaType: amd!.mediaType, digest: amd!.digest, size: amd!.size, platform: { architecture: 'amd64', os: 'linux' } },
      { mediaType: arm!.mediaType, digest: arm!.digest, size: arm!.size, platform: { architecture: 'arm64', os: 'linux' } },
    ];
    const index = await l.store.putBytes(canonicalJson({ schemaVersion: 2, mediaType: MediaType.index, manifests }), { mediaType: MediaType.index });
    await l.addImage(index, ['multi']);
    const ref = `docker://${reg.host}/${PREFIX}/multi:v1`;
    const r = await cli('push', dir, 'multi', ref, '-q');
    assert.equal(r.status, 0, r.stderr);
    const raw = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', ref]);
    assert.equal(raw, (await l.store.read(index)).toString('utf8'));
    const armSeen = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', '--override-arch', 'arm64', ref])) as { Digest: string; Architecture: string };
    assert.equal(armSeen.Architecture, 'arm64');
    const copied = await tempDir(tt, 'oci-pack-reg-all-');
    await run('skopeo', ['copy', '--all', '--src-tls-verify=false', ref, `oci:${copied}:all`]);
    assert.equal(await topDigest(copied, 'all'), index.digest);

    const whole = await tempDir(tt, 'oci-pack-reg-whole-');
    const all = await pullImage({ ref, layout: whole, all: true });
    assert.equal(all.digest, index.digest);
    assert.equal(all.blobs.fetched, 4, 'two configs and two layers');
    // --no-tools: umoci 0.4.7 unpack, one of the oracle's consumers, refuses a tag that names an index
    // of several manifests ("tag is ambiguous"); skopeo above read the same index whole.
    if (existsSync(ORACLE)) await run(ORACLE, [whole, '--no-tools']);
    const one = await tempDir(tt, 'oci-pack-reg-one-');
    const r2 = await cli('pull', ref, one, '--platform', 'linux/arm64', '--tag', 'arm-only', '--json');
    assert.equal(r2.status, 0, r2.stderr);
    const result = JSON.parse(r2.stdout) as { digest: string; platform: { architecture: string } };
    assert.equal(result.digest, arm!.digest);
    assert.equal(result.platform.architecture, 'arm64');
    const idx = (await readJson(path.join(one, 'index.json'))) as { manifests: { digest: string; platform?: { architecture: string } }[] };
    assert.deepEqual(idx.manifests.map((m) => [m.digest, m.platform?.architecture]), [[arm!.digest, 'arm64']]);
  });

  await t.test('chunked upload (PATCH) of a larger layer', async (tt) => {
    const dir = await helloLayout(tt, 'big', { name: 'data', text: randomBytes(150_000).toString('base64') });
    const ref = `docker://${reg.host}/${PREFIX}/chunked:v1`;
    const res = await pushImage({ layout: dir, ref: 'big', dest: ref, chunkSize: 64 * 1024 });
    const m = JSON.parse((await (await Layout.open(dir)).store.read({ digest: res.digest as never, size: res.size })).toString()) as { layers: { size: number }[] };
    assert.ok(m.layers[1]!.size > 2 * 64 * 1024, 'the layer takes several chunks');
    assert.ok(res.blobs.pushed >= 2);
    assert.equal(await skopeoDigest(ref), res.digest);
    const out = await tempDir(tt, 'oci-pack-reg-chunk-');
    await run('skopeo', ['copy', '--src-tls-verify=false', ref, `oci:${out}:c`]);
    assert.equal(await topDigest(out, 'c'), res.digest);
  });

  await t.test('a name the registry lacks: exit 1, its MANIFEST_UNKNOWN in the message, no layout made', async (tt) => {
    const out = path.join(await tempDir(tt, 'oci-pack-reg-missing-'), 'layout');
    const r = await cli('pull', `docker://${reg.host}/${PREFIX}/nothing:here`, out);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^oci-pack: manifest .*nothing:here: the registry answered HTTP 404: MANIFEST_UNKNOWN/);
    assert.equal(existsSync(out), false);
    const p = await cli('push', layout, 'no-such-tag', dest);
    assert.equal(p.status, 1);
    assert.match(p.stderr, /no image named "no-such-tag"/);
  });
});

test('htpasswd basic auth: refused without credentials, --creds, login, docker config and a credential helper', async (t) => {
  if (!needRegistry(t) || !requireTool(t, 'skopeo')) return;
  const reg = await startRegistry(t, { auth: 'htpasswd', user: 'alice', password: 's3cret:pw' });
  const layout = await helloLayout(t);
  const dest = `docker://${reg.host}/${PREFIX}/basic:v1`;
  const home = await tempDir(t, 'oci-pack-reg-home-');
  const env = { HOME: home, XDG_RUNTIME_DIR: path.join(home, 'run'), REGISTRY_AUTH_FILE: '', DOCKER_CONFIG: path.join(home, 'docker') };

  const anon = runBin(['push', layout, 'hello:latest', dest], { env });
  assert.equal(anon.status, 1, anon.stderr);
  assert.match(anon.stderr, /oci-pack: .*asks for a user name and password; give --creds/);

  const wrong = runBin(['push', layout, 'hello:latest', dest, '--creds', 'alice:nope'], { env });
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /HTTP 401/);

  const ok = runBin(['push', layout, 'hello:latest', dest, '--creds', 'alice:s3cret:pw', '-q'], { env });
  assert.equal(ok.status, 0, ok.stderr);
  const digest = ok.stdout.trim().split('@')[1]!;
  assert.equal(await skopeoDigest(dest, ['--creds', 'alice:s3cret:pw']), digest);

  const badLogin = runBin(['login', reg.host, '-u', 'alice', '--password-stdin'], { env, input: Buffer.from('wrong\n') });
  assert.equal(badLogin.status, 1);
  const login = runBin(['login', reg.host, '-u', 'alice', '--password-stdin'], { env, input: Buffer.from('s3cret:pw\n') });
  assert.equal(login.status, 0, login.stderr);
  const authFile = path.join(home, 'run', 'containers', 'auth.json');
  const written = (await readJson(authFile)) as { auths: Record<string, { auth: string }> };
  assert.equal(Buffer.from(written.auths[reg.host]!.auth, 'base64').toString(), 'alice:s3cret:pw');
  assert.equal((await fs.stat(authFile)).mode & 0o777, 0o600);
  // podman reads the file oci-pack login wrote.
  assert.equal(await skopeoDigest(dest, ['--authfile', authFile]), digest);
  const pulled = runBin(['pull', dest, path.join(home, 'out')], { env });
  assert.equal(pulled.status, 0, pulled.stderr);

  // docker's config.json with a base64 auth, then a credential helper named by credHelpers.
  const dockerEnv = { ...env, XDG_RUNTIME_DIR: path.join(home, 'empty') };
  await fs.mkdir(path.join(home, 'docker'));
  await fs.writeFile(path.join(home, 'docker', 'config.json'), JSON.stringify({ auths: { [`http://${reg.host}/v1/`]: { auth: Buffer.from('alice:s3cret:pw').toString('base64') } } }));
  const viaDocker = runBin(['pull', dest, path.join(home, 'out2')], { env: dockerEnv });
  assert.equal(viaDocker.status, 0, viaDocker.stderr);
  const bin = path.join(home, 'bin');
  await fs.mkdir(bin);
  await fs.writeFile(path.join(bin, 'docker-credential-ocipacktest'), `#!/bin/sh\nread server\necho "$server" >> ${home}/helper.log\necho '{"ServerURL":"'$server'","Username":"alice","Secret":"s3cret:pw"}'\n`, { mode: 0o755 });
  await fs.writeFile(path.join(home, 'docker', 'config.json'), JSON.stringify({ credHelpers: { [reg.host]: 'ocipacktest' } }));
  const viaHelper = runBin(['pull', dest, path.join(home, 'out3')], { env: { ...dockerEnv, PATH: `${bin}:${process.env.PATH}` } });
  assert.equal(viaHelper.status, 0, viaHelper.stderr);
  assert.equal((await fs.readFile(path.join(home, 'helper.log'), 'utf8')).trim(), reg.host);

  // login --authfile into a docker config.json: docker itself pulls with what oci-pack wrote.
  if (!requireTool(t, 'docker', dockerRunning)) return;
  const dockerCfg = path.join(home, 'docker-login');
  const toDocker = runBin(['login', reg.host, '-u', 'alice', '--password-stdin', '--authfile', path.join(dockerCfg, 'config.json')], { env, input: Buffer.from('s3cret:pw\n') });
  assert.equal(toDocker.status, 0, toDocker.stderr);
  const name = `${reg.host}/${PREFIX}/basic:v1`;
  t.after(() => run('docker', ['rmi', '-f', name]).catch(() => undefined));
  const refused = await execFileP('docker', ['--config', path.join(home, 'empty-docker'), 'pull', '-q', name]).then(() => 'pulled', (err: Error) => err.message);
  assert.match(refused, /no basic auth credentials|unauthorized/, 'docker needs the credentials');
  await execFileP('docker', ['--config', dockerCfg, 'pull', '-q', name]);
});

test('bearer tokens from an issuer the registry trusts: scopes, cache, refusal', async (t) => {
  if (!needRegistry(t) || !requireTool(t, 'skopeo') || !requireTool(t, 'openssl')) return;
  const reg = await startRegistry(t, { auth: 'token', user: 'bob', password: 'tok-pw' });
  const layout = await helloLayout(t);
  const dest = `docker://${reg.host}/${PREFIX}/token:v1`;
  const pushed = await pushImage({ layout, ref: 'hello:latest', dest, creds: 'bob:tok-pw' });
  const pushScope = `scope=repository%3A${PREFIX}%2Ftoken%3Apull%2Cpush`;
  assert.equal(reg.tokenRequests.filter((q) => q.includes(pushScope)).length, 1, `one token for every request of the push: ${reg.tokenRequests.join(' ')}`);
  assert.equal(await skopeoDigest(dest, ['--creds', 'bob:tok-pw']), pushed.digest);

  const out = await tempDir(t, 'oci-pack-reg-token-');
  const got = await pullImage({ ref: dest, layout: out, creds: 'bob:tok-pw' });
  assert.equal(got.digest, pushed.digest);

  const before = await snapshot(out);
  const anon = await cli('pull', dest, out);
  assert.equal(anon.status, 1);
  assert.match(anon.stderr, /HTTP 401: UNAUTHORIZED/);
  const wrong = await cli('pull', dest, out, '--creds', 'bob:wrong');
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /token service http:\/\/127\.0\.0\.1:\d+\/token: the credentials of bob were refused \(HTTP 401/);
  assert.deepEqual(await snapshot(out), before);

  // login fetches a token with the credentials to check them; later pulls find them in the file.
  const authFile = path.join(out, '..', `${path.basename(out)}-auth.json`);
  t.after(() => fs.rm(authFile, { force: true }));
  const env = { REGISTRY_AUTH_FILE: authFile };
  const badLogin = await runBinAsync(['login', reg.host, '-u', 'bob', '--password-stdin'], { env, input: Buffer.from('nope\n') });
  assert.equal(badLogin.status, 1);
  assert.match(badLogin.stderr, /the credentials of bob were refused/);
  const login = await runBinAsync(['login', reg.host, '-u', 'bob', '--password-stdin', '--json'], { env, input: Buffer.from('tok-pw\n') });
  assert.equal(login.status, 0, login.stderr);
  assert.deepEqual(JSON.parse(login.stdout), { registry: reg.host, file: authFile });
  const again = await runBinAsync(['pull', dest, out, '--tag', 'via-login'], { env });
  assert.equal(again.status, 0, again.stderr);

  const theirs = `docker://${reg.host}/${PREFIX}/token-skopeo:v1`;
  await run('skopeo', ['copy', '--dest-creds', 'bob:tok-pw', '--dest-tls-verify=false', `oci:${layout}:hello:latest`, theirs]);
  const mounted = await pushImage({ layout, ref: 'hello:latest', dest: `docker://${reg.host}/${PREFIX}/token-mount:v1`, creds: 'bob:tok-pw', mountFrom: [`${PREFIX}/token`] });
  assert.deepEqual(mounted.blobs, { exists: 0, mounted: 2, pushed: 0 });
});

test('TLS: a registry with its own CA is trusted through --cert-dir, or with --tls-verify=false', async (t) => {
  if (!needRegistry(t) || !requireTool(t, 'skopeo') || !requireTool(t, 'openssl')) return;
  const reg = await startRegistry(t, { tls: true });
  const layout = await helloLayout(t);
  const dest = `docker://${reg.host}/${PREFIX}/tls:v1`;
  const untrusted = await cli('push', layout, 'hello:latest', dest);
  assert.equal(untrusted.status, 1);
  assert.match(untrusted.stderr, /^oci-pack: GET https:\/\/127\.0\.0\.1:\d+\/v2\/: self[- ]signed certificate \(the registry's certificate is not trusted: give --cert-dir with its CA, or --tls-verify=false\)\n$/);
  const certs = path.join(reg.dir, 'certs');
  const ok = await cli('push', layout, 'hello:latest', dest, '--cert-dir', certs, '-q');
  assert.equal(ok.status, 0, ok.stderr);
  const digest = ok.stdout.trim().split('@')[1]!;
  assert.equal((await run('skopeo', ['inspect', '--cert-dir', certs, '--format', '{{.Digest}}', dest])).trim(), digest);
  const out = await tempDir(t, 'oci-pack-reg-tls-');
  const pulled = await cli('pull', dest, out, '--tls-verify=false', '--json');
  assert.equal(pulled.status, 0, pulled.stderr);
  assert.equal((JSON.parse(pulled.stdout) as { digest: string }).digest, digest);
});

test('faults: a 500 on one blob, a stalled registry, a connection cut mid-blob, the registry killed mid-upload', async (t) => {
  if (!needRegistry(t) || !requireTool(t, 'skopeo')) return;
  const reg: RegistryServer = await startRegistry(t);
  const proxy = await startProxy(t, reg.port);
  const layout = await helloLayout(t, 'hello:latest', { name: 'payload', text: randomBytes(150_000).toString('base64') });
  const l = await Layout.open(layout);
  const manifest = JSON.parse((await l.store.read((await l.find('hello:latest'))[0]!)).toString()) as { layers: { digest: string }[] };
  const victim = manifest.layers[1]!.digest;
  const isVictimUpload = (url = ''): boolean => url.includes('/blobs/uploads/') && url.includes(`digest=${encodeURIComponent(victim)}`);

  await t.test('a 500 once is retried; a 500 every time names the blob and the registry answer', async () => {
    let failures = 0;
    proxy.decide = (req) => {
      if (req.method === 'PUT' && isVictimUpload(req.url) && failures < 1) {
        failures++;
        return { status: 500, body: '{"errors":[{"code":"UNKNOWN","message":"injected failure"}]}' };
      }
      return 'forward';
    };
    const ok = await pushImage({ layout, ref: 'hello:latest', dest: `docker://${proxy.host}/${PREFIX}/fault500:once`, ...fast() });
    assert.equal(failures, 1);
    assert.equal(await skopeoDigest(`docker://${reg.host}/${PREFIX}/fault500:once`), ok.digest);

    proxy.decide = (req) => (req.method === 'PUT' && isVictimUpload(req.url) ? { status: 500, body: '{"errors":[{"code":"UNKNOWN","message":"injected failure"}]}' } : 'forward');
    await assert.rejects(pushImage({ layout, ref: 'hello:latest', dest: `docker://${proxy.host}/${PREFIX}/fault500-always:v1`, ...fast() }), (err: Error) => {
      assert.match(err.message, new RegExp(`^push blob ${victim} at ${proxy.host}/${PREFIX}/fault500-always: the registry answered HTTP 500: UNKNOWN: injected failure$`));
      return true;
    });
    const manifestPut = proxy.seen.filter((s) => s.startsWith('PUT') && s.includes('/fault500-always/manifests/'));
    assert.deepEqual(manifestPut, [], 'no manifest after a failed blob');
  });

  await t.test('a stalled registry: a timeout that says so, and the layout as it was', async (tt) => {
    const out = await tempDir(tt, 'oci-pack-reg-slow-');
    await pullImage({ ref: `docker://${reg.host}/${PREFIX}/fault500:once`, layout: out, tag: 'before' });
    const before = await snapshot(out);
    proxy.decide = (req) => (req.url?.includes('/manifests/') ? 'hang' : 'forward');
    const started = Date.now();
    const r = await cli('pull', `docker://${proxy.host}/${PREFIX}/fault500:once`, out, '--timeout', '0.5', '--tag', 'after');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^oci-pack: GET http:\/\/127\.0\.0\.1:\d+\/v2\/registry-test\/fault500\/manifests\/once: the registry did not answer for 0\.5s \(timeout; raise it with --timeout\)\n$/);
    assert.ok(Date.now() - started < 20_000);
    assert.deepEqual(await snapshot(out), before);
  });

  await t.test('a connection cut in the middle of a blob: retried, or the layout left as it was', async (tt) => {
    let cuts = 0;
    proxy.decide = (req) => {
      if (req.method !== 'GET' || !req.url?.endsWith(`/blobs/${victim}`)) return 'forward';
      cuts++;
      return (creq, cres) =>
        forward(creq, cres, reg.port, (up) => {
          let sent = 0;
          up.on('data', (chunk: Buffer) => {
            sent += chunk.length;
            if (sent > 1000) cres.socket?.destroy();
          });
        });
    };
    const out = await tempDir(tt, 'oci-pack-reg-cut-');
    await pullImage({ ref: `docker://${reg.host}/${PREFIX}/fault500:once`, layout: out, tag: 'ok', platform: { os: 'linux', architecture: 'amd64' } });
    // Drop the big layer so the next pull has to fetch it through the cutting proxy.
    await fs.rm(path.join(out, 'blobs', 'sha256', victim.slice(7)));
    await fs.writeFile(path.join(out, 'index.json'), canonicalJson({ schemaVersion: 2, mediaType: MediaType.index, manifests: [] }));
    const before = await snapshot(out);
    await assert.rejects(pullImage({ ref: `docker://${proxy.host}/${PREFIX}/fault500:once`, layout: out, retries: 2, backoffMs: 20 }), (err: Error) => {
      assert.match(err.message, new RegExp(`^blob ${victim} at ${proxy.host}/${PREFIX}/fault500: GET http://.*: (connection reset|aborted|socket hang up|.*closed)`));
      return true;
    });
    assert.equal(cuts, 3, 'the first attempt and two retries');
    assert.deepEqual(await snapshot(out), before, 'nothing half-written');
  });

  await t.test('a chunked upload cut at its second chunk resumes where the registry stopped, not from byte 0', async () => {
    const victimSize = (JSON.parse((await l.store.read((await l.find('hello:latest'))[0]!)).toString()) as { layers: { size: number }[] }).layers[1]!.size;
    const chunkSize = 48 * 1024;
    assert.ok(victimSize > 2 * chunkSize, 'the layer takes three chunks or more');
    const ranges: string[] = [];
    let cut = false;
    proxy.decide = (req) => {
      if (req.method !== 'PATCH') return 'forward';
      const range = String(req.headers['content-range']);
      ranges.push(range);
      if (!cut && range.startsWith(`${chunkSize}-`)) {
        cut = true;
        return 'cut';
      }
      return 'forward';
    };
    // Only the big layer is larger than a chunk: the others go up in one PUT each.
    const res = await pushImage({ layout, ref: 'hello:latest', dest: `docker://${proxy.host}/${PREFIX}/resumed:v1`, chunkSize, ...fast() });
    assert.ok(cut);
    assert.deepEqual(ranges.filter((r) => r.startsWith('0-')), [`0-${chunkSize - 1}`], `the first chunk went once: ${ranges.join(' ')}`);
    assert.equal(ranges.filter((r) => r.startsWith(`${chunkSize}-`)).length, 2, 'the cut chunk, then the same chunk again');
    assert.equal(await skopeoDigest(`docker://${reg.host}/${PREFIX}/resumed:v1`), res.digest);
    proxy.decide = () => 'forward';
  });

  await t.test('the registry killed mid-upload and restarted: the push resumes from a new session', async () => {
    let killed = false;
    proxy.decide = (req) => {
      if (killed || req.method !== 'PUT' || !isVictimUpload(req.url)) return 'forward';
      killed = true;
      // The registry is killed while the upload's bytes flow into it, and comes back 300 ms later.
      return (creq, cres) => {
        creq.once('data', () => {
          void reg.kill().then(() => setTimeout(() => void reg.start(), 300));
        });
        forward(creq, cres, reg.port);
      };
    };
    const res = await pushImage({ layout, ref: 'hello:latest', dest: `docker://${proxy.host}/${PREFIX}/killed:v1`, retries: 5, backoffMs: 200 });
    assert.ok(killed);
    assert.equal(await skopeoDigest(`docker://${reg.host}/${PREFIX}/killed:v1`), res.digest);
  });

  await t.test('the registry killed mid-upload for good: the error names the blob', async () => {
    proxy.decide = (req) => {
      if (req.method !== 'PUT' || !isVictimUpload(req.url)) return 'forward';
      return (creq, cres) => {
        creq.once('data', () => void reg.kill());
        forward(creq, cres, reg.port);
      };
    };
    await assert.rejects(pushImage({ layout, ref: 'hello:latest', dest: `docker://${proxy.host}/${PREFIX}/killed-for-good:v1`, retries: 2, backoffMs: 50 }), (err: Error & { code?: string }) => {
      // The upload in flight, or another one the dead registry refused: each names its blob.
      assert.match(err.message, new RegExp(`^push blob sha256:[0-9a-f]{64} at ${proxy.host}/${PREFIX}/killed-for-good: (POST|PUT|HEAD) http://\\S+: (connection reset by the registry|socket hang up)$`));
      return true;
    });
    proxy.decide = () => 'forward';
    await reg.start();
  });

  await t.test('the registry killed for good: a clear error after the retries', async () => {
    await reg.kill();
    const r = await cli('push', layout, 'hello:latest', `docker://${reg.host}/${PREFIX}/gone:v1`, '--timeout', '2');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^oci-pack: GET http:\/\/127\.0\.0\.1:\d+\/v2\/: connection refused\n$/);
    await reg.start();
  });
});
