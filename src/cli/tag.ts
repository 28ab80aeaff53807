// `oci-pack tag <layout> SRC DST` and `oci-pack untag <layout> REF`: name images without
// rebuilding them, as one change of index.json under its lock.
import type { CommandModule } from 'yargs';
import type { Io } from './io.js';

interface TagArgs {
  layout: string;
  src: string;
  dst: string;
  json: boolean;
  quiet: boolean;
}

interface UntagArgs {
  layout: string;
  ref: string;
  json: boolean;
  quiet: boolean;
}

export function tagCommand(io: Io, setStatus: (s: number) => void): CommandModule<object, TagArgs> {
  return {
    command: 'tag <layout> <src> <dst>',
    describe: 'name the image SRC (a ref name or a digest) also DST; DST moves here if another image held it',
    builder: (y) =>
      y
        .positional('layout', { type: 'string', demandOption: true, describe: 'the OCI layout' })
        .positional('src', { type: 'string', demandOption: true, describe: 'a ref name or a sha256 digest' })
        .positional('dst', { type: 'string', demandOption: true, describe: 'the new ref name' })
        .option('json', { type: 'boolean', default: false, describe: 'print the tagged descriptor as JSON' })
        .option('quiet', { type: 'boolean', alias: 'q', default: false, describe: 'print nothing' }) as never,
    handler: async (args) => {
      const { tagImage } = await import('../tags.js');
      const desc = await tagImage(args.layout, String(args.src), String(args.dst));
      if (args.json) io.stdout(`${JSON.stringify({ tag: String(args.dst), descriptor: desc }, null, 2)}\n`);
      else if (!args.quiet) io.stdout(`${desc.digest} ${String(args.dst)}\n`);
      setStatus(0);
    },
  };
}

export function untagCommand(io: Io, setStatus: (s: number) => void): CommandModule<object, UntagArgs> {
  return {
    command: 'untag <layout> <ref>',
    describe: 'remove the ref name REF from index.json (the blobs stay until gc)',
    builder: (y) =>
      y
        .positional('layout', { type: 'string', demandOption: true, describe: 'the OCI layout' })
        .positional('ref', { type: 'string', demandOption: true, describe: 'the ref name to remove' })
        .option('json', { type: 'boolean', default: false, describe: 'print the removed descriptors as JSON' })
        .option('quiet', { type: 'boolean', alias: 'q', default: false, describe: 'print nothing' }) as never,
    handler: async (args) => {
      const { untagImage } = await import('../tags.js');
      const removed = await untagImage(args.layout, String(args.ref));
      if (args.json) io.stdout(`${JSON.stringify({ untagged: String(args.ref), descriptors: removed }, null, 2)}\n`);
      else if (!args.quiet) for (const d of removed) io.stdout(`${d.digest} ${String(args.ref)}\n`);
      setStatus(0);
    },
  };
}
