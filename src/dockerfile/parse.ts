// Lexing a Dockerfile into logical lines the way docker's parser does: parser directives, comments,
// line continuations (with the escape character), builder flags, heredocs, and the word splitters.
import { UserError } from '../errors.js';
import { jsonDepth } from '../json.js';
import { MAX_JSON_DEPTH } from '../limits.js';

/** A heredoc (`<<EOF` ... `EOF`) of a COPY, ADD or RUN line. */
export interface Heredoc {
  /** The delimiter word, unquoted: also the file name a COPY heredoc gets. */
  name: string;
  /** The body, each line with its newline. */
  content: string;
  /** Unquoted delimiter: variables in the body are expanded. */
  expand: boolean;
}

/** One instruction as written: keyword, flags and the rest of its logical line. */
export interface Line {
  /** Where the instruction starts (1-based), for `Dockerfile:LINE:` messages. */
  line: number;
  /** The keyword in lower case ("copy"). */
  keyword: string;
  /** The keyword as written ("COPY", "copy"). */
  written: string;
  /** Builder flags before the arguments, quotes removed: "--from=build". */
  flags: string[];
  /** The arguments: the rest of the logical line after the flags, trimmed. */
  rest: string;
  /** The logical line with its continuations joined (an ONBUILD trigger is kept as this). */
  original: string;
  heredocs: Heredoc[];
}

export interface ParsedDockerfile {
  /** The escape character (parser directive `# escape=`): '\\' or '`'. */
  escape: string;
  lines: Line[];
  warnings: string[];
}

/** The largest Dockerfile read: a hostile one must not exhaust memory. */
export const MAX_DOCKERFILE_BYTES = 4 * 1024 * 1024;

const DIRECTIVE_RE = /^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$/;
const KNOWN_DIRECTIVES = new Set(['escape', 'syntax', 'check']);
const HEREDOC_KEYWORDS = new Set(['run', 'copy', 'add']);
const HEREDOC_WORD_RE = /^(\d*)<<(-?)([^<]*)$/;
/** Go's unicode.IsSpace. */
const SPACE_RE = /\s/u;

export function lineError(file: string, line: number, why: string): UserError {
  return new UserError(`${file}:${line}: ${why}`, 'EINPUT');
}

/**
 * Split a Dockerfile's text into instructions. `file` names it in errors. Unknown keywords are
 * kept (the instruction layer refuses them with their line).
 */
export function parseDockerfile(text: string, file = 'Dockerfile'): ParsedDockerfile {
  const physical = text.replace(/^\uFEFF/, '').split('\n').map((l) => l.replace(/\r$/, ''));
  const warnings: string[] = [];
  let escape = '\\';
  let directivesDone = false;
  let escapeSeen = false;
  const lines: Line[] = [];

  const directive = (raw: string, lineNo: number): void => {
    if (directivesDone) return;
    const m = DIRECTIVE_RE.exec(raw);
    const key = m?.[1]?.toLowerCase();
    if (!m || key === undefined || !KNOWN_DIRECTIVES.has(key)) {
      directivesDone = true;
      return;
    }
    if (key === 'escape') {
      if (escapeSeen) throw lineError(file, lineNo, 'only one escape parser directive can be used');
      escapeSeen = true;
      const value = m[2]!;
      if (value !== '\\' && value !== '`') throw lineError(file, lineNo, `invalid escape token '${value}': it must be \` or \\`);
      escape = value;
    }
  };
  const continuation = (): RegExp => new RegExp(`${escape === '\\' ? '\\\\' : '`'}[ \\t]*$`);

  let i = 0;
  while (i < physical.length) {
    const lineNo = i + 1;
    const raw = physical[i]!;
    directive(raw, lineNo);
    i++;
    let text = trimComment(raw.replace(/^\s+/u, ''));
    const cont = continuation();
    let open = cont.test(text);
    if (open) text = text.replace(cont, '');
    if (!open && text === '') continue;
    let emptyContinuation = false;
    while (open && i < physical.length) {
      const next = physical[i]!;
      directive(next, i + 1);
      i++;
      if (isComment(next)) continue;
      if (next.trim() === '') {
        emptyContinuation = true;
        continue;
      }
      open = cont.test(next);
      text += open ? next.replace(cont, '') : next;
    }
    if (emptyContinuation) warnings.push(`${file}:${lineNo}: empty continuation line`);
    const parsed = splitCommand(text, file, lineNo);
    if (parsed === undefined) continue;
    if (HEREDOC_KEYWORDS.has(parsed.keyword)) {
      const wanted = heredocsIn(parsed.rest);
      for (const h of wanted) {
        const body: string[] = [];
        let closed = false;
        while (i < physical.length) {
          const bodyLine = physical[i]!;
          i++;
          const compared = h.chomp ? bodyLine.replace(/^\t+/, '') : bodyLine;
          if (compared === h.name) {
            closed = true;
            break;
          }
          body.push(`${compared}\n`);
        }
        if (!closed) throw lineError(file, lineNo, `unterminated heredoc <<${h.name}: no line "${h.name}" ends it`);
        parsed.heredocs.push({ name: h.name, content: body.join(''), expand: h.expand });
      }
    }
    lines.push(parsed);
  }
  return { escape, lines, warnings };
}

function trimComment(text: string): string {
  return text.startsWith('#') ? '' : text;
}

function isComment(raw: string): boolean {
  return raw.replace(/^\s+/u, '').startsWith('#');
}

/** Keyword, builder flags and arguments of a logical line (docker's splitCommand). */
function splitCommand(text: string, file: string, lineNo: number): Line | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const m = /^(\S+)(?:[\t\v\f\r ]+([\s\S]*))?$/u.exec(trimmed);
  const written = m?.[1] ?? trimmed;
  const args = m?.[2] ?? '';
  const { rest, flags } = extractFlags(args, file, lineNo);
  return { line: lineNo, keyword: written.toLowerCase(), written, flags, rest: rest.trim(), original: text, heredocs: [] };
}

