// Command lines given as flags (--entrypoint, --cmd): a JSON array, or one string split into words
// as a POSIX shell splits a simple command, with no expansion and no shell added to the image.
import { usageError } from './errors.js';
import { jsonDepth } from './json.js';
import { MAX_JSON_DEPTH } from './limits.js';

/** The argv of a program: what a config's Entrypoint or Cmd holds. */
export type Words = string[];

const BLANKS = new Set([' ', '\t', '\n']);
/** Operators and subshell parentheses: with no shell, a program would get them as text. */
const OPERATORS = new Set(['|', '&', ';', '<', '>', '(', ')']);
/** The only characters a backslash escapes inside double quotes (POSIX 2.2.3). */
const DOUBLE_QUOTE_ESCAPES = new Set(['$', '`', '"', '\\', '\n']);

/**
 * Split `text` into words as `sh` would split a simple command: blanks separate words, single
 * quotes keep everything literally, double quotes keep everything but `\$ \` \" \\` and
 * backslash-newline, a backslash outside quotes keeps the next character (backslash-newline is a
 * line continuation and vanishes), '' and "" make empty words. No expansion happens: `$HOME`, `*`
 * and `~` stay as they are. Operators (`| & ; < > ( )`, so also `$(...)`) and `#` comments would
 * make a shell do what this split cannot, so they are refused unless quoted. An unquoted newline,
 * which would end a shell command, is a blank: a flag holds one command. `what` names the flag.
 */
export function splitWords(text: string, what: string): Words {
  const words: Words = [];
  let word = '';
  // A word exists once any part of it is seen, even an empty quoted string.
  let inWord = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (BLANKS.has(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else if (c === '\\') {
      if (i + 1 >= text.length) {
        throw usageError(`${what}: unterminated escape: the text ends with a backslash that escapes nothing`);
      }
      const next = text[i + 1] as string;
      if (next !== '\n') {
        word += next;
        inWord = true;
      }
      i += 2;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw usageError(`${what}: unterminated single quote opened at character ${i + 1}`);
      word += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      const { value, next } = readDoubleQuoted(text, i, what);
      word += value;
      inWord = true;
      i = next;
    } else if (OPERATORS.has(c) || (c === '#' && !inWord)) {
      const meaning = c === '#' ? 'starts a comment in a shell' : 'is shell syntax';
      throw usageError(
        `${what}: unquoted '${c}' at character ${i + 1} ${meaning}, and no shell runs this command: ` +
          `quote it, or give ["/bin/sh", "-c", "..."] as a JSON array`,
      );
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return checkNoNul(words, what);
}

/** The text of a double-quoted string starting at `open`, and the index just past its closing quote. */
function readDoubleQuoted(text: string, open: number, what: string): { value: string; next: number } {
  let value = '';
  let i = open + 1;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === '"') return { value, next: i + 1 };
    if (c === '\\' && i + 1 < text.length && DOUBLE_QUOTE_ESCAPES.has(text[i + 1] as string)) {
      const next = text[i + 1] as string;
      if (next !== '\n') value += next;
      i += 2;
    } else {
      value += c;
      i++;
    }
  }
  throw usageError(`${what}: unterminated double quote opened at character ${open + 1}`);
}

/** execve takes C strings: a NUL would cut an argument short at run time, so refuse it now. */
function checkNoNul(words: Words, what: string): Words {
  words.forEach((word, index) => {
    if (word.includes('\0')) throw usageError(`${what}: word ${index + 1} holds a NUL character, which no program argument can`);
  });
  return words;
}

/**
 * A command flag's value: a JSON array of strings when it starts with `[` (as a Dockerfile's exec
 * form), otherwise words split by `splitWords`. An empty value gives [], which sets the field empty.
 */
export function parseCommand(value: string, what: string): Words {
  if (!value.trim().startsWith('[')) return splitWords(value, what);
  if (jsonDepth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) throw usageError(`${what}: JSON nested more than ${MAX_JSON_DEPTH} levels deep`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw usageError(`${what}: starts with '[' but is not a JSON array of strings: ${(err as Error).message.replace(/\s+/g, ' ')}`);
  }
  // JSON text whose first token is '[' can only parse to an array.
  const elements = parsed as unknown[];
  elements.forEach((element, index) => {
    if (typeof element !== 'string') {
      const kind =
        element === null ? 'null' : Array.isArray(element) ? 'an array' : typeof element === 'object' ? 'an object' : `a ${typeof element}`;
      throw usageError(`${what}: element [${index}] of the JSON array is ${kind}, not a string`);
    }
  });
  return checkNoNul(elements as Words, what);
}
