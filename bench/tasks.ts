// What is compared: for each workload, the oci-pack command and the peers doing the same work
// (umoci, skopeo, tar piped into pigz or openssl), as argv with the outputs each run leaves behind.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Workload } from './workloads.js';

export type Operation = 'layout' | 'none' | 'to-docker' | 'from-docker' | 'version' | 'hello';

export interface Contestant {
  /** The tool as the report names it; peers are matched by this name in the targets. */
  name: string;
  /** Commands that must be installed; a peer without them is reported missing. */
  needs: string[];
  argv: string[];
  /** What one run writes, measured for the report. */
  output?: { path: string; kind: 'file' | 'layout' };
  /** Paths removed before and after every run, so each run starts from nothing. */
  scratch: string[];
}

export interface Task {
  /** operation/workload, e.g. layout/rootfs; --only matches against it. */
  id: string;
  op: Operation;
  workload: Workload;
  /** The oci-pack command line, for the report. */
  title: string;
  ours: Contestant;
  peers: Contestant[];
  /** Untimed preparation (the layout and archive a conversion reads); throws when it cannot be made. */
  prepare?: () => Promise<void>;
}

export const PEER = {
  umoci: 'umoci insert',
  pigz: 'tar | pigz -6 | sha256sum',
  openssl: 'tar | openssl dgst -sha256',
  skopeo: 'skopeo copy',
  node: 'node -e 0',
} as const;

/** A shell pipeline that fails when any stage fails (sh has no pipefail, bash has). */
function bash(script: string, ...args: string[]): string[] {
  return ['bash', '-c', `set -o pipefail; ${script}`, 'bench', ...args];
}

export function makeTasks(workloads: Workload[], bin: string, out: string): Task[] {
  const node = process.execPath;
  const ociPack = (...args: string[]) => [node, bin, ...args];
  const tasks: Task[] = [];
  const dirs = workloads.filter((w) => w.id !== 'hello');
  // umoci refuses to run as an ordinary user unless told it is rootless.
  const rootless = process.getuid?.() === 0 ? '' : '--rootless';

  for (const w of dirs) {
    const layout = path.join(out, `${w.id}-layout`);
    const umoci = path.join(out, `${w.id}-umoci`);
    tasks.push({
      id: `layout/${w.id}`,
      op: 'layout',
      workload: w,
      title: `layout --add ${w.id}:/`,
      ours: { name: 'oci-pack', needs: [], argv: ociPack('layout', layout, '--add', `${w.path}:/`, '--tag', 'bench:latest', '-q'), output: { path: layout, kind: 'layout' }, scratch: [layout] },
      peers: [
        {
          name: PEER.umoci,
          needs: ['umoci'],
          argv: bash(`umoci init --layout "$1" && umoci new --image "$1:bench" && umoci insert ${rootless} --image "$1:bench" "$2" /`, umoci, w.path),
          output: { path: umoci, kind: 'layout' },
          scratch: [umoci],
        },
        { name: PEER.pigz, needs: ['tar', 'pigz', 'sha256sum'], argv: bash('tar -C "$1" -cf - . | pigz -6 | sha256sum >/dev/null', w.path), scratch: [] },
      ],
    });
    tasks.push({
      id: `none/${w.id}`,
      op: 'none',
      workload: w,
      title: `layout --add ${w.id}:/ --compression none`,
      ours: {
        name: 'oci-pack',
        needs: [],
        argv: ociPack('layout', layout, '--add', `${w.path}:/`, '--compression', 'none', '--tag', 'bench:latest', '-q'),
        output: { path: layout, kind: 'layout' },
        scratch: [layout],
      },
      peers: [{ name: PEER.openssl, needs: ['tar', 'openssl'], argv: bash('tar -C "$1" -cf - . | openssl dgst -sha256 >/dev/null', w.path), scratch: [] }],
    });
  }

  for (const w of dirs.filter((d) => d.id !== 'tiny')) {
    const source = path.join(out, `${w.id}-source`);
    const archive = `${source}.tar`;
    let prepared: Promise<void> | undefined;
    // Both conversions read what oci-pack writes (the peers read it too); made once per workload.
    const prepare = () =>
      (prepared ??= (async () => {
        await fs.rm(source, { recursive: true, force: true });
        await fs.rm(archive, { force: true });
        for (const argv of [ociPack('layout', source, '--add', `${w.path}:/`, '--tag', 'bench:latest', '-q'), ociPack('to-docker', archive, '--layout', source, '-q')]) {
          const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
          if (r.status !== 0) throw new Error(`preparing ${w.id}: ${argv.slice(2, 3).join(' ')} failed: ${(r.stderr ?? r.error?.message ?? '').trim().split('\n').pop()}`);
        }
      })());
    const ours = path.join(out, `${w.id}-ours.tar`);
    const theirs = path.join(out, `${w.id}-skopeo.tar`);
    tasks.push({
      id: `to-docker/${w.id}`,
      op: 'to-docker',
      workload: w,
      title: `to-docker (the ${w.id} image)`,
      prepare,
      ours: { name: 'oci-pack', needs: [], argv: ociPack('to-docker', ours, '--layout', source, '-q'), output: { path: ours, kind: 'file' }, scratch: [ours] },
      peers: [{ name: PEER.skopeo, needs: ['skopeo'], argv: ['skopeo', 'copy', '-q', `oci:${source}:bench:latest`, `docker-archive:${theirs}:bench:latest`], output: { path: theirs, kind: 'file' }, scratch: [theirs] }],
    });
    const oursLayout = path.join(out, `${w.id}-imported`);
    const theirLayout = path.join(out, `${w.id}-skopeo-imported`);
    tasks.push({
      id: `from-docker/${w.id}`,
      op: 'from-docker',
      workload: w,
      title: `from-docker (the ${w.id} archive)`,
      prepare,
      ours: { name: 'oci-pack', needs: [], argv: ociPack('from-docker', archive, oursLayout), output: { path: oursLayout, kind: 'layout' }, scratch: [oursLayout] },
      peers: [
        {
          name: PEER.skopeo,
          needs: ['skopeo'],
          // --dest-compress: docker archives hold plain tars; gzip them as oci-pack does.
          argv: ['skopeo', 'copy', '-q', '--dest-compress', `docker-archive:${archive}`, `oci:${theirLayout}:bench:latest`],
          output: { path: theirLayout, kind: 'layout' },
          scratch: [theirLayout],
        },
      ],
    });
  }

  const nodeStart: Contestant = { name: PEER.node, needs: [], argv: [node, '-e', '0'], scratch: [] };
  tasks.push({ id: 'version', op: 'version', workload: { id: '-', path: '', description: '', bytes: 0, files: 0 }, title: '--version', ours: { name: 'oci-pack', needs: [], argv: ociPack('--version'), scratch: [] }, peers: [nodeStart] });
  const hello = workloads.find((w) => w.id === 'hello');
  if (hello) {
    const layout = path.join(out, 'hello-layout');
    const archive = path.join(out, 'hello.tar');
    tasks.push({
      id: 'hello',
      op: 'hello',
      workload: hello,
      title: 'the hello example end to end (layout, then to-docker)',
      ours: {
        name: 'oci-pack',
        needs: ['bash'],
        argv: bash('"$1" "$2" layout "$3" --add "$5:/hello" --cmd /hello --tag hello:latest -q && "$1" "$2" to-docker "$4" --layout "$3" -q', node, bin, layout, archive, hello.path),
        output: { path: archive, kind: 'file' },
        scratch: [layout, archive],
      },
      peers: [nodeStart],
    });
  }
  return tasks;
}
