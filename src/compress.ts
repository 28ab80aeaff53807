// Layer compression as streams behind one small interface (gzip, zstd, none, with gzip deflated in
// parallel blocks as pigz does), and detection of the compression of bytes we read.
import { Transform, type TransformCallback, type Readable } from 'node:stream';
import * as os from 'node:os';
import * as zlib from 'node:zlib';
import { MediaType } from './descriptor.js';
import { UserError, usageError } from './errors.js';
import { peekHead } from './streams.js';

export type CompressionName = 'gzip' | 'zstd' | 'none';

export interface Compressor {
  readonly name: CompressionName;
  /** The OCI layer media type for this compression. */
  readonly mediaType: string;
  /**
   * A fresh chain of streams that compresses what is written to its first stage: a list, so that a
   * compressor can be zlib plus a fix-up stage without gluing streams together.
   */
  create(): Transform[];
}

/**
 * The OS byte written into every gzip header: 255, "unknown", as Go's compress/gzip (and so crane
 * and ko) write it. Node writes 3 on Linux and 19 on macOS, which would change the layer digest
 * with the machine that built it.
 */
export const GZIP_OS_BYTE = 0xff;

/**
 * The fastest level whose layers stay within 1% of umoci's (pgzip at its default) on both a mixed
 * rootfs and a text-heavy tree; level 3 is 4% larger on text. The table is in README.md.
 */
export const DEFAULT_GZIP_LEVEL = 4;

/**
 * Input bytes per block of the parallel gzip. Part of the output's definition (another size gives
 * other bytes, so other digests); chosen from the table in README.md.
 */
export const GZIP_BLOCK_SIZE = 1024 * 1024;

/** zstd needs zlib.createZstdCompress (Node 22.15 and later); Node 20 has none. */
export function zstdAvailable(): boolean {
  return typeof (zlib as unknown as Record<string, unknown>).createZstdCompress === 'function';
}

export function compressor(name: CompressionName, level?: number): Compressor {
  switch (name) {
    case 'none':
      if (level !== undefined) throw usageError('--compression-level: not used with --compression none');
      return { name, mediaType: MediaType.layer, create: () => [] };
    case 'gzip': {
      const lvl = level ?? DEFAULT_GZIP_LEVEL;
      if (!Number.isInteger(lvl) || lvl < 0 || lvl > 9) {
        throw usageError(`--compression-level ${level}: gzip levels are 0 to 9`);
      }
      return { name, mediaType: MediaType.layerGzip, create: () => [new ParallelGzip({ level: lvl, blockSize: GZIP_BLOCK_SIZE, osByte: GZIP_OS_BYTE })] };
    }
    case 'zstd': {
      if (!zstdAvailable()) {
        throw new UserError(
          `--compression zstd: this Node.js (${process.version}) has no zstd in node:zlib (it arrived in Node 22.15); use gzip or none`,
          'EUNSUPPORTED',
        );
      }
      const lvl = level ?? 3;
      if (!Number.isInteger(lvl) || lvl < 1 || lvl > 22) {
        throw usageError(`--compression-level ${level}: zstd levels are 1 to 22`);
      }
      const z = zlib as unknown as {
        createZstdCompress(o: object): Transform;
        constants: Record<string, number>;
      };
      const param = z.constants.ZSTD_c_compressionLevel ?? 100;
      return { name, mediaType: MediaType.layerZstd, create: () => [z.createZstdCompress({ params: { [param]: lvl } })] };
    }
    default:
      throw usageError(`--compression ${String(name)}: expected gzip, zstd or none`);
  }
}

export function parseCompression(value: string): CompressionName {
  if (value === 'gzip' || value === 'zstd' || value === 'none') return value;
  throw usageError(`--compression ${value}: expected gzip, zstd or none`);
}

function passChunk(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
  cb(null, chunk);
}

export type DetectedCompression = 'gzip' | 'zstd' | 'none';

