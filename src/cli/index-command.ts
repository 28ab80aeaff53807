// `oci-pack index <layout> --tag REF SRC...`: an image index of images already in the layout, one
// entry per platform; prints the index's digest (or a JSON summary).
import type { CommandModule } from 'yargs';
import type { AssembleIndexResult } from '../image-index.js';
import { isBareTag } from '../ref.js';
import type { Io } from './io.js';

interface IndexArgs {
  layout: string;
  sources: string[];
  tag?: string | string[];
  json: boolean;
  quiet: boolean;
}

export function indexCommand(io: Io, setStatus: (s: number) => void): CommandModule<object, IndexArgs> {
  return {
    command: 'index <layout> <sources..>',
    describe: 'assemble a multi-platform image index from images in the OCI layout at <layout>',
    builder: (y) =>
      y
        .positional('layout', { type: 'string', demandOption: true, describe: 'the OCI layout holding the images' })
        .positional('sources', { type: 'string', array: true, demandOption: true, describe: 'each image: a ref name in the layout, or a manifest digest' })
        .option('tag', { type: 'string', requiresArg: true, describe: 'REF the index is recorded under (repeatable)' })
        .option('json', { type: 'boolean', default: false, describe: 'print a JSON summary instead of the digest' })
        .option('quiet', { type: 'boolean', alias: 'q', default: false, describe: 'no warnings on stderr' })
        .example('$0 index out --tag hello:latest hello:amd64 hello:arm64', 'one tag for both platforms') as never,
    handler: async (args) => {
      // Not an array option: that would swallow the SRC_REFs after --tag REF; a repeated flag still
      // comes as an array.
      const tags = args.tag === undefined ? [] : ([] as string[]).concat(args.tag).map(String);
      if (!args.quiet) {
        for (const tag of tags) {
          if (isBareTag(tag)) io.stderr(`oci-pack: warning: --tag ${tag}: a single word; docker-format tools read it as a bare tag of no name (say ${tag}:latest if you meant that)\n`);
        }
      }
      const { assembleIndex } = await import('../image-index.js');
      const result = await assembleIndex({ layout: args.layout, sources: args.sources.map(String), tags });
      io.stdout(args.json ? `${JSON.stringify(indexSummary(result), null, 2)}\n` : `${result.index.digest}\n`);
      setStatus(0);
    },
  };
}

/** What --json prints for an index, here and for `layout --platform A,B`. */
export function indexSummary(result: AssembleIndexResult): object {
  return {
    digest: result.index.digest,
    size: result.index.size,
    mediaType: result.index.mediaType,
    layout: result.layout,
    tags: result.tags,
    manifests: result.manifests.map((m) => ({ digest: m.digest, size: m.size, platform: m.platform })),
  };
}
