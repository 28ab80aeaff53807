// The build context: a host directory as docker's builder sees it once the client has sent it
// (.dockerignore applied), with COPY sources resolved inside it: symlinks stay in scope, ".." may not leave it.
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { createGunzip } from 'node:zlib';
import type { Entry } from '../entries.js';
import { UserError, fileError } from '../errors.js';
import { hostEntries } from '../sources/host.js';
import { IgnoreMatcher } from './ignore.js';

/** A COPY source found in the context. */
export interface ContextSource {
  /** Its path on the host, symlinks resolved. */
  hostPath: string;
  /** Its path in the context ('/'-separated, symlinks resolved). */
  rel: string;
  /** The last component of the source as written: a file copied into a directory gets this name. */
  name: string;
  isDirectory: boolean;
  /** An ignored directory that is there only for the exceptions inside it. */
  implicit: boolean;
}

const MAX_LINK_HOPS = 255;
const NOT_FOUND = 'file not found in build context or excluded by .dockerignore';

export class BuildContext {
  private constructor(
    /** Absolute path of the context directory. */
    readonly root: string,
    readonly ignore: IgnoreMatcher,
  ) {}

  /** The context at `dir` with its .dockerignore, if it has one. */
  static async open(dir: string): Promise<BuildContext> {
    const root = path.resolve(dir);
    const st = await fs.stat(root).catch((err: unknown) => {
      throw fileError(`--context ${dir}`, err);
    });
    if (!st.isDirectory()) throw new UserError(`--context ${dir}: not a directory`, 'EUSAGE');
    let ignore = IgnoreMatcher.none();
    const file = path.join(root, '.dockerignore');
    const text = await readSmall(file, 1024 * 1024).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw fileError(file, err);
    });
    if (text !== undefined) ignore = IgnoreMatcher.parse(text, path.join(dir, '.dockerignore'));
    return new BuildContext(root, ignore);
  }

  /** A source path with no wildcards, found as docker finds it (or a "not found" UserError). */
  async source(written: string): Promise<ContextSource> {
    const cleaned = this.clean(written);
    const rel = await this.resolveScoped(cleaned);
    const hostPath = rel === '' ? this.root : path.join(this.root, ...rel.split('/'));
    const st = await fs.stat(hostPath).catch((err: unknown) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') throw new UserError(`${written}: ${NOT_FOUND}`, 'ENOENT');
      throw fileError(written, err);
    });
    const visibility = this.visibility(rel, st.isDirectory());
    if (visibility === 'skip') throw new UserError(`${written}: ${NOT_FOUND}`, 'ENOENT');
    const name = cleaned === '' ? path.basename(this.root) : path.posix.basename(cleaned);
    return { hostPath, rel, name, isDirectory: st.isDirectory(), implicit: visibility === 'descend' };
  }

  /**
   * The context paths a wildcard source matches (Go's filepath.Match on each path of the context,
   * walked depth first in byte order, ignored paths left out), as sources.
   */
  async glob(written: string): Promise<ContextSource[]> {
    const pattern = goPattern(this.clean(written));
    const out: ContextSource[] = [];
    const walk = async (dirRel: string): Promise<void> => {
      const dirHost = dirRel === '' ? this.root : path.join(this.root, ...dirRel.split('/'));
      const names = (await fs.readdir(dirHost).catch((err: unknown) => {
        throw fileError(dirHost, err);
      })).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      for (const name of names) {
        const rel = dirRel === '' ? name : `${dirRel}/${name}`;
        const st = await fs.lstat(path.join(dirHost, name));
        const verdict = this.ignore.verdict(rel, st.isDirectory());
        if (verdict === 'skip') continue;
        if (pattern.test(rel)) out.push(await this.source(rel));
        if (st.isDirectory()) await walk(rel);
      }
    };
    await walk('');
    return out;
  }

  /** The entries of a source placed at `dest`: a file, or a directory and the tree below it. */
  entries(s: ContextSource, dest: string, where: string, hardLinks: Map<string, string>): AsyncGenerator<Entry> {
    return hostEntries(s.hostPath, dest, {
      where,
      followTopLink: false,
      hardLinks,
      exclude: (hostPath, isDirectory) => this.ignore.verdict(path.relative(this.root, hostPath).split(path.sep).join('/'), isDirectory),
    });
  }

  /** The source as the daemon takes it: one leading "/" and "./" dropped, cleaned, never above the root. */
  private clean(written: string): string {
    let p = written.startsWith('/') && written.length > 1 ? written.slice(1) : written;
    p = p.replace(/^(\.\/)+/, '');
    const norm = path.posix.normalize(p === '' ? '.' : p).replace(/\/+$/, '');
    if (norm === '..' || norm.startsWith('../')) throw new UserError(`${written}: forbidden path outside the build context`, 'EINPUT');
    return norm === '.' || norm === '/' ? '' : norm;
  }

  /** Follow symlinks inside the context as if it were the root (docker's FollowSymlinkInScope). */
  private async resolveScoped(rel: string): Promise<string> {
    let parts = rel === '' ? [] : rel.split('/');
    const out: string[] = [];
    let hops = 0;
    while (parts.length > 0) {
      const part = parts.shift()!;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        out.pop();
        continue;
      }
      const host = path.join(this.root, ...out, part);
      let st;
      try {
        st = await fs.lstat(host);
      } catch {
        return [...out, part, ...parts].join('/');
      }
      if (st.isSymbolicLink()) {
        if (++hops > MAX_LINK_HOPS) throw new UserError(`${rel}: too many levels of symbolic links`, 'EINPUT');
        const target = await fs.readlink(host);
        if (target.startsWith('/')) out.length = 0;
        parts = [...target.split('/'), ...parts];
        continue;
      }
      out.push(part);
    }
    return out.join('/');
  }

  /** What the sent context holds at `rel`: its parents decide first (an ignored one hides it). */
  private visibility(rel: string, isDirectory: boolean): 'keep' | 'skip' | 'descend' {
    if (rel === '') return 'keep';
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      if (this.ignore.verdict(parts.slice(0, i).join('/'), true) === 'skip') return 'skip';
    }
    return this.ignore.verdict(rel, isDirectory);
  }
}

