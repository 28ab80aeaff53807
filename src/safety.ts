// The rules that keep a layer's entries inside its root when it is extracted: no absolute or ".."
// names, nothing written through a symlink of the same archive, links resolved as an extractor would.
import { PassThrough, Transform, type TransformCallback } from 'node:stream';
import { cleanPath, parentOf, type EntryType } from './entries.js';
import { UserError } from './errors.js';
import { MAX_LAYER_ENTRIES } from './limits.js';
import { readTar } from './tar.js';

/** Symlinks followed while resolving one target before it counts as a loop (Linux's MAXSYMLINKS). */
const MAX_LINK_HOPS = 40;

/** What the checker needs of an entry: its name as the archive spells it, for messages. */
export interface CheckedEntry {
  /** The name in the archive, for messages. */
  name: string;
  /** The image path ("./" and trailing "/" removed) as the tar reader gives it, not yet judged. */
  path: string;
  type: EntryType;
  linkname?: string;
}

/**
 * Follows one layer's entries in order, as an extractor would create them, and refuses an entry
 * that would land, or point, outside the root. Paths through an earlier symlink of the same archive
 * are refused: a real filesystem walk never yields them, and an extractor that is not confined to
 * the root (tar, a naive Go unpacker) follows the link out of it (`l -> /etc`, then `l/passwd`).
 */
export class LayerChecker {
  /** Symlinks of the archive so far, by clean path, with their targets. */
  private readonly symlinks = new Map<string, string>();
  /** The type of every path seen so far: hard links may only name an earlier non-directory. */
  private readonly seen = new Map<string, EntryType>();
  private count = 0;

  /**
   * `refuseDuplicates`: a path listed twice is an error, for archives that become one of our layers
   * as they are (--layer, ADD): docker refuses to load such a layer, and extractors disagree on
   * which copy wins. Imported layers are only checked for safety, where a repeat is harmless.
   */
  constructor(
    private readonly where: string,
    private readonly opts: { refuseDuplicates?: boolean; maxEntries?: number } = {},
  ) {}

  /** The entry's clean path and, for a hard link, its clean target; throws a UserError if unsafe. */
  check(e: CheckedEntry): { path: string; linkname?: string; linkType?: EntryType } {
    const refuse = (why: string): never => {
      throw new UserError(`${this.where}: entry ${JSON.stringify(e.name)}: ${why}`);
    };
    const max = this.opts.maxEntries ?? MAX_LAYER_ENTRIES;
    if (++this.count > max) {
      throw new UserError(`${this.where}: more than ${max} entries in one layer`);
    }
    if (e.path.startsWith('/')) refuse('absolute path');
    if (e.path.split('/').includes('..')) refuse('path has a ".." component');
    const path = cleanPath(e.path)!;
    if (path === '' && e.type !== 'directory') refuse(`the root must be a directory, not a ${e.type}`);
    if (this.opts.refuseDuplicates) {
      const before = this.seen.get(path);
      if (before !== undefined) refuse(`${path === '' ? 'the root' : JSON.stringify(path)} comes twice in the archive (a ${before}, then a ${e.type}); docker refuses such a layer`);
    }
    const through = this.symlinkAbove(path);
    if (through !== undefined) refuse(`is written through the symlink ${JSON.stringify(through)} of the same archive, which an extractor would follow`);

    let linkname: string | undefined;
    let linkType: EntryType | undefined;
    if (e.type === 'symlink') {
      const target = e.linkname ?? '';
      if (this.resolve(parentOf(path), target, refuse)) refuse(`symlink target ${JSON.stringify(target)} points outside the root`);
    } else if (e.type === 'link') {
      const target = e.linkname ?? '';
      if (target.startsWith('/')) refuse(`hard link target ${JSON.stringify(target)} is an absolute path`);
      if (target.split('/').includes('..')) refuse(`hard link target ${JSON.stringify(target)} has a ".." component`);
      linkname = cleanPath(target)!;
      linkType = this.seen.get(linkname);
      if (linkType === undefined) refuse(`hard link to ${JSON.stringify(target)}, which is not an earlier entry of the archive`);
      if (linkType === 'directory') refuse(`hard link to the directory ${JSON.stringify(target)}`);
      if (linkType === 'symlink') {
        // A hard link to a symlink is a second symlink with the same target, here: check it from here.
        const target2 = this.symlinks.get(linkname)!;
        if (this.resolve(parentOf(path), target2, refuse)) refuse(`hard link to the symlink ${JSON.stringify(target)}, whose target ${JSON.stringify(target2)} points outside the root from here`);
      }
    }

    // An entry replaces what was at its path (an extractor removes a non-directory first).
    const type = e.type === 'link' ? linkType! : e.type;
    this.seen.set(path, type);
    if (type === 'symlink') this.symlinks.set(path, e.type === 'symlink' ? (e.linkname ?? '') : this.symlinks.get(linkname!)!);
    else this.symlinks.delete(path);
    return { path, ...(linkname !== undefined ? { linkname } : {}), ...(linkType !== undefined ? { linkType } : {}) };
  }

