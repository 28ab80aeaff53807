// WWW-Authenticate parsing and the Authorizer: basic headers, bearer tokens fetched per scope set and
// cached, refreshed after a 401, and the errors a refused or odd token service gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { Authorizer, parseChallenges, repositoryScope } from '../../src/registry/auth.js';
import type { HttpResponse } from '../../src/registry/http.js';

test('challenges: quoted values with commas and escapes, several schemes, several headers', () => {
  assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull,push' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="a \\"quoted\\" realm", Bearer realm=http://x/token , error=invalid_token'), [
    { scheme: 'basic', params: { realm: 'a "quoted" realm' } },
    { scheme: 'bearer', params: { realm: 'http://x/token', error: 'invalid_token' } },
  ]);
  assert.deepEqual(parseChallenges(['Basic realm="r"', 'Negotiate']), [
    { scheme: 'basic', params: { realm: 'r' } },
    { scheme: 'negotiate', params: {} },
  ]);
  assert.deepEqual(parseChallenges(undefined), []);
  assert.equal(repositoryScope('library/alpine', 'pull'), 'repository:library/alpine:pull');
});

function response(status: number, body: string): HttpResponse {
  return { status, headers: {}, body: Readable.from([Buffer.from(body)]) as unknown as IncomingMessage };
}

test('basic: the header carries the credentials; without credentials the error says how to give them', async () => {
  const a = new Authorizer('r.example', { username: 'u', password: 'p:w' }, () => Promise.reject(new Error('no token service here')));
  assert.equal(await a.header([]), undefined, 'anonymous until a challenge arrives');
  assert.ok(a.useChallenge('Basic realm="x"'));
  assert.equal(await a.header(['repository:x:pull']), `Basic ${Buffer.from('u:p:w').toString('base64')}`);
  const anon = new Authorizer('r.example', undefined, () => Promise.reject(new Error('unused')));
  anon.useChallenge('Basic realm="x"');
  await assert.rejects(anon.header([]), /r\.example: the registry asks for a user name and password; give --creds USER:PASS or run oci-pack login r\.example/);
});

test('bearer: one token per scope set, cached; token or access_token; a 401 forgets it', async () => {
  const asked: string[] = [];
  let n = 0;
  const a = new Authorizer('r.example', { username: 'u', password: 'p' }, async (method, url, headers) => {
    asked.push(`${method} ${url.search} ${headers.Authorization ?? ''}`);
    n++;
    return response(200, JSON.stringify(n % 2 ? { token: `t${n}` } : { access_token: `t${n}`, expires_in: 3600 }));
  });
  a.useChallenge('Bearer realm="https://auth.example/token",service="svc"');
  const scope = ['repository:a/b:pull'];
  assert.equal(await a.header(scope), 'Bearer t1');
  assert.equal(await a.header(scope), 'Bearer t1', 'cached');
  assert.equal(await a.header(['repository:a/b:pull,push', 'repository:c:pull']), 'Bearer t2');
  assert.equal(asked.length, 2);
  assert.equal(asked[0], `GET ?service=svc&scope=repository%3Aa%2Fb%3Apull Basic ${Buffer.from('u:p').toString('base64')}`);
  assert.equal(asked[1], 'GET ?service=svc&scope=repository%3Aa%2Fb%3Apull%2Cpush&scope=repository%3Ac%3Apull ' + `Basic ${Buffer.from('u:p').toString('base64')}`);
  a.refresh(scope, 'Bearer realm="https://auth.example/token",service="svc"');
  assert.equal(await a.header(scope), 'Bearer t3');
});

test('bearer: refused credentials, no realm, no token in the answer', async () => {
  const refused = new Authorizer('r.example', { username: 'u', password: 'bad' }, async () => response(401, '{"details":"incorrect username or password"}'));
  refused.useChallenge('Bearer realm="https://auth.example/token"');
  await assert.rejects(refused.header([]), (err: Error & { code?: string }) => {
    assert.equal(err.message, 'r.example: token service https://auth.example/token: the credentials of u were refused (HTTP 401: {"details":"incorrect username or password"})');
    assert.equal(err.code, 'EAUTH');
    return true;
  });
  const noRealm = new Authorizer('r.example', undefined, async () => response(200, '{}'));
  noRealm.useChallenge('Bearer service="x"');
  await assert.rejects(noRealm.header([]), /the bearer challenge names no realm/);
  const empty = new Authorizer('r.example', undefined, async () => response(200, '{"token":""}'));
  empty.useChallenge('Bearer realm="https://auth.example/token"');
  await assert.rejects(empty.header([]), /the answer holds no token/);
});

test('an identity token is exchanged by POST as an OAuth2 refresh token', async () => {
  let seen = '';
  const a = new Authorizer('r.example', { username: '', password: '', identityToken: 'refresh-me' }, async (method, _url, headers, body) => {
    seen = `${method} ${headers['Content-Type']} ${body?.toString()}`;
    return response(200, '{"access_token":"fresh"}');
  });
  a.useChallenge('Bearer realm="https://auth.example/token",service="svc"');
  assert.equal(await a.header(['repository:x:pull']), 'Bearer fresh');
  assert.equal(seen, 'POST application/x-www-form-urlencoded grant_type=refresh_token&client_id=oci-pack&refresh_token=refresh-me&service=svc&scope=repository%3Ax%3Apull');
});
