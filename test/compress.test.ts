// The parallel gzip: readable by every gunzip, the same bytes whatever the chunking and thread-pool
// size, stored blocks for what does not compress, and a failed source leaves nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { promisify } from 'node:util';
import { ParallelGzip, compressor, crc32, probeIncompressible, tableCrc32, DEFAULT_GZIP_LEVEL, GZIP_BLOCK_SIZE, GZIP_OS_BYTE } from '../src/compress.js';
import { BlobStore } from '../src/store.js';
import { MediaType } from '../src/descriptor.js';
import { ROOT, requireTool, run, snapshot, tempDir } from './helpers.js';

const gunzip = promisify(zlib.gunzip);
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Bytes that do not compress, the same on every run (xorshift32). */
function noise(n: number, seed = 1): Buffer {
  const words = new Uint32Array(Math.ceil(n / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return Buffer.from(words.buffer, 0, n);
}

/** Text that compresses about as well as source code does. */
function text(n: number): Buffer {
  const words = ['layer', 'blob', 'digest', 'manifest', 'index', 'config', 'tar', 'gzip', 'the', 'of', 'deflate', 'block'];
  const lines: string[] = [];
  let x = 7;
  for (let have = 0; have < n; ) {
    const line: string[] = [];
    for (let w = 0; w < 9; w++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      line.push(words[x % words.length]!);
    }
    const l = `${line.join(' ')} ${x % 1000}\n`;
    lines.push(l);
    have += l.length;
  }
  return Buffer.from(lines.join('')).subarray(0, n);
}

/** Several MB of mixed content: text, noise, text, so blocks of both kinds and a text tail. */
const MIXED = Buffer.concat([text(1_700_000), noise(1_300_000), text(900_001)]);

/**
 * Input for the incompressible-block probe: block 0 text; block 1 text then noise; blocks 2 and 3
 * all noise (stored without deflating); block 4 noise after 8 KiB of text, which the probe's
 * first slice sees (deflated); then a text tail.
 */
const PROBED = Buffer.concat([
  text(1_700_000),
  noise(4 * GZIP_BLOCK_SIZE - 1_700_000, 3),
  text(8 * 1024),
  noise(GZIP_BLOCK_SIZE - 8 * 1024, 6),
  text(300_001),
]);

async function gz(input: Buffer | Buffer[], make: () => NodeJS.ReadWriteStream = () => compressor('gzip').create()[0]!): Promise<Buffer> {
  const out: Buffer[] = [];
  const chunks = Array.isArray(input) ? input : [input];
  await pipeline(Readable.from(chunks), make(), new Writable({ write(c: Buffer, _e, cb) { out.push(c); cb(); } }));
  return Buffer.concat(out);
}

async function systemGunzip(t: import('node:test').TestContext, bytes: Buffer, expect: Buffer): Promise<void> {
  if (!requireTool(t, 'gzip')) return;
  const dir = await tempDir(t);
  const file = path.join(dir, 'x.gz');
  await fs.writeFile(file, bytes);
  await run('gzip', ['-t', file]);
  const back = await new Promise<Buffer>((resolve, reject) => {
    const child = spawn('gzip', ['-dc', file]);
    const parts: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => parts.push(c));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(parts)) : reject(new Error(`gzip -dc exit ${code}`))));
  });
  assert.ok(back.equals(expect), 'gzip -dc gives the input back');
}

test('compressor("gzip") is one parallel gzip stage with the pinned header', async () => {
  const stages = compressor('gzip').create();
  assert.equal(stages.length, 1);
  assert.ok(stages[0] instanceof ParallelGzip);
  const out = await gz(text(1000));
  assert.deepEqual([...out.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, GZIP_OS_BYTE]);
});

test('mixed input round-trips through node gunzip, gzip -t and gzip -dc, and compresses', async (t) => {
  const out = await gz(MIXED);
  assert.ok((await gunzip(out)).equals(MIXED));
  assert.ok(out.length < MIXED.length * 0.6, `${out.length} of ${MIXED.length}`);
  assert.equal(out.readUInt32LE(out.length - 8), crc32(MIXED));
  assert.equal(out.readUInt32LE(out.length - 4), MIXED.length);
  await systemGunzip(t, out, MIXED);
});

