// Building a Dockerfile: each needed stage becomes one buildImage call (COPY, ADD and WORKDIR as
// placed layers, the rest as config changes and empty_layer history), with docker's classic-builder rules.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { buildImage, checkTags, type BuildResult, type ImageOutputOptions, type LayerSource, type Owner } from '../build.js';
import type { Platform } from '../descriptor.js';
import { ancestors, cleanPath, normalise, parentOf, sourceDateEpoch, type Entry, type Normalisation } from '../entries.js';
import { UserError, fileError } from '../errors.js';
import { checkSignal, isoTime, type ConfigChanges, type HealthConfig, type HistoryEntry, type RuntimeConfig } from '../image.js';
import type { LowerTree } from '../lower.js';
import type { Image, Layer } from '../model.js';
import type { Placement } from '../place.js';
import { hostPlatform, parsePlatform } from '../platform.js';
import { ImageFilesystem } from '../sources/image.js';
import { tarballEntries } from '../sources/tarball.js';
import { LayoutTransaction } from '../transaction.js';
import { BuildContext, archiveKind, goPattern, hasWildcards, type ContextSource } from './context.js';
import { MAX_EXPANDED_TOTAL_LENGTH } from '../limits.js';
import { hasTransport } from '../transports/index.js';
import { ExpandError, envLookup, expandWord, expandWords, type Lookup } from './expand.js';
import { stageBaseImage, type FromContext, type FromOptions } from './from.js';
import { formatGoDuration, goList, goQuote, goQuoteList, goQuoteRune } from './gofmt.js';
import {
  RUN_UNSUPPORTED,
  readDockerfile,
  readTrigger,
  type CopyInstruction,
  type Dockerfile,
  type Instruction,
  type Stage,
} from './instructions.js';
import { MAX_DOCKERFILE_BYTES, lineError } from './parse.js';
import { automaticPlatformArgs } from './platform-args.js';

export interface DockerfileBuildOptions extends ImageOutputOptions, FromOptions {
  /**
   * A transaction on `layout` to build in (a multi-platform build's); its owner commits or aborts
   * it. Default: one of the build's own.
   */
  transaction?: LayoutTransaction;
  /** false: the target stage stays in the transaction's staging, not named in index.json (default true). */
  record?: boolean;
  /** The build context directory (default "."). */
  context?: string;
  /** The Dockerfile (default: Dockerfile, else Containerfile, in the context). */
  dockerfile?: string;
  /** --build-arg values. */
  buildArgs?: Record<string, string>;
  /** The stage to build (default: the last). */
  target?: string;
  /** Config changes applied on top of what the Dockerfile sets (as docker build's --label). */
  config?: ConfigChanges;
}

/** The PATH docker gives an image whose config has none (system.DefaultPathEnv on Linux). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DEFAULT_SHELL = ['/bin/sh', '-c'];
/** Mode of a file written from a heredoc (buildkit's llb.Mkfile(..., 0664)). */
const HEREDOC_MODE = 0o664;
/** /etc/passwd and /etc/group are read whole; a larger one is not a real one. */
const MAX_ACCOUNTS_BYTES = 4 * 1024 * 1024;

/** The Dockerfile a build reads when none is named: what was looked for, and what was found. */
export async function findDockerfile(context: string): Promise<string | undefined> {
  for (const name of ['Dockerfile', 'Containerfile']) {
    const p = path.join(context, name);
    const st = await fs.stat(p).catch(() => undefined);
    if (st?.isFile()) return p;
  }
  return undefined;
}

/** Build a Dockerfile into a layout, with the same buildImage the layer flags use. */
export async function buildDockerfile(opts: DockerfileBuildOptions): Promise<BuildResult> {
  checkTags(opts.tags ?? []);
  const contextDir = opts.context ?? '.';
  const context = await BuildContext.open(contextDir);
  const file = opts.dockerfile ?? (await findDockerfile(contextDir));
  if (file === undefined) {
    throw new UserError(`no Dockerfile: looked for ${path.join(contextDir, 'Dockerfile')} and ${path.join(contextDir, 'Containerfile')}`, 'ENOENT');
  }
  const dockerfile = readDockerfile(await readDockerfileText(file), path.normalize(file));
  const emit = opts.onEvent ?? (() => undefined);
  for (const w of dockerfile.warnings) emit({ type: 'warning', message: w });

  const target = targetStage(dockerfile, opts.target);
  for (const stage of dockerfile.stages.slice(0, target.index + 1)) {
    const run = stage.instructions.find((i) => i.kind === 'run');
    if (run) throw lineError(dockerfile.file, run.line, RUN_UNSUPPORTED);
  }
  const buildArgs = opts.buildArgs ?? {};
  const metaArgs = metaArgValues(dockerfile, buildArgs, automaticPlatformArgs(opts.platform ?? hostPlatform()));

  const tx = opts.transaction ?? (await LayoutTransaction.begin(opts.layout));
  try {
    const session = new Session(dockerfile, context, tx, opts, metaArgs);
    const result = await session.stage(target.index, true);
    const unused = Object.keys(buildArgs).filter((k) => !session.consumedArgs.has(k) && !metaArgs.declared.has(k));
    if (unused.length > 0) emit({ type: 'warning', message: `one or more build-args [${unused.join(' ')}] were not consumed` });
    return result;
  } finally {
    // Every stage and base staged in it: what the recorded image does not use goes with the staging.
    if (!opts.transaction) await tx.abort();
  }
}

