import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { parseCommand, splitWords } from '../src/words.js';
import { UserError } from '../src/errors.js';

/** Assert that fn throws a usage error whose message matches `pattern`. */
function assertUsage(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.equal(err.code, 'EUSAGE');
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'), 'a user error is one line');
    return true;
  });
}

describe('splitWords', () => {
  // An unquoted newline ends a command in a shell; a flag holds one command, so here it is a blank.
  const newlineIsBlank: Array<[string, string[]]> = [
    ['   \t\n ', []],
    ['  a   b\tc\nd  ', ['a', 'b', 'c', 'd']],
  ];
  // A shell would expand these; with no shell they reach the program as written.
  const expansionsStayLiteral: Array<[string, string[]]> = [
    ['$HOME ~ *.txt ${X:-y} `id` "$(id)"', ['$HOME', '~', '*.txt', '${X:-y}', '`id`', '$(id)']],
  ];
  // Cases where /bin/sh gives the same words (checked below).
  const cases: Array<[string, string[]]> = [
    ['', []],
    ['/hello', ['/hello']],
    ['node main.js', ['node', 'main.js']],
    ['  a   b\tc d  ', ['a', 'b', 'c', 'd']],
    ["'a b'", ['a b']],
    ["echo 'it''s'", ['echo', 'its']],
    ["'\\n' '\"' '$HOME'", ['\\n', '"', '$HOME']],
    ['"a b"', ['a b']],
    ['"a \\" b"', ['a " b']],
    ['"\\$x \\` \\\\ \\a \\n"', ['$x ` \\ \\a \\n']],
    ['"one\\\ntwo"', ['onetwo']],
    ['"line\nbreak"', ['line\nbreak']],
    ["\"'single' inside\"", ["'single' inside"]],
    ['a\\ b', ['a b']],
    ['\\"quoted\\"', ['"quoted"']],
    ["\\'", ["'"]],
    ['\\\\', ['\\']],
    ['a\\\nb', ['ab']],
    ['a \\\n b', ['a', 'b']],
    ['\\\n', []],
    ["''", ['']],
    ['""', ['']],
    ["a '' b", ['a', '', 'b']],
    ['a "" b ""', ['a', '', 'b', '']],
    ["a''b", ['ab']],
    ['pre"mid dle"post', ['premid dlepost']],
    ["x'y'\"z\"\\w", ['xyzw']],
    ['a#b c#', ['a#b', 'c#']],
    ["'#' \"#\" \\#", ['#', '#', '#']],
    ["'a;b' \"c|d\" \\& '<' \\> \"()\"", ['a;b', 'c|d', '&', '<', '>', '()']],
    ['--flag=value -x', ['--flag=value', '-x']],
    ['héllo wörld ✓', ['héllo', 'wörld', '✓']],
    ['a\rb', ['a\rb']],
  ];
  for (const [text, expected] of [...cases, ...newlineIsBlank, ...expansionsStayLiteral]) {
    it(`splits ${JSON.stringify(text)}`, () => {
      assert.deepEqual(splitWords(text, '--cmd'), expected);
    });
  }

  it('splits as /bin/sh does, for text with no expansion', () => {
    for (const [text] of cases) {
      const script = `set -- ${text}\nexec "$0" -e 'process.stdout.write(JSON.stringify(process.argv.slice(1)))' -- "$@"`;
      const run = spawnSync('/bin/sh', ['-c', script, process.execPath], { encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(splitWords(text, '--cmd'), JSON.parse(run.stdout), `for ${JSON.stringify(text)}`);
    }
  });

  it('refuses an unterminated single quote, naming the flag and where it opened', () => {
    assertUsage(() => splitWords("echo 'oops", '--cmd'), /^--cmd: unterminated single quote opened at character 6$/);
  });

  it('refuses an unterminated double quote, even one ending in an escaped quote', () => {
    assertUsage(() => splitWords('a "b c', '--entrypoint'), /^--entrypoint: unterminated double quote opened at character 3$/);
    assertUsage(() => splitWords('"abc\\"', '--cmd'), /^--cmd: unterminated double quote/);
  });

  it('refuses a trailing backslash', () => {
    assertUsage(() => splitWords('abc\\', '--cmd'), /^--cmd: unterminated escape/);
    assertUsage(() => splitWords('\\', '--cmd'), /^--cmd: unterminated escape/);
  });

  it('refuses unquoted shell operators, saying to quote them or use a shell', () => {
    for (const op of ['|', '&', ';', '<', '>', '(', ')']) {
      assertUsage(
        () => splitWords(`echo a${op}b`, '--cmd'),
        new RegExp(`^--cmd: unquoted '\\${op}' at character 7 is shell syntax, and no shell runs this command: .*\\["/bin/sh", "-c"`),
      );
    }
    assertUsage(() => splitWords('echo $(id)', '--cmd'), /^--cmd: unquoted '\(' at character 7 is shell syntax/);
  });

  it('refuses a comment, where # starts a word', () => {
    assertUsage(() => splitWords('app # note', '--cmd'), /^--cmd: unquoted '#' at character 5 starts a comment/);
    assertUsage(() => splitWords('#x', '--cmd'), /character 1 starts a comment/);
  });

  it('refuses a NUL character, which no argument can hold', () => {
    assertUsage(() => splitWords('a b\0c', '--cmd'), /^--cmd: word 2 holds a NUL character/);
  });
});

describe('parseCommand', () => {
  it('reads a JSON array of strings', () => {
    assert.deepEqual(parseCommand('["/hello", "--name", "a b"]', '--cmd'), ['/hello', '--name', 'a b']);
    assert.deepEqual(parseCommand('  ["x"]  ', '--cmd'), ['x']);
    assert.deepEqual(parseCommand('["", "$HOME", "\\u00e9"]', '--cmd'), ['', '$HOME', 'é']);
  });

  it('gives [] for an empty value, an empty array and blanks: the field is set empty', () => {
    assert.deepEqual(parseCommand('', '--entrypoint'), []);
    assert.deepEqual(parseCommand('[]', '--entrypoint'), []);
    assert.deepEqual(parseCommand('  ', '--entrypoint'), []);
  });

  it('splits anything else into words', () => {
    assert.deepEqual(parseCommand('node main.js', '--cmd'), ['node', 'main.js']);
    assert.deepEqual(parseCommand("sh -c 'echo [x]'", '--cmd'), ['sh', '-c', 'echo [x]']);
    assert.deepEqual(parseCommand('x [1]', '--cmd'), ['x', '[1]']);
  });

  it('refuses text that starts with [ but is not JSON, naming the flag and why', () => {
    assertUsage(() => parseCommand('[/hello]', '--cmd'), /^--cmd: starts with '\[' but is not a JSON array of strings: .+/);
    assertUsage(() => parseCommand("['/hello']", '--entrypoint'), /^--entrypoint: starts with '\['/);
    assertUsage(() => parseCommand('["a",]', '--cmd'), /not a JSON array/);
    assertUsage(() => parseCommand('["a"] x', '--cmd'), /not a JSON array/);
    assertUsage(() => parseCommand('[\n  "a",\n  /x\n]', '--cmd'), /^--cmd: starts with '\[' but is not a JSON array of strings: [^\n]+$/);
  });

  it('refuses a JSON array holding anything but strings, naming the element', () => {
    assertUsage(() => parseCommand('["a", 1]', '--cmd'), /^--cmd: element \[1\] of the JSON array is a number, not a string$/);
    assertUsage(() => parseCommand('[null]', '--cmd'), /element \[0\] of the JSON array is null/);
    assertUsage(() => parseCommand('[["a"]]', '--cmd'), /element \[0\] of the JSON array is an array/);
    assertUsage(() => parseCommand('["a", {"b": 1}]', '--cmd'), /element \[1\] of the JSON array is an object/);
    assertUsage(() => parseCommand('[true]', '--cmd'), /is a boolean/);
  });

  it('refuses a NUL character in a JSON element', () => {
    assertUsage(() => parseCommand('["a\\u0000b"]', '--cmd'), /NUL/);
  });
});
