// The report: the machine it ran on, a summary against the best peer, the targets with PASS/MISS,
// and every contestant's medians, as markdown (bench/RESULTS.md) with hand-written notes kept.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { haveGnuTime } from './measure.js';
import { medianOf, succeeded, type ContestantResult, type TaskResult } from './runner.js';
import { MB, type Verdict } from './targets.js';
import type { Workload } from './workloads.js';

export interface Machine {
  cores: number;
  cpu: string;
  memory: number;
  node: string;
  system: string;
  date: string;
  loadStart: number[];
  loadEnd?: number[];
  tools: string[];
}

const TOOL_VERSIONS: Array<[string, string[]]> = [
  ['umoci', ['--version']],
  ['skopeo', ['--version']],
  ['pigz', ['--version']],
  ['openssl', ['version']],
  ['tar', ['--version']],
];

export function describeMachine(): Machine {
  const tools: string[] = [];
  for (const [cmd, args] of TOOL_VERSIONS) {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    const line = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0];
    tools.push(r.status === 0 && line ? line.replace(/\s*\(Library:.*\)$/, '') : `${cmd}: not installed`);
  }
  return {
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown CPU',
    memory: os.totalmem(),
    node: process.version,
    system: `${os.type()} ${os.release()} ${os.arch()}`,
    date: new Date().toISOString().replace(/:\d\d\.\d+Z$/, ' UTC').replace('T', ' '),
    loadStart: os.loadavg(),
    tools,
  };
}

/** Idle means the 1-minute load stayed under half a core: nobody else was competing for the CPUs. */
function loadNote(m: Machine): string {
  const busy = Math.max(m.loadStart[0]!, m.loadEnd?.[0] ?? 0) >= 0.5;
  const fmt = (l: number[]) => l.map((n) => n.toFixed(2)).join(' ');
  return `${busy ? '**busy**' : 'idle'} (load average ${fmt(m.loadStart)} at the start${m.loadEnd ? `, ${fmt(m.loadEnd)} at the end` : ''})`;
}

const cell = (s: string) => s.replace(/\|/g, '\\|');
const secs = (v: number | undefined) => (v === undefined ? '–' : v.toFixed(v < 10 ? 2 : 1));
const mb = (v: number | undefined) => (v === undefined ? '–' : (v / MB).toFixed(v < 10 * MB ? 2 : 1));

/** The fastest peer that ran to the end. */
function bestPeer(r: TaskResult): ContestantResult | undefined {
  return r.peers.filter(succeeded).sort((a, b) => medianOf(a, 'wall')! - medianOf(b, 'wall')!)[0];
}

function ratio(ours: ContestantResult, peer: ContestantResult | undefined): string {
  if (!succeeded(ours) || !peer || !succeeded(peer)) return '–';
  return `${(medianOf(ours, 'wall')! / medianOf(peer, 'wall')!).toFixed(2)}×`;
}

function status(r: ContestantResult): string {
  if (r.status === 'ok') return '';
  return ` (${r.status}${r.note ? `: ${r.note}` : ''})`;
}

export interface ReportInput {
  machine: Machine;
  command: string;
  runs: number;
  workloads: Workload[];
  results: TaskResult[];
  verdicts: Verdict[];
}

export function renderReport({ machine: m, command, runs, workloads, results, verdicts }: ReportInput): string {
  const lines: string[] = [];
  lines.push('# oci-pack benchmark', '', '<!-- Written by `npm run bench` (bench/); only the notes at the end are kept when it runs again. -->', '');
  lines.push(
    `Machine: ${m.cores} cores (${m.cpu}), ${(m.memory / 1024 ** 3).toFixed(1)} GiB memory, ${m.system}, Node ${m.node}; ${m.date}; ${loadNote(m)}.`,
    `Peers: ${m.tools.join('; ')}.`,
    `Command: \`${command}\`: ${runs} run${runs === 1 ? '' : 's'} of each tool, alternated (A B A B ...).${haveGnuTime() ? '' : ' GNU time was not found, so CPU time and RSS are missing (apt-get install time).'}`,
    '',
    'Workloads:',
    ...workloads.map((w) => `- ${w.id}: ${w.description}`),
    '',
  );

  lines.push('## Summary', '', 'Median wall time; above 1 means oci-pack is slower than the best peer.', '');
  lines.push('| work | oci-pack | best peer | oci-pack / best peer |', '|---|---|---|---|');
  for (const r of results) {
    const best = bestPeer(r);
    const ours = succeeded(r.ours) ? `${secs(medianOf(r.ours, 'wall'))} s` : r.ours.status;
    const peer = best ? `${best.name}: ${secs(medianOf(best, 'wall'))} s` : 'none ran';
    lines.push(`| \`${cell(r.task.title)}\` | ${ours} | ${cell(peer)} | ${ratio(r.ours, best)} |`);
  }

  lines.push('', '## Targets', '', '| target | measured | result |', '|---|---|---|');
  for (const v of verdicts) {
    const result = v.verdict === 'MISS' ? `**MISS**: ${v.gap}` : v.verdict === 'PASS' ? 'PASS' : 'n/a';
    lines.push(`| ${cell(v.target)} | ${cell(v.measured)} | ${cell(result)} |`);
  }

  lines.push('', '## Every tool', '', '| work | tool | wall s | CPU s | peak RSS MB | output MB | oci-pack / this |', '|---|---|---|---|---|---|---|');
  for (const r of results) {
    for (const c of [r.ours, ...r.peers]) {
      const work = c === r.ours ? `\`${cell(r.task.title)}\`` : '';
      const vs = c === r.ours ? '' : ratio(r.ours, c);
      lines.push(`| ${work} | ${cell(c.name + status(c))} | ${secs(medianOf(c, 'wall'))} | ${secs(medianOf(c, 'cpu'))} | ${mb(medianOf(c, 'rss'))} | ${mb(c.outBytes)} | ${vs} |`);
    }
  }
  lines.push(
    '',
    'Times are medians in seconds. CPU is user + system time of the command and every process it ran; peak RSS is that of its largest process (GNU time, from wait4); MB = 2^20 bytes. Output is the layer blobs of the image written, or the archive; the `tar |` pipelines only hash, they are the floors.',
  );
  return lines.join('\n') + '\n';
}

const NOTES_MARK = '<!-- notes: kept when the benchmark rewrites this file -->';
const DEFAULT_NOTES = `${NOTES_MARK}\n## Notes\n\nWhere a target is missed, what the profile shows is in the way (written by hand).\n`;

/** Writes the report, keeping the notes section of the file it replaces. */
export async function writeReport(file: string, report: string): Promise<void> {
  const old = await fs.readFile(file, 'utf8').catch(() => '');
  const at = old.indexOf(NOTES_MARK);
  const notes = at >= 0 ? old.slice(at) : DEFAULT_NOTES;
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(`${file}.tmp`, `${report}\n${notes}`);
  await fs.rename(`${file}.tmp`, file);
}
