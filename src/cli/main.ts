// The command line: yargs parses, a command calls the library and prints; errors become one line
// (user errors) or a stack (bugs), and the exit status is decided here and only here.
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
  const { default: yargs } = await import('yargs');
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
    .demandCommand(1, 'name a command: layout, to-docker, from-docker, validate, inspect, gc, tag, untag, push, pull, login, index')
    .recommendCommands()
    .strict()
    .help()
    .alias('help', 'h')
    .version()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((msg: string | null, err: Error | undefined) => {
      // Validation problems come as a message; errors thrown by a command come as themselves.
      if (err) throw err;
      throw usageError(`${msg ?? 'invalid arguments'} (see oci-pack --help)`);
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
