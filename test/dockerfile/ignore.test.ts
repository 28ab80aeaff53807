// .dockerignore patterns with patternmatcher's rules: parsing, '*' and '**', exceptions, parents.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IgnoreMatcher } from '../../src/dockerfile/ignore.js';
import { UserError } from '../../src/errors.js';

const ignored = (patterns: string, paths: string[]) => {
  const m = IgnoreMatcher.parse(patterns);
  return paths.filter((p) => m.matches(p));
};

test('* stays in one directory, ** crosses them, ? is one character', () => {
  assert.deepEqual(ignored('*.log\n', ['a.log', 'sub/a.log', 'a.txt']), ['a.log']);
  assert.deepEqual(ignored('**/*.log\n', ['a.log', 'sub/a.log', 'x/y/z.log', 'a.txt']), ['a.log', 'sub/a.log', 'x/y/z.log']);
  assert.deepEqual(ignored('*/temp*\n', ['sub/tempfile', 'temp', 'a/b/temp']), ['sub/tempfile']);
  assert.deepEqual(ignored('temp?\n', ['temp1', 'temp12', 'temp']), ['temp1']);
  assert.deepEqual(ignored('build**\n', ['build', 'build/x', 'builder/y', 'rebuild']), ['build', 'build/x', 'builder/y']);
  assert.deepEqual(ignored('**\n', ['a', 'b/c']), ['a', 'b/c']);
});

test('a pattern that matches a directory ignores what is below it', () => {
  assert.deepEqual(ignored('node_modules\n', ['node_modules', 'node_modules/x/y.js', 'src/node_modules']), ['node_modules', 'node_modules/x/y.js']);
});

test('exceptions: the last matching pattern wins', () => {
  const m = IgnoreMatcher.parse('*.md\n!README.md\nREADME-secret.md\n');
  assert.deepEqual(['a.md', 'README.md', 'README-secret.md'].map((p) => m.matches(p)), [true, false, true]);
  const again = IgnoreMatcher.parse('docs\n!docs/keep.md\n');
  assert.deepEqual(['docs/x.md', 'docs/keep.md'].map((p) => again.matches(p)), [true, false]);
});

test('an ignored directory is walked only when an exception names a path inside it', () => {
  const m = IgnoreMatcher.parse('docs\n!docs/keep.md\nlogs\n!**/keep.log\n');
  assert.equal(m.verdict('docs', true), 'descend');
  assert.equal(m.verdict('logs', true), 'skip', 'docker only descends for exceptions that start with the directory');
  assert.equal(m.verdict('docs/other.md', false), 'skip');
  assert.equal(m.verdict('docs/keep.md', false), 'keep');
  assert.equal(m.verdict('src', true), 'keep');
});

test('the file is cleaned as docker reads it: comments, blanks, BOM, leading / and ./, trailing /', () => {
  const m = IgnoreMatcher.parse('\uFEFF# comment\n\n  /abs  \n./dot/\n  # not a comment after blanks? it is a pattern\nx/../y\n');
  assert.deepEqual(['abs', 'dot', 'dot/f', 'y', 'x'].map((p) => m.matches(p)), [true, true, true, true, false]);
  assert.ok(m.matches('# not a comment after blanks? it is a pattern'));
});

test('character classes and escapes; regexp characters are literal', () => {
  assert.deepEqual(ignored('file[0-9].txt\n', ['file1.txt', 'filex.txt']), ['file1.txt']);
  assert.deepEqual(ignored('file[^0-9].txt\n', ['file1.txt', 'filex.txt']), ['filex.txt']);
  assert.deepEqual(ignored('a\\*b\n', ['a*b', 'axb']), ['a*b']);
  assert.deepEqual(ignored('a+b(c)\n', ['a+b(c)', 'aab(c)']), ['a+b(c)']);
  assert.deepEqual(ignored('$x.{y}\n', ['$x.{y}', 'axby']), ['$x.{y}']);
});

test('bad patterns are errors naming the line', () => {
  assert.throws(() => IgnoreMatcher.parse('ok\n!\n'), (e: unknown) => e instanceof UserError && e.message === '.dockerignore:2: illegal exclusion pattern "!"');
  assert.throws(() => IgnoreMatcher.parse('a[b\n'), /\.dockerignore:1: "a\[b": '\[' without a closing '\]'/);
});

