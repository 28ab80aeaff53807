// `oci-pack to-docker <archive|-> [layout]`: a layout's images as a docker-save archive (legacy v1
// or docker 25+ oci) in a file or on stdout; one line per image (or JSON) on stdout for a file.
import type { CommandModule } from 'yargs';
import type { DockerArchiveEvent, DockerArchiveFormat } from '../docker/write.js';
import { usageError } from '../errors.js';
import { parsePlatform } from '../platform.js';
import { archiveArg, humanSize, shortDigests, type Io } from './io.js';
import { Progress } from './progress.js';

interface ToDockerArgs {
  archive: string;
  layout: string;
  tag?: string[];
  name?: string;
  platform?: string;
  format: string;
  quiet: boolean;
  json: boolean;
}

export const DEFAULT_LAYOUT = './out';

export function toDockerCommand(io: Io, argv: readonly string[], setStatus: (s: number) => void, stdout: () => NodeJS.WritableStream): CommandModule<object, ToDockerArgs> {
  return {
    command: 'to-docker <archive> [layout]',
    describe: 'write images of the OCI layout [layout] as a docker-save archive (<archive>, or - for stdout)',
    builder: (y) =>
      y
        .positional('archive', { type: 'string', demandOption: true, describe: 'the archive to write, or - for stdout' })
        .positional('layout', { type: 'string', describe: 'the OCI layout to read', defaultDescription: DEFAULT_LAYOUT })
        .option('tag', { type: 'string', array: true, requiresArg: true, describe: 'REF: take only this image (repeatable); NAME:TAG also names a bare-tag image; @sha256:DIGEST (or its first digits) an untagged one' })
        .option('name', { type: 'string', requiresArg: true, describe: 'REPO for images whose ref name is a bare tag (v1 becomes REPO:v1)' })
        .option('platform', { type: 'string', requiresArg: true, describe: 'OS/ARCH[/VARIANT] an image index is resolved to (default: this machine)' })
        .option('format', { type: 'string', default: 'v1', requiresArg: true, describe: 'v1 (docker before 25) or oci (docker 25 and later)' })
        .option('json', { type: 'boolean', default: false, describe: 'print a JSON summary of the archive written' })
        .option('quiet', { type: 'boolean', alias: 'q', default: false, describe: 'no progress or warnings on stderr' })
        .example('$0 to-docker hello.tar', 'every tagged image of ./out')
        .example('$0 to-docker - build/out | docker load', 'straight into docker')
        .example('$0 to-docker app.tar --tag @sha256:3f1a', 'an untagged image, by the first digits of its digest') as never,
    handler: async (args) => {
      if (args.format !== 'v1' && args.format !== 'oci') throw usageError(`--format ${args.format}: expected v1 or oci`);
      const layout = layoutArg(args);
      const archive = archiveArg(args.archive, argv);
      // Loaded here, not at start-up, which the other commands and --version would pay for.
      const { writeDockerArchive } = await import('../docker/write.js');
      const toStdout = archive === '-';
      // docker save refuses the same: tar bytes on a terminal help no one.
      if (toStdout && io.stdoutIsTty) throw usageError('to-docker -: stdout is a terminal; redirect it (> hello.tar) or pipe it (| docker load)');
      const progress = Progress.for(io, args.quiet);
      try {
        const result = await writeDockerArchive(layout, toStdout ? stdout() : archive, {
          ...(args.tag ? { tags: args.tag } : {}),
          ...(args.name !== undefined ? { name: args.name } : {}),
          ...(args.platform !== undefined ? { platform: parsePlatform(args.platform) } : {}),
          format: args.format as DockerArchiveFormat,
          onEvent: reporter(args.quiet, progress, toStdout ? 'to stdout' : archive),
        });
        if (args.json) {
          const summary = { archive: toStdout ? '-' : archive, layout, format: result.format, images: result.images.map((i) => ({ config: i.config, manifest: i.manifest, repoTags: i.repoTags })) };
          // On stdout the archive itself goes; its summary then goes to stderr.
          (toStdout ? io.stderr : io.stdout)(`${JSON.stringify(summary, null, 2)}\n`);
        } else if (!toStdout) {
          for (const image of result.images) io.stdout(`${[image.config, ...image.repoTags].join(' ')}\n`);
        }
      } finally {
        progress.finish();
      }
      setStatus(0);
    },
  };
}

/**
 * The layout: positional, else ./out. yargs takes `--layout DIR`, the spelling of the first
 * releases, as the same argument, so old scripts still run; the help shows the positional only.
 */
function layoutArg(args: ToDockerArgs): string {
  if (Array.isArray(args.layout)) throw usageError(`to-docker: the layout is named twice (${(args.layout as string[]).join(' and ')}); give it once, after the archive`);
  return args.layout ?? DEFAULT_LAYOUT;
}

function reporter(quiet: boolean, progress: Progress, archive: string): (e: DockerArchiveEvent) => void {
  let measuring = 0;
  let writing = false;
  return (e) => {
    switch (e.type) {
      case 'warning':
        if (!quiet) progress.message(`oci-pack: warning: ${e.message}\n`);
        break;
      case 'layer-measure':
        if (e.bytes === 0) progress.start(e.layer, `verify ${++measuring}: ${shortDigests(e.layer)}`, e.total);
        else progress.update(e.layer, e.bytes, e.total);
        break;
      case 'layer-verified':
        progress.done(e.layer, `verified ${humanSize(e.size)}`);
        break;
      case 'archive-progress':
        if (!writing) {
          writing = true;
          progress.start('archive', `write ${archive}`);
        }
        progress.update('archive', e.bytes);
        break;
      case 'archive-done':
        progress.done('archive', `${humanSize(e.bytes)} written`);
        break;
    }
  };
}
