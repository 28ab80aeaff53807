// The synchronous steps of a host walk: depth first, each directory before its children, children
// in byte order, one lstat per path. Plain data out (Found), which host.ts makes entries of.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError, fileError, prefixError } from '../errors.js';
import { compareNames } from '../entries.js';

/** What a walk found at one path: an entry's metadata, before owners, links and data. */
export interface Found {
  hostPath: string;
  imagePath: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  /** Whole seconds. */
  mtime: number;
  /** Bytes of a file, 0 for the rest. */
  size: number;
  /** A symlink's target. */
  linkname?: string;
  /** "dev:ino" of a file that has other names too: a hard link. */
  linkKey?: string;
}

/** A directory being walked: its children in byte order, and the next one to visit. */
export interface Frame {
  dir: string;
  dest: string;
  names: string[];
  next: number;
}

/** See HostOptions.exclude. */
export type Exclude = (hostPath: string, isDirectory: boolean) => 'keep' | 'skip' | 'descend';

export function frame(dir: string, dest: string, where: string): Frame {
  let raw: Buffer[];
  try {
    raw = fs.readdirSync(dir, { encoding: 'buffer' });
  } catch (err) {
    throw prefixError(where, fileError(dir, err));
  }
  const names = raw
    .map((bytes) => {
      const name = bytes.toString('utf8');
      if (!Buffer.from(name, 'utf8').equals(bytes)) {
        throw new UserError(`${where}: ${path.join(dir, name)}: the file name is not valid UTF-8`, 'EINPUT');
      }
      return name;
    })
    .sort(compareNames);
  return { dir, dest, names, next: 0 };
}

/**
 * The next path of the walk, or undefined at its end. One stack of directories rather than a
 * generator per directory: every level of `yield*` costs each entry passing through it a promise.
 */
export function step(stack: Frame[], where: string, exclude?: Exclude): Found | undefined {
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.next === top.names.length) {
      stack.pop();
      continue;
    }
    const name = top.names[top.next++]!;
    // top.dir is already normal (the source as given, joined once): no path.join per file.
    const hostPath = top.dir === '/' ? `/${name}` : `${top.dir}/${name}`;
    const imagePath = top.dest === '' ? name : `${top.dest}/${name}`;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(hostPath);
    } catch (err) {
      throw prefixError(where, fileError(hostPath, err));
    }
    const verdict = exclude?.(hostPath, st.isDirectory()) ?? 'keep';
    if (verdict === 'skip') continue;
    if (verdict === 'descend') {
      stack.push(frame(hostPath, imagePath, where));
      return { hostPath, imagePath, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: Math.floor(st.mtimeMs / 1000), size: 0 };
    }
    const found = foundAt(hostPath, imagePath, st, where);
    if (found.type === 'directory') stack.push(frame(hostPath, imagePath, where));
    return found;
  }
  return undefined;
}

/** What is at `hostPath`, given its stat; special files are refused, naming them. */
export function foundAt(hostPath: string, imagePath: string, st: fs.Stats, where: string): Found {
  const type = st.isFile() ? 'file' : st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symlink' : undefined;
  if (type === undefined) {
    throw new UserError(`${where}: ${hostPath}: is a ${describe(st)}; only regular files, directories and symlinks can be added`, 'EINPUT');
  }
  const found: Found = {
    hostPath,
    imagePath,
    type,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtime: Math.floor(st.mtimeMs / 1000),
    size: type === 'file' ? st.size : 0,
  };
  if (type === 'symlink') found.linkname = readLink(hostPath, where);
  else if (type === 'file' && st.nlink > 1) found.linkKey = `${st.dev}:${st.ino}`;
  return found;
}

/** Non-blocking, so that a file swapped for a FIFO since its lstat cannot hang the walk. */
export const READ_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;

/** The first `size` bytes of a file; fewer is the file shrinking under us, which the tar writer reports ("file changed size"). */
export function readWholeSync(hostPath: string, size: number, where: string): Buffer {
  let fd: number | undefined;
  try {
    fd = fs.openSync(hostPath, READ_FLAGS);
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const n = fs.readSync(fd, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    return got === size ? buf : buf.subarray(0, got);
  } catch (err) {
    throw prefixError(where, fileError(hostPath, err));
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function readLink(hostPath: string, where: string): string {
  try {
    return fs.readlinkSync(hostPath);
  } catch (err) {
    throw prefixError(where, fileError(hostPath, err));
  }
}

function describe(st: fs.Stats): string {
  if (st.isSocket()) return 'socket';
  if (st.isFIFO()) return 'FIFO';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  return 'special file';
}
