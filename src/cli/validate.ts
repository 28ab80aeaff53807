// `oci-pack validate <layout | archive>`: every problem of a layout, oci-archive or docker-save
// archive, one line each (`where: what`), exit 1 when there is any; --json for scripts.
import type { CommandModule } from 'yargs';
import type { Io } from './io.js';

interface ValidateArgs {
  target: string;
  json: boolean;
  quiet: boolean;
}

export function validateCommand(io: Io, setStatus: (s: number) => void): CommandModule<object, ValidateArgs> {
  return {
    command: 'validate <target>',
    describe: 'check a layout, an oci-archive or a docker-save archive completely; one line per problem',
    builder: (y) =>
      y
        .positional('target', { type: 'string', demandOption: true, describe: 'a layout directory or an archive file' })
        .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON' })
        .option('quiet', { type: 'boolean', alias: 'q', default: false, describe: 'print problems only, no summary' })
        .example('$0 validate ./out', 'a layout')
        .example('$0 validate hello.tar --json', 'an archive, for a script') as never,
    handler: async (args) => {
      const { validate } = await import('../validate.js');
      const report = await validate(args.target, args.json ? {} : { onProblem: (p) => io.stdout(`${p.where}: ${p.message}\n`) });
      if (args.json) {
        io.stdout(`${JSON.stringify({ ...report, ok: report.problems.length === 0 }, null, 2)}\n`);
      } else if (!args.quiet) {
        const what = `${report.kind}, ${report.images} image(s)`;
        const more = report.truncated ? ' (more not listed)' : '';
        io.stderr(report.problems.length === 0 ? `${args.target}: OK (${what})\n` : `${args.target}: ${report.problems.length} problem(s)${more} (${what})\n`);
      }
      setStatus(report.problems.length === 0 ? 0 : 1);
    },
  };
}