async function readDockerfileText(file: string): Promise<string> {
  let st;
  try {
    st = await fs.stat(file);
  } catch (err) {
    throw fileError(file, err);
  }
  if (!st.isFile()) throw new UserError(`${file}: not a file`, 'EINPUT');
  if (st.size > MAX_DOCKERFILE_BYTES) throw new UserError(`${file}: ${st.size} bytes, more than the ${MAX_DOCKERFILE_BYTES} a Dockerfile may have`, 'EINPUT');
  return fs.readFile(file, 'utf8');
}

function targetStage(dockerfile: Dockerfile, target: string | undefined): Stage {
  if (target === undefined) return dockerfile.stages[dockerfile.stages.length - 1]!;
  const found = dockerfile.stages.find((s) => s.from.name === target.toLowerCase());
  if (!found) {
    const names = dockerfile.stages.map((s) => s.from.name).filter((n): n is string => n !== undefined);
    throw new UserError(`--target ${target}: ${dockerfile.file} has no stage of that name${names.length > 0 ? ` (stages: ${names.join(', ')})` : ' (no FROM ... AS NAME)'}`, 'EUSAGE');
  }
  return found;
}

interface MetaArgs {
  /** Values of the ARGs before the first FROM (with --build-arg applied); undefined: declared, unset. */
  values: Map<string, string | undefined>;
  declared: Set<string>;
}

/**
 * The ARGs before the first FROM, each default expanded with the ones before it, on top of
 * BuildKit's automatic platform ARGs (which a bare global `ARG TARGETARCH` keeps).
 */
function metaArgValues(dockerfile: Dockerfile, buildArgs: Record<string, string>, automatic: Record<string, string>): MetaArgs {
  const values = new Map<string, string | undefined>(Object.entries(automatic));
  const declared = new Set<string>();
  const lookup: Lookup = (name) => values.get(name);
  for (const ins of dockerfile.metaArgs) {
    for (const arg of ins.args) {
      const given = Object.hasOwn(buildArgs, arg.key) ? buildArgs[arg.key] : undefined;
      const value = given ?? (arg.value === undefined ? automatic[arg.key] : expand(dockerfile, ins.line, arg.value, lookup));
      values.set(arg.key, value);
      declared.add(arg.key);
    }
  }
  return { values, declared };
}

function expand(dockerfile: Dockerfile, line: number, word: string, lookup: Lookup): string {
  try {
    return counted(dockerfile, line, expandWord(word, dockerfile.escape, lookup));
  } catch (err) {
    if (err instanceof ExpandError) throw lineError(dockerfile.file, line, `${err.message} in ${shortWord(word)}`);
    throw err;
  }
}

/** Characters expansion has produced for each Dockerfile so far. */
const expandedSoFar = new WeakMap<Dockerfile, number>();

/**
 * Every expanded word counts against MAX_EXPANDED_TOTAL_LENGTH: one word is bounded, but
 * `ENV A1=$A A2=$A ...` on many lines would copy a large value into memory (env, history) many times.
 */
function counted(dockerfile: Dockerfile, line: number, text: string): string {
  const total = (expandedSoFar.get(dockerfile) ?? 0) + text.length;
  if (total > MAX_EXPANDED_TOTAL_LENGTH) {
    throw lineError(dockerfile.file, line, `variable expansion has produced more than ${MAX_EXPANDED_TOTAL_LENGTH} characters in this Dockerfile`);
  }
  expandedSoFar.set(dockerfile, total);
  return text;
}

/** A word as an error shows it: quoted, and cut short when long. */
function shortWord(word: string): string {
  return word.length > 200 ? `${JSON.stringify(word.slice(0, 200))}...` : JSON.stringify(word);
}

/** The state of one stage as its instructions run (docker's dispatchState). */
interface StageState {
  runtime: RuntimeConfig;
  /** ARGs declared in this stage and their values (undefined: no value). */
  args: Map<string, string | undefined>;
  cmdSet: boolean;
  maintainer: string;
  layers: LayerSource[];
  history: HistoryEntry[];
  /** Whether a layer may result (COPY, ADD, a WORKDIR other than "/"): a stage must end with one. */
  mayWriteLayer: boolean;
  /** Whether any instruction (or trigger) ran: with none, the image is the base as it is. */
  changed: boolean;
}

/** A built stage, or a base image staged by digest: something to build on or copy from. */
type StageImage = Image;

class Session {
  private readonly stages = new Map<number, Promise<StageImage>>();
  /** Merged filesystems read so far, by their layers' digests joined with ','. */
  private readonly filesystems = new Map<string, { layers: number; fs: Promise<ImageFilesystem> }>();
  readonly consumedArgs = new Set<string>();
  private readonly epoch: number;
  private spoolCount = 0;

  constructor(
    private readonly dockerfile: Dockerfile,
    private readonly context: BuildContext,
    private readonly tx: LayoutTransaction,
    private readonly opts: DockerfileBuildOptions,
    private readonly metaArgs: MetaArgs,
  ) {
    this.epoch = opts.sourceDateEpoch ?? sourceDateEpoch() ?? 0;
  }

