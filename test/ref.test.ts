import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkRefName,
  familiarName,
  fullName,
  isBareTag,
  parseDockerRef,
  repositoryName,
  withDefaultTag,
  type DockerRef,
} from '../src/ref.js';
import { assertUsage } from './helpers.js';
import { parseDigest } from '../src/digest.js';

const HEX = 'a'.repeat(32) + '0123456789abcdef'.repeat(2);
const DIGEST = parseDigest(`sha256:${HEX}`);

describe('checkRefName', () => {
  const good = [
    'hello',
    'hello:latest',
    'hello:scratch',
    'v1.0.2',
    'Latest',
    'a',
    '0',
    'docker.io/library/hello:1.0',
    'localhost:5000/foo:bar',
    'my--name',
    'a-b.c_d:e@f+g',
    'hello@sha256:abc',
    'a/b/c:d',
    'x'.repeat(300),
  ];
  for (const value of good) {
    it(`accepts ${JSON.stringify(value.length > 40 ? `${value.slice(0, 20)}...` : value)}`, () => {
      assert.doesNotThrow(() => checkRefName(value));
    });
  }

  it('refuses an empty name', () => {
    assertUsage(() => checkRefName(''), /^--tag: "": a ref name cannot be empty$/);
  });

  it('refuses characters outside the grammar, naming the character', () => {
    assertUsage(() => checkRefName('hello world'), /^--tag: "hello world": character " " is not allowed: only letters, digits and - \. _ : @ \+ \/ may appear$/);
    assertUsage(() => checkRefName('héllo'), /character "é" is not allowed/);
    assertUsage(() => checkRefName('a$b'), /character "\$" is not allowed/);
    assertUsage(() => checkRefName('a\\b'), /character "\\\\" is not allowed/);
  });

  it('refuses empty components between slashes', () => {
    for (const value of ['/hello', 'hello/', 'a//b']) {
      assertUsage(() => checkRefName(value), /'\/' must separate non-empty components/);
    }
  });

  it('refuses components that start or end with a separator', () => {
    assertUsage(() => checkRefName('-hello'), /component "-hello" must start and end with a letter or digit/);
    assertUsage(() => checkRefName('hello:'), /component "hello:" must start and end/);
    assertUsage(() => checkRefName('a/.b'), /component "\.b" must start and end/);
    assertUsage(() => checkRefName('a/b@'), /component "b@" must start and end/);
  });

  it('refuses doubled separators other than "--"', () => {
    assertUsage(() => checkRefName('a..b'), /"\.\." in "a\.\.b": separators stand alone between letters or digits \(only "--" may be doubled\)/);
    assertUsage(() => checkRefName('a---b'), /"---" in "a---b"/);
    assertUsage(() => checkRefName('a:-b'), /":-" in "a:-b"/);
    assertUsage(() => checkRefName('x/a__b'), /"__" in "a__b"/);
  });

  it('names the flag it is given', () => {
    assertUsage(() => checkRefName('', 'index.json manifests[2]'), /^index\.json manifests\[2\]: "": /);
  });
});

describe('isBareTag', () => {
  it('is true for one word with no ":" and no "/"', () => {
    for (const ref of ['latest', 'v1', 'hello', 'scratch', '1.0']) assert.equal(isBareTag(ref), true, ref);
  });
  it('is false for names with a repository, and for the empty string', () => {
    for (const ref of ['hello:latest', 'library/hello', 'localhost:5000/x', 'a/b', '']) assert.equal(isBareTag(ref), false, ref);
  });
});

