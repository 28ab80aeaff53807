// Entries ⇄ tar bytes: a writer that encodes every header itself into large chunks and puts what
// ustar cannot hold into PAX records, and a reader on tar-stream that keeps PAX records byte-exact.
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type * as tar from 'tar-stream';
import { cleanPath, compareNames, wholeOf, type Entry, type EntryType } from './entries.js';
import { onInterrupt } from './cleanup.js';
import { UserError, fileError } from './errors.js';
import { MAX_PAX_BYTES } from './limits.js';
import { removeStaleTemps, syncDir, tempPath } from './store.js';

/** One entry of a tar archive being read. */
export interface TarEntry extends Entry {
  /** The name as the archive spells it (after long-name and PAX path records): for messages. */
  name: string;
  /** The PAX records in force for this entry (global, then its own), values as raw bytes. */
  paxRecords: ReadonlyMap<string, Buffer>;
}

/** What tar-stream's extract yields: a streamx Readable of one entry's data, with its header. */
type EntrySource = tar.Extract extends AsyncIterable<infer S> ? S : never;

/** The ustar typeflag of each entry type. */
const TYPEFLAGS: Record<EntryType, number> = { file: 0, link: 1, symlink: 2, char: 3, block: 4, directory: 5, fifo: 6 };

/**
 * The header fields as written. The encoding is the one tar-stream's packer used before this
 * writer replaced it (6-digit ids, a 32-bit mtime, a space after each number), byte for byte, so
 * layers keep their digests.
 */
interface UstarHeader {
  name: string;
  typeflag: number;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  size: number;
  linkname: string;
  devmajor: number;
  devminor: number;
}

/** uid, gid and device numbers are written as 6 octal digits. */
const USTAR_MAX_ID = 0o777777;
/** The mtime is written as a 32-bit signed number of seconds. */
const USTAR_MAX_MTIME = 2 ** 31 - 1;
/** 11 octal digits; larger sizes are written in base-256, which not every reader knows. */
const USTAR_MAX_SIZE = 0o77777777777;
const XATTR_PREFIX = 'SCHILY.xattr.';
const BLOCK = 512;

type PaxRecord = [key: string, value: Buffer];

// ---------------------------------------------------------------------------------------------
// Writer

/** Headers and small data are gathered into chunks of this size rather than pushed one by one. */
const CHUNK = 64 * 1024;
/** Data pieces at least this large are pushed as they are instead of being copied into a chunk. */
const PASS_THROUGH = 16 * 1024;

export interface TarStreamOptions {
  /**
   * Called with each entry before it is written; what it throws fails the stream as an error of
   * the entries would. A check here costs nothing per entry, where another async generator
   * wrapped around the entries costs a few promises each.
   */
  onEntry?: (entry: Entry) => void;
}

/**
 * A tar stream (a Node Readable) of the given entries, in the order given, ended by the
 * end-of-archive blocks. Entries are pulled one at a time, only when the reader wants bytes; an
 * error from the entries, their data or the consumer destroys the stream with that error.
 */
export function tarStream(entries: AsyncIterable<Entry>, opts: TarStreamOptions = {}): Readable {
  const onEntry = opts.onEntry;
  let started = false;
  let wake: (() => void) | undefined;
  const nudge = (): void => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const out = new Readable({
    read() {
      if (!started) {
        started = true;
        void drive();
      }
      nudge();
    },
    destroy(err, cb) {
      nudge();
      cb(err);
    },
  });
  const writer = new ChunkWriter(out, () => new Promise<void>((resolve) => { wake = resolve; }));

  async function drive(): Promise<void> {
    const iterator = entries[Symbol.asyncIterator]();
    try {
      // Awaits only what is pending: for a tree of small files most entries are written with no
      // promise of their own (room to spare, data already in memory).
      for (;;) {
        if (writer.full() && !(await writer.room())) break;
        if (out.destroyed) break;
        const next = await iterator.next();
        if (next.done) {
          writer.zeros(2 * BLOCK);
          writer.flush();
          out.push(null);
          return;
        }
        onEntry?.(next.value);
        const pending = writeEntry(writer, next.value);
        if (pending) await pending;
      }
    } catch (err) {
      out.destroy(err as Error);
    }
    // Stopped early: let the source close its files.
    try {
      await iterator.return?.();
    } catch {
      // The error already reported is the one that matters.
    }
  }

  return out;
}

/**
 * Gathers headers and small data into one chunk that is pushed when full: a push (and a chunk
 * through every later stage) per 512-byte header would cost more than the bytes themselves.
 */
