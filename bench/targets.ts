// The targets, judged on one benchmark run: time ratios against the named peer, layer size
// against umoci's, peak RSS under a ceiling and flat as the input grows, start-up against node.
import { medianOf, succeeded, type TaskResult } from './runner.js';
import { PEER, type Operation } from './tasks.js';

export interface Verdict {
  target: string;
  measured: string;
  verdict: 'PASS' | 'MISS' | 'n/a';
  /** For a miss: how far off, in terms of what has to change. */
  gap?: string;
}

export const MB = 1024 * 1024;
export const RSS_CEILING = 150 * MB;
/** Peak RSS counts as flat when the largest input's is within this fraction of the smallest's. */
export const RSS_FLAT_TOLERANCE = 0.1;

const x = (n: number) => `${n.toFixed(2)}×`;

function find(results: TaskResult[], id: string): TaskResult | undefined {
  return results.find((r) => r.task.id === id);
}

/** oci-pack's median wall time over the named peer's, at most `limit`. */
function timeRatio(results: TaskResult[], id: string, peer: string, limit: number, target: string): Verdict {
  const r = find(results, id);
  const theirs = r?.peers.find((p) => p.name === peer);
  if (!r) return { target, measured: 'not run', verdict: 'n/a' };
  if (!succeeded(r.ours)) return { target, measured: `oci-pack ${r.ours.status}`, verdict: 'n/a' };
  if (!succeeded(theirs)) return { target, measured: `${peer} ${theirs?.status ?? 'not run'}`, verdict: 'n/a' };
  const ratio = medianOf(r.ours, 'wall')! / medianOf(theirs, 'wall')!;
  const measured = `${x(ratio)} (${medianOf(r.ours, 'wall')!.toFixed(2)} s / ${medianOf(theirs, 'wall')!.toFixed(2)} s)`;
  if (ratio <= limit) return { target, measured, verdict: 'PASS' };
  return { target, measured, verdict: 'MISS', gap: `oci-pack must cut ${((1 - limit / ratio) * 100).toFixed(0)}% of its time` };
}

function layerSize(results: TaskResult[], id: string, limit: number, target: string): Verdict {
  const r = find(results, id);
  const umoci = r?.peers.find((p) => p.name === PEER.umoci);
  if (!r?.ours.outBytes || !umoci?.outBytes) return { target, measured: 'not measured', verdict: 'n/a' };
  const ratio = r.ours.outBytes / umoci.outBytes;
  const measured = `${x(ratio)} (${(r.ours.outBytes / MB).toFixed(1)} MB / ${(umoci.outBytes / MB).toFixed(1)} MB)`;
  if (ratio <= limit) return { target, measured, verdict: 'PASS' };
  return { target, measured, verdict: 'MISS', gap: `the layer is ${((ratio / limit - 1) * 100).toFixed(1)}% too large` };
}

/** The highest peak RSS of any oci-pack run. */
function rssCeiling(results: TaskResult[]): Verdict {
  const target = 'peak RSS < 150 MB, every oci-pack operation';
  let worst: { rss: number; id: string } | undefined;
  for (const r of results) {
    for (const s of r.ours.samples) if (s.rss !== undefined && (!worst || s.rss > worst.rss)) worst = { rss: s.rss, id: r.task.id };
  }
  if (!worst) return { target, measured: 'not measured', verdict: 'n/a' };
  const measured = `highest ${(worst.rss / MB).toFixed(0)} MB (${worst.id})`;
  if (worst.rss < RSS_CEILING) return { target, measured, verdict: 'PASS' };
  return { target, measured, verdict: 'MISS', gap: `${((worst.rss - RSS_CEILING) / MB).toFixed(0)} MB over` };
}

/** Peak RSS of one operation on the smallest and the largest big workload. */
function rssFlat(results: TaskResult[], op: Operation, bigs: string[]): Verdict {
  const small = bigs[0];
  const large = bigs[bigs.length - 1];
  const target = `peak RSS flat, ${op} of ${small ?? 'big'} → ${large ?? 'big'} (within ${RSS_FLAT_TOLERANCE * 100}%)`;
  if (!small || !large || small === large) return { target, measured: 'needs two big sizes', verdict: 'n/a' };
  const a = medianOf(find(results, `${op}/${small}`)?.ours, 'rss');
  const b = medianOf(find(results, `${op}/${large}`)?.ours, 'rss');
  if (a === undefined || b === undefined) return { target, measured: 'not measured', verdict: 'n/a' };
  const measured = `${(a / MB).toFixed(0)} MB → ${(b / MB).toFixed(0)} MB`;
  if (b <= a * (1 + RSS_FLAT_TOLERANCE)) return { target, measured, verdict: 'PASS' };
  return { target, measured, verdict: 'MISS', gap: `grows ${(((b - a) / a) * 100).toFixed(0)}% with the input` };
}

export function judge(results: TaskResult[]): Verdict[] {
  const verdicts: Verdict[] = [];
  const workloads = [...new Set(results.filter((r) => r.task.op === 'layout').map((r) => r.task.workload.id))];
  const bigs = workloads.filter((w) => w.startsWith('big-')).sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)));
  for (const w of workloads) {
    verdicts.push(timeRatio(results, `layout/${w}`, PEER.umoci, 0.8, `layout ${w} ≤ 0.8× umoci insert`));
    verdicts.push(layerSize(results, `layout/${w}`, 1.01, `layer of ${w} ≤ 1.01× umoci's`));
  }
  if (find(results, 'none/tiny')) verdicts.push(timeRatio(results, 'none/tiny', PEER.openssl, 1.5, 'layout tiny --compression none ≤ 1.5× tar | openssl'));
  for (const op of ['to-docker', 'from-docker'] as const) {
    for (const r of results.filter((t) => t.task.op === op)) verdicts.push(timeRatio(results, r.task.id, PEER.skopeo, 0.7, `${op} ${r.task.workload.id} ≤ 0.7× skopeo copy`));
  }
  verdicts.push(rssCeiling(results));
  for (const op of ['layout', 'none', 'to-docker', 'from-docker'] as const) {
    if (bigs.some((b) => find(results, `${op}/${b}`))) verdicts.push(rssFlat(results, op, bigs));
  }
  if (find(results, 'version')) verdicts.push(timeRatio(results, 'version', PEER.node, 2, 'oci-pack --version ≤ 2× node -e 0'));
  if (find(results, 'hello')) verdicts.push(timeRatio(results, 'hello', PEER.node, 3, 'hello end to end ≤ 3× node -e 0'));
  return verdicts;
}
