// `oci-pack inspect <layout | archive> [REF]`: images, tags, platforms, config and layers as a
// table for people or --json for scripts; --files lists each image's merged filesystem.
import type { CommandModule } from 'yargs';
import type { InspectedImage } from '../inspect.js';
import { formatPlatform } from '../platform.js';
import { humanSize, type Io } from './io.js';

interface InspectArgs {
  target: string;
  ref?: string;
  files: boolean;
  json: boolean;
  quiet: boolean;
}

export function inspectCommand(io: Io, setStatus: (s: number) => void): CommandModule<object, InspectArgs> {
  return {
    command: 'inspect <target> [ref]',
    describe: 'show the images of a layout or archive: tags, platform, config, layers and sizes',
    builder: (y) =>
      y
        .positional('target', { type: 'string', demandOption: true, describe: 'a layout directory or an archive file' })
        .positional('ref', { type: 'string', describe: 'only the image(s) of this ref name or digest' })
        .option('files', { type: 'boolean', default: false, describe: 'also list the merged filesystem (whiteouts applied)' })
        .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON' })
        .option('quiet', { type: 'boolean', alias: 'q', default: false, describe: 'one line per image' }) as never,
    handler: async (args) => {
      const { inspect } = await import('../inspect.js');
      const report = await inspect(args.target, args.ref === undefined ? undefined : String(args.ref), { files: args.files });
      if (args.json) io.stdout(`${JSON.stringify(report, null, 2)}\n`);
      else for (const image of report.images) io.stdout(args.quiet ? `${image.digest} ${image.tags.join(' ')}\n` : describeImage(image, args.files));
      setStatus(0);
    },
  };
}

function describeImage(image: InspectedImage, files: boolean): string {
  const c = image.config;
  const rows: [string, string | undefined][] = [
    ['Image', image.digest],
    ['Tags', image.tags.join(', ') || '(none)'],
    ['Index', image.index],
    ['Platform', formatPlatform(image.platform)],
    ['Created', image.created],
    ['Author', image.author],
    ['Config', image.configDigest],
    ['Entrypoint', c.Entrypoint ? JSON.stringify(c.Entrypoint) : undefined],
    ['Cmd', c.Cmd ? JSON.stringify(c.Cmd) : undefined],
    ['Env', c.Env?.join('\n')],
    ['User', c.User],
    ['WorkingDir', c.WorkingDir],
    ['Ports', c.ExposedPorts ? Object.keys(c.ExposedPorts).join(', ') : undefined],
    ['Volumes', c.Volumes ? Object.keys(c.Volumes).join(', ') : undefined],
    ['Labels', c.Labels ? Object.entries(c.Labels).map(([k, v]) => `${k}=${v}`).join('\n') : undefined],
    ['StopSignal', c.StopSignal],
    ['Healthcheck', c.Healthcheck ? JSON.stringify(c.Healthcheck) : undefined],
    ['Size', `${humanSize(image.totalSize)} stored, ${humanSize(image.uncompressedSize)} uncompressed`],
  ];
  let out = '';
  for (const [k, v] of rows) {
    if (v === undefined || v === '') continue;
    const [first, ...rest] = v.split('\n');
    out += `${k.padEnd(12)}${first}\n`;
    for (const line of rest) out += `${''.padEnd(12)}${line}\n`;
  }
  out += `Layers\n  ${'#'.padEnd(3)}${'DIGEST'.padEnd(21)}${'STORED'.padStart(10)}${'TAR'.padStart(10)}  CREATED BY\n`;
  for (const [i, l] of image.layers.entries()) {
    out += `  ${String(i + 1).padEnd(3)}${`${l.digest.slice(0, 19)}…`.padEnd(21)}${humanSize(l.size).padStart(10)}${humanSize(l.uncompressedSize).padStart(10)}  ${(l.createdBy ?? '').slice(0, 60)}\n`;
  }
  if (files && image.files) {
    out += 'Files\n';
    for (const f of image.files) {
      out += `  ${f.type.padEnd(9)} ${f.mode.toString(8).padStart(4, '0')} ${`${f.uid}:${f.gid}`.padEnd(9)} ${String(f.size).padStart(10)} ${f.path}${f.linkname !== undefined ? ` -> ${f.linkname}` : ''}\n`;
    }
  }
  return `${out}\n`;
}
