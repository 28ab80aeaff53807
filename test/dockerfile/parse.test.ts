// The Dockerfile lexer: directives, comments, continuations, flags, heredocs and the word splitters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonArray, parseDockerfile, splitBlanks, splitQuotedWords } from '../../src/dockerfile/parse.js';
import { UserError } from '../../src/errors.js';

const lines = (text: string) => parseDockerfile(text).lines.map((l) => [l.line, l.keyword, l.flags, l.rest]);

test('comments, blank lines and continuations: one instruction per logical line, numbered by its first line', () => {
  const text = [
    '# a comment',
    '',
    'FROM scratch',
    '  # indented comment',
    'ENV A=1 \\',
    '# a comment inside a continuation is skipped',
    '    B=2',
    'LABEL x=y \\   ',
    '  z=w',
    'copy a b',
  ].join('\n');
  assert.deepEqual(lines(text), [
    [3, 'from', [], 'scratch'],
    [5, 'env', [], 'A=1     B=2'],
    [8, 'label', [], 'x=y   z=w'],
    [10, 'copy', [], 'a b'],
  ]);
  assert.equal(parseDockerfile(text).lines[3]!.written, 'copy');
});

test('a BOM and CRLF line ends are read as docker reads them', () => {
  assert.deepEqual(lines('\uFEFFFROM scratch\r\nCMD ["x"]\r\n'), [[1, 'from', [], 'scratch'], [2, 'cmd', [], '["x"]']]);
});

test('the escape directive changes the continuation character; a backslash is then plain text', () => {
  const parsed = parseDockerfile('# escape=`\nFROM scratch\nCOPY C:\\src `\n  /dst\n');
  assert.equal(parsed.escape, '`');
  assert.deepEqual(parsed.lines.map((l) => l.rest), ['scratch', 'C:\\src   /dst']);
});

test('a directive after a comment, blank line or instruction is only a comment', () => {
  assert.equal(parseDockerfile('# hello\n# escape=`\nFROM scratch\n').escape, '\\');
  assert.equal(parseDockerfile('\n# escape=`\nFROM scratch\n').escape, '\\');
  assert.equal(parseDockerfile('# syntax=docker/dockerfile:1\n# escape=`\nFROM scratch\n').escape, '`');
});

test('bad directives are errors that name the line', () => {
  assert.throws(() => parseDockerfile('# escape=x\nFROM scratch\n'), (e: unknown) => e instanceof UserError && /^Dockerfile:1: invalid escape token 'x'/.test(e.message));
  assert.throws(() => parseDockerfile('# escape=`\n# escape=\\\nFROM scratch\n'), { message: 'Dockerfile:2: only one escape parser directive can be used' });
});

test('builder flags: leading --name=value words, quotes removed, -- ends them', () => {
  assert.deepEqual(lines('COPY --from=build --chown="1:2" --chmod=\'755\' a b\n'), [[1, 'copy', ['--from=build', '--chown=1:2', '--chmod=755'], 'a b']]);
  assert.deepEqual(lines('COPY -- --weird b\n'), [[1, 'copy', [], '--weird b']]);
  assert.deepEqual(lines('HEALTHCHECK --interval=5s CMD x --not-a-flag\n'), [[1, 'healthcheck', ['--interval=5s'], 'CMD x --not-a-flag']]);
});

test('heredocs: bodies follow the line, <<- strips tabs, a quoted delimiter turns expansion off', () => {
  const parsed = parseDockerfile(['FROM scratch', 'COPY <<EOF <<-\'TABS\' /dst/', 'line $A', '  kept', 'EOF', '\tindented', '\tTABS', 'CMD ["x"]'].join('\n'));
  const copy = parsed.lines[1]!;
  assert.equal(copy.line, 2);
  assert.deepEqual(copy.heredocs, [
    { name: 'EOF', content: 'line $A\n  kept\n', expand: true },
    { name: 'TABS', content: 'indented\n', expand: false },
  ]);
  assert.deepEqual(parsed.lines.map((l) => [l.line, l.keyword]), [[1, 'from'], [2, 'copy'], [8, 'cmd']]);
});

test('an unterminated heredoc is an error at its instruction\'s line', () => {
  assert.throws(() => parseDockerfile('FROM scratch\nCOPY <<EOF /x\nbody\n'), (e: unknown) => e instanceof UserError && e.message === 'Dockerfile:2: unterminated heredoc <<EOF: no line "EOF" ends it');
});

test('heredoc markers count only on RUN, COPY and ADD', () => {
  assert.deepEqual(parseDockerfile('FROM scratch\nLABEL a=<<EOF\nCMD ["x"]\n').lines.map((l) => l.keyword), ['from', 'label', 'cmd']);
});

test('an empty continuation line is skipped with a warning', () => {
  const parsed = parseDockerfile('FROM scratch\nENV A=1 \\\n\n  B=2\n');
  assert.deepEqual(parsed.lines.map((l) => l.rest), ['scratch', 'A=1   B=2']);
  assert.deepEqual(parsed.warnings, ['Dockerfile:2: empty continuation line']);
});

test('exec form: the first JSON value, if it is an array of strings', () => {
  assert.deepEqual(jsonArray('["a", "b c"]'), { ok: true, values: ['a', 'b c'] });
  assert.deepEqual(jsonArray('  ["a"] trailing'), { ok: true, values: ['a'] });
  assert.deepEqual(jsonArray('["a", 1]'), { ok: false, notStrings: true });
  assert.deepEqual(jsonArray("['a']"), { ok: false, notStrings: false });
  assert.deepEqual(jsonArray('echo [a]'), { ok: false, notStrings: false });
  assert.deepEqual(jsonArray('["unclosed"'), { ok: false, notStrings: false });
});

test('word splitters: quotes kept by the quoted one, nothing special in the blank one', () => {
  assert.deepEqual(splitQuotedWords('a="b c" d=\'e f\' g=h\\ i ""', '\\'), ['a="b c"', "d='e f'", 'g=h\\ i', '""']);
  assert.deepEqual(splitBlanks('  a\tb  "c d" '), ['a', 'b', '"c', 'd"']);
});
