// .dockerignore with docker's rules (moby/patternmatcher and its ignorefile reader): `*`, `?`,
// `[...]`, `**`, `!` exceptions where the last matching pattern wins, and a pattern matching a parent.
import * as path from 'node:path';
import { UserError } from '../errors.js';

interface Pattern {
  /** The cleaned pattern, without its '!'. */
  text: string;
  exclusion: boolean;
  regexp: RegExp;
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
        patterns.push({ text: pattern, exclusion, regexp: compile(pattern, `${where}:${index + 1}`) });
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
      let hit = p.regexp.test(rel);
      for (let i = 1; !hit && i <= parents.length; i++) hit = p.regexp.test(parents.slice(0, i).join('/'));
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

/**
 * A pattern as patternmatcher compiles it into a regular expression: `*` and `?` stop at '/',
 * `**` crosses directories, `[...]` is a class, a backslash escapes the next character, and the
 * regexp characters that mean nothing in a file pattern are escaped.
 */
function compile(pattern: string, where: string): RegExp {
  checkClasses(pattern, where);
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
      if (next === undefined) {
        re += '\\\\';
      } else {
        i++;
        re += '^$\\.*+?()[]{}|/'.includes(next) ? `\\${next}` : next;
      }
    } else {
      re += ch;
    }
  }
  try {
    return new RegExp(`${re}$`, 'su');
  } catch {
    throw new UserError(`${where}: ${JSON.stringify(pattern)} is not a valid pattern`, 'EINPUT');
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
