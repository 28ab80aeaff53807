// Variable substitution in Dockerfile words as docker's shell lexer does it: quotes, the escape
// character, $VAR, ${VAR}, ${VAR:-word}, ${VAR:+word}, ${VAR-word}, ${VAR+word}, ${VAR:?msg}.

import { MAX_EXPANDED_WORD_LENGTH, MAX_EXPANSION_DEPTH } from '../limits.js';

/** An expanded word may not grow past MAX_EXPANDED_WORD_LENGTH (`ENV A=$A$A` doubles it each line). */
function checkSize(text: string): void {
  if (text.length > MAX_EXPANDED_WORD_LENGTH) {
    throw new ExpandError(`the expanded word is longer than ${MAX_EXPANDED_WORD_LENGTH} characters`);
  }
}

/** Looks a variable up: its value, or undefined when it is not set. */
export type Lookup = (name: string) => string | undefined;

export interface ExpandOptions {
  /** Quotes are plain characters and escapes are kept (a heredoc body). */
  raw?: boolean;
}

/** A syntax error in a word, or a ${VAR:?} that fired: the caller adds the line. */
export class ExpandError extends Error {}

const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

/** Expand one word; quotes are removed and blanks kept (docker's ProcessWord). */
export function expandWord(word: string, escape: string, lookup: Lookup, opts: ExpandOptions = {}): string {
  return new Lexer(word, escape, lookup, opts).run().result;
}

/** Expand a word and split it at unquoted blanks, those of expanded values too (EXPOSE). */
export function expandWords(word: string, escape: string, lookup: Lookup): string[] {
  return new Lexer(word, escape, lookup, {}).run().words;
}

/** An environment list ("K=V", first one wins, as docker looks them up) as a Lookup. */
export function envLookup(...lists: ReadonlyArray<readonly string[]>): Lookup {
  const map = new Map<string, string>();
  for (const list of lists) {
    for (const kv of list) {
      const i = kv.indexOf('=');
      const key = i < 0 ? kv : kv.slice(0, i);
      if (!map.has(key)) map.set(key, i < 0 ? '' : kv.slice(i + 1));
    }
  }
  return (name) => map.get(name);
}

/** Collects words as docker's wordsStruct does: expanded text splits at blanks, quoted text not. */
class Words {
  private word = '';
  private inWord = false;
  readonly words: string[] = [];

  char(ch: string): void {
    if (/\s/u.test(ch)) {
      if (this.inWord && this.word.length > 0) {
        this.words.push(this.word);
        this.word = '';
        this.inWord = false;
      }
    } else {
      this.rawChar(ch);
    }
  }

  rawChar(ch: string): void {
    this.word += ch;
    this.inWord = true;
  }

  string(s: string): void {
    // A value with no blank is one piece of the current word (and values can be long).
    if (!/\s/u.test(s)) {
      if (s.length > 0) this.rawString(s);
      return;
    }
    for (const ch of s) this.char(ch);
  }

  rawString(s: string): void {
    this.word += s;
    this.inWord = true;
  }

  finish(): string[] {
    if (this.word.length > 0) this.words.push(this.word);
    this.word = '';
    this.inWord = false;
    return this.words;
  }
}

class Lexer {
  private readonly chars: string[];
  private pos = 0;
  /** How many ${...} the lexer is inside of. */
  private depth = 0;

  constructor(
    text: string,
    private readonly escape: string,
    private readonly lookup: Lookup,
    private readonly opts: ExpandOptions,
  ) {
    this.chars = Array.from(text);
  }

  run(): { result: string; words: string[] } {
    const { result, words } = this.until(undefined);
    return { result, words };
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }

  private next(): string | undefined {
    return this.chars[this.pos++];
  }

