// What the layers below a new layer hold, as far as placing new files needs it: directories (whose
// metadata a parent keeps) and symlinks (which a destination path follows), with whiteouts applied.
import { baseName, parentOf, resolveWithin, type Entry } from './entries.js';
import { UserError } from './errors.js';

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE = '.wh..wh..opq';
const MAX_LINK_HOPS = 40;

type Node = { kind: 'directory'; entry: Entry } | { kind: 'symlink'; target: string };

/**
 * The changes one layer makes, collected while its entries stream by, so that layers can be written
 * concurrently and still applied to the tree in order.
 */
export class LayerChanges {
  readonly items: Array<{ path: string; node: Node | undefined; whiteout?: 'path' | 'opaque' }> = [];

  record(entry: Entry): void {
    const name = baseName(entry.path);
    if (name === OPAQUE) {
      this.items.push({ path: parentOf(entry.path), node: undefined, whiteout: 'opaque' });
    } else if (name.startsWith(WHITEOUT_PREFIX)) {
      const target = parentOf(entry.path);
      const victim = target === '' ? name.slice(WHITEOUT_PREFIX.length) : `${target}/${name.slice(WHITEOUT_PREFIX.length)}`;
      this.items.push({ path: victim, node: undefined, whiteout: 'path' });
    } else if (entry.type === 'directory') {
      const { open: _open, ...meta } = entry;
      this.items.push({ path: entry.path, node: { kind: 'directory', entry: meta } });
    } else if (entry.type === 'symlink') {
      this.items.push({ path: entry.path, node: { kind: 'symlink', target: entry.linkname ?? '' } });
    } else {
      this.items.push({ path: entry.path, node: undefined });
    }
  }
}

export class LowerTree {
  private readonly nodes = new Map<string, Node>();

  apply(changes: LayerChanges): void {
    for (const item of changes.items) {
      if (item.whiteout === 'opaque') {
        this.removeBelow(item.path);
        continue;
      }
      const existing = this.nodes.get(item.path);
      if (item.node?.kind === 'directory' && existing?.kind === 'directory') {
        this.nodes.set(item.path, item.node);
        continue;
      }
      // Anything else at a path replaces what was there, and a directory's contents go with it.
      this.nodes.delete(item.path);
      this.removeBelow(item.path);
      if (item.node) this.nodes.set(item.path, item.node);
    }
  }

  /** The directory entry at `path` in the lower layers, if that path is a directory there. */
  directory(path: string): Entry | undefined {
    const n = this.nodes.get(path);
    return n?.kind === 'directory' ? n.entry : undefined;
  }

  /**
   * `path` with every symlink among its components followed, as a container runtime would when
   * copying into it; the last component is followed too when `followLast`. Links never climb above
   * the root. A loop is an error.
   */
  resolve(path: string, followLast: boolean): string {
    let parts = path.split('/').filter((p) => p !== '');
    let hops = 0;
    for (let i = 0; i < parts.length; i++) {
      const here = parts.slice(0, i + 1).join('/');
      const node = this.nodes.get(here);
      if (node?.kind !== 'symlink' || (i === parts.length - 1 && !followLast)) continue;
      if (++hops > MAX_LINK_HOPS) {
        throw new UserError(`/${path}: too many levels of symbolic links in the lower layers`, 'EINPUT');
      }
      const resolved = resolveWithin(parentOf(here), node.target).path;
      parts = [...resolved.split('/').filter((p) => p !== ''), ...parts.slice(i + 1)];
      i = -1;
    }
    return parts.join('/');
  }

  private removeBelow(dir: string): void {
    const prefix = dir === '' ? '' : `${dir}/`;
    for (const key of [...this.nodes.keys()]) {
      if (key.startsWith(prefix) && key !== dir) this.nodes.delete(key);
    }
  }
}
