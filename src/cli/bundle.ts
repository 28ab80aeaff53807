// The CLI bundle (scripts/bundle-cli.mjs): the CLI and everything it runs in one CommonJS file,
// compiled with the V8 code cache the build made for it. Node 20 keeps no code cache for modules
// (22 has module.enableCompileCache), so each run would parse and compile every function it calls;
// with the cache V8 reads them compiled. A cache V8 rejects (another Node, other V8 flags) only
// costs that compilation, and one made for other bundle text is never used (see loadBundle).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import type { Io } from './io.js';

export const BUNDLE = join(dirname(fileURLToPath(import.meta.url)), 'oci-pack.cjs');

/** The bundle's first line names its text's digest; the cache starts with the same line. */
const ID_LINE = /^\/\/ oci-pack bundle ([0-9a-f]{64})\n/;

/** What the bundle exports (src/cli/run.ts). */
export interface BundleExports {
  run(argv: string[]): Promise<void>;
  main(argv: string[], io?: Io): Promise<number>;
}

export interface LoadedBundle {
  exports: BundleExports;
  script: Script;
  id: string;
  /** Whether V8 took the code cache (false: there was none, or it was rejected). */
  cached: boolean;
}

/** Compiles and runs the bundle, with its code cache if it has one; undefined in a build by `tsc` alone. */
export function loadBundle(file = BUNDLE, cacheFile = `${file}.cache`): LoadedBundle | undefined {
  let source: string;
  try {
    // The build makes the bundle ASCII: read as latin1, it is the same string, made without decoding.
    source = readFileSync(file, 'latin1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const id = ID_LINE.exec(source)?.[1];
  if (id === undefined) throw new Error(`${file}: not an oci-pack bundle (no id line); npm run build makes it`);
  const cachedData = readCache(cacheFile, id);
  // The wrapper is Node's CommonJS one, on the bundle's first line: stack traces keep its line numbers.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  const module = { exports: {} as BundleExports };
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, createRequire(file), module, file, dirname(file));
  return { exports: module.exports, script, id, cached: cachedData !== undefined && !script.cachedDataRejected };
}

/** The bundle's code cache: the id line, then what V8's createCachedData gave. */
export function codeCacheFile(id: string, cachedData: Buffer): Buffer {
  return Buffer.concat([Buffer.from(idLine(id), 'latin1'), cachedData]);
}

/** The first line of the bundle and of its code cache. */
export function idLine(id: string): string {
  return `// oci-pack bundle ${id}\n`;
}

/** V8 checks a cache against the text's length, not its content: one made for other text is not used. */
function readCache(cacheFile: string, id: string): Buffer | undefined {
  let file: Buffer;
  try {
    file = readFileSync(cacheFile);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const header = idLine(id);
  if (file.length <= header.length || file.toString('latin1', 0, header.length) !== header) return undefined;
  return file.subarray(header.length);
}
