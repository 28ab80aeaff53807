// Typed instructions and every syntax error found before a build starts, each with its line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readDockerfile, readTrigger } from '../../src/dockerfile/instructions.js';
import { UserError } from '../../src/errors.js';

const fails = (text: string, message: string | RegExp) =>
  assert.throws(
    () => readDockerfile(text),
    (e: unknown) => e instanceof UserError && (typeof message === 'string' ? e.message === message : message.test(e.message)),
    `expected ${String(message)}`,
  );

test('a Dockerfile becomes meta ARGs and stages of typed instructions', () => {
  const df = readDockerfile(
    [
      'ARG BASE=scratch',
      'FROM --platform=linux/arm64 ${BASE} AS Build',
      'ENV A=1 B="2 3"',
      'ENV OLD a value',
      'LABEL k=v',
      'COPY --from=x --chown=1:2 --chmod=644 a b /dst/',
      'COPY <<EOF /f',
      'hi',
      'EOF',
      'ADD ["a b", "/c d"]',
      'WORKDIR /app',
      'USER nobody',
      'EXPOSE 8080 80/udp 443',
      'VOLUME ["/a", "/b"]',
      'VOLUME /c /d',
      'CMD ["a", "b"]',
      'ENTRYPOINT exec me',
      'SHELL ["/bin/bash", "-c"]',
      'STOPSIGNAL SIGTERM',
      'HEALTHCHECK --interval=1m --timeout=5s --start-period=2s --start-interval=1s --retries=4 CMD curl x',
      'ONBUILD COPY . /app',
      'MAINTAINER me <m@x>',
      'RUN echo later',
      'FROM build',
    ].join('\n'),
  );
  assert.deepEqual(df.metaArgs, [{ kind: 'arg', line: 1, args: [{ key: 'BASE', value: 'scratch' }] }]);
  assert.equal(df.stages.length, 2);
  const [s0, s1] = df.stages;
  assert.deepEqual(s0!.from, { kind: 'from', line: 2, image: '${BASE}', name: 'build', platform: 'linux/arm64' });
  assert.deepEqual(s1!.from, { kind: 'from', line: 24, image: 'build' });
  const byKind = (k: string) => s0!.instructions.filter((i) => i.kind === k);
  assert.deepEqual(byKind('env'), [
    { kind: 'env', line: 3, pairs: [{ key: 'A', value: '1' }, { key: 'B', value: '"2 3"' }] },
    { kind: 'env', line: 4, pairs: [{ key: 'OLD', value: 'a value' }] },
  ]);
  assert.deepEqual(byKind('copy'), [
    { kind: 'copy', line: 6, sources: [{ kind: 'path', path: 'a' }, { kind: 'path', path: 'b' }], dest: '/dst/', from: 'x', chown: '1:2', chmod: '644' },
    { kind: 'copy', line: 7, sources: [{ kind: 'heredoc', heredoc: { name: 'EOF', content: 'hi\n', expand: true } }], dest: '/f' },
  ]);
  assert.deepEqual(byKind('add'), [{ kind: 'add', line: 10, sources: [{ kind: 'path', path: 'a b' }], dest: '/c d' }]);
  assert.deepEqual(byKind('expose'), [{ kind: 'expose', line: 13, values: ['443', '80/udp', '8080'] }], 'sorted, as docker sorts them');
  assert.deepEqual(byKind('volume').map((v) => (v as { values: string[] }).values), [['/a', '/b'], ['/c', '/d']]);
  assert.deepEqual(byKind('cmd'), [{ kind: 'cmd', line: 16, args: ['a', 'b'], shellForm: false }]);
  assert.deepEqual(byKind('entrypoint'), [{ kind: 'entrypoint', line: 17, args: ['exec me'], shellForm: true }]);
  assert.deepEqual(byKind('healthcheck'), [
    { kind: 'healthcheck', line: 20, health: { Test: ['CMD-SHELL', 'curl x'], Interval: 60e9, Timeout: 5e9, StartPeriod: 2e9, StartInterval: 1e9, Retries: 4 } },
  ]);
  assert.deepEqual(byKind('onbuild'), [{ kind: 'onbuild', line: 21, expression: 'COPY . /app' }]);
  assert.deepEqual(byKind('maintainer'), [{ kind: 'maintainer', line: 22, value: 'me <m@x>' }]);
  assert.deepEqual(byKind('run'), [{ kind: 'run', line: 23 }], 'RUN is refused by the build, not the parser');
});

test('HEALTHCHECK NONE and the exec form', () => {
  const df = readDockerfile('FROM scratch\nHEALTHCHECK NONE\nHEALTHCHECK CMD ["/bin/check", "-q"]\n');
  assert.deepEqual(df.stages[0]!.instructions.map((i) => (i as { health: unknown }).health), [{ Test: ['NONE'] }, { Test: ['CMD', '/bin/check', '-q'] }]);
});

