// An OCI image layout on disk: opened or created, its index.json read and replaced atomically under
// a lock (re-read inside it), and tags as org.opencontainers.image.ref.name annotations.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { BlobStore, isTempName, processAlive, removeStaleTemps, syncDir, tempPath } from './store.js';
import { checkNotInterrupted, onInterrupt } from './cleanup.js';
import { MediaType, REF_NAME_ANNOTATION, type Descriptor } from './descriptor.js';
import type { Digest } from './digest.js';
import { canonicalJson, parseJsonInput } from './json.js';
import { parseCheckedJson } from './jsoncheck.js';
import { assertValid, checkInput } from './schema.js';
import { UserError } from './errors.js';
import { MAX_INDEX_BYTES } from './limits.js';

export const LAYOUT_VERSION = '1.0.0';
export const INDEX_FILE = 'index.json';
export const LAYOUT_FILE = 'oci-layout';
export const LOCK_FILE = 'index.json.lock';

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

export interface UpdateOptions extends LockOptions {
  /**
   * A staging store whose blobs are published under the lock, just before index.json names them:
   * `gc` (which holds the same lock) never sees a published blob that nothing references yet.
   */
  publish?: { store: BlobStore; keep?: ReadonlySet<Digest> };
}

export class Layout {
  readonly root: string;
  readonly store: BlobStore;
  /** True when this run made the directory or found it empty: a failed run removes what it made. */
  readonly isNew: boolean;
  /** True when this run made the directory itself (it was missing), not just its contents. */
  private readonly madeDir: boolean;
  /** Stops a signal from undoing the creation (once that is settled). */
  private forgetInterrupt: (() => void) | undefined;

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
   * Several runs may create the same layout at once: the skeleton they make (blobs/sha256, an
   * empty index.json, then oci-layout last) is recognised, and each file is created only if absent.
   */
  static async openOrCreate(dir: string): Promise<Layout> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await Layout.tryOpenOrCreate(dir);
      } catch (err) {
        // A creator that failed removed its skeleton under us: start again.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw err;
      }
    }
  }

  private static async tryOpenOrCreate(dir: string): Promise<Layout> {
    const root = path.resolve(dir);
    let entries = await listDirectory(root, dir);
    let madeDir = false;
    if (entries === undefined) {
      await fs.mkdir(path.dirname(root), { recursive: true });
      try {
        await fs.mkdir(root);
        madeDir = true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fileErrorOf(dir, err);
      }
      entries = (await listDirectory(root, dir)) ?? [];
    }
    if (entries.includes(LAYOUT_FILE)) {
      await checkLayoutFile(root, dir);
      const layout = new Layout(root, false);
      await removeStaleTemps(root);
      return layout;
    }
    if (!(await isSkeleton(root, entries))) {
      throw new UserError(`${dir}: not empty and not an OCI layout (no ${LAYOUT_FILE} file); refusing to write into it`, 'ELAYOUT');
    }
    const layout = new Layout(root, true, madeDir);
    layout.forgetInterrupt = onInterrupt(() => layout.discardSkeleton());
    // Under the lock, so that a failed creator removing its skeleton and a new one making it do not mix.
    const lock = await acquireLock(path.join(root, LOCK_FILE), 60_000);
    try {
      const now = await fs.readdir(root);
      if (!now.includes(LAYOUT_FILE) && !(await isSkeleton(root, now))) {
        throw new UserError(`${dir}: not empty and not an OCI layout (no ${LAYOUT_FILE} file); refusing to write into it`, 'ELAYOUT');
      }
      await fs.mkdir(path.join(root, 'blobs', 'sha256'), { recursive: true });
      // index.json before oci-layout: whoever sees oci-layout finds index.json.
      await layout.createFileOnce(INDEX_FILE, serialiseIndex(emptyIndex()), 'image-index');
      await layout.createFileOnce(LAYOUT_FILE, canonicalJson({ imageLayoutVersion: LAYOUT_VERSION }), 'oci-layout');
    } catch (err) {
      layout.forgetInterrupt?.();
      throw err;
    } finally {
      await lock.release();
    }
    return layout;
  }

  /**
   * Undo the creation of a layout this run made (on failure, after its staging is discarded), but
   * only while it is still the bare skeleton: once another run has published a blob, recorded an
   * image or started staging in it, nothing is removed. The directory itself goes only when this
   * run made it and it is empty. Nothing is removed recursively.
   */
  async discardIfNew(): Promise<void> {
    this.forgetInterrupt?.();
    await this.discardSkeleton();
  }

  private async discardSkeleton(): Promise<void> {
    if (!this.isNew) return;
    let lock: HeldLock;
    try {
      lock = await acquireLock(path.join(this.root, LOCK_FILE), 10_000, { cleaningUp: true });
    } catch {
      return; // busy or gone: another writer is at work, so the layout is not ours to remove
    }
    try {
      // Missing: this run was stopped while making the skeleton. Anything but the empty index: kept.
      const index = await fs.readFile(path.join(this.root, INDEX_FILE), 'utf8').catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? '' : undefined));
      if (index === undefined || (index !== '' && index !== serialiseIndex(emptyIndex()).toString('utf8'))) return;
      const mine = `.oci-pack-${process.pid}-`;
      const names = await fs.readdir(this.root);
      if (names.some((n) => ![LAYOUT_FILE, INDEX_FILE, LOCK_FILE, 'blobs'].includes(n) && !n.startsWith(mine))) return;
      for (const n of names) if (n.startsWith(mine)) await fs.rm(path.join(this.root, n), { recursive: true, force: true });
      for (const sub of [path.join('blobs', 'sha256'), 'blobs']) {
        try {
          await fs.rmdir(path.join(this.root, sub));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return; // ENOTEMPTY: someone published
        }
      }
      await fs.rm(path.join(this.root, LAYOUT_FILE), { force: true });
      await fs.rm(path.join(this.root, INDEX_FILE), { force: true });
    } finally {
      await lock.release();
    }
    if (this.madeDir) await fs.rmdir(this.root).catch(() => undefined);
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
  async updateIndex(change: (index: ImageIndex) => ImageIndex | Promise<ImageIndex>, opts: UpdateOptions = {}): Promise<ImageIndex> {
    const lock = await acquireLock(path.join(this.root, LOCK_FILE), opts.timeoutMs ?? 60_000);
    try {
      if (opts.publish) await opts.publish.store.publish(opts.publish.keep);
      const before = await this.readIndex();
      const after = await change(structuredClone(before));
      const old = new Set(before.manifests.map((d) => d.digest));
      for (const d of after.manifests) {
        if (!(await this.store.has(d.digest, d.size))) {
          throw new Error(`index.json would name ${d.digest} (${d.size} bytes), which is not in the store`);
        }
        if (!old.has(d.digest)) await this.checkComplete(d, 0);
      }
      await lock.check();
      await this.writeFileAtomic(INDEX_FILE, serialiseIndex(after), 'image-index');
      // index.json holds images now: a signal must no longer undo the layout's creation.
      if (after.manifests.length > 0) this.forgetInterrupt?.();
      return after;
    } finally {
      await lock.release();
    }
  }

  /**
   * Record an image in index.json under each tag (a tag held by another image moves here), or
   * untagged when `tags` is empty (unless the image is already there).
   */
  async addImage(desc: Descriptor, tags: readonly string[], opts: UpdateOptions & { onMoved?: (moves: TagMove[]) => void } = {}): Promise<ImageIndex> {
    return this.updateIndex((index) => {
      // Inside the lock: the index as this update finds it says which tags really move.
      opts.onMoved?.(tagMoves(index.manifests, desc.digest, tags));
      index.manifests = placeImage(index.manifests, desc, tags);
      return index;
    }, opts);
  }

  /**
   * Every blob a new index entry reaches is in the store. A base image read from this same layout
   * may lose its blobs to `gc` once another writer untags it: refuse, rather than record a hole.
   */
  private async checkComplete(d: Descriptor, depth: number): Promise<void> {
    if (!(await this.store.has(d.digest, d.size))) {
      throw new UserError(`${this.root}: blob ${d.digest} is no longer in the store (removed by gc while this run used it?); run again`, 'ELAYOUT');
    }
    const children: Descriptor[] = [];
    if ((d.mediaType === MediaType.manifest || d.mediaType === MediaType.dockerManifest) && depth < 8) {
      const m = parseCheckedJson(await this.store.read(d), `blob ${d.digest}`) as { config?: Descriptor; layers?: Descriptor[] };
      if (m.config) children.push(m.config);
      children.push(...(m.layers ?? []));
    } else if ((d.mediaType === MediaType.index || d.mediaType === MediaType.dockerManifestList) && depth < 8) {
      children.push(...((parseCheckedJson(await this.store.read(d), `blob ${d.digest}`) as { manifests?: Descriptor[] }).manifests ?? []));
      for (const c of children.splice(0)) await this.checkComplete(c, depth + 1);
      return;
    }
    for (const c of children) {
      if (c.urls === undefined && !(await this.store.has(c.digest, c.size))) {
        throw new UserError(`${this.root}: blob ${c.digest} is no longer in the store (removed by gc while this run used it?); run again`, 'ELAYOUT');
      }
    }
  }

  /** Descriptors in index.json named `ref`. */
  async find(ref: string): Promise<Descriptor[]> {
    const index = await this.readIndex();
    return index.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] === ref);
  }

  /**
   * Write a file of the skeleton unless it is there: written whole under a temp name, then linked
   * to its name, which fails if another creator got there first (whose file may already hold images).
   */
  private async createFileOnce(name: string, data: Buffer, schema: 'oci-layout' | 'image-index'): Promise<void> {
    const dest = path.join(this.root, name);
    const tmp = tempPath(this.root);
    try {
      await writeSynced(tmp, data);
      try {
        await fs.link(tmp, dest);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') return;
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
        // No hard links here (some network filesystems): the lock makes this check-then-rename safe.
        if (await fs.stat(dest).then(() => true, () => false)) return;
        assertValid(schema, JSON.parse(data.toString('utf8')), name);
        await fs.rename(tmp, dest);
      }
      await syncDir(this.root);
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  private async writeFileAtomic(name: string, data: Buffer, schema: 'oci-layout' | 'image-index'): Promise<void> {
    assertValid(schema, JSON.parse(data.toString('utf8')), name);
    const tmp = tempPath(this.root);
    try {
      await writeSynced(tmp, data);
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

/** A new file with `data`, fsynced, mode 0644 whatever the umask. */
async function writeSynced(file: string, data: Buffer): Promise<void> {
  const h = await fs.open(file, 'wx', 0o644);
  try {
    await h.writeFile(data);
    await h.sync();
  } finally {
    await h.close();
  }
  await fs.chmod(file, 0o644);
}

/** The names in `root`, or undefined when it does not exist; a non-directory is refused. */
async function listDirectory(root: string, shown: string): Promise<string[] | undefined> {
  try {
    const st = await fs.stat(root);
    if (!st.isDirectory()) throw new UserError(`${shown}: exists and is not a directory`, 'ELAYOUT');
    return await fs.readdir(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fileErrorOf(shown, err);
  }
}

function fileErrorOf(shown: string, err: unknown): unknown {
  if (err instanceof UserError) return err;
  return new UserError(`${shown}: ${(err as Error).message}`, 'ELAYOUT');
}

/**
 * Whether a directory without oci-layout is only the skeleton another run is creating (or a failed
 * creator left): blobs/sha256 with no blob, an index.json with no image, the lock, temp files.
 */
async function isSkeleton(root: string, names: readonly string[]): Promise<boolean> {
  for (const name of names) {
    if (name === LOCK_FILE || isTempName(name)) continue;
    if (name === 'blobs') {
      const blobs = await fs.readdir(path.join(root, 'blobs')).catch(() => undefined);
      if (blobs === undefined || blobs.some((b) => b !== 'sha256')) return false;
      const sha = await fs.readdir(path.join(root, 'blobs', 'sha256')).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? [] : undefined));
      if (sha === undefined || sha.length > 0) return false;
      continue;
    }
    if (name === INDEX_FILE) {
      const text = await fs.readFile(path.join(root, INDEX_FILE), 'utf8').catch(() => '');
      if (text !== serialiseIndex(emptyIndex()).toString('utf8')) return false;
      continue;
    }
    return false;
  }
  return true;
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
export async function acquireLock(file: string, timeoutMs: number, opts: { cleaningUp?: boolean } = {}): Promise<HeldLock> {
  const me = `${process.pid}@${hostname()}`;
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    if (!opts.cleaningUp) checkNotInterrupted();
    try {
      const h = await fs.open(file, 'wx', 0o644);
      // A signal releases the lock first (the newest action), so that undoing the run can take it.
      const release = async () => {
        forget();
        const now = await fs.readFile(file, 'utf8').catch(() => '');
        if (now.trim() === me) await fs.rm(file, { force: true });
      };
      const forget = onInterrupt(release);
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
        release,
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
