// .dockerignore with docker's rules (moby/patternmatcher and its ignorefile reader): `*`, `?`,
// `[...]`, `**`, `!` exceptions where the last matching pattern wins, and a pattern matching a parent.
import * as path from 'node:path';
import { UserError } from '../errors.js';

interface Pattern {
  /** The cleaned pattern, without its '!'. */
  text: string;
  exclusion: boolean;
  glob: GlobPattern;
}

/** The largest .dockerignore read. */
const MAX_IGNORE_BYTES = 1024 * 1024;

export class IgnoreMatcher {
  private constructor(private readonly patterns: readonly Pattern[]) {}

  /** The patterns of a .dockerignore file's text (comments, blank lines, BOM, leading '/' handled). */
  static parse(text: string, where = '.dockerignore'): IgnoreMatcher {
    if (Buffer.byteLength(text) > MAX_IGNORE_BYTES) throw new UserError(`${where}: more than ${MAX_IGNORE_BYTES} bytes`, 'EINPUT');
    const patterns: Pattern[] = [];
    text
      .replace(/^\uFEFF/, '')
      .split('\n')
      .forEach((rawLine, index) => {
        const line = rawLine.replace(/\r$/, '');
        if (line.startsWith('#')) return;
        let pattern = line.trim();
        if (pattern === '') return;
        const exclusion = pattern.startsWith('!');
        if (exclusion) pattern = pattern.slice(1).trim();
        if (pattern === '') throw new UserError(`${where}:${index + 1}: illegal exclusion pattern "!"`, 'EINPUT');
        pattern = path.posix.normalize(pattern).replace(/\/+$/, '') || '/';
        if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
        patterns.push({ text: pattern, exclusion, glob: GlobPattern.compile(pattern, `${where}:${index + 1}`) });
      });
    return new IgnoreMatcher(patterns);
  }

  static none(): IgnoreMatcher {
    return new IgnoreMatcher([]);
  }

  get hasExclusions(): boolean {
    return this.patterns.some((p) => p.exclusion);
  }

  /**
   * Whether a context path ('/'-separated, relative) is ignored: the last pattern that matches it
   * or one of its parents decides (patternmatcher's MatchesOrParentMatches).
   */
  matches(rel: string): boolean {
    const parents = rel.split('/').slice(0, -1);
    let matched = false;
    for (const p of this.patterns) {
      if (p.exclusion !== matched) continue;
      let hit = p.glob.test(rel);
      for (let i = 1; !hit && i <= parents.length; i++) hit = p.glob.test(parents.slice(0, i).join('/'));
      if (hit) matched = !p.exclusion;
    }
    return matched;
  }

  /**
   * What docker's context walk does with a path: keep it; skip it (and what is below it); or, for
   * an ignored directory that an exception (`!dir/keep`) names a path inside of, leave the
   * directory's own entry out but walk into it.
   */
  verdict(rel: string, isDirectory: boolean): 'keep' | 'skip' | 'descend' {
    if (!this.matches(rel)) return 'keep';
    if (!isDirectory || !this.hasExclusions) return 'skip';
    const dirSlash = `${rel}/`;
    return this.patterns.some((p) => p.exclusion && `${p.text}/`.startsWith(dirSlash)) ? 'descend' : 'skip';
  }
}

/** One step of a compiled pattern. */
type Token =
  | { kind: 'char'; ch: string }
  /** `?`: one character but '/'. */
  | { kind: 'one' }
  /** `*`: any run of characters but '/'. */
  | { kind: 'star' }
  /** `**` at the end: anything at all. */
  | { kind: 'any' }
  /** `**` or `**\/` before more pattern: nothing, or anything that ends in '/'. */
  | { kind: 'dirs' }
  /** `[...]`: one character of a class (a one-character regexp, which cannot backtrack). */
  | { kind: 'class'; re: RegExp };

/** Characters that mean something in a regexp: escaped when a class is turned into one. */
const REGEXP_SYNTAX = '^$\\.*+?()[]{}|/';

/**
 * A pattern with patternmatcher's meaning (it compiles to a Go regexp: `*` and `?` stop at '/',
 * `**` crosses directories, `[...]` is a class, a backslash escapes the next character), matched
 * by simulating all positions at once (Thompson's construction, as Go's RE2 does): time grows with
 * name length times pattern length, never exponentially, whatever the pattern (`*a*a*a*...*b`).
 */
