// Dockerfile instructions, typed and checked: flags, argument counts, exec and shell forms, stages
// and the ARGs before the first FROM. Every syntax error is found here, before anything is built.
import { UserError } from '../errors.js';
import type { HealthConfig } from '../image.js';
import { ExpandError, expandWord, expandWords } from './expand.js';
import { parseGoDuration } from './gofmt.js';
import { jsonArray, lineError, parseDockerfile, splitBlanks, splitQuotedWords, type Heredoc, type Line } from './parse.js';

interface At {
  /** The line it starts on. */
  line: number;
}

export interface KeyValue {
  key: string;
  value: string;
}

export interface FromInstruction extends At {
  kind: 'from';
  image: string;
  /** `AS name`, in lower case (stage names are case-insensitive). */
  name?: string;
  platform?: string;
}
export interface ArgInstruction extends At {
  kind: 'arg';
  args: Array<{ key: string; value?: string }>;
}
export interface EnvInstruction extends At {
  kind: 'env' | 'label';
  pairs: KeyValue[];
}
/** A source of COPY or ADD: a path (or pattern), or a heredoc's body. */
export type CopySource = { kind: 'path'; path: string } | { kind: 'heredoc'; heredoc: Heredoc };
export interface CopyInstruction extends At {
  kind: 'copy' | 'add';
  sources: CopySource[];
  dest: string;
  from?: string;
  chown?: string;
  chmod?: string;
}
export interface WordInstruction extends At {
  kind: 'workdir' | 'user' | 'stopsignal' | 'maintainer';
  value: string;
}
export interface ListInstruction extends At {
  kind: 'expose' | 'volume';
  values: string[];
}
export interface CommandInstruction extends At {
  kind: 'cmd' | 'entrypoint';
  /** The exec form's words, or the shell form's text as the one element ([] when empty). */
  args: string[];
  /** Shell form: the words run through the SHELL. */
  shellForm: boolean;
}
export interface ShellInstruction extends At {
  kind: 'shell';
  shell: string[];
}
export interface HealthcheckInstruction extends At {
  kind: 'healthcheck';
  health: HealthConfig;
}
export interface OnbuildInstruction extends At {
  kind: 'onbuild';
  /** The trigger as written after ONBUILD. */
  expression: string;
}
export interface RunInstruction extends At {
  kind: 'run';
}

export type Instruction =
  | FromInstruction
  | ArgInstruction
  | EnvInstruction
  | CopyInstruction
  | WordInstruction
  | ListInstruction
  | CommandInstruction
  | ShellInstruction
  | HealthcheckInstruction
  | OnbuildInstruction
  | RunInstruction;

export interface Stage {
  /** Its position (FROM ... AS x is also stage 0, 1, ...). */
  index: number;
  from: FromInstruction;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** How errors name the file ("Dockerfile", "ci/Dockerfile.prod"). */
  file: string;
  escape: string;
  /** ARGs before the first FROM: they may be used in FROM lines. */
  metaArgs: ArgInstruction[];
  stages: Stage[];
  warnings: string[];
}

const KNOWN = new Set([
  'from', 'run', 'cmd', 'label', 'maintainer', 'expose', 'env', 'add', 'copy', 'entrypoint',
  'volume', 'user', 'workdir', 'arg', 'onbuild', 'stopsignal', 'healthcheck', 'shell',
]);

const FLAGS: Record<string, readonly string[]> = {
  from: ['platform'],
  copy: ['from', 'chown', 'chmod', 'link'],
  add: ['chown', 'chmod', 'link'],
  healthcheck: ['interval', 'timeout', 'start-period', 'start-interval', 'retries'],
};

/**
 * Flags that may stand alone (`--link`) or take true/false. BuildKit's --link only changes how it
 * caches and rebases the layer; a layer oci-pack writes is the same either way, so it is accepted.
 */
const BOOLEAN_FLAGS: readonly string[] = ['link'];

/** Docker's minimum for HEALTHCHECK durations (container.MinimumDuration). */
const MIN_HEALTH_DURATION_NS = 1e6;

export const RUN_UNSUPPORTED =
  'RUN is not supported: oci-pack builds images without a container runtime, so it cannot run commands; ' +
  'run them beforehand (a script, make, or a container of your own) and COPY the files they produce';

