// `oci-pack to-docker <archive|->`: a layout's images as a docker-save archive (legacy v1 or
// docker 25+ oci) in a file or on stdout; one line per image on stdout when writing a file.
import type { CommandModule } from 'yargs';
import type { DockerArchiveEvent, DockerArchiveFormat } from '../docker/write.js';
import { usageError } from '../errors.js';
import { parsePlatform } from '../platform.js';
import { archiveArg, type Io } from './io.js';

interface ToDockerArgs {
  archive: string;
  layout: string;
  tag?: string[];
  name?: string;
  platform?: string;
  format: string;
  quiet: boolean;
}

export function toDockerCommand(io: Io, argv: readonly string[], setStatus: (s: number) => void, stdout: () => NodeJS.WritableStream): CommandModule<object, ToDockerArgs> {
  return {
    command: 'to-docker <archive>',
    describe: 'write images of an OCI layout as a docker-save archive (<archive> or - for stdout)',
    builder: (y) =>
      y
        .positional('archive', { type: 'string', demandOption: true, describe: 'the archive to write, or - for stdout' })
        .option('layout', { type: 'string', default: './out', requiresArg: true, describe: 'the OCI layout to read' })
        .option('tag', { type: 'string', array: true, requiresArg: true, describe: 'REF: take only this image (repeatable); NAME:TAG also names a bare-tag image' })
        .option('name', { type: 'string', requiresArg: true, describe: 'REPO for images whose ref name is a bare tag (v1 becomes REPO:v1)' })
        .option('platform', { type: 'string', requiresArg: true, describe: 'OS/ARCH[/VARIANT] an image index is resolved to (default: this machine)' })
        .option('format', { type: 'string', default: 'v1', requiresArg: true, describe: 'v1 (docker before 25) or oci (docker 25 and later)' })
        .option('quiet', { type: 'boolean', alias: 'q', default: false, describe: 'no warnings on stderr' })
        .example('$0 to-docker hello.tar --layout out', 'every tagged image of ./out')
        .example('$0 to-docker - --layout out | docker load', 'straight into docker') as never,
    handler: async (args) => {
      if (args.format !== 'v1' && args.format !== 'oci') throw usageError(`--format ${args.format}: expected v1 or oci`);
      const archive = archiveArg(args.archive, argv);
      // Loaded here, not at start-up, which the other commands and --version would pay for.
      const { writeDockerArchive } = await import('../docker/write.js');
      const toStdout = archive === '-';
      const result = await writeDockerArchive(args.layout, toStdout ? stdout() : archive, {
        ...(args.tag ? { tags: args.tag } : {}),
        ...(args.name !== undefined ? { name: args.name } : {}),
        ...(args.platform !== undefined ? { platform: parsePlatform(args.platform) } : {}),
        format: args.format as DockerArchiveFormat,
        onEvent: (e: DockerArchiveEvent) => {
          if (e.type === 'warning' && !args.quiet) io.stderr(`oci-pack: warning: ${e.message}\n`);
        },
      });
      if (!toStdout) {
        for (const image of result.images) io.stdout(`${[image.config, ...image.repoTags].join(' ')}\n`);
      }
      setStatus(0);
    },
  };
}