/** Whether a source has wildcards (docker's containsWildcards: '*', '?', '[' not after a backslash). */
export function hasWildcards(written: string): boolean {
  for (let i = 0; i < written.length; i++) {
    const ch = written[i];
    if (ch === '\\') i++;
    else if (ch === '*' || ch === '?' || ch === '[') return true;
  }
  return false;
}

/**
 * Go's filepath.Match as a regular expression: `*` and `?` never match '/', `[...]` is a class
 * (`[^...]` negated, ranges lo-hi), a backslash makes the next character literal.
 */
export function goPattern(pattern: string): RegExp {
  const chars = Array.from(pattern);
  const lit = (c: string) => `\\u{${c.codePointAt(0)!.toString(16)}}`;
  let re = '^';
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '\\' && i + 1 < chars.length) re += lit(chars[++i]!);
    else if (ch === '[') {
      let j = i + 1;
      let cls = '';
      if (chars[j] === '^') {
        cls += '^';
        j++;
      }
      let first = true;
      while (j < chars.length && (chars[j] !== ']' || first)) {
        first = false;
        let lo = chars[j]!;
        if (lo === '\\' && j + 1 < chars.length) lo = chars[++j]!;
        j++;
        if (chars[j] === '-' && j + 1 < chars.length && chars[j + 1] !== ']') {
          let hi = chars[j + 1]!;
          j += 2;
          if (hi === '\\' && j < chars.length) hi = chars[j++]!;
          cls += `${lit(lo)}-${lit(hi)}`;
        } else {
          cls += lit(lo);
        }
      }
      if (j >= chars.length || cls === '' || cls === '^') throw new UserError(`${pattern}: malformed [...] in the pattern`, 'EINPUT');
      re += `[${cls}]`;
      i = j;
    } else re += lit(ch);
  }
  return new RegExp(`${re}$`, 'u');
}

/** Whether a host file is a tar archive docker's ADD would extract (plain or gzip; others are refused). */
export async function archiveKind(hostPath: string, where: string): Promise<'tar' | 'gzip' | undefined> {
  const head = await readHead(createReadStream(hostPath), 512);
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    return isTarHeader(await readHead(createReadStream(hostPath).pipe(createGunzip()), 512)) ? 'gzip' : undefined;
  }
  const other =
    head.subarray(0, 3).toString('latin1') === 'BZh' ? 'bzip2' :
    head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) ? 'xz' :
    head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528 ? 'zstd' : undefined;
  if (other) {
    throw new UserError(
      `${where}: a ${other}-compressed file, which docker's ADD would try to extract; oci-pack extracts plain and gzip tarballs only: ` +
        'recompress it with gzip, or COPY it to keep it as a file',
      'EUNSUPPORTED',
    );
  }
  return isTarHeader(head) ? 'tar' : undefined;
}

/** The first `n` bytes of a stream (fewer if it is shorter); the stream is closed. */
async function readHead(stream: NodeJS.ReadableStream & { destroy(): void }, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let have = 0;
  try {
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      have += (chunk as Buffer).length;
      if (have >= n) break;
    }
  } catch {
    // A truncated gzip stream is simply not an archive.
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, n);
}

/** A valid tar header block: its checksum adds up (what Go's tar reader checks first). */
function isTarHeader(block: Buffer): boolean {
  if (block.length < 512 || block.every((b) => b === 0)) return false;
  const field = block.subarray(148, 156).toString('latin1').replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === parseInt(field, 8);
}

async function readSmall(file: string, limit: number): Promise<string> {
  const st = await fs.stat(file);
  if (st.size > limit) throw new UserError(`${file}: ${st.size} bytes, more than the ${limit} allowed`, 'EINPUT');
  return fs.readFile(file, 'utf8');
}
