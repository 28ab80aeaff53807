// `oci-pack layout <dir>`: flags → the library's buildImage → the manifest digest (or a JSON
// summary) on stdout. Layer flags keep their command-line order, one layer each.
import * as path from 'node:path';
import type { CommandModule } from 'yargs';
import type { BuildEvent, BuildResult, LayerSource, Owner } from '../build.js';
import { parsePullPolicy } from '../transports/names.js';
import { usageError } from '../errors.js';
import { keyValues, type ConfigChanges } from '../image.js';
import { parsePlatform } from '../platform.js';
import { parseCommand } from '../words.js';
import { registryFlags, registryOptions, type RegistryArgs } from './registry-flags.js';
import { indexSummary } from './index-command.js';
import { humanSize, movedTagNotice, type Io } from './io.js';
import { Progress } from './progress.js';

interface LayoutArgs extends RegistryArgs {
  dir: string;
  from?: string;
  pull: string;
  file?: string;
  context?: string;
  'build-arg'?: string[];
  target?: string;
  add?: string[];
  layer?: string[];
  chown?: string[];
  chmod?: string[];
  entrypoint?: string;
  cmd?: string;
  env?: string[];
  workdir?: string;
  user?: string;
  expose?: string[];
  label?: string[];
  volume?: string[];
  'stop-signal'?: string;
  platform?: string;
  annotation?: string[];
  tag?: string[];
  compression: string;
  'compression-level'?: number;
  'preserve-mtime': boolean;
  json: boolean;
  quiet: boolean;
}

const LAYER_FLAGS = ['add', 'layer', 'chown', 'chmod'] as const;
const DOCKERFILE_FLAGS = ['file', 'context', 'build-arg', 'target'] as const;