  /** Text up to `stop` (consumed) or the end; docker's processStopOn. */
  private until(stop: string | undefined): { result: string; words: string[] } {
    let result = '';
    const words = new Words();
    while (this.peek() !== undefined) {
      const ch = this.peek()!;
      if (stop !== undefined && ch === stop) {
        this.next();
        return { result, words: words.finish() };
      }
      if (ch === '$') {
        const value = this.dollar();
        result += value;
        checkSize(result);
        words.string(value);
      } else if (!this.opts.raw && (ch === "'" || ch === '"')) {
        const value = ch === "'" ? this.singleQuoted() : this.doubleQuoted();
        result += value;
        checkSize(result);
        words.rawString(value);
      } else {
        let c = this.next()!;
        if (c === this.escape) {
          if (this.opts.raw) {
            result += c;
            words.rawChar(c);
          }
          const escaped = this.next();
          if (escaped === undefined) break;
          c = escaped;
          words.rawChar(c);
        } else {
          words.char(c);
        }
        result += c;
        if (result.length > MAX_EXPANDED_WORD_LENGTH) checkSize(result);
      }
    }
    if (stop !== undefined) throw new ExpandError(`unexpected end of statement while looking for matching ${stop}`);
    return { result, words: words.finish() };
  }

  private singleQuoted(): string {
    this.next();
    let out = '';
    for (;;) {
      const ch = this.next();
      if (ch === undefined) throw new ExpandError('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") return out;
      out += ch;
    }
  }

  private doubleQuoted(): string {
    this.next();
    let out = '';
    for (;;) {
      const ch = this.peek();
      if (ch === undefined) throw new ExpandError('unexpected end of statement while looking for matching double-quote');
      if (ch === '"') {
        this.next();
        return out;
      }
      if (ch === '$') {
        out += this.dollar();
        checkSize(out);
        continue;
      }
      let c = this.next()!;
      if (c === this.escape) {
        const after = this.peek();
        if (after === undefined) continue;
        if (after === '"' || after === '$' || after === this.escape) c = this.next()!;
      }
      out += c;
    }
  }

  private dollar(): string {
    this.next();
    if (this.peek() !== '{') {
      const name = this.name();
      if (name === '') return '$';
      return this.lookup(name) ?? '';
    }
    this.next();
    if (++this.depth > MAX_EXPANSION_DEPTH) throw new ExpandError(`\${...} nested more than ${MAX_EXPANSION_DEPTH} deep`);
    try {
      return this.braced();
    } finally {
      this.depth--;
    }
  }

  /** A ${...} after its "${". */
  private braced(): string {
    const first = this.peek();
    if (first === undefined) throw new ExpandError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new ExpandError('syntax error: bad substitution');
    const name = this.name();
    const ch = this.next();
    const value = this.lookup(name);
    switch (ch) {
      case '}':
        return value ?? '';
      case ':': {
        const modifier = this.next();
        const word = this.word();
        switch (modifier) {
          case '-':
            return value ? value : word;
          case '+':
            return value ? word : '';
          case '?':
            if (!value) throw new ExpandError(`${name}: ${word || 'is not set or empty'}`);
            return value;
          default:
            throw new ExpandError(`unsupported modifier (${modifier ?? 'end of word'}) in substitution`);
        }
      }
      case '-': {
        const word = this.word();
        return value ?? word;
      }
      case '+': {
        const word = this.word();
        return value === undefined ? '' : word;
      }
      case '?': {
        const word = this.word();
        if (value === undefined) throw new ExpandError(`${name}: ${word || 'is not set'}`);
        return value;
      }
      case undefined:
        throw new ExpandError("syntax error: missing '}'");
      default:
        throw new ExpandError(`missing ':' in substitution`);
    }
  }

  /** The word of a ${VAR:-word} up to its '}', itself expanded. */
  private word(): string {
    try {
      return this.until('}').result;
    } catch (err) {
      if (this.peek() === undefined) throw new ExpandError("syntax error: missing '}'");
      throw err;
    }
  }

  /** A variable name: letters, digits and '_'; a run of digits or one special parameter. */
  private name(): string {
    let name = '';
    while (this.peek() !== undefined) {
      const ch = this.peek()!;
      if (name === '' && /\p{Nd}/u.test(ch)) {
        while (this.peek() !== undefined && /\p{Nd}/u.test(this.peek()!)) name += this.next();
        return name;
      }
      if (name === '' && SPECIAL_PARAMS.has(ch)) return this.next()!;
      if (!/[\p{L}\p{Nd}_]/u.test(ch)) break;
      name += this.next();
    }
    return name;
  }
}
