// `oci-pack copy SRC DST`: an image or a whole index between any two transports, named as skopeo names
// them; the digest and names written on stdout (or JSON), progress on stderr when it is a terminal.
import type { CommandModule } from 'yargs';
import { parseCompression } from '../compress.js';
import { usageError } from '../errors.js';
import { parsePlatform } from '../platform.js';
import type { ArchiveEvent } from '../transports/oci-archive.js';
import type { LayoutSinkEvent } from '../transports/layout.js';
import { TRANSPORT_FORMS } from '../transports/names.js';
import { humanSize, movedTagNotice, type Io } from './io.js';
import { Progress } from './progress.js';
import { registryFlags, registryOptions, shortDigest, type RegistryArgs } from './registry-flags.js';

interface CopyArgs extends RegistryArgs {
  src: string;
  dst: string;
  all?: boolean;
  platform?: string;
  concurrency: number;
  format: string;
  compression: string;
  'compression-level'?: number;
  'preserve-digests': boolean;
}

export function copyCommand(io: Io, setStatus: (s: number) => void): CommandModule<object, CopyArgs> {
  return {
    command: 'copy <src> <dst>',
    describe: `copy an image or a whole index between transports: ${TRANSPORT_FORMS}`,
    builder: (y) =>
      registryFlags(
        y
          .positional('src', { type: 'string', demandOption: true, describe: 'TRANSPORT:REFERENCE to read' })
          .positional('dst', { type: 'string', demandOption: true, describe: 'TRANSPORT:REFERENCE to write (the REF after a path names the copy)' })
          .option('all', { type: 'boolean', describe: 'copy an index whole, every platform, so its digest survives (the default; --no-all: only this machine\'s image)' })
          .option('platform', { type: 'string', requiresArg: true, describe: 'OS/ARCH[/VARIANT]: copy only that image of an index' })
          .option('concurrency', { type: 'number', default: 4, requiresArg: true, describe: 'blobs moved at once (registries)' })
          .option('format', { type: 'string', default: 'v1', requiresArg: true, describe: 'a docker-archive: destination as v1 (docker before 25) or oci (docker 25 and later)' })
          .option('compression', { type: 'string', default: 'gzip', requiresArg: true, describe: 'how the plain layers of a docker-archive: source are stored: gzip, none or zstd' })
          .option('compression-level', { type: 'number', requiresArg: true, describe: 'gzip 0-9 (default 4), zstd 1-22' })
          .option('preserve-digests', { type: 'boolean', default: false, describe: 'refuse a Docker v2 manifest rather than convert it to OCI for oci: and oci-archive: (a new digest)' })
          .example('$0 copy oci:out:hello oci-archive:hello.tar:hello', 'a layout\'s image into an archive, as skopeo writes one')
          .example('$0 copy oci-archive:hello.tar oci:base:hello', 'the archive\'s only image into ./base, tagged hello')
          .example('$0 copy --platform linux/arm64 oci:out:app oci:arm:app', 'one platform of an index')
          .example('$0 copy oci:out:app docker://localhost:5000/app:v1', 'to a registry') as never,
      ) as never,
    handler: async (args) => {
      if (args.all === true && args.platform !== undefined) throw usageError('--all and --platform: give one (all platforms, or one)');
      if (!(args.concurrency >= 1)) throw usageError(`--concurrency ${args.concurrency}: expected 1 or more`);
      if (args.format !== 'v1' && args.format !== 'oci') throw usageError(`--format ${args.format}: expected v1 or oci`);
      const level = args['compression-level'];
      if (level !== undefined && !Number.isInteger(level)) throw usageError(`--compression-level ${level}: expected a whole number`);
      const compression = parseCompression(args.compression);
      const platform = args.platform !== undefined ? parsePlatform(args.platform) : undefined;
      const options = registryOptions(args);
      // Loaded here, not at start-up, which the other commands and --version would pay for.
      const { copyImage } = await import('../copy.js');
      const progress = Progress.for(io, args.quiet || args.json);
      try {
        const result = await copyImage(args.src, args.dst, {
          ...options,
          all: args.all ?? platform === undefined,
          ...(platform ? { platform } : {}),
          concurrency: Math.floor(args.concurrency),
          dockerFormat: args.format,
          compression,
          ...(level !== undefined ? { compressionLevel: level } : {}),
          preserveDigests: args['preserve-digests'],
          onLayoutEvent: layoutReporter(progress, args.quiet),
          onArchiveEvent: archiveReporter(progress),
        });
        io.stdout(args.json ? `${JSON.stringify(result)}\n` : `${[result.digest, ...result.tags].join(' ')}\n`);
      } finally {
        progress.finish();
      }
      setStatus(0);
    },
  };
}

function layoutReporter(progress: Progress, quiet: boolean): (e: LayoutSinkEvent) => void {
  return (e) => {
    if (e.type === 'tag-moved') {
      if (!quiet) progress.message(`oci-pack: ${movedTagNotice(e.tag, e.from)}\n`);
    } else if (progress.enabled) {
      progress.message(`blob ${shortDigest(e.digest)} ${e.outcome === 'present' ? 'already there' : 'written'} (${humanSize(e.size)})\n`);
    }
  };
}

function archiveReporter(progress: Progress): (e: ArchiveEvent) => void {
  const started = new Set<string>();
  return (e) => {
    const key = `${e.type} ${e.file}`;
    if (!started.has(key)) {
      started.add(key);
      progress.start(key, `${e.type === 'archive-read' ? 'read' : 'write'} ${e.file}`, e.total);
    }
    if (e.done) progress.done(key, `${humanSize(e.bytes)} ${e.type === 'archive-read' ? 'read' : 'written'}`);
    else progress.update(key, e.bytes, e.total);
  };
}