  private get file(): string {
    return this.dockerfile.file;
  }

  /** What FROM and COPY --from need to find an image, and to stage its blobs. */
  private baseContext(where: string, platform: Platform | undefined): FromContext {
    return {
      layout: this.tx.layout,
      staging: this.tx.staging,
      where,
      ...(platform ? { platform } : {}),
      ...(this.opts.pull !== undefined ? { pull: this.opts.pull } : {}),
      ...(this.opts.registry !== undefined ? { registry: this.opts.registry } : {}),
      ...(this.opts.compression !== undefined ? { compression: this.opts.compression } : {}),
      ...(this.opts.compressionLevel !== undefined ? { compressionLevel: this.opts.compressionLevel } : {}),
    };
  }

  /** Build stage `index` once (later requests share the result); the final one is recorded with the tags. */
  stage(index: number, final: true): Promise<BuildResult>;
  stage(index: number, final: false): Promise<StageImage>;
  stage(index: number, final: boolean): Promise<BuildResult | StageImage> {
    if (final) return this.buildStage(index, true) as Promise<BuildResult>;
    let p = this.stages.get(index);
    if (!p) {
      p = (this.buildStage(index, false) as Promise<BuildResult>).then((r) => this.asImage(r, index));
      this.stages.set(index, p);
    }
    return p;
  }

  private asImage(r: BuildResult, index: number): StageImage {
    const name = this.dockerfile.stages[index]!.from.name ?? String(index);
    const { tags: _tags, layout: _layout, ...image } = r;
    return { ...image, where: `stage ${name}` };
  }

  private async buildStage(index: number, final: boolean): Promise<BuildResult> {
    const stage = this.dockerfile.stages[index]!;
    const from = stage.from;
    const metaLookup: Lookup = (name) => this.metaArgs.values.get(name);
    const imageName = expand(this.dockerfile, from.line, from.image, metaLookup);
    const platformText = from.platform !== undefined ? expand(this.dockerfile, from.line, from.platform, metaLookup) : undefined;
    const wanted = platformText ? parsePlatform(platformText, `${this.file}:${from.line}: FROM --platform`) : this.opts.platform;
    const where = `${this.file}:${from.line}: FROM ${imageName}`;
    const base = await this.resolve(imageName, index, wanted, where);

    const state: StageState = {
      runtime: structuredClone(base?.config.config ?? {}),
      args: new Map(),
      cmdSet: false,
      maintainer: '',
      layers: [],
      history: [],
      mayWriteLayer: false,
      changed: false,
    };
    const triggers = state.runtime.OnBuild ?? [];
    delete state.runtime.OnBuild;
    if (triggers.length > 0 || stage.instructions.length > 0) {
      state.changed = true;
      const env = state.runtime.Env ?? [];
      if (!env.some((e) => e.split('=', 1)[0] === 'PATH')) state.runtime.Env = [...env, `PATH=${DEFAULT_PATH}`];
    }
    for (const trigger of triggers) {
      const ins = readTrigger(trigger, this.file, from.line);
      if (ins.kind === 'run') throw lineError(this.file, from.line, `the base image's ONBUILD trigger ${JSON.stringify(trigger)}: ${RUN_UNSUPPORTED}`);
      await this.dispatch(ins, state, stage);
    }
    for (const ins of stage.instructions) await this.dispatch(ins, state, stage);

    if (final && (base?.layers.length ?? 0) === 0 && !state.mayWriteLayer) {
      throw lineError(
        this.file,
        from.line,
        'the image would have no layers (FROM scratch with no COPY, ADD or WORKDIR): an OCI manifest must list at least one, ' +
          'and docker cannot save such an image either; add a COPY of the files the image needs',
      );
    }
    const platform = base ? base.platform : (wanted ?? hostPlatform());
    return buildImage({
      layout: this.tx.layout,
      transaction: this.tx,
      record: final && (this.opts.record ?? true),
      ...(base ? { base, baseTree: async () => (await this.filesystem(base)).lowerTree() } : {}),
      layers: state.layers,
      runtime: state.changed ? state.runtime : structuredClone(base?.config.config ?? {}),
      ...(state.changed ? { author: state.maintainer } : {}),
      history: state.history,
      platform,
      ...(final
        ? { tags: this.opts.tags ?? [], config: this.opts.config ?? {}, annotations: this.opts.annotations ?? {} }
        : {}),
      ...(this.opts.compression !== undefined ? { compression: this.opts.compression } : {}),
      ...(this.opts.compressionLevel !== undefined ? { compressionLevel: this.opts.compressionLevel } : {}),
      preserveMtime: this.opts.preserveMtime ?? false,
      sourceDateEpoch: this.epoch,
      ...(this.opts.concurrency !== undefined ? { concurrency: this.opts.concurrency } : {}),
      ...(this.opts.onEvent ? { onEvent: this.opts.onEvent } : {}),
    });
  }

  /** FROM's image: scratch, an earlier stage, or a local image staged by digest. */
  private async resolve(name: string, index: number, platform: Platform | undefined, where: string): Promise<StageImage | undefined> {
    if (name.toLowerCase() === 'scratch') return undefined;
    const stage = this.dockerfile.stages.slice(0, index).find((s) => s.from.name === name.toLowerCase());
    if (stage) return this.stage(stage.index, false);
    return stageBaseImage(name, this.baseContext(where, platform));
  }

