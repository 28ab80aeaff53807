// The benchmark: oci-pack and its peers (umoci, buildah, docker's classic builder, skopeo) doing the
// same jobs on the same inputs in one run, reported as ratios (peer time / oci-pack time).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(ROOT, 'dist', 'src', 'cli', 'bin.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SIZE_MB = Number(process.env.BENCH_MB ?? 128);

interface Job {
  name: string;
  /** Run before each timed run (not timed): e.g. remove the previous output. */
  reset: () => Promise<void>;
  /** The command, as argv. */
  cmd: string[];
  /** Tool that must exist for the job to run. */
  tool: string;
}

interface Task {
  title: string;
  ours: Job;
  peers: Job[];
}

function have(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

function timeOnce(cmd: string[]): number {
  const started = process.hrtime.bigint();
  const r = spawnSync(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed: ${r.stderr?.slice(-500)}`);
  return ms;
}

async function median(job: Job): Promise<number | undefined> {
  if (!have(job.tool)) return undefined;
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    await job.reset();
    times.push(timeOnce(job.cmd));
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** A tree like an application's: many small text files and some large, partly incompressible ones. */
async function makeTree(dir: string, totalMb: number): Promise<void> {
  const text = Buffer.from('export function f(x) { return x * 2; } // some source text\n'.repeat(200));
  let left = totalMb * 1024 * 1024;
  let n = 0;
  while (left > 0) {
    const sub = path.join(dir, `pkg${n % 40}`, `mod${n % 7}`);
    await fs.mkdir(sub, { recursive: true });
    const big = n % 50 === 0;
    const size = Math.min(left, big ? 4 * 1024 * 1024 : 12 * 1024);
    // Big files: half random bytes (incompressible), half one repeated byte.
    const data = big ? Buffer.concat([randomBytes(Math.floor(size / 2)), Buffer.alloc(size - Math.floor(size / 2), 0x61)]) : text.subarray(0, size);
    await fs.writeFile(path.join(sub, `file${n}.${big ? 'bin' : 'js'}`), data);
    left -= size;
    n++;
  }
}

function ratio(peer: number | undefined, ours: number | undefined): string {
  if (peer === undefined || ours === undefined) return 'n/a';
  return `${(peer / ours).toFixed(2)}x`;
}

async function main(): Promise<void> {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'oci-pack-bench-'));
  try {
    const tree = path.join(work, 'app');
    await makeTree(tree, SIZE_MB);
    const rm = (...paths: string[]) => async () => {
      for (const p of paths) await fs.rm(p, { recursive: true, force: true });
    };
    const layout = path.join(work, 'layout');
    const umoci = path.join(work, 'umoci');
    const ociArchiveBuildah = path.join(work, 'buildah.tar');
    const ctxDocker = path.join(work, 'ctx');
    await fs.mkdir(ctxDocker);
    await fs.cp(tree, path.join(ctxDocker, 'app'), { recursive: true });
    await fs.writeFile(path.join(ctxDocker, 'Dockerfile'), 'FROM scratch\nCOPY app /app\n');
    const dockerTag = `oci-pack-bench-${process.pid}:latest`;

    // The layout the conversion tasks read, and a docker archive for the import tasks.
    const source = path.join(work, 'source');
    timeOnce([process.execPath, BIN, 'layout', source, '--add', `${tree}:/app`, '--tag', 'bench:latest', '-q']);
    const archive = path.join(work, 'source.tar');
    timeOnce([process.execPath, BIN, 'to-docker', archive, '--layout', source, '-q']);

    const tasks: Task[] = [
      {
        title: `a ${SIZE_MB} MB directory tree into a gzip layer of a new image`,
        ours: { name: 'oci-pack layout --add', tool: 'node', reset: rm(layout), cmd: [process.execPath, BIN, 'layout', layout, '--add', `${tree}:/app`, '--tag', 'b:1', '-q'] },
        peers: [
          {
            name: 'umoci init + new + insert',
            tool: 'umoci',
            reset: rm(umoci),
            cmd: ['sh', '-c', `umoci init --layout ${umoci} && umoci new --image ${umoci}:b && umoci insert --image ${umoci}:b ${tree} /app`],
          },
          {
            name: 'buildah from scratch + copy + commit oci-archive',
            tool: 'buildah',
            reset: rm(ociArchiveBuildah),
            cmd: ['sh', '-c', `c=$(buildah from scratch) && buildah copy -q $c ${tree} /app >/dev/null && buildah commit -q $c oci-archive:${ociArchiveBuildah} >/dev/null; s=$?; buildah rm $c >/dev/null; exit $s`],
          },
          {
            name: 'docker build (classic builder, FROM scratch, COPY)',
            tool: 'docker',
            reset: async () => void spawnSync('docker', ['rmi', '-f', dockerTag], { stdio: 'ignore' }),
            cmd: ['sh', '-c', `DOCKER_BUILDKIT=0 docker build -q --no-cache -t ${dockerTag} ${ctxDocker} >/dev/null`],
          },
        ],
      },
      {
        title: 'the layout as a docker-save archive',
        ours: { name: 'oci-pack to-docker', tool: 'node', reset: rm(path.join(work, 'ours.tar')), cmd: [process.execPath, BIN, 'to-docker', path.join(work, 'ours.tar'), '--layout', source, '-q'] },
        peers: [
          { name: 'skopeo copy oci: docker-archive:', tool: 'skopeo', reset: rm(path.join(work, 'skopeo.tar')), cmd: ['skopeo', 'copy', '-q', `oci:${source}:bench:latest`, `docker-archive:${path.join(work, 'skopeo.tar')}:bench:latest`] },
        ],
      },
      {
        title: 'a docker-save archive into a layout (gzip)',
        ours: { name: 'oci-pack from-docker', tool: 'node', reset: rm(path.join(work, 'imported')), cmd: [process.execPath, BIN, 'from-docker', archive, path.join(work, 'imported')] },
        peers: [
          { name: 'skopeo copy --dest-compress docker-archive: oci:', tool: 'skopeo', reset: rm(path.join(work, 'skopeo-oci')), cmd: ['skopeo', 'copy', '-q', '--dest-compress', `docker-archive:${archive}`, `oci:${path.join(work, 'skopeo-oci')}:bench:latest`] },
        ],
      },
    ];

    const lines: string[] = [];
    lines.push(`oci-pack benchmark: ${SIZE_MB} MB tree, median of ${RUNS} runs, ${os.cpus().length} cores, Node ${process.version}`);
    lines.push('ratio = peer time / oci-pack time (above 1: oci-pack is faster)');
    for (const task of tasks) {
      const ours = await median(task.ours);
      lines.push('', `## ${task.title}`, `  ${task.ours.name.padEnd(52)} ${ours?.toFixed(0).padStart(7)} ms`);
      for (const peer of task.peers) {
        let t: number | undefined;
        try {
          t = await median(peer);
        } catch (err) {
          lines.push(`  ${peer.name.padEnd(52)} failed: ${(err as Error).message.split('\n')[0]}`);
          continue;
        }
        lines.push(`  ${peer.name.padEnd(52)} ${t === undefined ? '    n/a' : t.toFixed(0).padStart(7)} ms  ratio ${ratio(t, ours)}`);
      }
    }
    spawnSync('docker', ['rmi', '-f', dockerTag], { stdio: 'ignore' });
    console.log(lines.join('\n'));
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

await main();
