// Garbage collection of a layout: blobs nothing in index.json reaches, and what dead writers left
// (temp files, staging folders, a lock set aside), all under the index lock that writers publish in.
import * as fs from 'node:fs/promises';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { MediaType, type Descriptor } from './descriptor.js';
import { digestHex, isDigest, type Digest } from './digest.js';
import { UserError } from './errors.js';
import { isPlainObject } from './json.js';
import { parseCheckedJson } from './jsoncheck.js';
import { LOCK_FILE, Layout, acquireLock } from './layout.js';
import { TEMP_RE, processAlive } from './store.js';

export interface GcOptions {
  /** List what would go, remove nothing. */
  dryRun?: boolean;
  /** How long to wait for a writer holding the lock (ms). */
  timeoutMs?: number;
}

export interface GcResult {
  /** Unreachable blobs (removed, or that would be). */
  blobs: { digest: Digest; size: number }[];
  /** Leftovers of dead writers, relative to the layout root. */
  leftovers: string[];
  /** Bytes freed (or that would be). */
  bytes: number;
  /** Blobs kept because index.json reaches them. */
  kept: number;
}

const STALE_LOCK_RE = new RegExp(`^${LOCK_FILE.replace(/\./g, '\\.')}\\.stale-(\\d+)-[0-9a-f]+$`);
const MAX_DEPTH = 8;

/**
 * Remove what nothing in index.json reaches. Holds the index lock throughout: writers publish their
 * staged blobs under that lock just before naming them in index.json, so every blob gc sees in
 * blobs/sha256 is either reachable or garbage, and a live writer's staging folder is never touched.
 * Refuses (removing nothing) when a document it must read to know what is reachable is unreadable.
 */
export async function gc(dir: string, opts: GcOptions = {}): Promise<GcResult> {
  const layout = await Layout.open(dir);
  const lock = opts.dryRun ? undefined : await acquireLock(path.join(layout.root, LOCK_FILE), opts.timeoutMs ?? 60_000);
  try {
    const reachable = await reachableBlobs(layout);
    const result: GcResult = { blobs: [], leftovers: [], bytes: 0, kept: 0 };
    for (const digest of await layout.store.list()) {
      if (reachable.has(digest)) {
        result.kept++;
        continue;
      }
      const file = layout.store.blobPath(digest);
      const st = await fs.stat(file).catch(() => undefined);
      if (!st) continue;
      result.blobs.push({ digest, size: st.size });
      result.bytes += st.size;
      if (!opts.dryRun) {
        await lock!.check();
        await fs.rm(file, { force: true });
      }
    }
    for (const [where, name] of await deadLeftovers(layout.root)) {
      const file = path.join(where, name);
      const st = await fs.lstat(file).catch(() => undefined);
      if (!st) continue;
      result.leftovers.push(path.relative(layout.root, file));
      result.bytes += st.isDirectory() ? await treeSize(file) : st.size;
      if (!opts.dryRun) await fs.rm(file, { recursive: true, force: true });
    }
    // Without --dry-run the lock of a dead writer was taken over by acquireLock; listed here so a
    // dry run tells the whole story.
    if (opts.dryRun && (await deadLock(layout.root))) result.leftovers.push(LOCK_FILE);
    return result;
  } finally {
    await lock?.release();
  }
}

async function deadLock(root: string): Promise<boolean> {
  const owner = await fs.readFile(path.join(root, LOCK_FILE), 'utf8').catch(() => undefined);
  const m = owner === undefined ? null : /^(\d+)@(.*)$/.exec(owner.trim());
  return m !== null && m[2] === hostname() && !processAlive(Number(m[1]));
}

/** Temp files, staging folders and set-aside locks whose owning process is gone. */
async function deadLeftovers(root: string): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for (const where of [root, path.join(root, 'blobs', 'sha256')]) {
    const names = await fs.readdir(where).catch(() => [] as string[]);
    for (const name of names.sort()) {
      const m = TEMP_RE.exec(name) ?? STALE_LOCK_RE.exec(name);
      if (m && !processAlive(Number(m[1]))) out.push([where, name]);
    }
  }
  return out;
}

/** Every digest index.json reaches: indexes, manifests, configs, layers, subjects. */
export async function reachableBlobs(layout: Layout): Promise<Set<Digest>> {
  const index = await layout.readIndex();
  const seen = new Set<Digest>();
  const visit = async (d: Descriptor, where: string, depth: number): Promise<void> => {
    if (!isDigest(d.digest)) throw refuse(where, `digest ${JSON.stringify(d.digest)} is not a sha256 digest`);
    if (seen.has(d.digest)) return;
    seen.add(d.digest);
    const isIndex = d.mediaType === MediaType.index || d.mediaType === MediaType.dockerManifestList;
    const isManifest = d.mediaType === MediaType.manifest || d.mediaType === MediaType.dockerManifest;
    if (!isIndex && !isManifest) return;
    if (depth > MAX_DEPTH) throw refuse(where, `indexes nested deeper than ${MAX_DEPTH}`);
    let doc: unknown;
    try {
      doc = parseCheckedJson(await layout.store.read(d), where);
    } catch (err) {
      throw refuse(where, (err as Error).message);
    }
    if (!isPlainObject(doc)) throw refuse(where, 'not a JSON object');
    const children: unknown[] = [];
    if (Array.isArray(doc['manifests'])) children.push(...doc['manifests']);
    if (doc['config'] !== undefined) children.push(doc['config']);
    if (Array.isArray(doc['layers'])) children.push(...doc['layers']);
    if (doc['subject'] !== undefined) children.push(doc['subject']);
    for (const [i, child] of children.entries()) {
      if (!isPlainObject(child)) throw refuse(where, `child ${i} is not a descriptor`);
      await visit(child as unknown as Descriptor, `${where} > ${digestHex(d.digest).slice(0, 12)}…[${i}]`, depth + 1);
    }
  };
  for (const [i, d] of index.manifests.entries()) await visit(d, `index.json manifests[${i}]`, 0);
  return seen;
}

function refuse(where: string, why: string): UserError {
  return new UserError(`${where}: ${why}; cannot tell what is reachable, so nothing was removed (see oci-pack validate)`, 'ELAYOUT');
}

async function treeSize(dir: string): Promise<number> {
  let total = 0;
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    const p = path.join(dir, name);
    const st = await fs.lstat(p).catch(() => undefined);
    if (!st) continue;
    total += st.isDirectory() ? await treeSize(p) : st.size;
  }
  return total;
}