  /** The merged filesystem of an image, read once per set of layers (a longer one continues a shorter). */
  private filesystem(image: Pick<Image, 'layers' | 'where'>): Promise<ImageFilesystem> {
    const digests = image.layers.map((l) => l.descriptor.digest);
    const key = digests.join(',');
    const known = this.filesystems.get(key);
    if (known) return known.fs;
    let longest: { layers: number; fs: Promise<ImageFilesystem> } | undefined;
    for (const [k, v] of this.filesystems) {
      if (v.layers < digests.length && digests.slice(0, v.layers).join(',') === k && (!longest || v.layers > longest.layers)) longest = v;
    }
    const fs = longest ? longest.fs.then((f) => f.extend(image)) : ImageFilesystem.read(image);
    this.filesystems.set(key, { layers: digests.length, fs });
    return fs;
  }

  /**
   * How times already stored in an image or archive go into a layer: kept, as docker copies them,
   * or clamped to SOURCE_DATE_EPOCH when it is set.
   */
  private storedMtime(): 'keep' | 'clamp' {
    return (this.opts.sourceDateEpoch ?? sourceDateEpoch()) !== undefined ? 'clamp' : 'keep';
  }

  private lookup(state: StageState): Lookup {
    const argList: string[] = [];
    for (const [key, value] of state.args) if (value !== undefined) argList.push(`${key}=${value}`);
    return envLookup(state.runtime.Env ?? [], argList);
  }

  private historyEntry(state: StageState, comment: string, empty: boolean, separator = ' #(nop)  '): void {
    const shell = (state.runtime.Shell?.length ? state.runtime.Shell : DEFAULT_SHELL).join(' ');
    const h: HistoryEntry = { created: isoTime(this.epoch), created_by: `${shell}${separator}${comment}` };
    if (state.maintainer) h.author = state.maintainer;
    if (empty) h.empty_layer = true;
    state.history.push(h);
  }

  private async dispatch(ins: Instruction, state: StageState, stage: Stage): Promise<void> {
    const x = (word: string) => expand(this.dockerfile, ins.line, word, this.lookup(state));
    const fail = (why: string) => lineError(this.file, ins.line, why);
    const rt = state.runtime;
    switch (ins.kind) {
      case 'from':
        throw new Error('FROM inside a stage');
      case 'run':
        throw fail(RUN_UNSUPPORTED);
      case 'arg': {
        const parts: string[] = [];
        for (const arg of ins.args) {
          const value = arg.value === undefined ? undefined : x(arg.value);
          const given = Object.hasOwn(this.opts.buildArgs ?? {}, arg.key) ? this.opts.buildArgs![arg.key] : undefined;
          if (given !== undefined) this.consumedArgs.add(arg.key);
          state.args.set(arg.key, given ?? value ?? this.metaArgs.values.get(arg.key));
          parts.push(value === undefined ? arg.key : `${arg.key}=${value}`);
        }
        this.historyEntry(state, `ARG ${parts.join(' ')}`, true);
        return;
      }
      case 'env': {
        const lookup = this.lookup(state);
        const pairs = ins.pairs.map((p) => ({ key: expand(this.dockerfile, ins.line, p.key, lookup), value: expand(this.dockerfile, ins.line, p.value, lookup) }));
        const env = [...(rt.Env ?? [])];
        for (const { key, value } of pairs) {
          const i = env.findIndex((e) => e.split('=', 1)[0] === key);
          if (i >= 0) env[i] = `${key}=${value}`;
          else env.push(`${key}=${value}`);
        }
        rt.Env = env;
        this.historyEntry(state, `ENV ${pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`, true);
        return;
      }
      case 'label': {
        const lookup = this.lookup(state);
        const pairs = ins.pairs.map((p) => ({ key: expand(this.dockerfile, ins.line, p.key, lookup), value: expand(this.dockerfile, ins.line, p.value, lookup) }));
        rt.Labels = { ...(rt.Labels ?? {}) };
        for (const { key, value } of pairs) rt.Labels[key] = value;
        this.historyEntry(state, `LABEL ${pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`, true);
        return;
      }
      case 'maintainer':
        state.maintainer = ins.value;
        this.historyEntry(state, `MAINTAINER ${ins.value}`, true);
        return;
      case 'expose': {
        const lookup = this.lookup(state);
        const ports = ins.values.flatMap((v) => {
          try {
            const words = expandWords(v, this.dockerfile.escape, lookup);
            counted(this.dockerfile, ins.line, words.join(' '));
            return words;
          } catch (err) {
            if (err instanceof ExpandError) throw fail(`${err.message} in ${shortWord(v)}`);
            throw err;
          }
        });
        rt.ExposedPorts = { ...(rt.ExposedPorts ?? {}) };
        for (const p of ports) for (const key of portKeys(p, fail)) rt.ExposedPorts[key] = {};
        this.historyEntry(state, `EXPOSE ${ports.join(' ')}`, true);
        return;
      }
      case 'volume': {
        const volumes = ins.values.map(x);
        if (volumes.some((v) => v.trim() === '')) throw fail('VOLUME specified can not be an empty string');
        rt.Volumes = { ...(rt.Volumes ?? {}) };
        for (const v of volumes) rt.Volumes[v] = {};
        this.historyEntry(state, `VOLUME ${goList(volumes)}`, true);
        return;
      }
      case 'user':
        rt.User = x(ins.value);
        this.historyEntry(state, `USER ${rt.User}`, true);
        return;
      case 'stopsignal': {
        const signal = x(ins.value);
        try {
          checkSignal(signal);
        } catch {
          throw fail(`STOPSIGNAL ${signal}: not a signal name or number`);
        }
        rt.StopSignal = signal;
        this.historyEntry(state, `STOPSIGNAL ${signal}`, true);
        return;
      }
      case 'workdir': {
        const requested = x(ins.value);
        if (requested.includes('\0')) throw fail(`WORKDIR ${JSON.stringify(requested)}: a path cannot hold a NUL byte`);
        const workdir = requested.startsWith('/')
          ? path.posix.normalize(requested).replace(/(.)\/+$/, '$1')
          : path.posix.join('/', rt.WorkingDir ?? '', requested).replace(/(.)\/+$/, '$1');
        rt.WorkingDir = workdir;
        if (workdir !== '/') state.mayWriteLayer = true;
        state.layers.push(this.workdirLayer(workdir, ins.line));
        this.historyEntry(state, `WORKDIR ${workdir}`, false, ' #(nop) ');
        return;
      }
      case 'cmd':
      case 'entrypoint': {
        const line = ins.shellForm ? [...(rt.Shell?.length ? rt.Shell : DEFAULT_SHELL), ...ins.args] : [...ins.args];
        delete rt.ArgsEscaped;
        if (ins.kind === 'cmd') {
          rt.Cmd = line;
          if (ins.args.length > 0) state.cmdSet = true;
          this.historyEntry(state, `CMD ${goQuoteList(line)}`, true);
        } else {
          rt.Entrypoint = line;
          if (!state.cmdSet) delete rt.Cmd;
          this.historyEntry(state, `ENTRYPOINT ${goQuoteList(line)}`, true);
        }
        return;
      }
      case 'shell':
        rt.Shell = [...ins.shell];
        this.historyEntry(state, `SHELL ${goList(ins.shell)}`, true);
        return;
      case 'healthcheck':
        rt.Healthcheck = { ...ins.health };
        this.historyEntry(state, `HEALTHCHECK ${formatHealth(ins.health)}`, true);
        return;
      case 'onbuild':
        rt.OnBuild = [...(rt.OnBuild ?? []), ins.expression];
        this.historyEntry(state, `ONBUILD ${ins.expression}`, true);
        return;
      case 'copy':
      case 'add':
        await this.copy(ins, state, stage, x);
        return;
    }
  }