test('matching takes linear time: `*a*a*...*b` against a long name, and many **/, finish in milliseconds', () => {
  const stars = `${'*a'.repeat(40)}*b\n`;
  const name = 'a'.repeat(5000);
  const deep = `${'**/'.repeat(200)}x\n`;
  const path = Array.from({ length: 300 }, () => 'd').join('/');
  const started = performance.now();
  assert.equal(IgnoreMatcher.parse(stars).matches(name), false);
  assert.equal(IgnoreMatcher.parse(stars).matches(`${name}b`), true);
  assert.equal(IgnoreMatcher.parse(deep).matches(path), false);
  assert.equal(IgnoreMatcher.parse(deep).matches(`${path}/x`), true);
  const ms = performance.now() - started;
  // A backtracking matcher takes minutes here; the simulation takes a few ms (a lot of slack for CI).
  assert.ok(ms < 2000, `took ${Math.round(ms)} ms`);
});

test('classes, escapes and ** keep their meaning in the linear matcher', () => {
  assert.deepEqual(ignored('[a-c]x\n', ['ax', 'cx', 'dx', '/x']), ['ax', 'cx']);
  assert.deepEqual(ignored('[^a]x\n', ['ax', 'bx']), ['bx']);
  assert.deepEqual(ignored('[]]x\n', [']x', 'ax']), [']x']);
  assert.deepEqual(ignored('\\*x\n', ['*x', 'ax']), ['*x']);
  assert.deepEqual(ignored('a.(b)+\n', ['a.(b)+', 'aX(b)']), ['a.(b)+']);
  assert.deepEqual(ignored('a/**/b\n', ['a/b', 'a/x/b', 'a/x/y/b', 'ab', 'a/xb']), ['a/b', 'a/x/b', 'a/x/y/b']);
  assert.deepEqual(ignored('a**b\n', ['ab', 'a/b', 'ax/yb', 'axb', 'ax/b']), ['ab', 'a/b', 'ax/b']);
  assert.deepEqual(ignored('é?\n', ['éa', 'é', 'éab']), ['éa']);
});

/** patternmatcher's regexp for a pattern, as the matcher used to compile it: the reference for short inputs. */
function referenceRegexp(pattern: string): RegExp {
  const chars = Array.from(pattern);
  let re = '^';
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '*') {
      if (chars[i + 1] === '*') {
        i++;
        if (chars[i + 1] === '/') i++;
        re += i + 1 >= chars.length ? '.*' : '(.*/)?';
      } else {
        re += '[^/]*';
      }
    } else if (ch === '?') {
      re += '[^/]';
    } else if ('.+(){}$|'.includes(ch)) {
      re += `\\${ch}`;
    } else if (ch === '\\') {
      const next = chars[i + 1];
      if (next === undefined) re += '\\\\';
      else {
        i++;
        re += '^$\\.*+?()[]{}|/'.includes(next) ? `\\${next}` : next;
      }
    } else {
      re += ch;
    }
  }
  return new RegExp(`${re}$`, 'su');
}

test('the linear matcher agrees with patternmatcher\'s regexp on thousands of random short patterns and names', () => {
  let state = 12345;
  const rand = (n: number) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 16) % n;
  };
  const parts = ['a', 'b', '/', '*', '?', '**', '**/', '[ab]', '[^a]', '.', '\\*', 'é'];
  const letters = ['a', 'b', '/', '.', '*', 'é'];
  for (let k = 0; k < 3000; k++) {
    const pattern = Array.from({ length: 1 + rand(5) }, () => parts[rand(parts.length)]).join('');
    const name = Array.from({ length: rand(7) }, () => letters[rand(letters.length)]).join('');
    const m = IgnoreMatcher.parse(`${pattern}\n`);
    // The matcher cleans the pattern first (path.normalize, no trailing "/"); compare on what it kept.
    const cleaned = (m as unknown as { patterns: Array<{ text: string }> }).patterns[0]?.text;
    if (cleaned === undefined) continue;
    const reference = referenceRegexp(cleaned);
    const expected = reference.test(name) || name.split('/').slice(0, -1).some((_, i, all) => reference.test(all.slice(0, i + 1).join('/')));
    assert.equal(m.matches(name), expected, `pattern ${JSON.stringify(cleaned)} against ${JSON.stringify(name)}`);
  }
});
