// `oci-pack from-docker <archive|-> <layout>`: every image of a docker-save archive into an OCI
// layout, tagged with its RepoTags; one line per image (manifest digest and tags), or JSON, on stdout.
import type { CommandModule } from 'yargs';
import type { ImportEvent } from '../docker/read.js';
import { usageError } from '../errors.js';
import { archiveArg, humanSize, movedTagNotice, shortDigests, type Io } from './io.js';
import { Progress } from './progress.js';

interface FromDockerArgs {
  archive: string;
  layout: string;
  compression: string;
  'compression-level'?: number;
  quiet: boolean;
  json: boolean;
}

export function fromDockerCommand(io: Io, argv: readonly string[], setStatus: (s: number) => void, stdin: () => NodeJS.ReadableStream): CommandModule<object, FromDockerArgs> {
  return {
    command: 'from-docker <archive> <layout>',
    describe: 'import the images of a docker-save archive (<archive>, or - for stdin) into the OCI layout <layout>',
    builder: (y) =>
      y
        .positional('archive', { type: 'string', demandOption: true, describe: 'a docker-save archive, or - for stdin' })
        .positional('layout', { type: 'string', demandOption: true, describe: 'the layout (created when missing or empty)' })
        .option('compression', { type: 'string', default: 'gzip', requiresArg: true, describe: 'how layers are stored: gzip, none or zstd' })
        .option('compression-level', { type: 'number', requiresArg: true, describe: 'gzip 0-9 (default 4), zstd 1-22' })
        .option('json', { type: 'boolean', default: false, describe: 'print a JSON summary of the images imported' })
        .option('quiet', { type: 'boolean', alias: 'q', default: false, describe: 'no progress or notices on stderr' })
        .example('$0 from-docker hello.tar ./out', 'docker save output into a layout')
        .example('docker save hello | $0 from-docker - ./out', 'straight from docker') as never,
    handler: async (args) => {
      const level = args['compression-level'];
      if (level !== undefined && !Number.isInteger(level)) throw usageError(`--compression-level ${level}: expected a whole number`);
      const archive = archiveArg(args.archive, argv);
      // Loaded here, not at start-up, which the other commands and --version would pay for.
      const [{ parseCompression }, { importDockerArchive }] = await Promise.all([import('../compress.js'), import('../docker/read.js')]);
      const fromStdin = archive === '-';
      const progress = Progress.for(io, args.quiet);
      const moved: Array<{ tag: string; from: string }> = [];
      try {
        const result = await importDockerArchive(fromStdin ? (stdin() as never) : archive, args.layout, {
          compression: parseCompression(args.compression),
          ...(level !== undefined ? { compressionLevel: level } : {}),
          ...(fromStdin ? { where: 'stdin' } : {}),
          onEvent: (e: ImportEvent) => {
            if (e.type === 'tag-moved') {
              moved.push({ tag: e.tag, from: e.from });
              if (!args.quiet) progress.message(`oci-pack: ${movedTagNotice(e.tag, e.from)}\n`);
            } else if (e.type === 'layer-start') {
              progress.start(e.name, `stage ${shortDigests(e.name)}`, e.size);
            } else if (e.type === 'layer-progress') {
              progress.update(e.name, e.bytes);
            } else {
              progress.done(e.name, `${e.layer.digest.slice(0, 19)} ${humanSize(e.layer.size)}`);
            }
          },
        });
        if (args.json) {
          const images = result.images.map(({ image, tags }) => ({
            digest: image.descriptor.digest,
            size: image.descriptor.size,
            mediaType: image.descriptor.mediaType,
            tags,
            platform: image.platform,
            config: { digest: image.configDescriptor.digest, size: image.configDescriptor.size },
            layers: image.layers.map(({ descriptor: l }) => ({ digest: l.digest, diff_id: l.diffId, size: l.size, mediaType: l.mediaType })),
          }));
          io.stdout(`${JSON.stringify({ layout: result.layout, moved, images }, null, 2)}\n`);
        } else {
          for (const { image, tags } of result.images) io.stdout(`${[image.descriptor.digest, ...tags].join(' ')}\n`);
        }
      } finally {
        progress.finish();
      }
      setStatus(0);
    },
  };
}