class ChunkWriter {
  // Zeroed when made, and never reused once pushed: headers and padding need no filling of their own.
  private chunk = Buffer.alloc(CHUNK);
  private used = 0;

  constructor(
    private readonly out: Readable,
    private readonly readCalled: () => Promise<void>,
  ) {}

  /** Whether room() would wait: the reader has enough. */
  full(): boolean {
    return !this.out.destroyed && this.out.readableLength >= this.out.readableHighWaterMark;
  }

  /** Waits while the reader has enough; false once the stream is destroyed. */
  async room(): Promise<boolean> {
    while (!this.out.destroyed && this.out.readableLength >= this.out.readableHighWaterMark) await this.readCalled();
    return !this.out.destroyed;
  }

  /** A zeroed 512-byte block in the chunk, for a header to be encoded into. */
  block(): { buf: Buffer; at: number } {
    if (this.used + BLOCK > CHUNK) this.flush();
    const at = this.used;
    this.used += BLOCK;
    return { buf: this.chunk, at };
  }

  zeros(n: number): void {
    while (n > 0) {
      if (this.used === CHUNK) this.flush();
      const take = Math.min(n, CHUNK - this.used);
      this.used += take;
      n -= take;
    }
  }

  /** Zeros up to the next whole block after `size` bytes of data. */
  pad(size: number): void {
    this.zeros((BLOCK - (size % BLOCK)) % BLOCK);
  }

  /**
   * Appends data: copied into the chunk when small, passed on as it is when large. A promise only
   * when it has to wait for the reader (undefined: done already).
   */
  data(bytes: Buffer): Promise<void> | undefined {
    if (bytes.length >= PASS_THROUGH) {
      this.flush();
      this.out.push(bytes);
      return this.full() ? this.room().then(() => undefined) : undefined;
    }
    if (this.used + bytes.length > CHUNK) {
      this.flush();
      if (this.full()) return this.room().then(() => this.copy(bytes));
    }
    this.copy(bytes);
    return undefined;
  }

  private copy(bytes: Buffer): void {
    bytes.copy(this.chunk, this.used);
    this.used += bytes.length;
  }

  flush(): void {
    if (this.used === 0 || this.out.destroyed) return;
    this.out.push(this.chunk.subarray(0, this.used));
    this.chunk = Buffer.alloc(CHUNK);
    this.used = 0;
  }
}

/** Writes an entry; a promise only when it must wait (for the reader, or for data being read). */
function writeEntry(writer: ChunkWriter, entry: Entry): Promise<void> | undefined {
  const { header, pax } = tarHeader(entry);
  if (pax.length > 0) {
    const body = paxBody(pax);
    writePaxBlock(writer.block(), body.length);
    const pending = writer.data(body);
    if (pending) return pending.then(() => writeEntryAfterPax(writer, entry, header, body.length));
    return writeEntryAfterPax(writer, entry, header, body.length);
  }
  return writeEntryAfterPax(writer, entry, header, -1);
}

function writeEntryAfterPax(writer: ChunkWriter, entry: Entry, header: UstarHeader, paxLength: number): Promise<void> | undefined {
  if (paxLength >= 0) writer.pad(paxLength);
  encodeHeader(writer.block(), header);
  if (entry.type !== 'file' || !entry.open) return undefined;
  const whole = wholeOf(entry.open);
  if (whole) {
    const loaded = whole();
    if (loaded instanceof Buffer) return writeWhole(writer, entry, loaded);
    return (loaded as Promise<Buffer>).then((data) => writeWhole(writer, entry, data));
  }
  return writeStreamed(writer, entry, entry.open);
}

function writeWhole(writer: ChunkWriter, entry: Entry, data: Buffer): Promise<void> | undefined {
  if (data.length > entry.size) throw changedSize(entry, 'more');
  if (data.length < entry.size) throw changedSize(entry, String(data.length));
  const pending = writer.data(data);
  if (pending) return pending.then(() => writer.pad(entry.size));
  writer.pad(entry.size);
  return undefined;
}

async function writeStreamed(writer: ChunkWriter, entry: Entry, open: () => Readable): Promise<void> {
  // A loop rather than a pipeline per entry: for thousands of small files, pipeline's per-call
  // setup (an AbortController each) cost more than the copying.
  const data = open();
  try {
    let seen = 0;
    for await (const chunk of data as AsyncIterable<Buffer>) {
      seen += chunk.length;
      if (seen > entry.size) throw changedSize(entry, 'more');
      await writer.data(chunk);
      if (!(await writer.room())) return;
    }
    if (seen !== entry.size) throw changedSize(entry, String(seen));
  } catch (err) {
    data.destroy();
    throw err;
  }
  writer.pad(entry.size);
}

