// `oci-pack from-docker <archive|-> <dir>`: every image of a docker-save archive into an OCI
// layout, tagged with its RepoTags; one line per image (manifest digest and tags) on stdout.
import type { CommandModule } from 'yargs';
import { usageError } from '../errors.js';
import { archiveArg, type Io } from './io.js';

interface FromDockerArgs {
  archive: string;
  dir: string;
  compression: string;
  'compression-level'?: number;
}

export function fromDockerCommand(io: Io, argv: readonly string[], setStatus: (s: number) => void, stdin: () => NodeJS.ReadableStream): CommandModule<object, FromDockerArgs> {
  return {
    command: 'from-docker <archive> <dir>',
    describe: 'import the images of a docker-save archive (<archive> or - for stdin) into the OCI layout at <dir>',
    builder: (y) =>
      y
        .positional('archive', { type: 'string', demandOption: true, describe: 'a docker-save archive, or - for stdin' })
        .positional('dir', { type: 'string', demandOption: true, describe: 'the layout (created when missing or empty)' })
        .option('compression', { type: 'string', default: 'gzip', requiresArg: true, describe: 'how layers are stored: gzip, none or zstd' })
        .option('compression-level', { type: 'number', requiresArg: true, describe: 'gzip 0-9 (default 4), zstd 1-22' })
        .example('$0 from-docker hello.tar ./out', 'docker save output into a layout')
        .example('docker save hello | $0 from-docker - ./out', 'straight from docker') as never,
    handler: async (args) => {
      const level = args['compression-level'];
      if (level !== undefined && !Number.isInteger(level)) throw usageError(`--compression-level ${level}: expected a whole number`);
      const archive = archiveArg(args.archive, argv);
      // Loaded here, not at start-up, which the other commands and --version would pay for.
      const [{ parseCompression }, { importDockerArchive }] = await Promise.all([import('../compress.js'), import('../docker/read.js')]);
      const fromStdin = archive === '-';
      const result = await importDockerArchive(fromStdin ? (stdin() as never) : archive, args.dir, {
        compression: parseCompression(args.compression),
        ...(level !== undefined ? { compressionLevel: level } : {}),
        ...(fromStdin ? { where: 'stdin' } : {}),
      });
      for (const image of result.images) io.stdout(`${[image.manifest.digest, ...image.tags].join(' ')}\n`);
      setStatus(0);
    },
  };
}
