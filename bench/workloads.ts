// The inputs the benchmark packs: a rootfs-like tree copied from this machine's /usr, 100,000 tiny
// files, a few big files (half random, half text) and the hello example; made once, reused while valid.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { prng, randomStream, textBlock } from './prng.js';

export interface Workload {
  /** Short name used in task ids and the report: rootfs, tiny, big-512, hello. */
  id: string;
  /** The directory (or, for hello, the file) that is packed. */
  path: string;
  /** What it is, for the report. */
  description: string;
  bytes: number;
  files: number;
}

/** Bumped whenever a generator changes what it writes, so stale workloads are remade. */
const GENERATOR_VERSION = 2;
/** One huge library would dominate the tree; a real rootfs is many files of ordinary size. */
const ROOTFS_MAX_FILE = 8 << 20;
/** The share of bytes in already-compressed files; images of distributions have about this much. */
const ROOTFS_COMPRESSED_SHARE = 0.3;
const COMPRESSED = /\.(gz|tgz|xz|txz|zst|bz2|lz4|lzma|zip|jar|whl|png|jpe?g|gif|webp|woff2?|svgz)$/i;
const TINY_FANOUT = 10; // folders nested 3 deep: 1 + 10 + 100 + 1000 = 1,111
const BIG_FILES = 4;
const CHUNK = 1 << 20;

interface Marker {
  version: number;
  params: unknown;
  workload: Workload;
}

/** Runs fn on every item with at most `limit` at once. */
async function eachLimit<T>(items: T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Files and links under dir: a cheap check that nothing was removed from a workload since it was made. */
async function countEntries(dir: string): Promise<number> {
  let n = 0;
  for (const d of await fs.readdir(dir, { withFileTypes: true })) n += d.isDirectory() ? await countEntries(path.join(dir, d.name)) : 1;
  return n;
}

/**
 * A workload made by `make` under root/name, reused when its marker (written last, beside the tree so
 * it is not packed with it) says it was made completely with the same parameters.
 */
async function cached(root: string, name: string, params: unknown, fresh: boolean, make: (dir: string) => Promise<Omit<Workload, 'path'>>): Promise<Workload> {
  const dir = path.join(root, name);
  const markerFile = `${dir}.json`;
  if (!fresh) {
    try {
      const marker = JSON.parse(await fs.readFile(markerFile, 'utf8')) as Marker;
      const same = marker.version === GENERATOR_VERSION && JSON.stringify(marker.params) === JSON.stringify(params);
      if (same && (await countEntries(dir)) === marker.workload.files) return { ...marker.workload, path: dir };
    } catch {
      // No marker, an unreadable one, or no tree: make the workload again.
    }
  }
  await fs.rm(markerFile, { force: true });
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  const workload = { ...(await make(dir)), path: dir };
  const marker: Marker = { version: GENERATOR_VERSION, params, workload };
  await fs.writeFile(`${markerFile}.tmp`, JSON.stringify(marker, null, 2));
  await fs.rename(`${markerFile}.tmp`, markerFile);
  return workload;
}

interface HostEntry {
  rel: string;
  link: boolean;
}

/** Names only (no stat): the sample is chosen by name, and only the chosen are stat'ed. */
async function walkHost(dir: string, out: HostEntry[]): Promise<void> {
  let names;
  try {
    names = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return; // unreadable folders are simply not part of the sample
  }
  for (const d of names) {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) await walkHost(p, out);
    else if (d.isFile() || d.isSymbolicLink()) out.push({ rel: p.slice(1), link: d.isSymbolicLink() });
  }
}

/**
 * Real files, the mix a distribution image has: a sample of /usr spread over the whole tree (ordered
 * by a hash of the path, not alphabetically), so the same machine always gives the same tree; a
 * share of the bytes drawn from already-compressed files (gz, xz, jar, png...), as in real images.
 */
async function makeRootfs(dir: string, targetMb: number, sources: string[]): Promise<Omit<Workload, 'path'>> {
  const host: HostEntry[] = [];
  for (const src of sources) await walkHost(src, host);
  const ranked = host.map((e) => ({ e, r: createHash('sha1').update(e.rel).digest('hex') })).sort((a, b) => (a.r < b.r ? -1 : a.r > b.r ? 1 : 0));
  const target = targetMb * 1024 * 1024;
  let bytes = 0;
  let files = 0;
  let compressed = 0;
  /** Copies entries of the pool in rank order until `stop` says the pool has given enough. */
  const take = async (pool: HostEntry[], stop: () => boolean) => {
    for (const e of pool) {
      if (stop()) return;
      const from = `/${e.rel}`;
      const to = path.join(dir, e.rel);
      try {
        const st = await fs.lstat(from);
        if (st.size > ROOTFS_MAX_FILE) continue;
        await fs.mkdir(path.dirname(to), { recursive: true });
        if (e.link) await fs.symlink(await fs.readlink(from), to);
        else {
          await fs.copyFile(from, to);
          await fs.chmod(to, st.mode & 0o777);
          bytes += st.size;
          if (COMPRESSED.test(e.rel)) compressed += st.size;
        }
        files++;
      } catch {
        continue; // vanished, unreadable or already copied: leave it out
      }
    }
  };
  const isCompressed = (e: HostEntry) => !e.link && COMPRESSED.test(e.rel);
  await take(ranked.map((x) => x.e).filter(isCompressed), () => compressed >= target * ROOTFS_COMPRESSED_SHARE);
  await take(ranked.map((x) => x.e).filter((e) => !isCompressed(e)), () => bytes >= target);
  const share = bytes ? Math.round((100 * compressed) / bytes) : 0;
  return {
    id: 'rootfs',
    description: `${(bytes / 1e6).toFixed(0)} MB, ${files.toLocaleString('en')} files and links sampled from ${sources.join(', ')}, ${share}% of the bytes already compressed`,
    bytes,
    files,
  };
}