/**
 * The header blocks of an entry (PAX records first when it needs them), exactly as tarStream writes
 * them: for a writer that places an entry's data first and its header once the size is known.
 */
export function entryHeader(entry: Entry): Buffer {
  const { header, pax } = tarHeader(entry);
  const body = pax.length > 0 ? paxBody(pax) : undefined;
  const padded = body ? body.length + ((BLOCK - (body.length % BLOCK)) % BLOCK) : 0;
  const buf = Buffer.alloc((body ? BLOCK + padded : 0) + BLOCK);
  if (body) {
    writePaxBlock({ buf, at: 0 }, body.length);
    body.copy(buf, BLOCK);
  }
  encodeHeader({ buf, at: buf.length - BLOCK }, header);
  return buf;
}

/** A file that grew or shrank between its stat and its read. */
function changedSize(entry: Entry, got: string): UserError {
  return new UserError(`/${entry.path}: file changed size while being read (expected ${entry.size} bytes, got ${got})`);
}

/** The ustar header of an entry, and the PAX records for whatever the ustar fields cannot hold. */
function tarHeader(entry: Entry): { header: UstarHeader; pax: PaxRecord[] } {
  checkEntry(entry);
  const pax: PaxRecord[] = [];

  const isDir = entry.type === 'directory';
  const name = entry.path === '' ? './' : isDir ? `${entry.path}/` : entry.path;
  let ustarName = name;
  if (!fitsUstarName(name)) {
    pax.push(['path', utf8(name)]);
    ustarName = fallbackName(name, isDir);
  }

  const linkname = entry.type === 'symlink' || entry.type === 'link' ? (entry.linkname ?? '') : '';
  let ustarLinkname = linkname;
  if (!isAscii(linkname) || linkname.length > 100) {
    pax.push(['linkpath', utf8(linkname)]);
    ustarLinkname = fallbackName(linkname, false);
  }

  const uid = Math.min(entry.uid, USTAR_MAX_ID);
  if (uid !== entry.uid) pax.push(['uid', utf8(String(entry.uid))]);
  const gid = Math.min(entry.gid, USTAR_MAX_ID);
  if (gid !== entry.gid) pax.push(['gid', utf8(String(entry.gid))]);

  // The fields are 32 bytes, NUL-terminated.
  let uname = entry.uname ?? '';
  if (!isAscii(uname) || uname.length > 31) {
    pax.push(['uname', utf8(uname)]);
    uname = '';
  }
  let gname = entry.gname ?? '';
  if (!isAscii(gname) || gname.length > 31) {
    pax.push(['gname', utf8(gname)]);
    gname = '';
  }

  const mtime = Math.max(0, Math.min(entry.mtime, USTAR_MAX_MTIME));
  if (mtime !== entry.mtime) pax.push(['mtime', utf8(String(entry.mtime))]);
  if (entry.size > USTAR_MAX_SIZE) pax.push(['size', utf8(String(entry.size))]);

  const isDevice = entry.type === 'char' || entry.type === 'block';
  const devmajor = isDevice ? (entry.devmajor ?? 0) : 0;
  const devminor = isDevice ? (entry.devminor ?? 0) : 0;
  if (devmajor > USTAR_MAX_ID || devminor > USTAR_MAX_ID) {
    throw new UserError(`/${entry.path}: device numbers ${devmajor},${devminor} do not fit in a tar header`);
  }

  const xattrs = entry.xattrs && entry.xattrs.size > 0 ? [...entry.xattrs].sort(([a], [b]) => compareNames(a, b)) : NO_XATTRS;
  for (const [key, value] of xattrs) {
    if (key === '' || key.includes('=') || key.includes('\0')) {
      throw new UserError(`/${entry.path}: extended attribute name ${JSON.stringify(key)} cannot be stored in a tar PAX record`);
    }
    pax.push([XATTR_PREFIX + key, value]);
  }

  const header: UstarHeader = {
    name: ustarName,
    typeflag: TYPEFLAGS[entry.type],
    mode: entry.mode,
    uid,
    gid,
    uname,
    gname,
    mtime,
    size: entry.type === 'file' ? entry.size : 0,
    linkname: ustarLinkname,
    devmajor,
    devminor,
  };
  return { header, pax };
}

