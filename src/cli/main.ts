// The command line: yargs parses, a command calls the library and prints; errors become one line
// (user errors) or a stack (bugs), and the exit status is decided here and only here.
import type { Argv, CommandModule } from 'yargs';
import { isUserError, usageError } from '../errors.js';
import { packageVersion } from '../package.js';
import type { Io } from './io.js';
import { processIo } from './io.js';
import { loadYargs } from './load-yargs.js';

export const EXIT_OK = 0;
export const EXIT_USER = 1;
export const EXIT_USAGE = 2;
export const EXIT_BUG = 70;

/** Runs the CLI with `argv` (no node/script prefix) and returns the exit status. */
export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  let status = EXIT_OK;
  // Answered without loading the parser: start-up time is most of what --version costs.
  if (argv.length === 1 && argv[0] === '--version') {
    io.stdout(`${packageVersion()}\n`);
    return EXIT_OK;
  }
  // Loaded only now: start-up time is most of what a short command costs.
  const yargs = loadYargs();
  const setStatus = (s: number): void => void (status = s);
  // A run names its command first: only that command's module is loaded and given to yargs (the
  // others cost their modules and yargs' bookkeeping). --help, a typo or an option first: all of them.
  const named = argv[0] !== undefined && Object.hasOwn(COMMANDS, argv[0]) ? [COMMANDS[argv[0]]!] : Object.values(COMMANDS);
  const commands = await Promise.all(named.map((load) => load(io, argv, setStatus)));
  const parser = yargs(argv)
    .scriptName('oci-pack')
    .usage('$0 <command> [options]\n\nBuild container images into OCI layouts and docker-save archives, with no daemon.')
    .command(commands)
    .demandCommand(1, 'name a command: layout, to-docker, from-docker, validate, inspect, gc, tag, untag, push, pull, login, index, copy')
    .recommendCommands()
    .strict()
    .help()
    .alias('help', 'h')
    .version(packageVersion())
    .wrap(io.columns ?? 80)
    .exitProcess(false)
    .fail((msg: string | null, err: Error | undefined) => {
      // Validation problems come as a message; errors thrown by a command come as themselves.
      if (err) throw err;
      throw usageError(`${ourWords(msg ?? 'invalid arguments', argv)} (see oci-pack --help)`);
    });
  skipHelpCache(parser);
  try {
    await parser.parseAsync();
    return status;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      // Not a bug: the command has already removed its temporary files and left the layout as it was.
      const where = (err as NodeJS.ErrnoException).path;
      io.stderr(`oci-pack: ${where ? `${where}: ` : ''}${code === 'ENOSPC' ? 'no space left on device' : 'disk quota exceeded'}; nothing was changed\n`);
      return EXIT_USER;
    }
    if (isUserError(err)) {
      io.stderr(`oci-pack: ${err.message}\n`);
      return err.code === 'EUSAGE' ? EXIT_USAGE : EXIT_USER;
    }
    io.stderr(`oci-pack: internal error (a bug; please report it):\n${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    return EXIT_BUG;
  }
}

// Each command types its own arguments; the table holds them as yargs' array form of command() does.
type Load = (io: Io, argv: readonly string[], setStatus: (s: number) => void) => Promise<CommandModule<object, any>>;

/** Each command's module, loaded when the command is run or help lists them all (in this order). */
const COMMANDS: Readonly<Record<string, Load>> = {
  layout: async (io, argv, set) => (await import('./layout.js')).layoutCommand(io, argv, set),
  'to-docker': async (io, argv, set) => (await import('./to-docker.js')).toDockerCommand(io, argv, set, () => process.stdout),
  'from-docker': async (io, argv, set) => (await import('./from-docker.js')).fromDockerCommand(io, argv, set, () => process.stdin),
  push: async (io, _argv, set) => (await import('./push.js')).pushCommand(io, set),
  pull: async (io, _argv, set) => (await import('./pull.js')).pullCommand(io, set),
  login: async (io, _argv, set) => (await import('./login.js')).loginCommand(io, set, () => process.stdin),
  validate: async (io, _argv, set) => (await import('./validate.js')).validateCommand(io, set),
  inspect: async (io, _argv, set) => (await import('./inspect.js')).inspectCommand(io, set),
  gc: async (io, _argv, set) => (await import('./gc.js')).gcCommand(io, set),
  tag: async (io, _argv, set) => (await import('./tag.js')).tagCommand(io, set),
  untag: async (io, _argv, set) => (await import('./tag.js')).untagCommand(io, set),
  index: async (io, _argv, set) => (await import('./index-command.js')).indexCommand(io, set),
  copy: async (io, _argv, set) => (await import('./copy.js')).copyCommand(io, set),
};

/** The names of the commands, as `oci-pack <name>` runs them. */
export const COMMAND_NAMES: readonly string[] = Object.keys(COMMANDS);

/**
 * yargs renders a command's whole help (cliui, wrap-ansi) as soon as its handler starts, only to
 * keep it for a later help in the same process; in a CLI run nothing asks again, and a help that is
 * asked for is rendered then. That rendering was ~40 ms of a `layout` of one file. yargs' types do
 * not name its internal methods, so this finds them and leaves yargs as it is if they are gone
 * (false; a test checks it is true with the yargs we ship).
 */
export function skipHelpCache(parser: Argv): boolean {
  type Internals = { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } } };
  const usage = (parser as unknown as Internals).getInternalMethods?.().getUsageInstance?.();
  if (typeof usage?.cacheHelpMessage !== 'function') return false;
  usage.cacheHelpMessage = () => undefined;
  return true;
}

/** What each command needs, said when yargs finds too few arguments. */
const NEEDS: Record<string, string> = {
  layout: 'layout: name the layout to write: oci-pack layout <dir>',
  'to-docker': 'to-docker: name the archive to write, or - for stdout: oci-pack to-docker <archive|-> [layout]',
  'from-docker': 'from-docker: name the archive (or - for stdin) and the layout: oci-pack from-docker <archive|-> <layout>',
  validate: 'validate: name the layout or archive to check: oci-pack validate <layout|archive>',
  inspect: 'inspect: name the layout or archive to read: oci-pack inspect <layout|archive> [ref]',
  gc: 'gc: name the layout to clean: oci-pack gc <layout>',
  tag: 'tag: name the layout, the image and the new name: oci-pack tag <layout> <src> <dst>',
  untag: 'untag: name the layout and the tag to remove: oci-pack untag <layout> <ref>',
  push: 'push: name the layout, the image and the destination: oci-pack push <layout> <src> docker://HOST/REPO:TAG',
  pull: 'pull: name the image and the layout: oci-pack pull docker://HOST/REPO:TAG <layout>',
  login: 'login: name the registry: oci-pack login <registry>',
  index: 'index: name the layout and the images: oci-pack index <layout> --tag REF <src>...',
  copy: 'copy: name the source and the destination: oci-pack copy oci:DIR:REF oci-archive:TAR:REF',
};

/** yargs' "Not enough non-option arguments: got 0, need at least 1", said as what is missing. */
function ourWords(msg: string, argv: readonly string[]): string {
  if (!/^Not enough non-option arguments/.test(msg)) return msg;
  const command = argv.find((a) => !a.startsWith('-'));
  return (command !== undefined ? NEEDS[command] : undefined) ?? msg;
}
