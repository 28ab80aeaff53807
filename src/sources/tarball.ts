// An existing tar archive (plain or gzip) as a source of entries, with every entry checked so that
// nothing it holds could land outside the root when the layer is extracted.
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { decompressor, sniffCompression } from '../compress.js';
import { cleanPath, parentOf, resolveWithin, type Entry, type EntryType } from '../entries.js';
import { UserError, fileError } from '../errors.js';
import { readTar, type TarEntry } from '../tar.js';

export interface TarballOptions {
  /** How errors name the archive ("--layer rootfs.tar"); the path by default. */
  where?: string;
}

/**
 * Entries of a plain or gzip tarball at `path` (compression detected from the bytes), in archive
 * order. Type, mode, owners, mtimes, link targets, device numbers and xattrs are kept; user and
 * group names are dropped. Unsafe entries stop the iteration with a UserError naming the entry.
 * Each entry's data must be read before the next entry is requested.
 */
export async function* tarballEntries(path: string, opts: TarballOptions = {}): AsyncGenerator<Entry> {
  const where = opts.where ?? path;
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw fileError(where, err);
  }
  const file = handle.createReadStream();
  try {
    let sniffed;
    try {
      sniffed = await sniffCompression(file);
    } catch (err) {
      throw fileError(where, err);
    }
    const bytes = decompressor(sniffed.kind, where);
    pipeline(sniffed.stream, bytes).catch(() => {
      // A read error destroys `bytes` with it, and readTar reports it.
    });
    // Type of every path seen so far: hard links may only name an earlier entry.
    const seen = new Map<string, EntryType>();
    for await (const tarEntry of readTar(bytes, where)) {
      const entry = checked(tarEntry, seen, where);
      seen.set(entry.path, entry.type);
      yield entry;
    }
  } finally {
    file.destroy();
  }
}

function checked(e: TarEntry, seen: ReadonlyMap<string, EntryType>, where: string): Entry {
  const refuse = (why: string): never => {
    throw new UserError(`${where}: entry ${JSON.stringify(e.name)}: ${why}`);
  };
  if (e.path.startsWith('/')) refuse('absolute path');
  if (e.path.split('/').includes('..')) refuse('path has a ".." component');
  const path = cleanPath(e.path)!;
  if (path === '' && e.type !== 'directory') refuse(`the root must be a directory, not a ${e.type}`);
  // Docker refuses to load a layer that lists a path twice, and extractors disagree on which wins.
  const before = seen.get(path);
  if (before !== undefined) refuse(`${path === '' ? 'the root' : JSON.stringify(path)} comes twice in the archive (a ${before}, then a ${e.type}); docker refuses such a layer`);

  let linkname = e.linkname;
  if (e.type === 'symlink') {
    // Absolute targets resolve inside the container's root; relative ones from the link's directory.
    if (resolveWithin(parentOf(path), linkname ?? '').escapes) {
      refuse(`symlink target ${JSON.stringify(linkname)} points outside the root`);
    }
  } else if (e.type === 'link') {
    const target = linkname ?? '';
    if (target.startsWith('/')) refuse(`hard link target ${JSON.stringify(target)} is an absolute path`);
    if (target.split('/').includes('..')) refuse(`hard link target ${JSON.stringify(target)} has a ".." component`);
    linkname = cleanPath(target)!;
    const targetType = seen.get(linkname);
    if (targetType === undefined) {
      refuse(`hard link to ${JSON.stringify(target)}, which is not an earlier entry of the archive`);
    }
    if (targetType === 'directory') refuse(`hard link to the directory ${JSON.stringify(target)}`);
  }

  const entry: Entry = {
    path,
    type: e.type,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    uname: '',
    gname: '',
    mtime: e.mtime,
    size: e.size,
  };
  if (linkname !== undefined) entry.linkname = linkname;
  if (e.devmajor !== undefined) entry.devmajor = e.devmajor;
  if (e.devminor !== undefined) entry.devminor = e.devminor;
  if (e.xattrs) entry.xattrs = e.xattrs;
  if (e.open) entry.open = e.open;
  return entry;
}