function utf8(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

const NO_XATTRS: ReadonlyArray<[string, Buffer]> = [];

const UNCLEAN_PATH = /(?:^|\/)(?:\.\.?)?(?:\/|$)/;

/** Entries that break the Entry contract are bugs of the source that made them. */
function checkEntry(entry: Entry): void {
  if (!(entry.type in TYPEFLAGS)) bad(entry, `unknown type ${String(entry.type)}`);
  // What cleanPath would change: an empty, "." or ".." component (a leading, trailing or double "/").
  if (entry.path !== '' && UNCLEAN_PATH.test(entry.path)) bad(entry, 'not a clean relative path');
  if (entry.path.includes('\0')) bad(entry, 'NUL in path');
  if (entry.path === '' && entry.type !== 'directory') bad(entry, 'the root must be a directory');
  if (!Number.isInteger(entry.mode) || entry.mode < 0 || entry.mode > 0o7777) bad(entry, `mode ${entry.mode} is not within 0..07777`);
  // Field by field, with nothing made per entry: this runs for every entry of every layer.
  wholeNumber(entry, 'uid', entry.uid);
  wholeNumber(entry, 'gid', entry.gid);
  wholeNumber(entry, 'size', entry.size);
  if (!Number.isSafeInteger(entry.mtime)) bad(entry, `mtime ${entry.mtime} is not a whole number of seconds`);
  if (entry.type !== 'file' && entry.size !== 0) bad(entry, `a ${entry.type} has size ${entry.size}`);
  if (entry.type === 'file' && entry.size > 0 && !entry.open) bad(entry, 'a file with data has no open()');
  if (entry.type === 'symlink' || entry.type === 'link') {
    if (typeof entry.linkname !== 'string' || entry.linkname.includes('\0')) bad(entry, 'missing or invalid link target');
  }
  if (entry.type === 'link' && (entry.linkname === '' || cleanPath(entry.linkname!) !== entry.linkname)) {
    bad(entry, 'a hard link target must be a clean image path');
  }
  deviceNumber(entry, entry.devmajor);
  deviceNumber(entry, entry.devminor);
}

function bad(entry: Entry, why: string): never {
  throw new Error(`tar writer: entry ${JSON.stringify(entry.path)}: ${why}`);
}

function wholeNumber(entry: Entry, field: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) bad(entry, `${field} ${value} is not a whole number`);
}

function deviceNumber(entry: Entry, n: number | undefined): void {
  if (n !== undefined && (!Number.isSafeInteger(n) || n < 0)) bad(entry, `device number ${n} is not a whole number`);
}

function isAscii(s: string): boolean {
  return s === '' || /^[\x01-\x7f]*$/.test(s);
}

/** Whether `name` fits the ustar name and prefix fields, split as encodeHeader splits it. */
function fitsUstarName(name: string): boolean {
  if (!isAscii(name)) return false;
  let rest = name;
  let prefix = '';
  while (rest.length > 100) {
    const slash = rest.indexOf('/');
    if (slash === -1) return false;
    prefix += (prefix ? '/' : '') + rest.slice(0, slash);
    rest = rest.slice(slash + 1);
  }
  return prefix.length <= 155;
}

/**
 * What the ustar field holds when a PAX record has the real name: ASCII, at most 100 bytes, and
 * ending in "/" exactly when the entry is a directory (tar-stream's reader, like old tars, takes a
 * trailing "/" on a plain file header as a directory).
 */
function fallbackName(name: string, isDir: boolean): string {
  const ascii = name.replace(/[^\x01-\x7f]/gu, '_');
  if (isDir) return `${ascii.replace(/\/+$/, '').slice(0, 99)}/`;
  return ascii.slice(0, 100).replace(/\/+$/, (m) => '_'.repeat(m.length));
}

/** The records of a PAX extended header. */
function paxBody(records: PaxRecord[]): Buffer {
  const body = Buffer.concat(records.map(([key, value]) => paxRecord(key, value)));
  if (body.length > USTAR_MAX_SIZE) throw new Error('tar writer: PAX header too large');
  return body;
}

/**
 * The ustar block of a PAX extended header ("x") whose records take `size` bytes. Its checksum
 * field is written as GNU tar writes it (6 digits, NUL, space), unlike the other headers.
 */
function writePaxBlock({ buf, at }: { buf: Buffer; at: number }, size: number): void {
  const block = buf.subarray(at, at + BLOCK);
  const octal = (offset: number, width: number, value: number) => {
    block.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, 'latin1');
  };
  // The name python's tarfile uses; readers that know PAX never show it.
  block.write('././@PaxHeader', 0, 'latin1');
  octal(100, 8, 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, 0);
  block.fill(0x20, 148, 156);
  block.write('x', 156, 'latin1');
  block.write('ustar\u000000', 257, 'latin1');
  octal(329, 8, 0);
  octal(337, 8, 0);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
}

const USTAR_MAGIC = Buffer.from('ustar\x0000', 'latin1');