describe('parseDockerRef', () => {
  const cases: Array<[string, DockerRef]> = [
    ['hello', { domain: 'docker.io', path: 'library/hello' }],
    ['hello:latest', { domain: 'docker.io', path: 'library/hello', tag: 'latest' }],
    ['hello:V1_x.y-z', { domain: 'docker.io', path: 'library/hello', tag: 'V1_x.y-z' }],
    ['foo:5000', { domain: 'docker.io', path: 'library/foo', tag: '5000' }],
    ['localhost:5000', { domain: 'docker.io', path: 'library/localhost', tag: '5000' }],
    ['localhost:5000/foo:bar', { domain: 'localhost:5000', path: 'foo', tag: 'bar' }],
    ['localhost/foo', { domain: 'localhost', path: 'foo' }],
    ['myorg/app:1', { domain: 'docker.io', path: 'myorg/app', tag: '1' }],
    ['a/b/c:d', { domain: 'docker.io', path: 'a/b/c', tag: 'd' }],
    ['docker.io/hello', { domain: 'docker.io', path: 'library/hello' }],
    ['docker.io/library/hello:1', { domain: 'docker.io', path: 'library/hello', tag: '1' }],
    ['index.docker.io/hello', { domain: 'docker.io', path: 'library/hello' }],
    ['index.docker.io/myorg/app', { domain: 'docker.io', path: 'myorg/app' }],
    ['ghcr.io/x/y:2', { domain: 'ghcr.io', path: 'x/y', tag: '2' }],
    ['quay.io/hello', { domain: 'quay.io', path: 'hello' }],
    ['registry.example.com:443/team/app/web:prod', { domain: 'registry.example.com:443', path: 'team/app/web', tag: 'prod' }],
    ['127.0.0.1:5000/x', { domain: '127.0.0.1:5000', path: 'x' }],
    ['[::1]:5000/x:y', { domain: '[::1]:5000', path: 'x', tag: 'y' }],
    ['example:5000/x', { domain: 'example:5000', path: 'x' }],
    ['Registry/x', { domain: 'Registry', path: 'x' }],
    ['my-reg.io/a.b/c__d/e---f:t', { domain: 'my-reg.io', path: 'a.b/c__d/e---f', tag: 't' }],
    [`hello@${DIGEST}`, { domain: 'docker.io', path: 'library/hello', digest: DIGEST }],
    [`hello:v1@${DIGEST}`, { domain: 'docker.io', path: 'library/hello', tag: 'v1', digest: DIGEST }],
    [`ghcr.io/x/y@${DIGEST}`, { domain: 'ghcr.io', path: 'x/y', digest: DIGEST }],
    [`hello:${'t'.repeat(128)}`, { domain: 'docker.io', path: 'library/hello', tag: 't'.repeat(128) }],
  ];
  for (const [text, expected] of cases) {
    it(`parses ${text.length > 60 ? `${text.slice(0, 40)}...` : text}`, () => {
      assert.deepEqual(parseDockerRef(text, '--tag'), expected);
    });
  }

  // Vectors from distribution/reference normalize_test.go (TestValidateReferenceName, TestValidateRemoteName).
  it('accepts the names distribution/reference accepts', () => {
    const valid = [
      'docker/docker', 'library/debian', 'debian', 'docker.io/docker/docker', 'docker.io/library/debian',
      'docker.io/debian', 'index.docker.io/docker/docker', 'index.docker.io/library/debian', 'index.docker.io/debian',
      '127.0.0.1:5000/docker/docker', '127.0.0.1:5000/library/debian', '127.0.0.1:5000/debian', '192.168.0.1',
      '192.168.0.1:80', '192.168.0.1:8/debian', '192.168.0.2:25000/debian',
      'thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev', '[fc00::1]:5000/docker',
      '[fc00::1]:5000/docker/docker', '[fc00:1:2:3:4:5:6:7]:5000/library/debian',
      `docker.io/${'1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a'}`, 'Docker/docker', 'DOCKER/docker',
      'docker-rules/docker', 'docker---rules/docker', 'doc/docker', 'd/docker', 'jess/t', 'dock__er/docker',
      'test_com/foo', 'xn--n3h.com:18080/foo',
    ];
    for (const name of valid) assert.doesNotThrow(() => parseDockerRef(name, '--tag'), name);
  });

  it('refuses the names distribution/reference refuses', () => {
    const invalid = [
      'https://github.com/docker/docker', 'docker/Docker', '-docker', '-docker/docker', '-docker.io/docker/docker',
      'docker///docker', 'docker.io/docker/Docker', 'docker.io/docker///docker', '[fc00::1]', '[fc00::1]:5000',
      'fc00::1:5000/debian', '[fe80::1%eth0]:5000/debian', '[2001:db8:3:4::192.0.2.33]:5000/debian',
      '1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', 'docker-/docker', '-docker-/docker',
      '____/____', '_docker/_docker', 'dock..er/docker', 'dock_.er/docker', 'dock-.er/docker', 'docker/',
      `${'this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_'.repeat(4)}/docker`,
    ];
    for (const name of invalid) assertUsage(() => parseDockerRef(name, '--tag'), /^--tag: /);
  });

  it('splits domain and path as distribution/reference does', () => {
    const split: Array<[string, string, string]> = [
      ['test.com/foo', 'test.com', 'foo'],
      ['test_com/foo', 'docker.io', 'test_com/foo'],
      ['docker/migrator', 'docker.io', 'docker/migrator'],
      ['test.com:8080/foo', 'test.com:8080', 'foo'],
      ['test-com:8080/foo', 'test-com:8080', 'foo'],
      ['foo', 'docker.io', 'library/foo'],
      ['xn--n3h.com/foo', 'xn--n3h.com', 'foo'],
      ['docker.io/foo', 'docker.io', 'library/foo'],
      ['docker.io/library/foo/bar', 'docker.io', 'library/foo/bar'],
      ['Foo/bar', 'Foo', 'bar'],
      ['FOO/bar', 'FOO', 'bar'],
      ['other/library', 'docker.io', 'other/library'],
      ['store/foo/bar', 'docker.io', 'store/foo/bar'],
    ];
    for (const [input, domain, path] of split) {
      assert.deepEqual(parseDockerRef(input, '--tag'), { domain, path }, input);
    }
  });

  it('accepts a repository path of 255 characters and refuses 256', () => {
    const path255 = `a/${'b'.repeat(253)}`;
    assert.equal(parseDockerRef(path255, '--tag').path, path255);
    assertUsage(() => parseDockerRef(`a/${'b'.repeat(254)}`, '--tag'), /the repository name is 256 characters long, more than 255/);
  });

  it('refuses uppercase in the repository name, as docker does', () => {
    assertUsage(() => parseDockerRef('Foo:1', '--tag'), /^--tag: "Foo:1": the repository name "library\/Foo" must be lowercase$/);
    assertUsage(() => parseDockerRef('myorg/App', '--tag'), /the repository name "myorg\/App" must be lowercase/);
    assertUsage(() => parseDockerRef('ghcr.io/X/y', '--tag'), /the repository name "X\/y" must be lowercase/);
    assertUsage(() => parseDockerRef(`Hello@${DIGEST}`, '--tag'), /must be lowercase/);
  });

  it('refuses a bad tag, saying why', () => {
    assertUsage(() => parseDockerRef(`hello:${'t'.repeat(129)}`, '--tag'), /the tag is 129 characters long, more than 128$/);
    assertUsage(() => parseDockerRef('hello:', '--tag'), /the tag after ':' is empty/);
    assertUsage(() => parseDockerRef('hello:-x', '--tag'), /the tag "-x" may only hold letters, digits, '_', '\.' and '-', and cannot start with '\.' or '-'/);
    assertUsage(() => parseDockerRef('hello:.x', '--tag'), /the tag "\.x" may only hold/);
    assertUsage(() => parseDockerRef('hello:a:b', '--tag'), /the tag "a:b" may only hold/);
    assertUsage(() => parseDockerRef('a/b:c/d', '--tag'), /the tag "c\/d" may only hold/);
    assertUsage(() => parseDockerRef('hello:tést', '--tag'), /the tag "tést" may only hold/);
  });

  it('refuses a bad repository path, saying which component', () => {
    assertUsage(() => parseDockerRef('a//b', '--tag'), /the repository name "a\/\/b" has an empty component/);
    assertUsage(() => parseDockerRef('hello/', '--tag'), /has an empty component/);
    assertUsage(() => parseDockerRef('-hello', '--tag'), /the repository name component "-hello" must be lowercase letters and digits/);
    assertUsage(() => parseDockerRef('a..b', '--tag'), /component "a\.\.b"/);
    assertUsage(() => parseDockerRef('a___b', '--tag'), /component "a___b"/);
    assertUsage(() => parseDockerRef('a b', '--tag'), /component "a b"/);
    assertUsage(() => parseDockerRef('localhost:5000/', '--tag'), /has an empty component/);
  });

  it('refuses a bad registry domain', () => {
    assertUsage(() => parseDockerRef('my_host.com/x', '--tag'), /the registry "my_host\.com" is not a host name/);
    assertUsage(() => parseDockerRef('-bad.io/x', '--tag'), /the registry "-bad\.io"/);
    assertUsage(() => parseDockerRef('host.io:port/x', '--tag'), /the registry "host\.io:port"/);
  });

  it('refuses a digest that is not sha256 with 64 lowercase hex digits', () => {
    assertUsage(() => parseDockerRef(`hello@sha512:${HEX}${HEX}`, '--tag'), /the digest "sha512:.*" is not a sha256 one, the only kind supported/);
    assertUsage(() => parseDockerRef(`hello@sha256:${HEX.toUpperCase()}`, '--tag'), /is not sha256: followed by 64 lowercase hex digits/);
    assertUsage(() => parseDockerRef('hello@sha256:abc', '--tag'), /is not sha256: followed by 64/);
    assertUsage(() => parseDockerRef('hello@', '--tag'), /the digest "" is not sha256/);
    assertUsage(() => parseDockerRef(`hello@${DIGEST}@x`, '--tag'), /the digest ".*@x" is not sha256/);
  });

  it('refuses an empty reference and a bare image ID', () => {
    assertUsage(() => parseDockerRef('', '--name'), /^--name: "": an image reference cannot be empty$/);
    assertUsage(() => parseDockerRef(HEX, '--tag'), /a 64-hex-digit image ID cannot be used as a repository name/);
  });
});

