// `oci-pack push <layout> <SRC_REF> docker://HOST/REPO:TAG`: an image or index of a layout to a
// registry; the pushed name with its digest on stdout, one line per blob on stderr when it is a terminal.
import type { CommandModule } from 'yargs';
import { usageError } from '../errors.js';
import { humanSize, type Io } from './io.js';
import { registryFlags, registryOptions, shortDigest, type RegistryArgs } from './registry-flags.js';

interface PushArgs extends RegistryArgs {
  layout: string;
  src: string;
  dest: string;
  concurrency: number;
  'chunk-size'?: number;
  'mount-from'?: string[];
}

export function pushCommand(io: Io, setStatus: (s: number) => void): CommandModule<object, PushArgs> {
  return {
    command: 'push <layout> <src> <dest>',
    describe: 'push an image or index of an OCI layout to a registry (dest: docker://HOST/REPO[:TAG])',
    builder: (y) =>
      registryFlags(
        y
          .positional('layout', { type: 'string', demandOption: true, describe: 'the OCI layout to read' })
          .positional('src', { type: 'string', demandOption: true, describe: 'the image in the layout: a ref name or sha256:…' })
          .positional('dest', { type: 'string', demandOption: true, describe: 'docker://HOST/REPO[:TAG|@sha256:…]' })
          .option('concurrency', { type: 'number', default: 4, requiresArg: true, describe: 'blobs uploaded at once' })
          .option('chunk-size', { type: 'number', requiresArg: true, describe: 'upload blobs larger than this many bytes in PATCH chunks of it (default 256 MiB; 0: one PUT each)' })
          .option('mount-from', { type: 'string', array: true, requiresArg: true, describe: 'REPO of the same registry to mount blobs from (repeatable)' })
          .example('$0 push out hello:latest docker://localhost:5000/hello:latest', 'push the image tagged hello:latest in ./out'),
      ) as never,
    handler: async (args) => {
      if (!args.dest.startsWith('docker://')) throw usageError(`${args.dest}: the destination must be docker://HOST/REPO[:TAG]`);
      if (args['chunk-size'] !== undefined && !(args['chunk-size'] >= 0)) throw usageError(`--chunk-size ${args['chunk-size']}: expected a number of bytes`);
      if (!(args.concurrency >= 1)) throw usageError(`--concurrency ${args.concurrency}: expected 1 or more`);
      const { pushImage } = await import('../registry/push.js');
      const result = await pushImage({
        ...registryOptions(args),
        layout: args.layout,
        ref: args.src,
        dest: args.dest,
        concurrency: Math.floor(args.concurrency),
        ...(args['chunk-size'] !== undefined ? { chunkSize: args['chunk-size'] } : {}),
        ...(args['mount-from'] ? { mountFrom: args['mount-from'] } : {}),
        onEvent: (e) => {
          if (args.quiet || args.json || !io.stderrIsTty) return;
          if (e.type === 'blob') io.stderr(`blob ${shortDigest(e.digest)} ${e.outcome === 'exists' ? 'already there' : e.outcome} (${humanSize(e.size)})\n`);
          else io.stderr(`manifest ${shortDigest(e.digest)} as ${e.reference}\n`);
        },
      });
      io.stdout(args.json ? `${JSON.stringify(result)}\n` : `${result.dest}\n`);
      setStatus(0);
    },
  };
}