/** Encodes a header into a zeroed block. */
function encodeHeader({ buf, at }: { buf: Buffer; at: number }, h: UstarHeader): void {
  let name = h.name;
  let prefix = '';
  while (name.length > 100) {
    const slash = name.indexOf('/');
    prefix += prefix ? `/${name.slice(0, slash)}` : name.slice(0, slash);
    name = name.slice(slash + 1);
  }
  buf.write(name, at, 'latin1');
  octal(buf, at + 100, h.mode & 0o7777, 6);
  octal(buf, at + 108, h.uid, 6);
  octal(buf, at + 116, h.gid, 6);
  if (h.size > USTAR_MAX_SIZE) {
    // base-256: a leading 0x80, then the number big-endian in the other 11 bytes.
    let n = h.size;
    buf[at + 124] = 0x80;
    for (let i = 11; i > 0; i--) {
      buf[at + 124 + i] = n % 256;
      n = Math.floor(n / 256);
    }
  } else {
    octal(buf, at + 124, h.size, 11);
  }
  octal(buf, at + 136, h.mtime, 11);
  buf[at + 156] = 0x30 + h.typeflag;
  if (h.linkname) buf.write(h.linkname, at + 157, 'latin1');
  USTAR_MAGIC.copy(buf, at + 257);
  if (h.uname) buf.write(h.uname, at + 265, 'latin1');
  if (h.gname) buf.write(h.gname, at + 297, 'latin1');
  octal(buf, at + 329, h.devmajor, 6);
  octal(buf, at + 337, h.devminor, 6);
  if (prefix) buf.write(prefix, at + 345, 'latin1');
  // The checksum counts its own field as eight spaces.
  let sum = 8 * 0x20;
  for (let i = at; i < at + 148; i++) sum += buf[i]!;
  for (let i = at + 156; i < at + BLOCK; i++) sum += buf[i]!;
  octal(buf, at + 148, sum, 6);
}

/**
 * `digits` octal digits (all 7s when the value is larger) and a space, byte by byte: a string per
 * field cost more than the rest of a header on trees of small files.
 */
function octal(buf: Buffer, offset: number, value: number, digits: number): void {
  buf[offset + digits] = 0x20;
  if (value >= 8 ** digits) {
    buf.fill(0x37, offset, offset + digits);
    return;
  }
  let n = value;
  for (let i = offset + digits - 1; i >= offset; i--) {
    buf[i] = 0x30 + (n % 8);
    n = Math.floor(n / 8);
  }
}

/** "LEN key=value\n", where the value is raw bytes and LEN counts the bytes of the whole record. */
function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let digits = String(rest.length).length;
  while (String(rest.length + digits).length !== digits) digits++;
  return Buffer.concat([Buffer.from(String(rest.length + digits), 'latin1'), rest]);
}

// ---------------------------------------------------------------------------------------------
// Reader

/** tar-stream's private parts that the reader hooks into (see capturePax). */
interface ExtractInternals {
  _header: { type: string | null } | null;
  _decodeLongHeader(buf: Buffer): void;
}

/**
 * Parse a tar stream into entries. Each entry's open() yields its data and must be consumed before
 * the next entry is pulled (data left unread is skipped). Names are turned into image paths
 * ("./a/" → "a", "/" and "./" → "") but not judged: "/etc/passwd" and "../x" come out as they are.
 */
export async function* readTar(input: Readable, where: string): AsyncGenerator<TarEntry> {
  // latin1 hands us the header's name bytes one to one, so that we decode them strictly (the
  // option exists in tar-stream 3 but not in its types).
  // Imported here: writing a layer, and so most commands, never needs tar-stream.
  const { extract: createExtract } = await import('tar-stream');
  const extract = createExtract({ filenameEncoding: 'latin1' } as Parameters<typeof tar.extract>[0]);
  const pax = capturePax(extract, where);
  pipeline(input, extract).catch(() => {
    // The same error reaches the loop below through the extract's iterator.
  });
  const iterator = extract[Symbol.asyncIterator]();
  let current: EntryData | undefined;
  try {
    for (;;) {
      current?.release();
      let next: IteratorResult<EntrySource>;
      try {
        next = await iterator.next();
      } catch (err) {
        throw tarError(where, err);
      }
      if (next.done) return;
      const source = next.value;
      const entry = toTarEntry(source.header, pax.take(source.header), where);
      current = new EntryData(source, entry.name, where);
      if (entry.type === 'file') {
        const data = current;
        entry.open = () => data.open();
      }
      yield entry;
    }
  } finally {
    await iterator.return?.();
  }
}

