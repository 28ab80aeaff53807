// The test tiers: `unit` (every *.test.js under dist/test but interop/ and slow/), `interop` (the
// real consumers) and `slow` (the large cases), each handed to `node --test` as an explicit file list.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TIERS = ['unit', 'interop', 'slow'] as const;
type Tier = (typeof TIERS)[number];

/**
 * Node 20's `node --test DIR` runs every .js under a folder named test, helpers and the slow tier
 * included, and Node 20 expands no globs: so the files are listed here.
 */
export async function tierFiles(root: string, tier: Tier): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const d of (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const r = rel === '' ? d.name : `${rel}/${d.name}`;
      if (d.isDirectory()) await walk(path.join(dir, d.name), r);
      else if (tierOf(r) === tier) out.push(path.join(dir, d.name));
    }
  };
  await walk(root, '');
  return out;
}

/** The tier a file (relative to dist/test) belongs to, or undefined for helpers. */
export function tierOf(rel: string): Tier | undefined {
  if (rel.startsWith('slow/')) return rel.endsWith('.slow.js') ? 'slow' : undefined;
  if (!rel.endsWith('.test.js')) return undefined;
  return rel.startsWith('interop/') ? 'interop' : 'unit';
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const tier = process.argv[2] as Tier;
  if (!TIERS.includes(tier)) {
    process.stderr.write(`usage: node dist/test/run.js ${TIERS.join('|')} [node --test options]\n`);
    process.exit(2);
  }
  const files = await tierFiles(HERE, tier);
  if (files.length === 0) {
    process.stderr.write(`no ${tier} tests under ${HERE}\n`);
    process.exit(1);
  }
  const child = spawn(process.execPath, ['--test', ...process.argv.slice(3), ...files], { stdio: 'inherit' });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
