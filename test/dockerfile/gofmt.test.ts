// Go's duration syntax and fmt verbs as docker's builder uses them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatGoDuration, goList, goQuote, goQuoteList, goQuoteRune, parseGoDuration } from '../../src/dockerfile/gofmt.js';

test('parseGoDuration reads time.ParseDuration\'s syntax, in nanoseconds', () => {
  assert.equal(parseGoDuration('30s'), 30e9);
  assert.equal(parseGoDuration('1m30s'), 90e9);
  assert.equal(parseGoDuration('1.5h'), 5400e9);
  assert.equal(parseGoDuration('300ms'), 300e6);
  assert.equal(parseGoDuration('2us'), 2000);
  assert.equal(parseGoDuration('2µs'), 2000);
  assert.equal(parseGoDuration('0'), 0);
  assert.equal(parseGoDuration('-1s'), -1e9);
  for (const bad of ['', '5', 's', '1x', '1.5', '1s2', '.s']) assert.equal(parseGoDuration(bad), undefined, bad);
});

test('formatGoDuration writes Duration.String', () => {
  assert.equal(formatGoDuration(0), '0s');
  assert.equal(formatGoDuration(5 * 60e9), '5m0s');
  assert.equal(formatGoDuration(3600e9), '1h0m0s');
  assert.equal(formatGoDuration(3e9), '3s');
  assert.equal(formatGoDuration(1.5e9), '1.5s');
  assert.equal(formatGoDuration(1.5e6), '1.5ms');
  assert.equal(formatGoDuration(1500), '1.5µs');
  assert.equal(formatGoDuration(90e9), '1m30s');
});

test('%q and %v of strings, slices and an int', () => {
  assert.equal(goQuote('a "b" \\ c\n\t\x01é'), '"a \\"b\\" \\\\ c\\n\\t\\x01é"');
  assert.equal(goQuoteList(['/bin/sh', '-c', 'echo "hi"']), '["/bin/sh" "-c" "echo \\"hi\\""]');
  assert.equal(goQuoteList(null), '[]');
  assert.equal(goList(['/data', '/logs']), '[/data /logs]');
  assert.equal(goQuoteRune(3), "'\\x03'");
  assert.equal(goQuoteRune(0), "'\\x00'");
  assert.equal(goQuoteRune(65), "'A'");
});