/**
 * Keeps the raw bytes of PAX headers. tar-stream decodes PAX values as UTF-8 text (binary xattr
 * values are mangled) and applies only path, linkpath and size, so the instance's private
 * `_decodeLongHeader` (called with each long header's bytes) is wrapped. take() throws when
 * tar-stream saw a PAX header that the hook did not, so a tar-stream change cannot go unnoticed.
 */
function capturePax(extract: tar.Extract, where: string): { take(header: tar.Header): Map<string, Buffer> } {
  const internals = extract as unknown as ExtractInternals;
  const decode = internals._decodeLongHeader;
  if (typeof decode !== 'function') throw new Error('tar-stream has no _decodeLongHeader: the PAX hook needs updating');
  const global = new Map<string, Buffer>();
  let local: Map<string, Buffer> | undefined;
  internals._decodeLongHeader = function (this: ExtractInternals, buf: Buffer): void {
    const type = this._header?.type;
    if (type === 'pax-header') {
      local = parsePax(buf, where);
    } else if (type === 'pax-global-header') {
      for (const [key, value] of parsePax(buf, where)) {
        if (value.length === 0 && !key.startsWith(XATTR_PREFIX)) global.delete(key);
        else global.set(key, value);
      }
    }
    decode.call(this, buf);
  };
  return {
    take(header) {
      if (header.pax && !local) throw new Error('tar-stream read a PAX header that the PAX hook missed');
      const records = new Map(global);
      // An empty value in an entry's own header means: use the ustar field.
      for (const [key, value] of local ?? []) {
        if (value.length === 0 && !key.startsWith(XATTR_PREFIX)) records.delete(key);
        else records.set(key, value);
      }
      local = undefined;
      return records;
    },
  };
}

/** PAX records ("LEN key=value\n"), values kept as bytes. */
function parsePax(buf: Buffer, where: string): Map<string, Buffer> {
  if (buf.length > MAX_PAX_BYTES) throw new UserError(`${where}: a PAX extended header of ${buf.length} bytes, more than the ${MAX_PAX_BYTES} allowed`);
  const records = new Map<string, Buffer>();
  const malformed = () => new UserError(`${where}: malformed PAX extended header`);
  let at = 0;
  while (at < buf.length) {
    if (buf[at] === 0) break; // NUL padding after the last record
    const space = buf.indexOf(0x20, at);
    const lenText = space < 0 ? '' : buf.toString('latin1', at, space);
    if (!/^[1-9]\d{0,8}$/.test(lenText)) throw malformed();
    const end = at + Number(lenText);
    if (end > buf.length || buf[end - 1] !== 0x0a) throw malformed();
    const eq = buf.indexOf(0x3d, space + 1);
    if (eq < 0 || eq >= end) throw malformed();
    records.set(buf.toString('utf8', space + 1, eq), Buffer.from(buf.subarray(eq + 1, end - 1)));
    at = end;
  }
  return records;
}

