// Variable substitution as docker's shell lexer does it (the cases follow the behaviour its
// envVarTest table pins), word splitting for EXPOSE, and the raw mode of heredoc bodies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExpandError, envLookup, expandWord, expandWords } from '../../src/dockerfile/expand.js';

const env = envLookup(['PWD=/home', 'SHELL=bash', 'KOREAN=한국어', 'EMPTY=']);
const ERROR = Symbol('error');

const CASES: Array<[string, string | typeof ERROR]> = [
  ['hello', 'hello'],
  ["he'll'o", 'hello'],
  ["he'llo", ERROR],
  ["he\\'llo", "he'llo"],
  ["he\\\\'llo", ERROR],
  ['abc\\tdef', 'abctdef'],
  ['"abc\\tdef"', 'abc\\tdef'],
  ['"abc\\\\tdef"', 'abc\\tdef'],
  ["'abc\\tdef'", 'abc\\tdef'],
  ['hello\\', 'hello'],
  ['hello\\\\', 'hello\\'],
  ['"hello', ERROR],
  ['"hello\\"', ERROR],
  ['"hel\'lo"', "hel'lo"],
  ["'hello\\'", 'hello\\'],
  ['"\'\'"', "''"],
  ['$.', '$.'],
  ['$1', ''],
  ['he$1x', 'hex'],
  ['he$pwd.', 'he.'],
  ['he$PWD', 'he/home'],
  ['he\\$PWD', 'he$PWD'],
  ['he\\\\$PWD', 'he\\/home'],
  ['"he\\$PWD"', 'he$PWD'],
  ['\\${}', '${}'],
  ['${}', ERROR],
  ['he${hi}xx', 'hexx'],
  ['he${PWD}', 'he/home'],
  ['he${.}', ERROR],
  ['he${XXX:-000}xx', 'he000xx'],
  ['he${PWD:-000}xx', 'he/homexx'],
  ['he${XXX:-${PWD:-yyy}}xx', 'he/homexx'],
  ['he${XXX:-${YYY:-yyy}}xx', 'heyyyxx'],
  ['he${XXX:YYY}', ERROR],
  ['he${PWD:+${SHELL}}xx', 'hebashxx'],
  ['he${XXX:+000}xx', 'hexx'],
  ['he${EMPTY:-e}', 'hee'],
  ['he${EMPTY:+e}', 'he'],
  ["'he${XX}'", 'he${XX}'],
  ['"he\'$PWD\'"', "he'/home'"],
  ["'\\$PWD'", '\\$PWD'],
  ['he${PWD', ERROR],
  ['he${PWD:=000}xx', ERROR],
  ['he${PWD:+${PWD}:}xx', 'he/home:xx'],
  ['he${XXX:-\\${PWD}z}xx', 'he${PWDz}xx'],
  ["안'녕'하세요", '안녕하세요'],
  ['안녕$KOREAN', '안녕한국어'],
  ['${aaa}}', '}'],
  ['${aaa:-bbb ${foo}', ERROR],
  ['${aaa:-bbb {foo}', 'bbb {foo'],
  ['${:-bbb}', ERROR],
  // The forms docker's newer lexer added: without the colon, set-but-empty counts as set.
  ['${EMPTY-x}', ''],
  ['${XXX-x}', 'x'],
  ['${EMPTY+x}', 'x'],
  ['${XXX+x}', ''],
  ['${PWD?}', '/home'],
  ['${XXX?gone}', ERROR],
  ['${EMPTY:?}', ERROR],
];

test('expandWord follows docker\'s lexer, case by case', () => {
  for (const [word, want] of CASES) {
    if (want === ERROR) {
      assert.throws(() => expandWord(word, '\\', env), ExpandError, `expected an error for ${word}`);
    } else {
      assert.equal(expandWord(word, '\\', env), want, word);
    }
  }
});

test('errors say what is wrong', () => {
  assert.throws(() => expandWord('"open', '\\', env), { message: 'unexpected end of statement while looking for matching double-quote' });
  assert.throws(() => expandWord("'open", '\\', env), { message: 'unexpected end of statement while looking for matching single-quote' });
  assert.throws(() => expandWord('${X', '\\', env), { message: "syntax error: missing '}'" });
  assert.throws(() => expandWord('${XXX?is required}', '\\', env), { message: 'XXX: is required' });
});

test('the escape directive\'s backtick escapes instead of the backslash', () => {
  assert.equal(expandWord('C:\\dir`$PWD', '`', env), 'C:\\dir$PWD');
  assert.equal(expandWord('"a`"b"', '`', env), 'a"b');
});

test('the first definition of a name wins, as docker looks environments up', () => {
  const lookup = envLookup(['A=env'], ['A=arg', 'B=arg']);
  assert.equal(expandWord('$A $B $C', '\\', lookup), 'env arg ');
});

test('expandWords splits at unquoted blanks, those that variables bring too (EXPOSE $PORTS)', () => {
  const lookup = envLookup(['PORTS=80 443/udp', 'ONE=8080']);
  assert.deepEqual(expandWords('$PORTS', '\\', lookup), ['80', '443/udp']);
  assert.deepEqual(expandWords('"$PORTS" $ONE', '\\', lookup), ['80 443/udp', '8080']);
  assert.deepEqual(expandWords('a\\ b c', '\\', lookup), ['a b', 'c']);
});

test('raw mode (heredoc bodies): variables expand, quotes and escapes stay as written', () => {
  const lookup = envLookup(['NAME=world']);
  assert.equal(expandWord('echo "hello $NAME" \'$NAME\' \\$NAME\n', '\\', lookup, { raw: true }), 'echo "hello world" \'world\' \\$NAME\n');
});

test('expanded words and ${...} nesting are bounded by a clear error, not by V8 running out', () => {
  const big = 'x'.repeat(600 * 1024);
  const lookup = envLookup([`A=${big}`]);
  assert.equal(expandWord('$A', '\\', lookup).length, big.length);
  assert.throws(() => expandWord('$A$A', '\\', lookup), (e: unknown) => e instanceof ExpandError && /expanded word is longer than 1048576 characters/.test(e.message));
  assert.throws(() => expandWord('"$A${A}"', '\\', lookup), /longer than 1048576/);
  const nested = (n: number) => `${'${X:-'.repeat(n)}v${'}'.repeat(n)}`;
  assert.equal(expandWord(nested(64), '\\', lookup), 'v');
  assert.throws(() => expandWord(nested(65), '\\', lookup), (e: unknown) => e instanceof ExpandError && /nested more than 64 deep/.test(e.message));
  // Deep enough to overflow the stack without the bound: still the same one-line error.
  assert.throws(() => expandWord(nested(200_000), '\\', lookup), /nested more than 64 deep/);
});