  /** The nearest ancestor of `path` that is a symlink of the archive, if any. */
  private symlinkAbove(path: string): string | undefined {
    if (this.symlinks.size === 0) return undefined;
    for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
      const prefix = path.slice(0, i);
      if (this.symlinks.has(prefix)) return prefix;
    }
    return undefined;
  }

  /**
   * Whether `target`, seen from the directory `base`, climbs out of the root when the archive's
   * symlinks on the way are followed (absolute targets start again at the root, as in a container).
   */
  private resolve(base: string, target: string, refuse: (why: string) => never): boolean {
    const done: string[] = base === '' ? [] : base.split('/');
    const todo: string[] = target.split('/').reverse();
    if (target.startsWith('/')) done.length = 0;
    let hops = 0;
    while (todo.length > 0) {
      const part = todo.pop()!;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (done.length === 0) return true;
        done.pop();
        continue;
      }
      done.push(part);
      const link = this.symlinks.get(done.join('/'));
      if (link === undefined) continue;
      if (++hops > MAX_LINK_HOPS) refuse(`symlink target ${JSON.stringify(target)}: too many levels of symbolic links`);
      done.pop();
      if (link.startsWith('/')) done.length = 0;
      for (const p of link.split('/').reverse()) todo.push(p);
    }
    return false;
  }
}

/**
 * A pass-through stage for an uncompressed layer tar that checks its entries with a LayerChecker
 * as the bytes go by (the data is skipped, not buffered). The bytes always pass: `problem` says,
 * once they have, what was wrong (a docker archive's files are staged before manifest.json says
 * which of them are layers, so the caller decides whether the problem matters).
 */
export class LayerCheckStream extends Transform {
  private readonly side = new PassThrough();
  private readonly done: Promise<void>;
  private failure: Error | undefined;
  private finished = false;
  private waiting: (() => void) | undefined;

  constructor(where: string) {
    super();
    const checker = new LayerChecker(where);
    this.done = (async () => {
      for await (const e of readTar(this.side, where)) checker.check(e);
    })();
    this.done.then(
      () => this.release(),
      (err: Error) => {
        this.failure = err;
        this.release();
      },
    );
  }

  /** The first unsafe entry or tar error, once the stream has ended. */
  get problem(): Error | undefined {
    return this.failure;
  }

  /** The tar reader is done (its end marker, or an error): bytes after it pass unchecked. */
  private release(): void {
    this.finished = true;
    const resume = this.waiting;
    this.waiting = undefined;
    resume?.();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.finished || this.side.destroyed || this.side.write(chunk)) {
      cb(null, chunk);
      return;
    }
    this.waiting = () => cb(null, chunk);
    this.side.once('drain', () => {
      const resume = this.waiting;
      this.waiting = undefined;
      resume?.();
    });
  }

  override _flush(cb: TransformCallback): void {
    this.side.end();
    this.done.then(() => cb(), () => cb());
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.side.destroy();
    cb(err);
  }
}