const ENTRY_TYPES: Partial<Record<string, EntryType>> = {
  file: 'file',
  'contiguous-file': 'file',
  directory: 'directory',
  symlink: 'symlink',
  link: 'link',
  'character-device': 'char',
  'block-device': 'block',
  fifo: 'fifo',
};

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function toTarEntry(header: tar.Header, pax: Map<string, Buffer>, where: string): TarEntry {
  const rawName = pax.get('path') ?? Buffer.from(header.name, 'latin1');
  const name = rawName.toString('utf8');
  const refuse = (why: string): never => {
    throw new UserError(`${where}: entry ${JSON.stringify(name)}: ${why}`);
  };
  const decodeName = (bytes: Buffer): string => {
    // A ustar field ends at its first NUL; a PAX record may hold one, which no file name can.
    if (bytes.includes(0)) refuse('name or link target holds a NUL byte');
    try {
      return strictUtf8.decode(bytes);
    } catch {
      return refuse('name or link target is not valid UTF-8');
    }
  };

  const sparse = [...pax.keys()].some((key) => key.startsWith('GNU.sparse.'));
  if (sparse) {
    const realName = pax.get('GNU.sparse.name');
    const shown = realName ? JSON.stringify(realName.toString('utf8')) : JSON.stringify(name);
    throw new UserError(`${where}: entry ${shown}: sparse file (GNU.sparse PAX records) is not supported; repack the archive without --sparse`);
  }
  let type = ENTRY_TYPES[header.type ?? ''];
  if (type === undefined) {
    // tar-stream gives type null for flags it does not know, GNU sparse ("S") among them.
    refuse('unsupported entry type (a GNU sparse file, a multi-volume part or another tar extension)');
  }
  const decodedName = decodeName(rawName);
  const size = number('size', header.size);
  // Old tars mark a directory by a trailing "/" on a plain file; tar-stream computes that but
  // drops it (it keeps the type it decoded first).
  if (type === 'file' && decodedName.endsWith('/')) {
    if (size !== 0) refuse('a file name ending in "/"');
    type = 'directory';
  }

  function number(field: string, value: unknown): number {
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
    return refuse(`invalid ${field} field in the header`);
  }
  function paxNumber(key: string, fallback: number): number {
    const raw = pax.get(key);
    if (raw === undefined) return fallback;
    const text = raw.toString('latin1');
    if (!/^\d{1,15}$/.test(text)) refuse(`invalid PAX ${key} record ${JSON.stringify(text)}`);
    return Number(text);
  }

  const entryType = type!;
  const isLink = entryType === 'symlink' || entryType === 'link';
  const rawLink = pax.get('linkpath') ?? (header.linkname === null ? undefined : Buffer.from(header.linkname, 'latin1'));
  const linkTarget = isLink ? decodeName(rawLink ?? Buffer.alloc(0)) : undefined;

  const entry: TarEntry = {
    name,
    path: imagePath(decodedName),
    type: entryType,
    mode: number('mode', header.mode) & 0o7777,
    uid: paxNumber('uid', number('uid', header.uid)),
    gid: paxNumber('gid', number('gid', header.gid)),
    uname: pax.get('uname')?.toString('utf8') ?? header.uname,
    gname: pax.get('gname')?.toString('utf8') ?? header.gname,
    mtime: mtimeOf(pax.get('mtime'), header.mtime, refuse),
    // A hard link's data, if an archive has any, is skipped: the first name holds it.
    size: entryType === 'file' ? size : 0,
    paxRecords: pax,
  };
  if (linkTarget !== undefined) entry.linkname = entryType === 'link' ? imagePath(linkTarget) : linkTarget;
  if (entryType === 'char' || entryType === 'block') {
    entry.devmajor = number('devmajor', header.devmajor);
    entry.devminor = number('devminor', header.devminor);
  }
  const xattrs = new Map<string, Buffer>();
  for (const [key, value] of pax) {
    if (key.startsWith(XATTR_PREFIX)) xattrs.set(key.slice(XATTR_PREFIX.length), value);
  }
  if (xattrs.size > 0) entry.xattrs = xattrs;
  return entry;
}

/** Whole seconds: a PAX mtime may have a fraction and a sign ("-1.5" is in second -2). */
function mtimeOf(pax: Buffer | undefined, fallback: Date, refuse: (why: string) => never): number {
  if (pax === undefined) {
    const seconds = fallback.getTime() / 1000;
    return Number.isSafeInteger(seconds) ? seconds : refuse('invalid mtime field in the header');
  }
  const text = pax.toString('latin1');
  const match = /^(-?)(\d{1,15})(?:\.(\d*))?$/.exec(text);
  if (!match) return refuse(`invalid PAX mtime record ${JSON.stringify(text)}`);
  const whole = Number(match[2]);
  if (match[1] === '') return whole;
  return -whole - (/[1-9]/.test(match[3] ?? '') ? 1 : 0);
}

/** An archive name as an image path: "./" prefixes and trailing "/" go; "/" or "./" is the root. */
function imagePath(name: string): string {
  let path = name;
  while (path.startsWith('./')) path = path.slice(2);
  if (path === '.' || /^\/+$/.test(path)) return '';
  return path.replace(/\/+$/, '');
}

/** The data of the entry just yielded: opened by the consumer, or skipped when it moves on. */
class EntryData {
  private opened = false;
  private reader: Readable | undefined;
  private ended = false;
  private failure: unknown;
  private closed = false;

  constructor(
    private readonly source: EntrySource,
    private readonly name: string,
    private readonly where: string,
  ) {
    // Listened to from the start: the archive may fail (truncated) before the consumer opens the
    // entry, and a streamx stream does not repeat its 'error' to later listeners.
    source.on('end', () => {
      this.ended = true;
      this.reader?.push(null);
    });
    source.on('error', (err: unknown) => {
      this.failure ??= err;
      this.fail();
    });
    source.on('close', () => {
      this.closed = true;
      this.fail();
    });
  }

  open(): Readable {
    if (this.opened) throw new Error(`tar reader: entry ${JSON.stringify(this.name)} opened twice`);
    this.opened = true;
    const source = this.source;
    const onData = (chunk: unknown) => {
      if (!reader.push(chunk as Buffer)) source.pause();
    };
    // tar-stream's entry streams are streamx streams: a Node Readable in front keeps the Entry
    // contract, and destroying it must not destroy the whole archive (streamx would).
    const reader = new Readable({
      read() {
        source.resume();
      },
      destroy(err, cb) {
        source.off('data', onData);
        source.resume();
        cb(err);
      },
    });
    this.reader = reader;
    // The archive can fail while no consumer is listening (between peekHead and the pipeline that
    // reads on): the error stays on the stream (`errored`), where every reader finds it, instead of
    // crashing the process as an unhandled 'error' event.
    reader.on('error', () => undefined);
    if (this.ended) reader.push(null);
    else source.on('data', onData);
    this.fail();
    return reader;
  }

