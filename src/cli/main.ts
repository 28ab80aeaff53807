// The command line: yargs parses, a command calls the library and prints; errors become one line
// (user errors) or a stack (bugs), and the exit status is decided here and only here.
import { createRequire } from 'node:module';
import type yargsModule from 'yargs';
import { isUserError, usageError } from '../errors.js';
import { packageVersion } from '../package.js';
import { layoutCommand } from './layout.js';
import { toDockerCommand } from './to-docker.js';
import { fromDockerCommand } from './from-docker.js';
import { pushCommand } from './push.js';
import { pullCommand } from './pull.js';
import { loginCommand } from './login.js';
import { validateCommand } from './validate.js';
import { inspectCommand } from './inspect.js';
import { gcCommand } from './gc.js';
import { tagCommand, untagCommand } from './tag.js';
import { indexCommand } from './index-command.js';
import { copyCommand } from './copy.js';
import type { Io } from './io.js';
import { processIo } from './io.js';

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
  // Loaded only now: start-up time is most of what a short command costs. yargs' ESM build lays
  // out help with cliui's ESM build, which cuts words at a column's edge ("docke" / "r-save"); its
  // CommonJS build wraps at spaces (wrap-ansi).
  const yargs = createRequire(import.meta.url)('yargs') as typeof yargsModule;
  const parser = yargs(argv)
    .scriptName('oci-pack')
    .usage('$0 <command> [options]\n\nBuild container images into OCI layouts and docker-save archives, with no daemon.')
    .command(layoutCommand(io, argv, (s) => (status = s)))
    .command(toDockerCommand(io, argv, (s) => (status = s), () => process.stdout))
    .command(fromDockerCommand(io, argv, (s) => (status = s), () => process.stdin))
    .command(pushCommand(io, (s) => (status = s)))
    .command(pullCommand(io, (s) => (status = s)))
    .command(loginCommand(io, (s) => (status = s), () => process.stdin))
    .command(validateCommand(io, (s) => (status = s)))
    .command(inspectCommand(io, (s) => (status = s)))
    .command(gcCommand(io, (s) => (status = s)))
    .command(tagCommand(io, (s) => (status = s)))
    .command(untagCommand(io, (s) => (status = s)))
    .command(indexCommand(io, (s) => (status = s)))
    .command(copyCommand(io, (s) => (status = s)))
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
