// An OCI image layout on disk: opened or created, its index.json read and replaced atomically under
// a lock (re-read inside it), and tags as org.opencontainers.image.ref.name annotations.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { BlobStore, processAlive, removeStaleTemps, syncDir, tempPath } from './store.js';
import { MediaType, REF_NAME_ANNOTATION, type Descriptor } from './descriptor.js';
import type { Digest } from './digest.js';
import { canonicalJson, parseJsonInput } from './json.js';
import { assertValid, checkInput } from './schema.js';
import { UserError } from './errors.js';

export const LAYOUT_VERSION = '1.0.0';
export const INDEX_FILE = 'index.json';
export const LAYOUT_FILE = 'oci-layout';
export const LOCK_FILE = 'index.json.lock';
const MAX_INDEX_BYTES = 16 * 1024 * 1024;

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
  artifactType?: string;
  subject?: Descriptor;
}

export interface LockOptions {
  /** How long to wait for another writer before giving up (ms). */
  timeoutMs?: number;
}

export class Layout {
  readonly root: string;
  readonly store: BlobStore;
  /** True when this run made the directory or found it empty: a failed run removes what it made. */
  readonly isNew: boolean;
  /** True when this run made the directory itself (it was missing), not just its contents. */
  private readonly madeDir: boolean;

  private constructor(root: string, isNew: boolean, madeDir = false) {
    this.root = root;
    this.store = new BlobStore(root);
    this.isNew = isNew;
    this.madeDir = madeDir;
  }

  /** Open an existing layout; a directory without `oci-layout` is refused. */
  static async open(dir: string): Promise<Layout> {
    const root = path.resolve(dir);
    await checkLayoutFile(root, dir);
    return new Layout(root, false);
  }

  /**
   * Open the layout at `dir` for writing, creating it when the directory is missing or empty. A
   * non-empty directory that is not a layout is refused. Stale temp files of killed runs are removed.
   */
  static async openOrCreate(dir: string): Promise<Layout> {
    const root = path.resolve(dir);
    let entries: string[] | undefined;
    try {
      const st = await fs.stat(root);
      if (!st.isDirectory()) throw new UserError(`${dir}: exists and is not a directory`, 'ELAYOUT');
      entries = await fs.readdir(root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        if (err instanceof UserError) throw err;
        throw new UserError(`${dir}: ${(err as Error).message}`, 'ELAYOUT');
      }
    }
    if (entries && entries.length > 0) {
      if (!entries.includes(LAYOUT_FILE)) {
        throw new UserError(`${dir}: not empty and not an OCI layout (no ${LAYOUT_FILE} file); refusing to write into it`, 'ELAYOUT');
      }
      await checkLayoutFile(root, dir);
      const layout = new Layout(root, false);
      await removeStaleTemps(root);
      return layout;
    }
    await fs.mkdir(path.join(root, 'blobs', 'sha256'), { recursive: true });
    const layout = new Layout(root, true, entries === undefined);
    await layout.writeFileAtomic(LAYOUT_FILE, canonicalJson({ imageLayoutVersion: LAYOUT_VERSION }), 'oci-layout');
    await layout.writeFileAtomic(INDEX_FILE, serialiseIndex(emptyIndex()), 'image-index');
    return layout;
  }

  /** Undo the creation of a layout this run made (on failure): the directory goes back to empty or away. */
  async discardIfNew(): Promise<void> {
    if (!this.isNew) return;
    if (this.madeDir) {
      await fs.rm(this.root, { recursive: true, force: true });
      return;
    }
    for (const name of await fs.readdir(this.root)) {
      await fs.rm(path.join(this.root, name), { recursive: true, force: true });
    }
  }

