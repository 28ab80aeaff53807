// `oci-pack gc <layout>`: remove blobs nothing in index.json reaches and what dead writers left;
// --dry-run lists them. One line per thing removed; safe beside running writers.
import type { CommandModule } from 'yargs';
import { humanSize, type Io } from './io.js';

interface GcArgs {
  layout: string;
  'dry-run': boolean;
  json: boolean;
  quiet: boolean;
}

export function gcCommand(io: Io, setStatus: (s: number) => void): CommandModule<object, GcArgs> {
  return {
    command: 'gc <layout>',
    describe: 'remove unreachable blobs and the leftovers of killed writers from a layout',
    builder: (y) =>
      y
        .positional('layout', { type: 'string', demandOption: true, describe: 'the OCI layout' })
        .option('dry-run', { type: 'boolean', alias: 'n', default: false, describe: 'list what would be removed; remove nothing' })
        .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' })
        .option('quiet', { type: 'boolean', alias: 'q', default: false, describe: 'no summary line' }) as never,
    handler: async (args) => {
      const dryRun = args['dry-run'];
      const { gc } = await import('../gc.js');
      const result = await gc(args.layout, { dryRun });
      if (args.json) {
        io.stdout(`${JSON.stringify({ dryRun, ...result }, null, 2)}\n`);
      } else {
        for (const b of result.blobs) io.stdout(`${b.digest} ${b.size}\n`);
        for (const l of result.leftovers) io.stdout(`${l}\n`);
        if (!args.quiet) {
          const n = result.blobs.length + result.leftovers.length;
          io.stderr(`${args.layout}: ${dryRun ? 'would remove' : 'removed'} ${n} item(s), ${humanSize(result.bytes)}; ${result.kept} blob(s) in use\n`);
        }
      }
      setStatus(0);
    },
  };
}
