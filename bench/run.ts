// `npm run bench`: makes the workloads, runs oci-pack and its peers side by side on each, judges the
// issue's targets and writes the report (bench/RESULTS.md). `--help` lists the options.
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseOptions, UsageError, USAGE, type Options } from './args.js';
import { describeMachine, renderReport, writeReport } from './report.js';
import { runTask, type TaskResult } from './runner.js';
import { judge } from './targets.js';
import { makeTasks } from './tasks.js';
import { prepareWorkloads } from './workloads.js';

/** The repository root (this file runs as dist/bench/run.js). */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(ROOT, 'dist', 'src', 'cli', 'bin.js');
const HELLO = path.join(ROOT, 'fixtures', 'hello', 'hello');

const log = (line: string) => void process.stderr.write(`bench: ${line}\n`);

async function bench(opts: Options, argv: string[]): Promise<void> {
  const machine = describeMachine();
  if (machine.loadStart[0]! >= 0.5 * machine.cores && !opts.quick) log(`the machine is busy (load ${machine.loadStart[0]!.toFixed(2)}): ratios will flatter oci-pack`);
  const workloads = await prepareWorkloads(path.join(opts.dir, 'workloads'), opts, opts.fresh, HELLO, log);
  const out = path.join(opts.dir, `out-${process.pid}`);
  await fs.mkdir(out, { recursive: true });
  const results: TaskResult[] = [];
  try {
    const tasks = makeTasks(workloads, BIN, out).filter((t) => opts.only.length === 0 || opts.only.some((w) => t.id.includes(w)));
    for (const task of tasks) results.push(await runTask(task, opts.runs, log));
  } finally {
    await fs.rm(out, { recursive: true, force: true });
  }
  machine.loadEnd = os.loadavg();
  const report = renderReport({ machine, command: ['npm run bench --', ...argv].join(' ').replace(/ --$/, ''), runs: opts.runs, workloads, results, verdicts: judge(results) });
  await writeReport(opts.out, report);
  process.stdout.write(report);
  log(`wrote ${opts.out}`);
}

async function main(argv: string[]): Promise<number> {
  let opts;
  try {
    opts = parseOptions(argv, ROOT);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`bench: ${err.message}\n${USAGE}\n`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  await bench(opts, argv);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