/** The compression of a stream, from its first bytes (gzip 1f 8b, zstd 28 b5 2f fd). */
export function detectCompression(head: Buffer): DetectedCompression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/** The media type's compression, or undefined when the media type is not a layer we know. */
export function compressionOfMediaType(mediaType: string): DetectedCompression | undefined {
  if (mediaType === MediaType.layer || mediaType === MediaType.dockerLayer) return 'none';
  if (mediaType === MediaType.layerGzip || mediaType === MediaType.dockerLayerGzip) return 'gzip';
  if (mediaType === MediaType.layerZstd || mediaType === MediaType.dockerLayerZstd) return 'zstd';
  if (mediaType === 'application/vnd.oci.image.layer.nondistributable.v1.tar') return 'none';
  if (mediaType === 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip') return 'gzip';
  return undefined;
}

/** A stream that decompresses `kind` (a pass-through for 'none'). */
export function decompressor(kind: DetectedCompression, where: string): Transform {
  // 128 KiB out rather than zlib's 16 KiB: every chunk then passes hashers, checks and writes, and
  // their per-chunk cost was as large as inflating.
  if (kind === 'gzip') return zlib.createGunzip({ chunkSize: 256 * 1024 });
  if (kind === 'zstd') {
    const z = zlib as unknown as { createZstdDecompress?: () => Transform };
    if (!z.createZstdDecompress) {
      throw new UserError(`${where}: zstd-compressed, and this Node.js (${process.version}) cannot decompress zstd`, 'EUNSUPPORTED');
    }
    return z.createZstdDecompress();
  }
  return new Transform({ transform: passChunk });
}

/**
 * The compression of a stream, read from its first bytes, and the stream to read from the start:
 * the caller pipes it through `decompressor(kind)`. Never guessed from a file name.
 */
export async function sniffCompression(input: Readable): Promise<{ kind: DetectedCompression; stream: Readable }> {
  const { head, stream } = await peekHead(input, 4);
  return { kind: detectCompression(head), stream };
}

// ---------------------------------------------------------------------------------------------
// The parallel gzip: pigz's method on libuv's thread pool, with output that depends only on the
// input, the level and the block size.

/** Deflate's window: every block is primed with this much of the input before it. */
const WINDOW = 32 * 1024;
/** A stored deflate block holds at most this many bytes. */
const STORED_MAX = 65535;

export interface ParallelGzipOptions {
  level: number;
  /** Bytes of input per block; the output depends on it, so it is part of the format, not a tuning knob. */
  blockSize: number;
  /** Blocks deflated at once; changes speed and memory, never a byte of the output. */
  concurrency?: number;
  /** The gzip header's OS byte. */
  osByte: number;
}

/**
 * Blocks in flight by default: one per core, but never every thread of libuv's pool, whose other
 * users (the walker's reads, fsync) would otherwise wait behind a block.
 */
export function defaultConcurrency(): number {
  const pool = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10) || 4;
  return Math.max(1, Math.min(os.availableParallelism(), pool - 1));
}

interface Job {
  /** The block this job deflates: back to the spares once the job is done and no dictionary needs it. */
  block: Buffer;
  settled: boolean;
  out?: Buffer;
  err?: Error;
  promise: Promise<void>;
}

/**
 * One gzip member whose bytes depend only on the input, the level and the block size: blocks are
 * cut at fixed offsets, never where chunks happen to end, and written in order whichever finishes
 * first. Each block but the last ends with a sync flush (byte-aligned, not final), so the deflate
 * streams concatenate; a block that does not shrink is written as stored blocks instead.
 */
export class ParallelGzip extends Transform {
  private readonly level: number;
  private readonly blockSize: number;
  private readonly limit: number;
  private readonly osByte: number;
  private block: Buffer;
  private filled = 0;
  private dictionary: Buffer | undefined;
  private readonly jobs: Job[] = [];
  /**
   * Block buffers to fill again: a fresh 1 MiB buffer per block cost more than deflate's own
   * allocations (the kernel maps and zeroes its pages as the copy first touches them).
   */
  private readonly spares: Buffer[] = [];
  /** A finished block whose tail is still the dictionary of the block being filled. */
  private held: Buffer | undefined;
  private crc = 0;
  private size = 0;
  private started = false;