  /** WORKDIR: the directory in a layer of its own, or no layer when the image already has it. */
  private workdirLayer(workdir: string, line: number): LayerSource {
    return {
      kind: 'placed',
      createdBy: `WORKDIR ${workdir}`,
      where: `${this.file}:${line}: WORKDIR ${workdir}`,
      placements: (epoch, _preserve, below) => {
        const dest = below.tree.resolve(workdir.slice(1), true);
        if (dest === '' || below.tree.directory(dest)) return null;
        const rules: Normalisation = { owner: { uid: 0, gid: 0 }, mtime: 'set', epoch };
        return [{ dest, rules, entries: (d) => single(implicitDir(d, epoch)) }];
      },
    };
  }

  private async copy(ins: CopyInstruction, state: StageState, stage: Stage, x: (w: string) => string): Promise<void> {
    const name = ins.kind.toUpperCase();
    const fail = (why: string) => lineError(this.file, ins.line, why);
    const lookup = this.lookup(state);
    const sources = ins.sources.map((s) =>
      s.kind === 'path'
        ? { kind: 'path' as const, path: x(s.path) }
        : { kind: 'heredoc' as const, name: s.heredoc.name, content: s.heredoc.expand ? expandHeredoc(this.dockerfile, ins.line, s.heredoc.content, lookup) : s.heredoc.content },
    );
    const written = x(ins.dest);
    const chown = ins.chown !== undefined ? x(ins.chown) : undefined;
    const chmodText = ins.chmod !== undefined ? x(ins.chmod) : undefined;
    if (chmodText !== undefined && !/^[0-7]{1,4}$/.test(chmodText)) throw fail(`${name} --chmod=${chmodText}: expected an octal mode such as 755 or 0644`);
    const chmod = chmodText !== undefined ? parseInt(chmodText, 8) : undefined;
    const fromName = ins.from !== undefined ? x(ins.from) : undefined;
    for (const s of sources) {
      if (s.kind === 'path' && /^(https?|git|ssh):\/\/|^git@/.test(s.path)) {
        throw fail(`${name} ${s.path}: downloading is not supported (oci-pack builds from local files only): fetch it first and COPY it`);
      }
    }
    // No file name can hold a NUL byte: a path with one could only fail later, deep in a system call.
    for (const word of [written, ...sources.map((s) => (s.kind === 'path' ? s.path : s.name))]) {
      if (word.includes('\0')) throw fail(`${name} ${JSON.stringify(word)}: a path cannot hold a NUL byte`);
    }
    const destSlash = written.endsWith('/');
    if (sources.length > 1 && !destSlash) throw fail(`When using ${name} with more than one source file, the destination must be a directory and end with a /`);
    const destAbs = normalizeDest(state.runtime.WorkingDir ?? '', written);
    const dest = cleanPath(destAbs);
    if (dest === undefined) throw fail(`${name} ${written}: the destination climbs out of the root`);

    const from = fromName !== undefined ? await this.copySource(fromName, stage, ins.line) : undefined;
    const flags = [fromName !== undefined ? `--from=${fromName} ` : '', chown !== undefined ? `--chown=${chown} ` : '', chmodText !== undefined ? `--chmod=${chmodText} ` : ''].join('');
    const shown = sources.map((s) => (s.kind === 'path' ? s.path : `<<${s.name}`)).join(' ');
    const where = `${this.file}:${ins.line}: ${name} ${shown}`;
    state.mayWriteLayer = true;
    state.layers.push({
      kind: 'placed',
      createdBy: `${name} ${flags}${shown} ${written}`,
      where,
      placements: async (epoch, preserveMtime, below) => {
        // Without --chown, COPY --from keeps the owners the files have in the image (docker's
        // preserveOwnership); files from the context become root's.
        const owner = chown !== undefined ? await this.owner(chown, below, `--chown=${chown}`) : from ? undefined : { uid: 0, gid: 0 };
        const hostRules: Normalisation = {
          ...(owner ? { owner } : {}),
          ...(chmod !== undefined ? { mode: chmod } : {}),
          mtime: preserveMtime ? this.storedMtime() : 'set',
          epoch,
        };
        const items = await this.copyItems(ins, sources, from);
        if (items.length > 1 && !destSlash) throw new UserError(`When using ${name} with more than one source file, the destination must be a directory and end with a /`, 'EINPUT');
        const placements: Placement[] = [];
        const hardLinks = new Map<string, string>();
        for (const item of items) placements.push(...this.place(item, dest, destSlash, below.tree, hostRules, epoch, hardLinks, where));
        if (placements.length === 0) throw new Error('a COPY with no placements');
        return placements;
      },
    });
    this.historyEntry(state, `${name} ${flags}${shown} in ${written} `, false, ' #(nop) ');
  }