export class GlobPattern {
  private constructor(private readonly tokens: readonly Token[]) {}

  static compile(pattern: string, where: string): GlobPattern {
    checkClasses(pattern, where);
    const chars = Array.from(pattern);
    const tokens: Token[] = [];
    for (let i = 0; i < chars.length; i++) {
      const ch = chars[i]!;
      if (ch === '*') {
        if (chars[i + 1] === '*') {
          i++;
          if (chars[i + 1] === '/') i++;
          tokens.push(i + 1 >= chars.length ? { kind: 'any' } : { kind: 'dirs' });
        } else {
          tokens.push({ kind: 'star' });
        }
      } else if (ch === '?') {
        tokens.push({ kind: 'one' });
      } else if (ch === '[') {
        let body = '';
        let j = i + 1;
        if (chars[j] === '^') {
          body += '^';
          j++;
        }
        for (let first = true; j < chars.length && (first || chars[j] !== ']'); j++, first = false) {
          const c = chars[j]!;
          if (c === '\\' && j + 1 < chars.length) {
            j++;
            body += /[A-Za-z0-9]/.test(chars[j]!) ? chars[j]! : `\\${chars[j]!}`;
          } else {
            body += c === '-' || !REGEXP_SYNTAX.includes(c) ? c : `\\${c}`;
          }
        }
        i = j;
        try {
          tokens.push({ kind: 'class', re: new RegExp(`^[${body}]$`, 'su') });
        } catch {
          throw new UserError(`${where}: ${JSON.stringify(pattern)} is not a valid pattern`, 'EINPUT');
        }
      } else if (ch === '\\') {
        const next = chars[i + 1];
        if (next === undefined) {
          tokens.push({ kind: 'char', ch: '\\' });
        } else {
          i++;
          tokens.push({ kind: 'char', ch: next });
        }
      } else {
        tokens.push({ kind: 'char', ch });
      }
    }
    return new GlobPattern(tokens);
  }

  /** Whether the whole of `name` matches. */
  test(name: string): boolean {
    const n = this.tokens.length;
    let states = new Uint8Array(n + 1);
    let next = new Uint8Array(n + 1);
    // Inside a `**/`'s "anything that ends in '/'": left only by a '/', unlike its start.
    let inside = new Uint8Array(n);
    let nextInside = new Uint8Array(n);
    this.add(states, 0);
    for (const c of name) {
      next.fill(0);
      nextInside.fill(0);
      let any = false;
      for (let i = 0; i < n; i++) {
        const t = this.tokens[i]!;
        if (t.kind === 'dirs' && (states[i] || inside[i])) {
          nextInside[i] = 1;
          any = true;
          if (c === '/') this.add(next, i + 1);
          continue;
        }
        if (!states[i]) continue;
        switch (t.kind) {
          case 'char':
            if (c === t.ch) any = this.add(next, i + 1) || any;
            break;
          case 'one':
            if (c !== '/') any = this.add(next, i + 1) || any;
            break;
          case 'class':
            if (t.re.test(c)) any = this.add(next, i + 1) || any;
            break;
          case 'star':
            if (c !== '/') any = this.add(next, i) || any;
            break;
          case 'any':
            any = this.add(next, i) || any;
            break;
          case 'dirs':
            break; // handled above
        }
      }
      if (!any) return false;
      [states, next] = [next, states];
      [inside, nextInside] = [nextInside, inside];
    }
    return states[n] === 1;
  }

  /** Mark position i and what it reaches without a character (a star's or `**`'s empty match). */
  private add(set: Uint8Array, i: number): boolean {
    for (let k = i; ; k++) {
      if (set[k]) return true;
      set[k] = 1;
      const kind = this.tokens[k]?.kind;
      if (kind !== 'star' && kind !== 'any' && kind !== 'dirs') return true;
    }
  }
}

/** filepath.Match's syntax check: every '[' closes, with something inside. */
function checkClasses(pattern: string, where: string): void {
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] === '\\') {
      i++;
      continue;
    }
    if (pattern[i] !== '[') continue;
    let j = i + 1;
    if (pattern[j] === '^') j++;
    if (pattern[j] === ']') j++;
    while (j < pattern.length && pattern[j] !== ']') j++;
    if (j >= pattern.length) throw new UserError(`${where}: ${JSON.stringify(pattern)}: '[' without a closing ']'`, 'EINPUT');
    i = j;
  }
}