  constructor(opts: ParallelGzipOptions) {
    super();
    if (opts.blockSize < WINDOW) throw new RangeError(`gzip block size ${opts.blockSize}: at least ${WINDOW} bytes`);
    this.level = opts.level;
    this.blockSize = opts.blockSize;
    this.limit = Math.max(1, opts.concurrency ?? defaultConcurrency());
    this.osByte = opts.osByte;
    this.block = Buffer.allocUnsafe(this.blockSize);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.crc = crc32(chunk, this.crc);
    this.size += chunk.length;
    let at = 0;
    while (at < chunk.length) {
      const n = Math.min(chunk.length - at, this.blockSize - this.filled);
      chunk.copy(this.block, this.filled, at, at + n);
      this.filled += n;
      at += n;
      if (this.filled === this.blockSize) this.submit(false);
    }
    this.drain(this.limit).then(() => cb(), cb);
  }

  override _flush(cb: TransformCallback): void {
    // The last block, possibly empty (the input ended at a block boundary), carries the final bit.
    this.submit(true);
    this.drain(0).then(() => {
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.crc >>> 0, 0);
      trailer.writeUInt32LE(this.size % 2 ** 32, 4);
      cb(null, trailer);
    }, cb);
  }

  /** Start deflating the block filled so far, and begin the next one. */
  private submit(last: boolean): void {
    const input = this.block.subarray(0, this.filled);
    const dictionary = this.dictionary;
    // The next block's dictionary is this block's tail; blocks are never reused, so a view is safe.
    if (input.length >= WINDOW) this.dictionary = input.subarray(input.length - WINDOW);
    const job: Job = { block: this.block, settled: false, promise: Promise.resolve() };
    job.promise = deflateBlock(input, dictionary, this.level, last).then(
      (out) => { job.out = out; job.settled = true; },
      (err: Error) => { job.err = err; job.settled = true; },
    );
    this.jobs.push(job);
    // zlib copied the dictionary when deflateBlock made its engine: the block it came from is free.
    if (this.held) this.spares.push(this.held);
    this.held = undefined;
    if (!last) {
      this.block = this.spares.pop() ?? Buffer.allocUnsafe(this.blockSize);
      this.filled = 0;
    }
  }

  /** Write finished blocks in order, waiting until at most `most` are in flight. */
  private async drain(most: number): Promise<void> {
    for (;;) {
      const head = this.jobs[0];
      if (!head) return;
      if (!head.settled) {
        if (this.jobs.length <= most) return;
        await head.promise;
      }
      this.jobs.shift();
      if (head.block.buffer === this.dictionary?.buffer) this.held = head.block;
      else this.spares.push(head.block);
      if (head.err) throw head.err;
      if (this.destroyed) return;
      if (!this.started) {
        this.started = true;
        this.push(gzipHeader(this.level, this.osByte));
      }
      this.push(head.out);
    }
  }
}

/** The incompressible-block probe: this many slices of the block, spread evenly over it... */
const PROBE_SLICES = 8;
/** ...of this many bytes each (a block no longer than all the slices together is probed whole). */
const PROBE_SLICE = 4 * 1024;

/**
 * Whether a block is not worth deflating: its probe sample (PROBE_SLICES slices spread over the
 * block, deflated at level 1 after the same dictionary) does not shrink at all. Random bytes and
 * already-compressed files come out a few bytes larger; text, code and binaries at 40-90%. It looks
 * at the block and its dictionary only, so the answer, and the output, depend on nothing else.
 * Exported for the tests.
 */
export function probeIncompressible(input: Buffer, dictionary: Buffer | undefined): Promise<boolean> {
  const sample = probeSample(input);
  return new Promise((resolve, reject) => {
    zlib.deflateRaw(sample, { level: 1, ...(dictionary ? { dictionary } : {}) }, (err, out) => {
      if (err) reject(err);
      else resolve(out.length >= sample.length);
    });
  });
}

function probeSample(input: Buffer): Buffer {
  if (input.length <= PROBE_SLICES * PROBE_SLICE) return input;
  const slices: Buffer[] = [];
  const span = input.length - PROBE_SLICE;
  for (let k = 0; k < PROBE_SLICES; k++) {
    const at = Math.floor((k * span) / (PROBE_SLICES - 1));
    slices.push(input.subarray(at, at + PROBE_SLICE));
  }
  return Buffer.concat(slices, PROBE_SLICES * PROBE_SLICE);
}

