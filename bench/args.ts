// The benchmark's command line: workload sizes, run count, where workloads and results go.
// --quick shrinks every default so the whole harness runs in seconds (the test uses it).
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

export interface Options {
  quick: boolean;
  fresh: boolean;
  runs: number;
  /** Scratch directory: workloads (kept between runs) and the outputs of each run (removed). */
  dir: string;
  /** Where the markdown report is written. */
  out: string;
  rootfsMb: number;
  /** Host folders the rootfs workload samples. */
  rootfsFrom: string[];
  tinyFiles: number;
  /** Sizes of the big workload in MiB; RSS flatness is judged between the smallest and the largest. */
  bigMb: number[];
  /** Run only tasks whose id contains one of these words (e.g. layout, tiny, to-docker). */
  only: string[];
}

export const USAGE = `usage: npm run bench -- [options]
  --quick            small workloads, 1 run (a smoke test of the harness, not a measurement)
  --runs N           alternated runs of each tool (default 3; 1 with --quick)
  --fresh            regenerate the workloads even when valid ones are in --dir
  --dir DIR          scratch directory (default ${path.join(os.tmpdir(), 'oci-pack-bench')})
  --out FILE         the markdown report (default bench/RESULTS.md; DIR/RESULTS-quick.md with --quick)
  --rootfs-mb N      size of the tree copied from /usr (default 250; 8 with --quick)
  --rootfs-from D,D  host folders the rootfs tree is sampled from (default /usr/lib,/usr/share,/usr/bin)
  --tiny-files N     files of 0-200 bytes in 1,111 folders (default 100000; 2000 with --quick)
  --big-mb A,B       sizes of the 4-file big workload in MiB (default 512,2048; 16,64 with --quick)
  --only W,W         only the tasks whose id contains one of the words (layout, none, to-docker, tiny, ...)`;

export class UsageError extends Error {}

function positiveInt(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${flag} ${value}: not a positive integer`);
  return n;
}

/** Parses argv (without node and the script); throws UsageError with a one-line reason. */
export function parseOptions(argv: string[], repoRoot: string): Options | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        quick: { type: 'boolean', default: false },
        fresh: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        runs: { type: 'string' },
        dir: { type: 'string' },
        out: { type: 'string' },
        'rootfs-mb': { type: 'string' },
        'rootfs-from': { type: 'string' },
        'tiny-files': { type: 'string' },
        'big-mb': { type: 'string' },
        only: { type: 'string' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]!);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  const quick = v.quick === true;
  const dir = path.resolve(v.dir ?? path.join(os.tmpdir(), 'oci-pack-bench'));
  const bigMb = (v['big-mb'] ?? (quick ? '16,64' : '512,2048')).split(',').map((s) => positiveInt('big-mb', s.trim()));
  return {
    quick,
    fresh: v.fresh === true,
    runs: positiveInt('runs', v.runs ?? (quick ? '1' : '3')),
    dir,
    out: path.resolve(v.out ?? (quick ? path.join(dir, 'RESULTS-quick.md') : path.join(repoRoot, 'bench', 'RESULTS.md'))),
    rootfsMb: positiveInt('rootfs-mb', v['rootfs-mb'] ?? (quick ? '8' : '250')),
    rootfsFrom: (v['rootfs-from'] ?? '/usr/lib,/usr/share,/usr/bin').split(',').map((s) => path.resolve(s.trim())),
    tinyFiles: positiveInt('tiny-files', v['tiny-files'] ?? (quick ? '2000' : '100000')),
    bigMb: [...new Set(bigMb)].sort((a, b) => a - b),
    only: (v.only ?? '').split(',').map((s) => s.trim()).filter(Boolean),
  };
}
