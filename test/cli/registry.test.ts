// The push, pull and login commands' grammar: usage errors exit 2 with one line, before any
// network traffic or change to a layout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { cli, snapshot, tempDir } from '../helpers.js';

test('push, pull and login refuse malformed arguments with exit 2', async (t) => {
  const dir = await tempDir(t);
  const before = await snapshot(dir);
  const cases: [string[], RegExp][] = [
    [['push', dir, 'hello:latest', 'localhost:5000/x:y'], /the destination must be docker:\/\/HOST\/REPO\[:TAG\]/],
    [['push', dir, 'hello:latest', 'docker://localhost:5000/X:y'], /destination: "localhost:5000\/X:y": the repository name "X" must be lowercase/],
    [['push', dir, 'hello:latest', 'docker://localhost:5000/x:y', '--concurrency', '0'], /--concurrency 0: expected 1 or more/],
    [['push', dir, 'hello:latest', 'docker://localhost:5000/x:y', '--chunk-size', '-1'], /--chunk-size -1: expected a number of bytes/],
    [['pull', 'oci:x', dir], /the source must be docker:\/\/HOST\/REPO\[:TAG\]/],
    [['pull', 'docker://localhost:5000/x:y', dir, '--all', '--platform', 'linux/amd64'], /--all and --platform: give one/],
    [['pull', 'docker://localhost:5000/x:y', dir, '--tag', 'bad tag'], /--tag: "bad tag": character " " is not allowed/],
    [['pull', 'docker://localhost:5000/x:y', dir, '--timeout', '0'], /--timeout 0: expected a positive number of seconds/],
    [['pull', 'docker://localhost:5000/x:y', dir, '--creds', 'nocolon'], /--creds: expected USER:PASSWORD/],
    [['login', 'localhost:5000', '-u', 'me'], /a password is needed: --password-stdin \(or -p\)/],
    [['login', 'localhost:5000', '-u', 'me', '-p', 'x', '--password-stdin'], /--password and --password-stdin: give one/],
    [['login', 'localhost:5000', '-u', 'a:b', '-p', 'x'], /--username: must be non-empty and hold no ":"/],
  ];
  for (const [argv, pattern] of cases) {
    const r = await cli(...argv);
    assert.equal(r.status, 2, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern, argv.join(' '));
    assert.equal(r.stderr.split('\n').length, 2, 'one line');
  }
  assert.deepEqual(await snapshot(dir), before);
});

test('push from a directory that is not a layout names it, exit 1', async (t) => {
  const dir = await tempDir(t);
  const r = await cli('push', path.join(dir, 'none'), 'hello:latest', 'docker://localhost:1/x:y');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^oci-pack: .*none: not an OCI layout \(no oci-layout file\)\n$/);
});
