// The command line: yargs parses, a command calls the library and prints; errors become one line
// (user errors) or a stack (bugs), and the exit status is decided here and only here.
import { readFile } from 'node:fs/promises';
import yargs from 'yargs';
import { isUserError, usageError } from '../errors.js';
import { layoutCommand } from './layout.js';
import { toDockerCommand } from './to-docker.js';
import { fromDockerCommand } from './from-docker.js';
import type { Io } from './io.js';
import { processIo } from './io.js';

export const EXIT_OK = 0;
export const EXIT_USER = 1;
export const EXIT_USAGE = 2;
export const EXIT_BUG = 70;

/**
 * The version in oci-pack's own package.json, found from this module's file: yargs' default looks
 * for the package.json nearest the current directory, which, installed as a dependency, is the
 * project's. dist/src/cli/main.js and src/cli/main.ts are both three levels down.
 */
export async function ownVersion(): Promise<string> {
  const text = await readFile(new URL('../../../package.json', import.meta.url), 'utf8');
  const version = (JSON.parse(text) as { version?: unknown }).version;
  if (typeof version !== 'string') throw new Error('oci-pack\'s package.json has no version');
  return version;
}

/** Runs the CLI with `argv` (no node/script prefix) and returns the exit status. */
export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  let status = EXIT_OK;
  const parser = yargs(argv)
    .scriptName('oci-pack')
    .usage('$0 <command> [options]\n\nBuild container images into OCI layouts and docker-save archives, with no daemon.')
    .command(layoutCommand(io, argv, (s) => (status = s)))
    .command(toDockerCommand(io, argv, (s) => (status = s), () => process.stdout))
    .command(fromDockerCommand(io, argv, (s) => (status = s), () => process.stdin))
    .demandCommand(1, 'name a command: layout, to-docker, from-docker')
    .recommendCommands()
    .strict()
    .help()
    .alias('help', 'h')
    .version(await ownVersion())
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
    if (isUserError(err)) {
      io.stderr(`oci-pack: ${err.message}\n`);
      return err.code === 'EUSAGE' ? EXIT_USAGE : EXIT_USER;
    }
    io.stderr(`oci-pack: internal error (a bug; please report it):\n${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    return EXIT_BUG;
  }
}