  async readIndex(): Promise<ImageIndex> {
    const where = path.join(this.root, INDEX_FILE);
    let data: Buffer;
    try {
      data = await fs.readFile(where);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`${where}: missing`, 'ELAYOUT');
      throw err;
    }
    const doc = parseJsonInput(data, where, MAX_INDEX_BYTES);
    checkInput('image-index', doc, where);
    return doc as ImageIndex;
  }

  /**
   * Change index.json: under the lock, re-read it, apply `change`, validate and atomically replace
   * it. Every blob the new index names must already be in the store (children before parents).
   */
  async updateIndex(change: (index: ImageIndex) => ImageIndex | Promise<ImageIndex>, opts: LockOptions = {}): Promise<ImageIndex> {
    const lock = await acquireLock(path.join(this.root, LOCK_FILE), opts.timeoutMs ?? 60_000);
    try {
      const before = await this.readIndex();
      const after = await change(structuredClone(before));
      for (const d of after.manifests) {
        if (!(await this.store.has(d.digest, d.size))) {
          throw new Error(`index.json would name ${d.digest} (${d.size} bytes), which is not in the store`);
        }
      }
      await lock.check();
      await this.writeFileAtomic(INDEX_FILE, serialiseIndex(after), 'image-index');
      return after;
    } finally {
      await lock.release();
    }
  }

  /**
   * Record an image in index.json under each tag (a tag held by another image moves here), or
   * untagged when `tags` is empty (unless the image is already there).
   */
  async addImage(desc: Descriptor, tags: readonly string[], opts: LockOptions & { onMoved?: (moves: TagMove[]) => void } = {}): Promise<ImageIndex> {
    return this.updateIndex((index) => {
      // Inside the lock: the index as this update finds it says which tags really move.
      opts.onMoved?.(tagMoves(index.manifests, desc.digest, tags));
      index.manifests = placeImage(index.manifests, desc, tags);
      return index;
    }, opts);
  }

  /** Descriptors in index.json named `ref`. */
  async find(ref: string): Promise<Descriptor[]> {
    const index = await this.readIndex();
    return index.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] === ref);
  }

  private async writeFileAtomic(name: string, data: Buffer, schema: 'oci-layout' | 'image-index'): Promise<void> {
    assertValid(schema, JSON.parse(data.toString('utf8')), name);
    const tmp = tempPath(this.root);
    try {
      const h = await fs.open(tmp, 'wx', 0o644);
      try {
        await h.writeFile(data);
        await h.sync();
      } finally {
        await h.close();
      }
      await fs.chmod(tmp, 0o644);
      await fs.rename(tmp, path.join(this.root, name));
      await syncDir(this.root);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }
}

export function emptyIndex(): ImageIndex {
  return { schemaVersion: 2, mediaType: MediaType.index, manifests: [] };
}

export function serialiseIndex(index: ImageIndex): Buffer {
  return canonicalJson(index);
}

export function refNameOf(d: Descriptor): string | undefined {
  return d.annotations?.[REF_NAME_ANNOTATION];
}

/**
 * index.manifests with `desc` placed under `tags`: other holders of those tags lose them (the entry
 * goes; its blobs stay until gc), an untagged entry for the same image is folded in, and an entry
 * that is already exactly there is kept as it is, so re-running a build changes nothing.
 */
/** A tag that named another image before `placeImage` gave it to `digest`. */
export interface TagMove {
  tag: string;
  from: Digest;
}

/** The tags `placeImage(manifests, {digest}, tags)` takes from other images. */
export function tagMoves(manifests: readonly Descriptor[], digest: Digest, tags: readonly string[]): TagMove[] {
  const out: TagMove[] = [];
  for (const tag of tags) {
    const before = manifests.find((d) => refNameOf(d) === tag && d.digest !== digest);
    if (before && !manifests.some((d) => refNameOf(d) === tag && d.digest === digest)) out.push({ tag, from: before.digest });
  }
  return out;
}