export function layoutCommand(io: Io, argv: readonly string[], setStatus: (s: number) => void): CommandModule<object, LayoutArgs> {
  return {
    command: 'layout <dir>',
    describe: 'build an image from local files, or from ./Dockerfile, into the OCI layout at <dir>',
    builder: (y) =>
      registryFlags(y)
        .positional('dir', { type: 'string', demandOption: true, describe: 'the layout (created when missing or empty)' })
        .option('file', { type: 'string', alias: 'f', requiresArg: true, describe: 'the Dockerfile (default: Dockerfile, else Containerfile, in the context); used when no --add or --layer is given' })
        .option('context', { type: 'string', requiresArg: true, describe: 'the Dockerfile build context directory (default: .)' })
        .option('build-arg', { type: 'string', array: true, requiresArg: true, describe: 'K=V for an ARG of the Dockerfile (K alone: its value in this environment)' })
        .option('target', { type: 'string', requiresArg: true, describe: 'the Dockerfile stage to build (default: the last)' })
        .option('from', { type: 'string', requiresArg: true, describe: 'the base image of an --add/--layer build: oci:DIR[:REF], oci-archive:TAR[:REF], docker-archive:TAR[:NAME:TAG|:@N], docker://NAME, or a NAME tagged in <dir> or pulled (see --pull)' })
        .option('pull', { type: 'string', default: 'missing', requiresArg: true, describe: 'plain image names (FROM, COPY --from, --from): never = only tags of <dir>; missing = the registry when <dir> has no such tag; always = the registry' })
        .option('add', { type: 'string', array: true, requiresArg: true, describe: 'SRC:DEST: a host file or directory at the absolute path DEST (one layer each)' })
        .option('layer', { type: 'string', array: true, requiresArg: true, describe: 'TARBALL: an existing tar or tar.gz as one layer' })
        .option('chown', { type: 'string', array: true, requiresArg: true, describe: 'UID[:GID] for the --add flags that follow' })
        .option('chmod', { type: 'string', array: true, requiresArg: true, describe: 'octal mode for the files and directories of the --add flags that follow' })
        .option('entrypoint', { type: 'string', requiresArg: false, describe: 'JSON array, or words split as a shell would (no shell added)' })
        .option('cmd', { type: 'string', requiresArg: false, describe: 'JSON array, or words split as a shell would (no shell added)' })
        .option('env', { type: 'string', array: true, requiresArg: true, describe: 'K=V' })
        .option('workdir', { type: 'string', requiresArg: true, describe: 'absolute working directory' })
        .option('user', { type: 'string', requiresArg: true, describe: 'USER[:GROUP] or UID[:GID]' })
        .option('expose', { type: 'string', array: true, requiresArg: true, describe: 'PORT[/tcp|/udp]' })
        .option('label', { type: 'string', array: true, requiresArg: true, describe: 'K=V, in the config' })
        .option('volume', { type: 'string', array: true, requiresArg: true, describe: 'absolute PATH' })
        .option('stop-signal', { type: 'string', requiresArg: true, describe: 'signal name or number' })
        .option('platform', { type: 'string', requiresArg: true, describe: 'OS/ARCH[/VARIANT] (default: linux and this machine\'s architecture); with a Dockerfile, a comma-separated list builds an image index' })
        .option('annotation', { type: 'string', array: true, requiresArg: true, describe: 'K=V, on the manifest' })
        .option('tag', { type: 'string', array: true, requiresArg: true, describe: 'REF, stored as org.opencontainers.image.ref.name (e.g. hello:latest)' })
        .option('compression', { type: 'string', default: 'gzip', requiresArg: true, describe: 'gzip, none or zstd' })
        .option('compression-level', { type: 'number', requiresArg: true, describe: 'gzip 0-9 (default 4), zstd 1-22' })
        .option('preserve-mtime', { type: 'boolean', default: false, describe: 'keep host mtimes (clamped to SOURCE_DATE_EPOCH when set)' })
        .option('json', { type: 'boolean', default: false, describe: 'print a JSON summary instead of the digest' })
        .option('quiet', { type: 'boolean', alias: 'q', default: false, describe: 'no progress or warnings on stderr' })
        .example('$0 layout ./out --from docker://alpine:3.20 --add ./app:/app --cmd /app', 'an app on a base from a registry (as crane append)')
        .example('$0 layout ./out --tag app:latest', 'build ./Dockerfile against the context .')
        .example('$0 layout ./out --add ./hello:/hello --cmd /hello --tag hello:latest', 'a one-file image')
        .example('$0 layout ./out --layer rootfs.tar.gz --add ./app:/app --workdir /app --entrypoint \'["node","main.js"]\'', 'an app on a base rootfs') as never,
    handler: async (args) => {
      const progress = Progress.for(io, args.quiet);
      try {
        await buildCommand(args, argv, io, progress);
      } finally {
        progress.finish();
      }
      setStatus(0);
    },
  };
}