/** The folders of the tiny tree: the root and three levels of TINY_FANOUT. */
function tinyFolders(): string[] {
  const folders = [''];
  let level = [''];
  for (let depth = 0; depth < 3; depth++) {
    level = level.flatMap((parent) => Array.from({ length: TINY_FANOUT }, (_, i) => path.join(parent, `d${i}`)));
    folders.push(...level);
  }
  return folders;
}

async function makeTiny(dir: string, count: number): Promise<Omit<Workload, 'path'>> {
  const folders = tinyFolders();
  for (const f of folders) await fs.mkdir(path.join(dir, f), { recursive: true });
  const random = prng(0x7e57);
  const alphabet = Buffer.from('abcdefghijklmnopqrstuvwxyz      \n');
  // Contents drawn in file order before any write, so concurrency cannot change them.
  const contents = Array.from({ length: count }, () => {
    const b = Buffer.alloc(Math.floor(random() * 201));
    for (let i = 0; i < b.length; i++) b[i] = alphabet[Math.floor(random() * alphabet.length)]!;
    return b;
  });
  let bytes = 0;
  await eachLimit(contents, 32, async (content, i) => {
    await fs.writeFile(path.join(dir, folders[i % folders.length]!, `f${i}.txt`), content);
    bytes += content.length;
  });
  return { id: 'tiny', description: `${count.toLocaleString('en')} files of 0-200 bytes in ${folders.length.toLocaleString('en')} nested folders`, bytes, files: count };
}

async function writeChunks(file: string, size: number, chunk: (n: number) => Buffer): Promise<void> {
  const fh = await fs.open(file, 'w');
  try {
    for (let left = size; left > 0; left -= CHUNK) await fh.write(chunk(Math.min(CHUNK, left)));
  } finally {
    await fh.close();
  }
}

/** Half the files random (incompressible), half text; text chunks drawn from a pool of distinct blocks. */
async function makeBig(dir: string, mb: number): Promise<Omit<Workload, 'path'>> {
  const size = Math.floor((mb * 1024 * 1024) / BIG_FILES);
  const random = prng(0xb16);
  // Enough distinct blocks that gzip's 32 KiB window never sees a repeat, few enough to make quickly.
  const pool = Array.from({ length: Math.min(16, Math.ceil(size / CHUNK)) }, () => textBlock(random, CHUNK));
  for (let i = 0; i < BIG_FILES; i++) {
    if (i < BIG_FILES / 2) {
      const bytes = randomStream(`big ${i}`);
      await writeChunks(path.join(dir, `random-${i}.bin`), size, bytes);
    } else {
      await writeChunks(path.join(dir, `text-${i}.txt`), size, (n) => pool[Math.floor(random() * pool.length)]!.subarray(0, n));
    }
  }
  return { id: `big-${mb}`, description: `${mb} MiB in ${BIG_FILES} files, half random bytes, half text`, bytes: size * BIG_FILES, files: BIG_FILES };
}

export interface WorkloadSizes {
  rootfsMb: number;
  rootfsFrom: string[];
  tinyFiles: number;
  bigMb: number[];
}

/** Every workload, made under root (or reused); `log` hears about the slow ones being made. */
export async function prepareWorkloads(root: string, sizes: WorkloadSizes, fresh: boolean, hello: string, log: (line: string) => void): Promise<Workload[]> {
  await fs.mkdir(root, { recursive: true });
  const made = async (name: string, params: unknown, make: (dir: string) => Promise<Omit<Workload, 'path'>>) => {
    const started = Date.now();
    let announced = false;
    const w = await cached(root, name, params, fresh, async (dir) => {
      announced = true;
      log(`making workload ${name} ...`);
      return make(dir);
    });
    if (announced) log(`made ${name} in ${((Date.now() - started) / 1000).toFixed(1)} s: ${w.description}`);
    return w;
  };
  const list = [
    await made(`rootfs-${sizes.rootfsMb}mb`, { mb: sizes.rootfsMb, sources: sizes.rootfsFrom }, (d) => makeRootfs(d, sizes.rootfsMb, sizes.rootfsFrom)),
    await made(`tiny-${sizes.tinyFiles}`, { files: sizes.tinyFiles }, (d) => makeTiny(d, sizes.tinyFiles)),
  ];
  for (const mb of sizes.bigMb) list.push(await made(`big-${mb}mb`, { mb }, (d) => makeBig(d, mb)));
  const st = await fs.stat(hello).catch(() => undefined);
  if (st) list.push({ id: 'hello', path: hello, description: `fixtures/hello/hello, one static binary of ${st.size} bytes`, bytes: st.size, files: 1 });
  return list;
}