  /** COPY --from: an earlier stage by name or number, else an image (as FROM finds one). */
  private async copySource(name: string, stage: Stage, line: number): Promise<{ image: StageImage; fs: ImageFilesystem; name: string }> {
    const earlier = this.dockerfile.stages.slice(0, stage.index);
    const byName = earlier.find((s) => s.from.name === name.toLowerCase()) ?? (/^\d+$/.test(name) ? earlier[Number(name)] : undefined);
    let image: StageImage;
    if (byName) {
      image = await this.stage(byName.index, false);
    } else {
      const where = `${this.file}:${line}: COPY --from=${name}`;
      try {
        image = await stageBaseImage(name, this.baseContext(where, this.opts.platform));
      } catch (err) {
        // A transport reference, or a pull, that failed says why itself; a plain name not tagged
        // in the layout with --pull never was meant as a stage.
        if (!(err instanceof UserError) || err.code !== 'ENOTFOUND' || hasTransport(name) || this.opts.pull !== 'never') throw err;
        const before = earlier.map((s) => s.from.name ?? String(s.index)).join(', ') || 'none';
        throw lineError(this.file, line, `COPY --from=${name}: no stage named ${name} before this line (stages before it: ${before}), and no image tagged ${name} in ${this.tx.layout.root} (--pull never)`);
      }
    }
    return { image, fs: await this.filesystem(image), name };
  }

  /** The sources of a COPY or ADD, wildcards expanded and each one found. */
  private async copyItems(
    ins: CopyInstruction,
    sources: Array<{ kind: 'path'; path: string } | { kind: 'heredoc'; name: string; content: string }>,
    from: { image: StageImage; fs: ImageFilesystem; name: string } | undefined,
  ): Promise<CopyItem[]> {
    const items: CopyItem[] = [];
    for (const s of sources) {
      if (s.kind === 'heredoc') {
        items.push({ kind: 'heredoc', name: s.name, content: Buffer.from(s.content, 'utf8') });
        continue;
      }
      if (from) {
        items.push(...imageItems(from, s.path, () => path.join(this.tx.staging.staging ?? this.tx.layout.root, `spool-${this.spoolCount++}`)));
        continue;
      }
      const found = hasWildcards(s.path) ? await this.context.glob(s.path) : [await this.context.source(s.path)];
      if (found.length === 0) throw new UserError(`${s.path}: no source files were specified (nothing in the context matches)`, 'ENOENT');
      for (const c of found) {
        const kind = ins.kind === 'add' && !c.isDirectory ? await archiveKind(c.hostPath, s.path) : undefined;
        items.push(kind ? { kind: 'archive', source: c } : { kind: 'host', source: c });
      }
    }
    return items;
  }