export function placeImage(manifests: readonly Descriptor[], desc: Descriptor, tags: readonly string[]): Descriptor[] {
  if (tags.length === 0) {
    return manifests.some((d) => d.digest === desc.digest) ? [...manifests] : [...manifests, { ...desc }];
  }
  const wanted = new Set(tags);
  const kept = new Set<string>();
  const out: Descriptor[] = [];
  for (const d of manifests) {
    const ref = refNameOf(d);
    if (ref !== undefined && wanted.has(ref)) {
      if (d.digest === desc.digest && !kept.has(ref)) {
        out.push(d);
        kept.add(ref);
      }
      continue;
    }
    if (ref === undefined && d.digest === desc.digest) continue;
    out.push(d);
  }
  for (const tag of tags) {
    if (kept.has(tag)) continue;
    out.push({ ...desc, annotations: { ...(desc.annotations ?? {}), [REF_NAME_ANNOTATION]: tag } });
    kept.add(tag);
  }
  return out;
}

async function checkLayoutFile(root: string, shown: string): Promise<void> {
  const where = path.join(shown, LAYOUT_FILE);
  let data: Buffer;
  try {
    data = await fs.readFile(path.join(root, LAYOUT_FILE));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new UserError(`${shown}: not an OCI layout (no ${LAYOUT_FILE} file)`, 'ELAYOUT');
    }
    throw new UserError(`${where}: ${(err as Error).message}`, 'ELAYOUT');
  }
  const doc = parseJsonInput(data, where, 64 * 1024);
  checkInput('oci-layout', doc, where);
  const version = (doc as { imageLayoutVersion: string }).imageLayoutVersion;
  if (!/^1\.\d+\.\d+$/.test(version)) {
    throw new UserError(`${where}: imageLayoutVersion ${version} is not supported (1.x.y)`, 'ELAYOUT');
  }
}

interface HeldLock {
  /** Throws if the lock was taken from us (a writer that thought we were dead). */
  check(): Promise<void>;
  release(): Promise<void>;
}

/**
 * A lock file created exclusively, holding "pid@host". A lock whose owner is dead (same host, no
 * such pid) is taken over: renamed aside first, so two runs that both see it stale cannot both win.
 */
export async function acquireLock(file: string, timeoutMs: number): Promise<HeldLock> {
  const me = `${process.pid}@${hostname()}`;
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    try {
      const h = await fs.open(file, 'wx', 0o644);
      try {
        await h.writeFile(`${me}\n`);
      } finally {
        await h.close();
      }
      return {
        check: async () => {
          const now = await fs.readFile(file, 'utf8').catch(() => '');
          if (now.trim() !== me) throw new UserError(`${file}: the lock was taken over by another writer; index.json not written`, 'ELAYOUT');
        },
        release: async () => {
          const now = await fs.readFile(file, 'utf8').catch(() => '');
          if (now.trim() === me) await fs.rm(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = await fs.readFile(file, 'utf8').catch(() => undefined);
    if (owner !== undefined && (await isDeadOwner(file, owner))) {
      const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
      try {
        await fs.rename(file, aside);
        const moved = await fs.readFile(aside, 'utf8');
        if (moved !== owner) {
          // A live writer's fresh lock was moved: put it back unless someone locked meanwhile.
          await fs.link(aside, file).catch(() => undefined);
        }
        await fs.rm(aside, { force: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      continue;
    }
    if (Date.now() > deadline) {
      throw new UserError(`${file}: locked by ${owner?.trim() || 'another writer'} for more than ${Math.round(timeoutMs / 1000)}s`, 'ELAYOUT');
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 200);
  }
}

/** The owner is gone: its pid is dead on this host, or it died before writing its name (empty for 10 s). */
async function isDeadOwner(file: string, content: string): Promise<boolean> {
  const m = /^(\d+)@(.*)$/.exec(content.trim());
  if (!m) {
    const st = await fs.stat(file).catch(() => undefined);
    return content.trim() === '' && st !== undefined && Date.now() - st.mtimeMs > 10_000;
  }
  if (m[2] !== hostname()) return false;
  return !processAlive(Number(m[1]));
}