async function buildCommand(args: LayoutArgs, argv: readonly string[], io: Io, progress: Progress): Promise<void> {
  // Loaded here, not at start-up: `oci-pack --version` and the other commands need none of it.
  // The Dockerfile builder (its parser, FROM's image sources, the docker archive reader) only when
  // there is no --add or --layer: a third of the modules an --add build would load otherwise.
  const [{ buildImage }, { parseCompression }] = await Promise.all([import('../build.js'), import('../compress.js')]);
  const pull = parsePullPolicy(args.pull);
  const layers = layerSources(argv);
  const platforms = args.platform === undefined ? [] : args.platform.split(',').map((p) => parsePlatform(p.trim()));
  const report = reporter(args.quiet, progress);
  const moved: Array<{ tag: string; from: string }> = [];
  const common = {
    layout: args.dir,
    config: configChanges(args),
    ...(platforms.length === 1 ? { platform: platforms[0]! } : {}),
    tags: args.tag ?? [],
    annotations: keyValues(args.annotation ?? [], '--annotation'),
    compression: parseCompression(args.compression),
    ...(args['compression-level'] !== undefined ? { compressionLevel: checkLevel(args['compression-level']) } : {}),
    preserveMtime: args['preserve-mtime'],
    pull,
    registry: registryOptions(args),
    onEvent: (e: BuildEvent) => {
      if (e.type === 'tag-moved') moved.push({ tag: e.tag, from: e.from });
      report(e);
    },
  };
  if (platforms.length > 1) {
    if (layers.length > 0 || args.from !== undefined) throw usageError('--platform: several platforms need a Dockerfile (--from, --add and --layer build one image)');
    const { buildDockerfilePlatforms } = await import('../dockerfile/platforms.js');
    const multi = await buildDockerfilePlatforms({ ...common, ...(await dockerfileOptions(args)), platforms });
    io.stdout(args.json ? `${JSON.stringify({ ...indexSummary(multi), moved }, null, 2)}\n` : `${multi.index.digest}\n`);
    return;
  }
  let result: BuildResult;
  if (layers.length > 0 || args.from !== undefined) {
    const mixed = DOCKERFILE_FLAGS.find((f) => args[f] !== undefined);
    if (mixed) throw usageError(`--${mixed}: a Dockerfile option, and --from/--add/--layer build without a Dockerfile; give one or the other`);
    const from = args.from;
    if (from === undefined) {
      result = await buildImage({ ...common, layers });
    } else {
      if (from === '') throw usageError('--from: the image reference is empty');
      // The base is read in the build's own transaction: an archive unpacks, and a pull lands, in
      // its staging, so nothing of it is published unless the image is.
      const [{ withBaseImage }, { LayoutTransaction }] = await Promise.all([import('../dockerfile/from.js'), import('../transaction.js')]);
      result = await LayoutTransaction.run(args.dir, (tx) =>
        withBaseImage(
          from,
          { layout: tx.layout, staging: tx.staging, where: `--from ${from}`, pull, registry: common.registry, ...(platforms[0] ? { platform: platforms[0] } : {}), compression: common.compression, ...(common.compressionLevel !== undefined ? { compressionLevel: common.compressionLevel } : {}) },
          (base) => buildImage({ ...common, layout: tx.layout, transaction: tx, base, layers }),
        ),
      );
    }
  } else {
    const { buildDockerfile } = await import('../dockerfile/build.js');
    result = await buildDockerfile({ ...common, ...(await dockerfileOptions(args)) });
  }
  if (args.json) {
    io.stdout(
      `${JSON.stringify(
        {
          digest: result.descriptor.digest,
          size: result.descriptor.size,
          mediaType: result.descriptor.mediaType,
          layout: result.layout,
          tags: result.tags,
          moved,
          platform: result.platform,
          config: { digest: result.configDescriptor.digest, size: result.configDescriptor.size },
          layers: result.layers.map(({ descriptor: l }) => ({ digest: l.digest, diff_id: l.diffId, size: l.size, mediaType: l.mediaType })),
        },
        null,
        2,
      )}\n`,
    );
  } else {
    io.stdout(`${result.descriptor.digest}\n`);
  }
}

/** The Dockerfile flags, with the Dockerfile looked up in the context when -f names none. */
async function dockerfileOptions(args: LayoutArgs): Promise<{ context: string; dockerfile: string; buildArgs: Record<string, string>; target?: string }> {
  const { findDockerfile } = await import('../dockerfile/build.js');
  const context = args.context ?? '.';
  const dockerfile = args.file ?? (await findDockerfile(context));
  if (dockerfile === undefined) {
    const shown = (name: string) => (context === '.' ? `./${name}` : path.join(context, name));
    throw usageError(`nothing to build: no --add or --layer, and no Dockerfile (looked for ${shown('Dockerfile')} and ${shown('Containerfile')})`);
  }
  return { context, dockerfile, buildArgs: buildArgs(args['build-arg'] ?? []), ...(args.target !== undefined ? { target: args.target } : {}) };
}

/**
 * --add and --layer in command-line order, each --add taking the --chown and --chmod given before
 * it. yargs collects repeated flags into arrays and loses their interleaving, so the tokens are
 * read again here.
 */