  /** Where one source goes and what it holds, with docker's rules for directories and trailing slashes. */
  private place(item: CopyItem, dest: string, destSlash: boolean, lower: LowerTree, rules: Normalisation, epoch: number, hardLinks: Map<string, string>, where: string): Placement[] {
    const resolved = lower.resolve(dest, true);
    const intoDirectory = destSlash || resolved === '' || lower.directory(resolved) !== undefined;
    const fileDest = intoDirectory ? join(resolved, item.kind === 'heredoc' ? item.name : item.kind === 'image' ? item.name : item.source.name) : resolved;
    switch (item.kind) {
      case 'heredoc': {
        const entry: Entry = { path: '', type: 'file', mode: HEREDOC_MODE, uid: 0, gid: 0, mtime: epoch, size: item.content.length, open: () => Readable.from([item.content]) };
        return [{ dest: fileDest, rules, entries: (d) => single({ ...entry, path: d }) }];
      }
      case 'host': {
        if (!item.source.isDirectory) return [{ dest: fileDest, rules, entries: (d) => this.context.entries(item.source, d, where, hardLinks) }];
        const source = item.source;
        return this.directoryPlacements(resolved, lower, rules, epoch, (d) => replaceTop(this.context.entries(source, d, where, hardLinks), implicitDir(d, epoch)));
      }
      case 'image': {
        const entries = item.entries;
        const imageRules: Normalisation = { ...rules, mtime: this.storedMtime() };
        if (!item.isDirectory) return [{ dest: fileDest, rules: imageRules, entries: (d) => entries(d) }];
        return this.directoryPlacements(resolved, lower, imageRules, epoch, (d) => replaceTop(entries(d), implicitDir(d, epoch)));
      }
      case 'archive': {
        // Extracted as docker's UntarPath does: the archive's owners and modes, parents root's.
        const archiveRules: Normalisation = { mtime: this.storedMtime(), epoch };
        const hostPath = item.source.hostPath;
        return [{
          dest: resolved,
          rules: archiveRules,
          entries: (d) => extracted(tarballEntries(hostPath, { where: `${where}: ${item.source.rel}` }), d, lower, epoch),
        }];
      }
    }
  }

  /**
   * A directory source's placements: its contents go into `dest`, which, when new, is a 0755
   * directory of the copy's owner while the parents docker creates for it stay root's.
   */
  private directoryPlacements(dest: string, lower: LowerTree, rules: Normalisation, epoch: number, entries: (d: string) => AsyncIterable<Entry>): Placement[] {
    const out: Placement[] = [];
    const parent = parentOf(dest);
    const owner = rules.owner ?? { uid: 0, gid: 0 };
    if (dest !== '' && parent !== '' && (owner.uid !== 0 || owner.gid !== 0) && !lower.directory(dest)) {
      out.push({ dest: parent, rules: { owner: { uid: 0, gid: 0 }, mtime: 'set', epoch }, entries: (d) => single(implicitDir(d, epoch)) });
    }
    out.push({ dest, rules, entries });
    return out;
  }

  /** --chown: numbers as they are, names looked up in the image's /etc/passwd and /etc/group. */
  private async owner(spec: string, below: { layers: readonly Layer[] }, what: string): Promise<Owner> {
    const parts = spec.split(':');
    if (parts.length > 2) throw new UserError(`${what}: expected USER[:GROUP]`, 'EINPUT');
    const user = parts[0]!;
    const group = parts.length === 2 ? parts[1]! : user;
    const numeric = (s: string) => (/^\d{1,10}$/.test(s) && Number(s) <= 0xfffffffe ? Number(s) : undefined);
    let uid = numeric(user);
    let gid = numeric(group);
    if (uid === undefined || gid === undefined) {
      const image = { layers: below.layers, where: what };
      const fsys = await this.filesystem(image);
      if (uid === undefined) uid = await lookupId(fsys, image, 'etc/passwd', user, 2, what);
      if (gid === undefined) gid = await lookupId(fsys, image, 'etc/group', group, 2, what);
    }
    return { uid, gid };
  }
}

type CopyItem =
  | { kind: 'host'; source: ContextSource }
  | { kind: 'archive'; source: ContextSource }
  | { kind: 'heredoc'; name: string; content: Buffer }
  | { kind: 'image'; name: string; isDirectory: boolean; entries: (d: string) => AsyncGenerator<Entry> };

/** COPY --from sources: a path (or pattern) in the image's filesystem, its data spooled when placed. */
function imageItems(from: { image: StageImage; fs: ImageFilesystem; name: string }, written: string, spoolDir: () => string): CopyItem[] {
  // Inside the image's root, as docker resolves it: ".." stops at "/".
  const cleaned = path.posix.normalize(`/${written}`).slice(1).replace(/\/+$/, '');
  let paths: string[];
  if (hasWildcards(written)) {
    const re = goPattern(cleaned);
    paths = [...from.fs.walk()].filter((p) => re.test(p));
    if (paths.length === 0) throw new UserError(`${written}: no source files were specified (nothing in ${from.name} matches)`, 'ENOENT');
  } else {
    paths = [cleaned];
  }
  return paths.map((p) => {
    const resolved = from.fs.resolve(p, true);
    const entry = from.fs.get(resolved);
    if (!entry) throw new UserError(`${written}: no such file or directory in ${from.name}`, 'ENOENT');
    const name = p === '' ? '' : p.slice(p.lastIndexOf('/') + 1);
    let copied: Promise<(d: string) => AsyncGenerator<Entry>> | undefined;
    return {
      kind: 'image' as const,
      name,
      isDirectory: entry.type === 'directory',
      entries: async function* (d: string) {
        copied ??= from.fs.copyOut(from.image, resolved, spoolDir());
        yield* (await copied)(d);
      },
    };
  });
}