/**
 * The `--name=value` words at the start of the arguments (docker's extractBuilderFlags): quotes
 * are removed and a backslash escapes the next character; `--` alone ends the flags.
 */
function extractFlags(line: string, file: string, lineNo: number): { rest: string; flags: string[] } {
  const flags: string[] = [];
  let pos = 0;
  for (;;) {
    while (pos < line.length && SPACE_RE.test(line[pos]!)) pos++;
    if (pos >= line.length) return { rest: '', flags };
    if (!line.startsWith('--', pos)) return { rest: line.slice(pos), flags };
    let word = '';
    let quote = '';
    for (; pos < line.length; pos++) {
      let ch = line[pos]!;
      if (quote === '' && SPACE_RE.test(ch)) break;
      if (quote === '' && (ch === '"' || ch === "'")) {
        quote = ch;
        continue;
      }
      if (quote !== '' && ch === quote) {
        quote = '';
        continue;
      }
      if (ch === '\\') {
        if (pos + 1 === line.length) continue;
        pos++;
        ch = line[pos]!;
      }
      word += ch;
    }
    if (quote !== '') throw lineError(file, lineNo, `unterminated quote in the flag ${word}`);
    if (word === '--') return { rest: line.slice(pos), flags };
    flags.push(word);
  }
}

/** The heredoc markers among the words of a line (`<<EOF`, `<<-EOF`, `<<"EOF"`). */
function heredocsIn(rest: string): Array<{ name: string; chomp: boolean; expand: boolean }> {
  const out: Array<{ name: string; chomp: boolean; expand: boolean }> = [];
  for (const word of rest.split(/\s+/u)) {
    const m = HEREDOC_WORD_RE.exec(word);
    if (!m || m[3] === '') continue;
    const spelled = m[3]!;
    const quoted = /^(["']).*\1$/.exec(spelled);
    const name = quoted ? spelled.slice(1, -1) : spelled;
    if (name === '' || /["']/.test(name)) continue;
    out.push({ name, chomp: m[2] === '-', expand: !quoted });
  }
  return out;
}

/**
 * Words separated by blanks, quotes kept and blanks inside quotes kept (docker's parseWords, used
 * by ENV, LABEL and ARG); the escape character keeps the next character in the word.
 */
export function splitQuotedWords(rest: string, escape: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let blankOk = false;
  let quote = '';
  const chars = Array.from(rest);
  for (let i = 0; i < chars.length; i++) {
    let ch = chars[i]!;
    if (quote === '') {
      if (SPACE_RE.test(ch)) {
        if (inWord && (blankOk || word.length > 0)) words.push(word);
        word = '';
        inWord = false;
        blankOk = false;
        continue;
      }
      inWord = true;
      if (ch === '"' || ch === "'") {
        quote = ch;
        blankOk = true;
      } else if (ch === escape) {
        if (i + 1 === chars.length) continue;
        word += ch;
        ch = chars[++i]!;
      }
      word += ch;
      continue;
    }
    if (ch === quote) quote = '';
    else if (ch === escape && quote !== "'") {
      if (i + 1 === chars.length) {
        quote = '';
        continue;
      }
      word += ch;
      ch = chars[++i]!;
    }
    word += ch;
  }
  if (inWord && (blankOk || word.length > 0)) words.push(word);
  return words;
}

/** Words separated by blanks, nothing else (docker's parseStringsWhitespaceDelimited). */
export function splitBlanks(rest: string): string[] {
  return rest.split(/[\t\v\f\r\n ]+/).filter((w) => w !== '');
}

export type JsonArray = { ok: true; values: string[] } | { ok: false; notStrings: boolean };

/**
 * The exec form: the arguments read as a JSON array of strings. Like Go's json.Decoder, only the
 * first JSON value counts; what follows it is ignored. An array with a non-string is an error the
 * caller reports; anything else that is not an array means the shell form.
 */
export function jsonArray(rest: string): JsonArray {
  const text = rest.replace(/^\s+/u, '');
  if (!text.startsWith('[')) return { ok: false, notStrings: false };
  const end = endOfJsonValue(text);
  if (end < 0) return { ok: false, notStrings: false };
  // Arrays in arrays are refused below anyway; this keeps JSON.parse from recursing on them.
  if (jsonDepth(text.slice(0, end), MAX_JSON_DEPTH) > MAX_JSON_DEPTH) return { ok: false, notStrings: true };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.slice(0, end));
  } catch {
    return { ok: false, notStrings: false };
  }
  if (!Array.isArray(parsed)) return { ok: false, notStrings: false };
  if (!parsed.every((v) => typeof v === 'string')) return { ok: false, notStrings: true };
  return { ok: true, values: parsed as string[] };
}

/** The index just past the JSON array that starts `text`, or -1 when it never closes. */
function endOfJsonValue(text: string): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '[' || ch === '{') depth++;
    else if (ch === ']' || ch === '}') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}
