// `oci-pack pull docker://HOST/REPO:TAG <layout>`: an image (one platform) or a whole index from a
// registry into a layout; the digest and ref name on stdout, one line per blob on stderr when it is a terminal.
import type { CommandModule } from 'yargs';
import { usageError } from '../errors.js';
import { parsePlatform } from '../platform.js';
import { humanSize, type Io } from './io.js';
import { registryFlags, registryOptions, shortDigest, type RegistryArgs } from './registry-flags.js';

interface PullArgs extends RegistryArgs {
  src: string;
  layout: string;
  tag?: string;
  platform?: string;
  all: boolean;
  concurrency: number;
  'preserve-digests': boolean;
}

export function pullCommand(io: Io, setStatus: (s: number) => void): CommandModule<object, PullArgs> {
  return {
    command: 'pull <src> <layout>',
    describe: 'pull an image or index from a registry into an OCI layout (src: docker://HOST/REPO[:TAG])',
    builder: (y) =>
      registryFlags(
        y
          .positional('src', { type: 'string', demandOption: true, describe: 'docker://HOST/REPO[:TAG|@sha256:…]' })
          .positional('layout', { type: 'string', demandOption: true, describe: 'the OCI layout to write (created when missing)' })
          .option('tag', { type: 'string', requiresArg: true, describe: 'the ref name in the layout (default: the name pulled, e.g. localhost:5000/app:v1)' })
          .option('platform', { type: 'string', requiresArg: true, describe: 'OS/ARCH[/VARIANT] to take from an index (default: this machine)' })
          .option('all', { type: 'boolean', default: false, describe: 'take an index whole, every platform' })
          .option('concurrency', { type: 'number', default: 4, requiresArg: true, describe: 'blobs fetched at once' })
          .option('preserve-digests', { type: 'boolean', default: false, describe: 'refuse a Docker v2 manifest rather than convert it to OCI (a new digest)' })
          .example('$0 pull docker://localhost:5000/hello:latest out', 'into ./out, tagged localhost:5000/hello:latest'),
      ) as never,
    handler: async (args) => {
      if (!args.src.startsWith('docker://')) throw usageError(`${args.src}: the source must be docker://HOST/REPO[:TAG]`);
      if (args.all && args.platform !== undefined) throw usageError('--all and --platform: give one (all platforms, or one)');
      if (!(args.concurrency >= 1)) throw usageError(`--concurrency ${args.concurrency}: expected 1 or more`);
      const { pullImage } = await import('../registry/pull.js');
      const result = await pullImage({
        ...registryOptions(args),
        ref: args.src,
        layout: args.layout,
        all: args.all,
        concurrency: Math.floor(args.concurrency),
        preserveDigests: args['preserve-digests'],
        ...(args.tag !== undefined ? { tag: args.tag } : {}),
        ...(args.platform !== undefined ? { platform: parsePlatform(args.platform) } : {}),
        onEvent: (e) => {
          if (!args.quiet && !args.json && io.stderrIsTty) io.stderr(`blob ${shortDigest(e.digest)} ${e.outcome === 'present' ? 'already in the layout' : 'fetched'} (${humanSize(e.size)})\n`);
        },
      });
      io.stdout(args.json ? `${JSON.stringify(result)}\n` : `${[result.digest, ...result.tags].join(' ')}\n`);
      setStatus(0);
    },
  };
}