async function lookupId(fsys: ImageFilesystem, image: Pick<Image, 'layers' | 'where'>, file: string, name: string, field: number, what: string): Promise<number> {
  const data = await fsys.readFile(image, file, MAX_ACCOUNTS_BYTES);
  const kind = file === 'etc/passwd' ? 'user' : 'group';
  if (data === undefined) throw new UserError(`${what}: the image has no /${file} to look the ${kind} ${JSON.stringify(name)} up in`, 'ENOTFOUND');
  for (const line of data.toString('utf8').split('\n')) {
    const parts = line.split(':');
    if (parts[0] !== name || parts.length <= field) continue;
    const id = parts[field]!;
    if (/^\d{1,10}$/.test(id)) return Number(id);
  }
  throw new UserError(`${what}: no ${kind} ${JSON.stringify(name)} in the image's /${file}`, 'ENOTFOUND');
}

/** COPY's destination: relative to WORKDIR, its trailing slash kept (docker's normalizeDest). */
function normalizeDest(workdir: string, requested: string): string {
  if (requested.startsWith('/')) return requested;
  const joined = path.posix.join('/', workdir, requested).replace(/(.)\/+$/, '$1');
  return requested.endsWith('/') && joined !== '/' ? `${joined}/` : joined;
}

/** EXPOSE's port specs into config keys: ranges become one key per port, as docker's nat.ParsePortSpecs does. */
function portKeys(spec: string, fail: (why: string) => UserError): string[] {
  const m = /^(?:(?:[^:]*):)?(?:(?:[^:]*):)?(\d+)(?:-(\d+))?(?:\/([A-Za-z]+))?$/.exec(spec);
  if (!m) throw fail(`EXPOSE ${spec}: invalid port: expected PORT[-PORT][/tcp|/udp|/sctp]`);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  if (!['tcp', 'udp', 'sctp'].includes(proto)) throw fail(`EXPOSE ${spec}: invalid protocol ${m[3]}`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo > 65535 || hi > 65535 || hi < lo) throw fail(`EXPOSE ${spec}: invalid port range`);
  const out: string[] = [];
  for (let p = lo; p <= hi; p++) out.push(`${p}/${proto}`);
  return out;
}

/** HEALTHCHECK's history text: Go's %q of docker 20.10's *HealthConfig. */
function formatHealth(h: HealthConfig): string {
  const d = (ns: number | undefined) => goQuote(formatGoDuration(ns ?? 0));
  const interval = h.StartInterval !== undefined ? ` ${d(h.StartInterval)}` : '';
  return `&{${goQuoteList(h.Test ?? [])} ${d(h.Interval)} ${d(h.Timeout)} ${d(h.StartPeriod)}${interval} ${goQuoteRune(h.Retries ?? 0)}}`;
}

function expandHeredoc(dockerfile: Dockerfile, line: number, content: string, lookup: Lookup): string {
  try {
    return counted(dockerfile, line, expandWord(content, '\\', lookup, { raw: true }));
  } catch (err) {
    if (err instanceof ExpandError) throw lineError(dockerfile.file, line, `heredoc: ${err.message}`);
    throw err;
  }
}

function join(dir: string, name: string): string {
  return dir === '' ? name : name === '' ? dir : `${dir}/${name}`;
}

function implicitDir(p: string, epoch: number): Entry {
  return { path: p, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: epoch, size: 0 };
}

async function* single(entry: Entry): AsyncGenerator<Entry> {
  yield entry;
}

/** The entries with the first one (the source directory itself) replaced. */
async function* replaceTop(entries: AsyncIterable<Entry>, top: Entry): AsyncGenerator<Entry> {
  let first = true;
  for await (const e of entries) {
    yield first ? top : e;
    first = false;
  }
}

/**
 * A tarball's entries extracted at `dest`: the archive's root is `dest` (a new 0755 directory, or
 * the one below), every path and hard link moves under it, and parents the archive lists not get
 * created as extraction would make them.
 */
async function* extracted(entries: AsyncIterable<Entry>, dest: string, lower: LowerTree, epoch: number): AsyncGenerator<Entry> {
  yield implicitDir(dest, epoch);
  const seen = new Set<string>([dest]);
  for await (const e of entries) {
    if (e.path === '') continue;
    const p = join(dest, e.path);
    if (seen.has(p)) {
      // A directory listed after its contents was made for them already; once in a layer.
      if (e.type === 'directory') continue;
      throw new UserError(`${JSON.stringify(e.path)}: a ${e.type} where the archive's earlier entries made a directory`, 'EINPUT');
    }
    for (const a of ancestors(p)) {
      if (seen.has(a) || a.length < dest.length) continue;
      seen.add(a);
      const below = lower.directory(a);
      yield below ? { ...below } : normalise(implicitDir(a, epoch), { owner: { uid: 0, gid: 0 }, mtime: 'set', epoch });
    }
    seen.add(p);
    const moved: Entry = { ...e, path: p };
    if (e.type === 'link') moved.linkname = join(dest, e.linkname ?? '');
    yield moved;
  }
}

