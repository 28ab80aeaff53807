// Runs the tasks: oci-pack and its peers in turn (A B A B ...), so a change in the machine's load
// falls on all of them alike; a missing peer is reported, a failing one stops only itself.
import * as fs from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { haveCommand, measure, median, outputSize, type Sample } from './measure.js';
import type { Contestant, Task } from './tasks.js';

export interface ContestantResult {
  name: string;
  status: 'ok' | 'missing' | 'failed';
  /** Why it is missing or failed. */
  note?: string;
  samples: Sample[];
  /** Bytes of the output of the last run. */
  outBytes?: number;
}

export interface TaskResult {
  task: Task;
  ours: ContestantResult;
  peers: ContestantResult[];
}

async function clear(c: Contestant): Promise<void> {
  for (const p of c.scratch) await fs.rm(p, { recursive: true, force: true });
}

const warmed = new Set<string>();

/** Reads a workload once so that the first contestant does not pay for a cold page cache. */
function warm(dir: string): void {
  if (!dir || warmed.has(dir) || !haveCommand('tar')) return;
  warmed.add(dir);
  spawnSync('bash', ['-c', 'tar -C "$1" -cf - . | cat >/dev/null', 'bench', dir], { stdio: 'ignore' });
}

export async function runTask(task: Task, runs: number, log: (line: string) => void): Promise<TaskResult> {
  const all = [task.ours, ...task.peers];
  const results: ContestantResult[] = all.map((c) => {
    const missing = c.needs.filter((cmd) => !haveCommand(cmd));
    return missing.length ? { name: c.name, status: 'missing', note: `not installed: ${missing.join(', ')}`, samples: [] } : { name: c.name, status: 'ok', samples: [] };
  });
  try {
    await task.prepare?.();
  } catch (err) {
    for (const r of results) if (r.status === 'ok') Object.assign(r, { status: 'failed', note: (err as Error).message });
  }
  warm(task.workload.id === 'hello' ? '' : task.workload.path);
  for (let run = 1; run <= runs; run++) {
    for (const [i, c] of all.entries()) {
      const r = results[i]!;
      if (r.status !== 'ok') continue;
      await clear(c);
      const outcome = await measure(c.argv);
      if (outcome.ok) {
        r.samples.push(outcome.sample);
        if (c.output) r.outBytes = await outputSize(c.output);
        log(`${task.id} run ${run}/${runs} ${c.name}: ${outcome.sample.wall.toFixed(2)} s`);
      } else {
        Object.assign(r, { status: 'failed', note: outcome.error });
        log(`${task.id} run ${run}/${runs} ${c.name}: failed: ${outcome.error}`);
      }
      await clear(c);
    }
  }
  return { task, ours: results[0]!, peers: results.slice(1) };
}

/** The median of one measure over the runs that succeeded; undefined when none measured it. */
export function medianOf(r: ContestantResult | undefined, key: keyof Sample): number | undefined {
  if (!r) return undefined;
  return median(r.samples.map((s) => s[key]).filter((v): v is number => v !== undefined));
}

/** A contestant that ran every run to the end. */
export function succeeded(r: ContestantResult | undefined): boolean {
  return r !== undefined && r.status === 'ok' && r.samples.length > 0;
}