/**
 * One block's deflate stream. A block the probe finds incompressible is stored without deflating
 * it (deflating 1 MiB of random bytes at level 4 costs 20 ms for nothing); any other block is
 * deflated, and still stored if it did not shrink.
 */
function deflateBlock(input: Buffer, dictionary: Buffer | undefined, level: number, last: boolean): Promise<Buffer> {
  if (level === 0 || input.length === 0) return deflateWhole(input, dictionary, level, last);
  // The caller frees the dictionary's block once this returns, and the deflate starts after the
  // probe: it needs its own copy (32 KiB a block).
  const own = dictionary && Buffer.from(dictionary);
  return probeIncompressible(input, own).then((store) => (store ? storedBlocks(input, last) : deflateWhole(input, own, level, last)));
}

function deflateWhole(input: Buffer, dictionary: Buffer | undefined, level: number, last: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const opts: zlib.ZlibOptions = {
      level,
      // One thread-pool trip per block: the output of a block that deflates fits this buffer.
      chunkSize: Math.max(16 * 1024, input.length + (input.length >> 8) + 1024),
      finishFlush: last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
      ...(dictionary ? { dictionary } : {}),
    };
    // The engine rather than zlib.deflateRaw(buf, cb), which copies its one output chunk into a
    // new buffer with Buffer.concat: a copy of every compressed byte for nothing.
    const engine = zlib.createDeflateRaw(opts);
    const chunks: Buffer[] = [];
    let length = 0;
    engine.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
    });
    engine.on('error', reject);
    engine.on('end', () => {
      if (length >= storedSize(input.length)) return resolve(storedBlocks(input, last));
      resolve(joinAdjacent(chunks, length));
    });
    engine.end(input);
  });
}

/** Chunks as one buffer; zlib's come as consecutive slices of one output buffer, joined without a copy. */
function joinAdjacent(chunks: Buffer[], length: number): Buffer {
  const first = chunks[0];
  if (!first) return Buffer.alloc(0);
  let end = first.byteOffset + first.length;
  for (const c of chunks.slice(1)) {
    if (c.buffer !== first.buffer || c.byteOffset !== end) return Buffer.concat(chunks, length);
    end += c.length;
  }
  return Buffer.from(first.buffer, first.byteOffset, length);
}

function storedSize(n: number): number {
  return n + 5 * Math.max(1, Math.ceil(n / STORED_MAX));
}

/**
 * `input` as stored deflate blocks (a header byte, LEN, NLEN, the bytes). The previous block ended
 * byte-aligned, so each header is one whole byte: the final bit, type 00, padding.
 */
function storedBlocks(input: Buffer, last: boolean): Buffer {
  const out = Buffer.allocUnsafe(storedSize(input.length));
  let at = 0;
  let to = 0;
  do {
    const n = Math.min(STORED_MAX, input.length - at);
    out[to] = last && at + n === input.length ? 1 : 0;
    out.writeUInt16LE(n, to + 1);
    out.writeUInt16LE(~n & 0xffff, to + 3);
    input.copy(out, to + 5, at, at + n);
    at += n;
    to += 5 + n;
  } while (at < input.length);
  return out;
}

/** The header zlib writes, with no name, mtime 0, zlib's XFL for the level and a pinned OS byte. */
function gzipHeader(level: number, osByte: number): Buffer {
  const xfl = level === 9 ? 2 : level < 2 ? 4 : 0;
  return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, osByte]);
}

// zlib.crc32 arrived in Node 20.15 and 22.2; package.json allows 20.10, so older Nodes get a table.
const nativeCrc32 = (zlib as unknown as { crc32?: (data: Buffer, value?: number) => number }).crc32;
let table: Int32Array | undefined;

export function crc32(data: Buffer, value = 0): number {
  if (nativeCrc32) return nativeCrc32(data, value);
  return tableCrc32(data, value);
}

export function tableCrc32(data: Buffer, value = 0): number {
  if (!table) {
    table = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c;
    }
  }
  let c = ~value;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