describe('withDefaultTag', () => {
  it('adds latest only when there is neither tag nor digest', () => {
    assert.deepEqual(withDefaultTag(parseDockerRef('hello', 'x')), { domain: 'docker.io', path: 'library/hello', tag: 'latest' });
    assert.deepEqual(withDefaultTag(parseDockerRef('hello:1', 'x')).tag, '1');
    const digested = withDefaultTag(parseDockerRef(`hello@${DIGEST}`, 'x'));
    assert.equal(digested.tag, undefined);
    assert.equal(digested.digest, DIGEST);
  });

  it('leaves its argument unchanged', () => {
    const ref = parseDockerRef('hello', 'x');
    withDefaultTag(ref);
    assert.equal(ref.tag, undefined);
  });
});

describe('names', () => {
  const cases: Array<[string, string, string, string, string]> = [
    // input, familiarName, fullName, familiar repository, full repository
    ['hello', 'hello:latest', 'docker.io/library/hello:latest', 'hello', 'docker.io/library/hello'],
    ['docker.io/library/hello:1', 'hello:1', 'docker.io/library/hello:1', 'hello', 'docker.io/library/hello'],
    ['index.docker.io/hello', 'hello:latest', 'docker.io/library/hello:latest', 'hello', 'docker.io/library/hello'],
    ['myorg/app:1', 'myorg/app:1', 'docker.io/myorg/app:1', 'myorg/app', 'docker.io/myorg/app'],
    ['library/a/b', 'library/a/b:latest', 'docker.io/library/a/b:latest', 'library/a/b', 'docker.io/library/a/b'],
    ['ghcr.io/x/y:2', 'ghcr.io/x/y:2', 'ghcr.io/x/y:2', 'ghcr.io/x/y', 'ghcr.io/x/y'],
    ['Foo/bar', 'Foo/bar:latest', 'Foo/bar:latest', 'Foo/bar', 'Foo/bar'],
    ['ubuntu-12.04-base', 'ubuntu-12.04-base:latest', 'docker.io/library/ubuntu-12.04-base:latest', 'ubuntu-12.04-base', 'docker.io/library/ubuntu-12.04-base'],
    ['ghcr.io/library/y', 'ghcr.io/library/y:latest', 'ghcr.io/library/y:latest', 'ghcr.io/library/y', 'ghcr.io/library/y'],
    ['localhost:5000/foo:bar', 'localhost:5000/foo:bar', 'localhost:5000/foo:bar', 'localhost:5000/foo', 'localhost:5000/foo'],
    ['foo:5000', 'foo:5000', 'docker.io/library/foo:5000', 'foo', 'docker.io/library/foo'],
    [`hello:v1@${DIGEST}`, `hello:v1@${DIGEST}`, `docker.io/library/hello:v1@${DIGEST}`, 'hello', 'docker.io/library/hello'],
  ];
  for (const [input, familiar, full, familiarRepo, fullRepo] of cases) {
    it(`names ${input.length > 40 ? `${input.slice(0, 30)}...` : input}`, () => {
      const ref = withDefaultTag(parseDockerRef(input, '--tag'));
      assert.equal(familiarName(ref), familiar);
      assert.equal(fullName(ref), full);
      assert.equal(repositoryName(ref, true), familiarRepo);
      assert.equal(repositoryName(ref, false), fullRepo);
    });
  }

  it('gives names that parse back to the same reference', () => {
    for (const [input] of cases) {
      const ref = withDefaultTag(parseDockerRef(input, '--tag'));
      assert.deepEqual(parseDockerRef(familiarName(ref), 'familiar'), ref);
      assert.deepEqual(parseDockerRef(fullName(ref), 'full'), ref);
    }
  });

  it('shows a digest without a tag, and no suffix for a bare repository', () => {
    const ref = parseDockerRef(`hello@${DIGEST}`, '--tag');
    assert.equal(familiarName(ref), `hello@${DIGEST}`);
    assert.equal(familiarName(parseDockerRef('myorg/app', '--tag')), 'myorg/app');
    assert.equal(fullName(parseDockerRef('myorg/app', '--tag')), 'docker.io/myorg/app');
  });
});