test('the same bytes however the input was chunked', async () => {
  const whole = await gz(MIXED);
  const odd: Buffer[] = [];
  for (let at = 0, n = 1; at < MIXED.length; at += n, n = (n * 31 + 7) % 100_003) odd.push(MIXED.subarray(at, at + n));
  const blockSized: Buffer[] = [];
  for (let at = 0; at < MIXED.length; at += GZIP_BLOCK_SIZE - 1) blockSized.push(MIXED.subarray(at, at + GZIP_BLOCK_SIZE - 1));
  assert.equal(sha256(await gz(odd)), sha256(whole));
  assert.equal(sha256(await gz(blockSized)), sha256(whole));
  const probed = await gz(PROBED);
  const probedOdd: Buffer[] = [];
  for (let at = 0, n = 1; at < PROBED.length; at += n, n = (n * 37 + 11) % 200_003) probedOdd.push(PROBED.subarray(at, at + n));
  assert.equal(sha256(await gz(probedOdd)), sha256(probed));
});

test('the same bytes with a thread pool of 1 and of 8 (and whatever concurrency follows)', async () => {
  const script = `
    import { createHash } from 'node:crypto';
    import { Readable, Writable } from 'node:stream';
    import { pipeline } from 'node:stream/promises';
    import { compressor } from ${JSON.stringify(path.join(ROOT, 'dist', 'src', 'compress.js'))};
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    await new Promise((r) => process.stdin.on('end', r));
    const h = createHash('sha256');
    await pipeline(Readable.from([Buffer.concat(chunks)]), ...compressor('gzip').create(), new Writable({ write(c, _e, cb) { h.update(c); cb(); } }));
    process.stdout.write(h.digest('hex'));
  `;
  const inChild = (threads: string) =>
    new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, UV_THREADPOOL_SIZE: threads } });
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`child exit ${code}: ${err}`))));
      child.stdin.end(input);
    });
  // MIXED has no all-noise block; PROBED has blocks the probe stores and one it lets deflate.
  let input = MIXED;
  for (input of [MIXED, PROBED]) {
    const [one, eight] = await Promise.all([inChild('1'), inChild('8')]);
    assert.match(one, /^[0-9a-f]{64}$/);
    assert.equal(one, eight);
    assert.equal(one, sha256(await gz(input)));
    // And with explicit concurrencies in this process, down to one block at a time.
    for (const concurrency of [1, 3]) {
      const out = await gz(input, () => new ParallelGzip({ level: DEFAULT_GZIP_LEVEL, blockSize: GZIP_BLOCK_SIZE, osByte: GZIP_OS_BYTE, concurrency }));
      assert.equal(sha256(out), one, `concurrency ${concurrency}`);
    }
  }
});

test('the probe stores all-noise blocks undeflated and deflates a block with text at a probed slice', async (t) => {
  const block = (i: number) => PROBED.subarray(i * GZIP_BLOCK_SIZE, (i + 1) * GZIP_BLOCK_SIZE);
  const dictionary = (i: number) => PROBED.subarray(i * GZIP_BLOCK_SIZE - 32 * 1024, i * GZIP_BLOCK_SIZE);
  assert.equal(await probeIncompressible(block(0), undefined), false, 'text');
  assert.equal(await probeIncompressible(block(1), dictionary(1)), false, 'text, then noise');
  assert.equal(await probeIncompressible(block(2), dictionary(2)), true, 'noise');
  assert.equal(await probeIncompressible(block(3), dictionary(3)), true, 'noise');
  assert.equal(await probeIncompressible(block(4), dictionary(4)), false, 'noise after some text');
  // Noise that repeats its dictionary compresses, and the probe sees it through the dictionary.
  const repeat = noise(16 * 1024, 8);
  assert.equal(await probeIncompressible(repeat, undefined), true);
  assert.equal(await probeIncompressible(repeat, Buffer.concat([noise(16 * 1024, 9), repeat])), false);
  const out = await gz(PROBED);
  assert.ok((await gunzip(out)).equals(PROBED));
  // Blocks 2 and 3 are whole stored blocks of 65535 bytes: find block 2's first one by its bytes.
  const at = out.indexOf(block(2).subarray(0, 64));
  assert.ok(at > 5, 'block 2 is stored, its bytes as they are');
  assert.deepEqual([...out.subarray(at - 5, at)], [0, 0xff, 0xff, 0, 0]);
  // Deflating block 4 (1 MiB, 8 KiB of it text) saves only the text: the stream is about its size.
  assert.ok(out.length < PROBED.length, `${out.length} of ${PROBED.length}`);
  await systemGunzip(t, out, PROBED);
});

test('noise is stored, not deflated: whole 65535-byte stored blocks, output barely larger than input', async (t) => {
  const input = noise(GZIP_BLOCK_SIZE);
  const out = await gz(input);
  // header, the block as stored blocks (5 bytes each of 65535), the empty final block (03 00), trailer
  assert.equal(out.length, 10 + input.length + 5 * Math.ceil(input.length / 65535) + 2 + 8);
  assert.equal(out[10], 0, 'a stored block, not final');
  assert.equal(out.readUInt16LE(11), 65535);
  assert.equal(out.readUInt16LE(13), 0);
  assert.ok((await gunzip(out)).equals(input));
  await systemGunzip(t, out, input);
});