test('structure errors name the line', () => {
  fails('', 'Dockerfile: no FROM instruction (the file has no instructions)');
  fails('# only a comment\nARG A\n', 'Dockerfile: no FROM instruction');
  fails('ENV A=1\nFROM scratch\n', 'Dockerfile:1: ENV before the first FROM: only ARG may come before it');
  fails('FROM scratch\nFROBNICATE x\n', 'Dockerfile:2: unknown instruction FROBNICATE');
  fails('FROM a b\n', 'Dockerfile:1: FROM takes an image and, optionally, AS NAME');
  fails('FROM a AS 1x\n', /^Dockerfile:1: invalid stage name "1x"/);
  fails('FROM a AS x\nFROM b AS X\n', 'Dockerfile:2: duplicate stage name "x"');
});

test('flag errors name the flag and what the instruction takes', () => {
  fails('FROM scratch\nCOPY --frm=x a b\n', 'Dockerfile:2: COPY: unknown flag --frm (COPY takes --from, --chown, --chmod, --link)');
  fails('FROM scratch\nADD --from=x a b\n', 'Dockerfile:2: ADD: unknown flag --from (ADD takes --chown, --chmod, --link)');
  fails('FROM scratch\nCOPY --chown a b\n', 'Dockerfile:2: COPY: missing a value on flag --chown (write --chown=VALUE)');
  fails('FROM scratch\nCOPY --from=a --from=b a b\n', 'Dockerfile:2: COPY: duplicate flag --from');
  fails('FROM scratch\nENV --x=1 A=1\n', 'Dockerfile:2: ENV: unknown flag --x (ENV takes no flags)');
  fails('FROM scratch\nCOPY --chmod=9 a b\n', 'Dockerfile:2: COPY --chmod=9: expected an octal mode such as 755 or 0644');
  fails('FROM scratch\nCOPY --link=maybe a b\n', 'Dockerfile:2: COPY --link=maybe: expected true or false');
  fails('FROM scratch\nADD --link --link a b\n', 'Dockerfile:2: ADD: duplicate flag --link');
});

test('argument errors name the line and the rule', () => {
  fails('FROM scratch\nCOPY onlyone\n', 'Dockerfile:2: COPY needs at least one source and a destination');
  fails('FROM scratch\nENV A\n', 'Dockerfile:2: ENV A: expected NAME=VALUE (or the old form NAME VALUE)');
  fails('FROM scratch\nENV A=1 B\n', 'Dockerfile:2: ENV: can\'t find = in "B"; expected NAME=VALUE');
  fails('FROM scratch\nLABEL =v\n', 'Dockerfile:2: LABEL: a name cannot be blank ("=v")');
  fails('FROM scratch\nSHELL /bin/sh -c\n', 'Dockerfile:2: SHELL requires the arguments in JSON form: SHELL ["executable", "parameters"]');
  fails('FROM scratch\nCMD ["a", 1]\n', 'Dockerfile:2: CMD: the JSON array must hold strings only');
  fails('FROM scratch\nWORKDIR\n', 'Dockerfile:2: WORKDIR needs an argument');
  fails('FROM scratch\nHEALTHCHECK WHAT x\n', 'Dockerfile:2: unknown type "WHAT" in HEALTHCHECK (try CMD)');
  fails('FROM scratch\nHEALTHCHECK --interval=5 CMD x\n', 'Dockerfile:2: HEALTHCHECK --interval=5: not a duration (e.g. 30s, 1m30s, 500ms)');
  fails('FROM scratch\nHEALTHCHECK --timeout=1ns CMD x\n', 'Dockerfile:2: HEALTHCHECK --timeout=1ns: cannot be less than 1ms');
  fails('FROM scratch\nHEALTHCHECK --retries=0 CMD x\n', 'Dockerfile:2: HEALTHCHECK --retries=0: must be at least 1');
  fails('FROM scratch\nHEALTHCHECK NONE x\n', 'Dockerfile:2: HEALTHCHECK NONE takes no arguments');
  fails('FROM scratch\nONBUILD ONBUILD COPY a b\n', 'Dockerfile:2: chaining ONBUILD via `ONBUILD ONBUILD` is not allowed');
  fails('FROM scratch\nONBUILD FROM x\n', 'Dockerfile:2: FROM is not allowed as an ONBUILD trigger');
  fails('FROM scratch\nONBUILD FROBNICATE\n', 'Dockerfile:2: unknown instruction FROBNICATE');
});

test('quoting and substitution errors are found before any build, with the line', () => {
  fails('FROM scratch\nENV A="unterminated\n', 'Dockerfile:2: ENV A: unexpected end of statement while looking for matching double-quote in "\\"unterminated"');
  fails("FROM scratch\nLABEL a='x\n", /^Dockerfile:2: LABEL a: unexpected end of statement while looking for matching single-quote/);
  fails('FROM scratch\nCOPY ${A a\n', /^Dockerfile:2: COPY: syntax error: missing '}'/);
  fails('FROM scratch\nWORKDIR ${:-x}\n', /^Dockerfile:2: WORKDIR: syntax error: bad substitution/);
  fails('FROM ${X:=y}\n', /^Dockerfile:1: FROM: unsupported modifier \(=\) in substitution/);
});

test('an ONBUILD trigger of a base parses as the one instruction it holds', () => {
  assert.deepEqual(readTrigger('COPY . /app', 'Dockerfile', 3), { kind: 'copy', line: 3, sources: [{ kind: 'path', path: '.' }], dest: '/app' });
  assert.equal(readTrigger('RUN make', 'Dockerfile', 3).kind, 'run');
});