export function layerSources(argv: readonly string[]): LayerSource[] {
  const out: LayerSource[] = [];
  let chown: Owner | undefined;
  let chmod: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--') break;
    const m = /^--(add|layer|chown|chmod)(?:=(.*))?$/s.exec(token);
    if (!m) continue;
    const flag = m[1] as (typeof LAYER_FLAGS)[number];
    let value = m[2];
    if (value === undefined) {
      value = argv[i + 1];
      i++;
      if (value === undefined) throw usageError(`--${flag}: needs a value`);
    }
    switch (flag) {
      case 'add': {
        const { src, dest } = splitAdd(value);
        out.push({ kind: 'add', src, dest, ...(chown ? { chown } : {}), ...(chmod !== undefined ? { chmod } : {}) });
        break;
      }
      case 'layer':
        out.push({ kind: 'tarball', path: value });
        break;
      case 'chown':
        chown = parseOwner(value);
        break;
      case 'chmod':
        chmod = parseMode(value);
        break;
    }
  }
  return out;
}

/** "SRC:DEST" split at the last ":" that starts an absolute DEST. */
export function splitAdd(value: string): { src: string; dest: string } {
  const i = value.lastIndexOf(':/');
  if (i <= 0) throw usageError(`--add ${value}: expected SRC:DEST, with DEST an absolute path in the image`);
  return { src: value.slice(0, i), dest: value.slice(i + 1) };
}

export function parseOwner(value: string): Owner {
  const m = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(value);
  if (!m) throw usageError(`--chown ${value}: expected UID[:GID] as numbers`);
  const uid = Number(m[1]);
  const gid = m[2] === undefined ? uid : Number(m[2]);
  if (uid > 0xfffffffe || gid > 0xfffffffe) throw usageError(`--chown ${value}: ids go up to 4294967294`);
  return { uid, gid };
}

export function parseMode(value: string): number {
  if (!/^0?[0-7]{1,4}$/.test(value)) throw usageError(`--chmod ${value}: expected an octal mode such as 755 or 0644`);
  return parseInt(value, 8);
}

/** --build-arg K=V; K alone takes K's value from this environment, as docker build does (unset: left out). */
export function buildArgs(values: readonly string[], env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq === 0) throw usageError(`--build-arg ${v}: the name is empty`);
    const key = eq < 0 ? v : v.slice(0, eq);
    const value = eq < 0 ? env[key] : v.slice(eq + 1);
    if (value !== undefined) out[key] = value;
  }
  return out;
}

function checkLevel(n: number): number {
  if (!Number.isInteger(n)) throw usageError(`--compression-level ${n}: expected a whole number`);
  return n;
}

function configChanges(args: LayoutArgs): ConfigChanges {
  const c: ConfigChanges = {};
  if (args.entrypoint !== undefined) c.entrypoint = parseCommand(args.entrypoint, '--entrypoint');
  if (args.cmd !== undefined) c.cmd = parseCommand(args.cmd, '--cmd');
  if (args.env) c.env = args.env;
  if (args.workdir !== undefined) c.workdir = args.workdir;
  if (args.user !== undefined) c.user = args.user;
  if (args.expose) c.expose = args.expose;
  if (args.label) c.labels = keyValues(args.label, '--label');
  if (args.volume) c.volumes = args.volume;
  if (args['stop-signal'] !== undefined) c.stopSignal = args['stop-signal'];
  return c;
}

function reporter(quiet: boolean, progress: Progress): (e: BuildEvent) => void {
  return (e) => {
    switch (e.type) {
      case 'warning':
        if (!quiet) progress.message(`oci-pack: warning: ${e.message}\n`);
        break;
      case 'tag-moved':
        if (!quiet) progress.message(`oci-pack: ${movedTagNotice(e.tag, e.from)}\n`);
        break;
      case 'layer-start':
        progress.start(`layer ${e.index}`, `[${e.index + 1}/${e.total}] ${e.createdBy}`);
        break;
      case 'layer-progress':
        progress.update(`layer ${e.index}`, e.bytes);
        break;
      case 'layer-done':
        progress.done(`layer ${e.index}`, `${e.layer.digest.slice(0, 19)} ${humanSize(e.layer.size)}`);
        break;
    }
  };
}