test('empty input is a valid, empty gzip member', async (t) => {
  const out = await gz([]);
  assert.equal(out.length, 20);
  assert.equal((await gunzip(out)).length, 0);
  await systemGunzip(t, out, Buffer.alloc(0));
});

test('exactly one block, and one block and a byte', async (t) => {
  for (const n of [GZIP_BLOCK_SIZE, GZIP_BLOCK_SIZE + 1]) {
    const input = text(n);
    const out = await gz(input);
    assert.ok((await gunzip(out)).equals(input), `${n} bytes`);
    await systemGunzip(t, out, input);
  }
});

test('a block primed with the previous 32 KiB compresses a repeat across the cut', async () => {
  // The second block repeats the first block's last 16 KiB of noise: back-references only if primed.
  const block = 64 * 1024;
  const first = noise(block, 42);
  const tail = first.subarray(block - 16 * 1024);
  const input = Buffer.concat([first, tail, tail, tail, tail]);
  const out = await gz(input, () => new ParallelGzip({ level: 6, blockSize: block, osByte: GZIP_OS_BYTE }));
  assert.ok(out.length < block + 4 * 1024, `${out.length}`);
  assert.ok((await gunzip(out)).equals(input));
});

test('the table CRC-32 (for Nodes without zlib.crc32) agrees with zlib', () => {
  for (const b of [Buffer.alloc(0), Buffer.from('123456789'), MIXED.subarray(0, 70_000)]) {
    assert.equal(tableCrc32(b), zlib.crc32 ? zlib.crc32(b) : crc32(b));
  }
  assert.equal(tableCrc32(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(tableCrc32(Buffer.from('6789'), tableCrc32(Buffer.from('12345'))), 0xcbf43926);
});

test('an error in the source destroys the pipeline and leaves no blob and no temp file', async (t) => {
  const root = await tempDir(t);
  const store = new BlobStore(root);
  await fs.mkdir(store.dir, { recursive: true });
  const before = await snapshot(root);
  const stages = compressor('gzip').create();
  async function* failing() {
    yield text(2 * GZIP_BLOCK_SIZE);
    yield noise(GZIP_BLOCK_SIZE);
    throw new Error('source broke');
  }
  await assert.rejects(store.put([Readable.from(failing()), ...stages], { mediaType: MediaType.layerGzip }), /source broke/);
  assert.ok(stages.every((s) => s.destroyed));
  assert.deepEqual(await snapshot(root), before);
});

test('a consumer that stops reading stops the source: a few blocks in flight, not the whole input', async () => {
  let produced = 0;
  const block = 64 * 1024;
  const source = Readable.from((function* () {
    for (let i = 0; i < 400; i++) {
      produced += block;
      yield text(block);
    }
  })());
  const gzip = new ParallelGzip({ level: 1, blockSize: block, osByte: GZIP_OS_BYTE, concurrency: 2 });
  const stalled = new Writable({ highWaterMark: 1024, write() { /* never calls back */ } });
  const done = pipeline(source, gzip, stalled).catch(() => undefined);
  for (let last = -1; last !== produced; ) {
    last = produced;
    await new Promise((r) => setTimeout(r, 200));
  }
  // Each stream's buffer (16 KiB objects, 16 KiB bytes) and a few blocks: far below 400 blocks.
  assert.ok(produced <= 40 * block, `${produced / block} blocks read while nothing was consumed`);
  stalled.destroy();
  await done;
});

test('a layer under one block is byte for byte what one zlib gzip stream writes (OS byte pinned)', async () => {
  const input = text(200_000);
  for (const level of [1, DEFAULT_GZIP_LEVEL, 9]) {
    const ours = await gz(input, () => compressor('gzip', level).create()[0]!);
    const zlibs = Buffer.from(await promisify(zlib.gzip)(input, { level }));
    zlibs[9] = GZIP_OS_BYTE;
    assert.equal(sha256(ours), sha256(zlibs), `level ${level}`);
  }
});

test('levels 0 and 9 round-trip over deflated and stored blocks', async () => {
  const input = Buffer.concat([text(150_000), noise(150_000, 9), text(100_000)]);
  for (const level of [0, 9]) {
    const out = await gz(input, () => new ParallelGzip({ level, blockSize: 64 * 1024, osByte: GZIP_OS_BYTE }));
    assert.ok((await gunzip(out)).equals(input), `level ${level}`);
    if (level === 0) assert.ok(out.length < input.length + 100, `level 0: ${out.length}`);
  }
});
