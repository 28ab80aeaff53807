// One timed run of a command: wall time from here, CPU time and peak RSS from GNU time (which reads
// them from wait4, so a pipeline's children count too), and the size of what the command wrote.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

export interface Sample {
  /** Seconds, measured around the spawn. */
  wall: number;
  /** user + sys seconds of the command and every child it waited for; absent without GNU time. */
  cpu?: number;
  /** Peak resident set of the largest process in the run, in bytes; absent without GNU time. */
  rss?: number;
}

export type Outcome = { ok: true; sample: Sample } | { ok: false; error: string };

const GNU_TIME = '/usr/bin/time';
let gnuTime: boolean | undefined;

/** Whether /usr/bin/time is GNU time (BusyBox's and BSD's have no -f/-o of the same meaning). */
export function haveGnuTime(): boolean {
  if (gnuTime === undefined) {
    const r = spawnSync(GNU_TIME, ['--version'], { encoding: 'utf8' });
    gnuTime = r.status === 0 && /GNU/.test(`${r.stdout}${r.stderr}`);
  }
  return gnuTime;
}

export function haveCommand(cmd: string): boolean {
  if (path.isAbsolute(cmd)) return spawnSync('test', ['-x', cmd]).status === 0;
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { stdio: 'ignore' }).status === 0;
}

/** The last line GNU time wrote with -f '%U %S %M' (a failed command gets a line before it). */
export function parseTimeOutput(text: string): { cpu: number; rss: number } | undefined {
  const last = text.trim().split('\n').pop() ?? '';
  const m = /^(\d+(?:\.\d+)?) (\d+(?:\.\d+)?) (\d+)$/.exec(last.trim());
  if (!m) return undefined;
  return { cpu: Number(m[1]) + Number(m[2]), rss: Number(m[3]) * 1024 };
}

let counter = 0;
/** No run of any tool on any workload should take this long; one that does is stuck. */
const RUN_TIMEOUT_S = 1800;

/** Runs argv once; stdout is discarded, the tail of stderr explains a failure. */
export async function measure(argv: string[]): Promise<Outcome> {
  const timeFile = path.join(os.tmpdir(), `oci-pack-bench-time-${process.pid}-${counter++}.txt`);
  const useTime = haveGnuTime();
  const full = useTime ? [GNU_TIME, '-f', '%U %S %M', '-o', timeFile, ...argv] : argv;
  try {
    const started = process.hrtime.bigint();
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      // Its own process group, so that a run that hangs is killed with every process of its pipeline.
      const child = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
      let stderr = '';
      const timer = setTimeout(() => {
        stderr += `\nkilled after ${RUN_TIMEOUT_S} s`;
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      }, RUN_TIMEOUT_S * 1000);
      child.stderr.setEncoding('utf8').on('data', (t: string) => void (stderr = (stderr + t).slice(-4000)));
      child.on('error', (err) => (clearTimeout(timer), reject(err)));
      child.on('close', (code) => (clearTimeout(timer), resolve({ code, stderr })));
    });
    const wall = Number(process.hrtime.bigint() - started) / 1e9;
    if (code !== 0) {
      const why = stderr.trim().split('\n').filter((l) => !/^Command exited with non-zero status/.test(l)).slice(-3).join(' / ');
      return { ok: false, error: `${code === null ? 'killed' : `exit ${code}`}: ${why || '(no message)'}` };
    }
    if (!useTime) return { ok: true, sample: { wall } };
    const usage = parseTimeOutput(await fs.readFile(timeFile, 'utf8'));
    return { ok: true, sample: usage ? { wall, ...usage } : { wall } };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  } finally {
    await fs.rm(timeFile, { force: true });
  }
}

/** The bytes a run produced: a file's size, or the layers of the first image of an OCI layout. */
export async function outputSize(output: { path: string; kind: 'file' | 'layout' }): Promise<number | undefined> {
  try {
    if (output.kind === 'file') return (await fs.stat(output.path)).size;
    const blob = (digest: string) => path.join(output.path, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
    const index = JSON.parse(await fs.readFile(path.join(output.path, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const manifest = JSON.parse(await fs.readFile(blob(index.manifests[0]!.digest), 'utf8')) as { layers?: Array<{ size: number }> };
    return (manifest.layers ?? []).reduce((sum, l) => sum + l.size, 0);
  } catch {
    return undefined;
  }
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
