// An existing tar archive (plain or gzip) as a source of entries, with every entry checked so that
// nothing it holds could land outside the root when the layer is extracted.
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { decompressor, sniffCompression } from '../compress.js';
import type { Entry } from '../entries.js';
import { fileError } from '../errors.js';
import { LayerChecker } from '../safety.js';
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
    const checker = new LayerChecker(where, { refuseDuplicates: true });
    for await (const tarEntry of readTar(bytes, where)) yield checked(tarEntry, checker);
  } finally {
    file.destroy();
  }
}

function checked(e: TarEntry, checker: LayerChecker): Entry {
  const { path, linkname } = checker.check(e);
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
  if (e.type === 'symlink') entry.linkname = e.linkname ?? '';
  else if (linkname !== undefined) entry.linkname = linkname;
  if (e.devmajor !== undefined) entry.devmajor = e.devmajor;
  if (e.devminor !== undefined) entry.devminor = e.devminor;
  if (e.xattrs) entry.xattrs = e.xattrs;
  if (e.open) entry.open = e.open;
  return entry;
}
