// Placing entries into an image on top of lower layers: destinations follow the lower layers'
// symlinks, parents that exist below keep their metadata, and owners, modes and times are normalised.
import { ancestors, normalise, type Entry, type EntryType, type Normalisation } from './entries.js';
import { UserError } from './errors.js';
import type { LowerTree } from './lower.js';

export interface Placement {
  /** The image path where the source goes, cleaned ("usr/local/bin/app"; "" for the root). */
  dest: string;
  /**
   * The source's entries rooted at the destination it is given (the first one is that path itself);
   * called with `dest` after the lower layers' symlinks are followed.
   */
  entries: (dest: string) => AsyncIterable<Entry>;
  /** Owners, modes and times for this source's entries. */
  rules: Normalisation;
  /**
   * The source never gives one path twice (a host walk: a directory lists a name once). An archive
   * may repeat a directory, which is then written once; the layer writer stops anything else.
   */
  distinct?: boolean;
}

/**
 * One layer's entries for several sources: before each source, the parents of its destination
 * that this layer has not written yet (a lower layer's directory as it was, or a new 0755 root
 * directory); where the destination is a directory below, it keeps that directory's metadata.
 * A source placed at the root contributes what is below it, never the root entry itself.
 * A directory two sources share (`COPY hello sub/ /multi/`) is written once, as its first source
 * made it: a layer that lists a path twice is one docker refuses to load.
 */
export async function* placeEntries(placements: readonly Placement[], lower: LowerTree): AsyncGenerator<Entry> {
  const written = new Map<string, EntryType>();
  for (let i = 0; i < placements.length; i++) {
    const p = placements[i]!;
    // The last source's paths are checked against the others' but need not be kept when its own
    // entries never repeat a path: no source comes after it. One --add of 100,000 files skips
    // 100,000 inserts.
    const keep = i < placements.length - 1 || !p.distinct;
    const dest = lower.resolve(p.dest, false);
    for (const parent of ancestors(dest)) {
      if (written.has(parent)) continue;
      written.set(parent, 'directory');
      const below = lower.directory(parent);
      yield below ? { ...below } : implicitParent(parent, p.rules);
    }
    let first = true;
    for await (const entry of p.entries(dest)) {
      const path = entry.path;
      const below = first && entry.type === 'directory' ? lower.directory(path) : undefined;
      first = false;
      // A layer never holds the root itself, as docker's never do: extracting one would give the
      // image's "/" the mode of whatever directory was placed there.
      if (path === '') continue;
      const before = written.get(path);
      if (before !== undefined) {
        if (before === 'directory' && entry.type === 'directory') continue;
        // Docker would keep the last one; a layer cannot say "this one wins", and dropping the
        // first after it was written is no longer possible in one pass.
        throw new UserError(`/${path}: two sources put something there in this one step (a ${before}, then a ${entry.type}); copy them in separate steps`, 'EINPUT');
      }
      if (below) {
        // Adding a tree onto an existing directory changes its contents, not the directory itself.
        yield { ...below };
      } else {
        // normalise makes a new entry: the source's is not changed.
        yield normalise(entry, p.rules);
      }
      if (keep) written.set(path, entry.type);
    }
  }
}

/**
 * A parent directory no lower layer has: 0755 at the epoch, owned by root or, as docker's COPY
 * --chown creates missing parents, by the --chown owner.
 */
function implicitParent(path: string, rules: Normalisation): Entry {
  const owner = rules.owner ?? { uid: 0, gid: 0 };
  return { path, type: 'directory', mode: 0o755, uid: owner.uid, gid: owner.gid, uname: '', gname: '', mtime: rules.epoch, size: 0 };
}