  /** Called before the next entry is read: what the consumer did not read is skipped. */
  release(): void {
    if (!this.opened) {
      this.source.resume();
    } else if (this.reader && !this.reader.readableEnded && !this.reader.destroyed) {
      this.reader.destroy(new Error(`tar reader: the next entry was read before the data of ${JSON.stringify(this.name)}`));
    }
  }

  /** Passes a failure of the archive on to the reader, if there is one and the data did not end. */
  private fail(): void {
    if (!this.reader || this.ended || (this.failure === undefined && !this.closed)) return;
    const err = this.failure === undefined
      ? new UserError(`${this.where}: is not a tar archive or is truncated: the data of ${JSON.stringify(this.name)} ended early`)
      : tarError(this.where, this.failure);
    this.reader.destroy(err as Error);
  }
}

/** Errors while reading an archive, as a person would want them. */
function tarError(where: string, err: unknown): unknown {
  if (err instanceof UserError) return err;
  if (typeof (err as NodeJS.ErrnoException | undefined)?.syscall === 'string') return fileError(where, err);
  if (err instanceof Error) return new UserError(`${where}: is not a tar archive or is truncated: ${err.message}`);
  return err;
}

// ---------------------------------------------------------------------------------------------
// Archives of documents and blobs (oci-archive, docker-save): every header field fixed, so the same
// images always give the same archive bytes.

const ARCHIVE_MTIME = 0;

export function archiveDirectory(p: string): Entry {
  return { path: p, type: 'directory', mode: 0o755, uid: 0, gid: 0, uname: '', gname: '', mtime: ARCHIVE_MTIME, size: 0 };
}

/** A file of `size` bytes whose data `open` streams (a blob, verified as it is read). */
export function archiveFile(p: string, size: number, open: () => Readable): Entry {
  return { path: p, type: 'file', mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: ARCHIVE_MTIME, size, open };
}

export function archiveBytes(p: string, data: Buffer): Entry {
  return archiveFile(p, data.length, () => Readable.from([data]));
}

/**
 * The name of an entry of an archive being read, as a path inside it; an absolute name or one
 * that climbs out with ".." is refused, naming the entry.
 */
export function archiveEntryName(entry: TarEntry, where: string): string {
  if (entry.name.startsWith('/') || entry.path.startsWith('/')) {
    throw new UserError(`${where}: entry ${JSON.stringify(entry.name)}: an absolute path`, 'EINPUT');
  }
  const name = cleanPath(entry.path);
  if (name === undefined) throw new UserError(`${where}: entry ${JSON.stringify(entry.name)}: a ".." component climbs out of the archive`, 'EINPUT');
  return name;
}

/** An archive file to read, in 256 KiB chunks (every chunk passes hashers, and each costs per chunk); a folder is refused. */
export async function openArchiveFile(file: string): Promise<Readable> {
  const handle = await fs.open(file, 'r').catch((err: unknown) => {
    throw fileError(file, err);
  });
  if ((await handle.stat()).isDirectory()) {
    await handle.close();
    throw new UserError(`${file}: is a directory, not an archive`, 'EINPUT');
  }
  return handle.createReadStream({ highWaterMark: 256 * 1024 });
}

/**
 * A tar into `output` under a temporary name beside it (fsynced, then renamed), so a failure, a
 * signal or a kill never leaves a partial archive under the target's name.
 */
export async function writeArchiveFile(tar: Readable, output: string, counter?: Transform): Promise<void> {
  const dir = path.dirname(path.resolve(output));
  // What killed runs (SIGKILL, a power cut) left beside the output: their pid in the name is gone.
  await removeStaleTemps(dir);
  const tmp = tempPath(dir);
  const forget = onInterrupt(() => fs.rm(tmp, { force: true }));
  try {
    const out = createWriteStream(tmp, { flags: 'wx', mode: 0o644, flush: true });
    await (counter ? pipeline(tar, counter, out) : pipeline(tar, out));
    await fs.rename(tmp, output);
    await syncDir(dir);
  } catch (err) {
    tar.destroy();
    await fs.rm(tmp, { force: true });
    throw fileError(output, err);
  } finally {
    forget();
  }
}
