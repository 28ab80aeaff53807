// The command line: yargs parses, a command calls the library and prints; errors become one line
// (user errors) or a stack (bugs), and the exit status is decided here and only here.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type yargsModule from 'yargs';
import { isUserError, usageError } from '../errors.js';
import { layoutCommand } from './layout.js';
import { toDockerCommand } from './to-docker.js';
import { fromDockerCommand } from './from-docker.js';
import type { Io } from './io.js';
import { processIo } from './io.js';

// yargs' ESM build lays out help with cliui's ESM build, which cuts words at a column's edge
// ("docke" / "r-save"); its CommonJS build wraps at spaces (wrap-ansi).
const yargs = createRequire(import.meta.url)('yargs') as typeof yargsModule;

export const EXIT_OK = 0;
export const EXIT_USER = 1;
export const EXIT_USAGE = 2;
export const EXIT_BUG = 70;

/**
 * The version in oci-pack's own package.json, found from this module's file: yargs' default looks
 * for the package.json nearest the current directory, which, installed as a dependency, is the
 * project's. The compiled module, dist/src/cli/main.js, is three levels below it.
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
};

/** yargs' "Not enough non-option arguments: got 0, need at least 1", said as what is missing. */
function ourWords(msg: string, argv: readonly string[]): string {
  if (!/^Not enough non-option arguments/.test(msg)) return msg;
  const command = argv.find((a) => !a.startsWith('-'));
  return (command !== undefined ? NEEDS[command] : undefined) ?? msg;
}