/** Parse and check a Dockerfile's text. */
export function readDockerfile(text: string, file = 'Dockerfile'): Dockerfile {
  const parsed = parseDockerfile(text, file);
  const metaArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  const names = new Set<string>();
  for (const line of parsed.lines) {
    const ins = toInstruction(line, file, parsed.escape);
    if (ins.kind === 'from') {
      if (ins.name !== undefined) {
        if (names.has(ins.name)) throw lineError(file, ins.line, `duplicate stage name ${JSON.stringify(ins.name)}`);
        names.add(ins.name);
      }
      stages.push({ index: stages.length, from: ins, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.kind !== 'arg') throw lineError(file, ins.line, `${line.written.toUpperCase()} before the first FROM: only ARG may come before it`);
      metaArgs.push(ins);
    } else {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  if (stages.length === 0) {
    throw new UserError(`${file}: no FROM instruction${parsed.lines.length === 0 ? ' (the file has no instructions)' : ''}`, 'EINPUT');
  }
  return { file, escape: parsed.escape, metaArgs, stages, warnings: parsed.warnings };
}

/** An ONBUILD trigger of a base image, parsed as the one instruction it must be. */
export function readTrigger(expression: string, file: string, line: number): Instruction {
  const parsed = parseDockerfile(expression, file);
  if (parsed.lines.length !== 1) throw lineError(file, line, `ONBUILD trigger ${JSON.stringify(expression)}: not a single instruction`);
  return { ...toInstruction(parsed.lines[0]!, file, '\\'), line };
}

function toInstruction(l: Line, file: string, escape: string): Instruction {
  const fail = (why: string): UserError => lineError(file, l.line, why);
  const name = l.written.toUpperCase();
  if (!KNOWN.has(l.keyword)) throw fail(`unknown instruction ${l.written}`);
  if (l.keyword === 'run') return { kind: 'run', line: l.line };
  const flags = parseFlags(l, fail);
  const check = (word: string, what: string): string => {
    checkExpansion(word, escape, (why) => fail(`${what}: ${why}`));
    return word;
  };
  const at = { line: l.line };

  switch (l.keyword) {
    case 'from': {
      const words = splitBlanks(l.rest);
      let stage: string | undefined;
      if (words.length === 3 && words[1]!.toLowerCase() === 'as') {
        stage = words[2]!.toLowerCase();
        if (!/^[a-z][a-z0-9-_.]*$/.test(stage)) {
          throw fail(`invalid stage name ${JSON.stringify(words[2])}: it must start with a letter and hold only letters, digits, '-', '_' and '.'`);
        }
      } else if (words.length !== 1) {
        throw fail('FROM takes an image and, optionally, AS NAME');
      }
      const out: FromInstruction = { kind: 'from', ...at, image: check(words[0]!, 'FROM') };
      if (stage !== undefined) out.name = stage;
      if (flags.platform !== undefined) out.platform = check(flags.platform, 'FROM --platform');
      return out;
    }
    case 'arg': {
      const words = splitQuotedWords(l.rest, escape);
      if (words.length === 0) throw fail('ARG needs a NAME or NAME=VALUE');
      return {
        kind: 'arg',
        ...at,
        args: words.map((w) => {
          const eq = w.indexOf('=');
          if (eq === 0) throw fail(`ARG ${w}: the name is empty`);
          return eq < 0 ? { key: w } : { key: w.slice(0, eq), value: check(w.slice(eq + 1), `ARG ${w.slice(0, eq)}`) };
        }),
      };
    }
    case 'env':
    case 'label': {
      const pairs = nameValues(l.rest, name, escape, fail);
      for (const p of pairs) {
        check(p.key, name);
        check(p.value, `${name} ${p.key}`);
      }
      return { kind: l.keyword, ...at, pairs };
    }
    case 'copy':
    case 'add': {
      const json = jsonArray(l.rest);
      if (!json.ok && json.notStrings) throw fail(`${name}: the JSON array must hold strings only`);
      const args = json.ok ? json.values : splitBlanks(l.rest);
      if (args.length < 2) throw fail(`${name} needs at least one source and a destination`);
      const sources: CopySource[] = args.slice(0, -1).map((word) => {
        const m = /^\d*<<-?(["']?)(.+?)\1$/.exec(word);
        const heredoc = !json.ok && m ? l.heredocs.find((h) => h.name === m[2]) : undefined;
        if (heredoc) {
          if (heredoc.expand) checkExpansion(heredoc.content, escape, (why) => fail(`${name} <<${heredoc.name}: ${why}`), false, true);
          return { kind: 'heredoc', heredoc };
        }
        return { kind: 'path', path: check(word, name) };
      });
      const out: CopyInstruction = { kind: l.keyword, ...at, sources, dest: check(args[args.length - 1]!, name) };
      if (flags.from !== undefined) out.from = check(flags.from, `${name} --from`);
      if (flags.chown !== undefined) out.chown = check(flags.chown, `${name} --chown`);
      if (flags.chmod !== undefined) {
        out.chmod = check(flags.chmod, `${name} --chmod`);
        if (!out.chmod.includes('$') && !/^[0-7]{1,4}$/.test(out.chmod)) throw fail(`${name} --chmod=${out.chmod}: expected an octal mode such as 755 or 0644`);
      }
      return out;
    }
    case 'workdir':
    case 'user':
    case 'stopsignal':
    case 'maintainer': {
      if (l.rest === '') throw fail(`${name} needs an argument`);
      const value = l.keyword === 'maintainer' ? l.rest : check(l.rest, name);
      return { kind: l.keyword, ...at, value };
    }
    case 'expose':
    case 'volume': {
      const json = l.keyword === 'volume' ? jsonArray(l.rest) : undefined;
      if (json && !json.ok && json.notStrings) throw fail(`${name}: the JSON array must hold strings only`);
      const values = json?.ok ? json.values : splitBlanks(l.rest);
      if (values.length === 0) throw fail(`${name} needs at least one argument`);
      for (const v of values) {
        if (l.keyword === 'expose') checkExpansion(v, escape, (why) => fail(`EXPOSE: ${why}`), true);
        else check(v, name);
      }
      // Docker sorts EXPOSE's words (as written, before expansion): its history line shows them so.
      if (l.keyword === 'expose') values.sort();
      return { kind: l.keyword, ...at, values };
    }
    case 'cmd':
    case 'entrypoint': {
      const json = jsonArray(l.rest);
      if (!json.ok && json.notStrings) throw fail(`${name}: the JSON array must hold strings only`);
      if (json.ok) return { kind: l.keyword, ...at, args: json.values, shellForm: false };
      return { kind: l.keyword, ...at, args: l.rest === '' ? [] : [l.rest], shellForm: true };
    }
    case 'shell': {
      const json = jsonArray(l.rest);
      if (!json.ok) throw fail('SHELL requires the arguments in JSON form: SHELL ["executable", "parameters"]');
      if (json.values.length === 0) throw fail('SHELL requires at least one argument');
      return { kind: 'shell', ...at, shell: json.values };
    }
    case 'healthcheck':
      return { kind: 'healthcheck', ...at, health: healthcheck(l, flags, fail) };
    case 'onbuild': {
      if (l.rest === '') throw fail('ONBUILD needs an instruction');
      const trigger = l.rest.split(/\s+/u, 1)[0]!.toUpperCase();
      if (trigger === 'ONBUILD') throw fail('chaining ONBUILD via `ONBUILD ONBUILD` is not allowed');
      if (trigger === 'FROM' || trigger === 'MAINTAINER') throw fail(`${trigger} is not allowed as an ONBUILD trigger`);
      const expression = l.original.replace(/^\s*ONBUILD\s*/iu, '');
      const parsed = parseDockerfile(expression, file);
      if (parsed.lines.length !== 1) throw fail('ONBUILD takes one instruction');
      const inner = parsed.lines[0]!;
      if (inner.keyword !== 'run') toInstruction({ ...inner, line: l.line }, file, '\\');
      return { kind: 'onbuild', ...at, expression };
    }
  }
  throw new Error(`instruction ${l.keyword} has no parser`);
}

/** `--name=value` flags into a map, checked against what the instruction takes. */
function parseFlags(l: Line, fail: (why: string) => UserError): Record<string, string | undefined> {
  const allowed = FLAGS[l.keyword] ?? [];
  const out: Record<string, string | undefined> = {};
  const name = l.written.toUpperCase();
  for (const flag of l.flags) {
    const eq = flag.indexOf('=');
    const key = flag.slice(2, eq < 0 ? undefined : eq);
    if (!allowed.includes(key)) {
      const takes = allowed.length === 0 ? 'takes no flags' : `takes ${allowed.map((f) => `--${f}`).join(', ')}`;
      throw fail(`${name}: unknown flag --${key} (${name} ${takes})`);
    }
    if (BOOLEAN_FLAGS.includes(key)) {
      const value = eq < 0 ? 'true' : flag.slice(eq + 1);
      if (value !== 'true' && value !== 'false') throw fail(`${name} --${key}=${value}: expected true or false`);
      if (key in out) throw fail(`${name}: duplicate flag --${key}`);
      out[key] = value;
      continue;
    }
    if (eq < 0) throw fail(`${name}: missing a value on flag --${key} (write --${key}=VALUE)`);
    if (key in out) throw fail(`${name}: duplicate flag --${key}`);
    out[key] = flag.slice(eq + 1);
  }
  return out;
}

/** ENV and LABEL pairs: `K=V K2="v 2"` or the old form `K value with blanks` (docker's parseNameVal). */
function nameValues(rest: string, name: string, escape: string, fail: (why: string) => UserError): KeyValue[] {
  const words = splitQuotedWords(rest, escape);
  if (words.length === 0) throw fail(`${name} needs at least one NAME=VALUE`);
  if (!words[0]!.includes('=')) {
    const m = /^(\S+)[\t\v\f\r ]+([\s\S]+)$/u.exec(rest);
    if (!m) throw fail(`${name} ${rest}: expected NAME=VALUE (or the old form NAME VALUE)`);
    return [{ key: m[1]!, value: m[2]! }];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) throw fail(`${name}: can't find = in ${JSON.stringify(w)}; expected NAME=VALUE`);
    if (eq === 0) throw fail(`${name}: a name cannot be blank (${JSON.stringify(w)})`);
    return { key: w.slice(0, eq), value: w.slice(eq + 1) };
  });
}

function healthcheck(l: Line, flags: Record<string, string | undefined>, fail: (why: string) => UserError): HealthConfig {
  const m = /^(\S+)\s*([\s\S]*)$/u.exec(l.rest);
  if (!m) throw fail('HEALTHCHECK needs NONE or CMD and a command');
  const type = m[1]!.toUpperCase();
  const rest = m[2]!;
  if (type === 'NONE') {
    if (rest !== '') throw fail('HEALTHCHECK NONE takes no arguments');
    if (Object.keys(flags).length > 0) throw fail('HEALTHCHECK NONE takes no flags');
    return { Test: ['NONE'] };
  }
  if (type !== 'CMD') throw fail(`unknown type ${JSON.stringify(m[1])} in HEALTHCHECK (try CMD)`);
  const json = jsonArray(rest);
  if (!json.ok && json.notStrings) throw fail('HEALTHCHECK CMD: the JSON array must hold strings only');
  const args = json.ok ? json.values : rest === '' ? [] : [rest];
  if (args.length === 0) throw fail('HEALTHCHECK CMD needs a command');
  const health: HealthConfig = { Test: [json.ok ? 'CMD' : 'CMD-SHELL', ...args] };
  const durations: Array<[string, 'Interval' | 'Timeout' | 'StartPeriod' | 'StartInterval']> = [
    ['interval', 'Interval'], ['timeout', 'Timeout'], ['start-period', 'StartPeriod'], ['start-interval', 'StartInterval'],
  ];
  for (const [flag, field] of durations) {
    const text = flags[flag];
    if (text === undefined || text === '') continue;
    const ns = parseGoDuration(text);
    if (ns === undefined) throw fail(`HEALTHCHECK --${flag}=${text}: not a duration (e.g. 30s, 1m30s, 500ms)`);
    if (ns < MIN_HEALTH_DURATION_NS) throw fail(`HEALTHCHECK --${flag}=${text}: cannot be less than 1ms`);
    health[field] = ns;
  }
  const retries = flags['retries'];
  if (retries !== undefined && retries !== '') {
    if (!/^[+-]?\d+$/.test(retries)) throw fail(`HEALTHCHECK --retries=${retries}: not a whole number`);
    const n = Number(retries);
    if (n < 1 || n > 2 ** 31 - 1) throw fail(`HEALTHCHECK --retries=${retries}: must be at least 1`);
    health.Retries = n;
  }
  return health;
}

/** Finds quoting and substitution syntax errors now, with every variable set, so none waits for the build. */
function checkExpansion(word: string, escape: string, fail: (why: string) => UserError, words = false, raw = false): void {
  try {
    if (words) expandWords(word, escape, () => 'x');
    else expandWord(word, raw ? '\\' : escape, () => 'x', { raw });
  } catch (err) {
    if (err instanceof ExpandError) throw fail(`${err.message} in ${JSON.stringify(word)}`);
    throw err;
  }
}
