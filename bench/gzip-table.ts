// The measurements behind the default gzip level and block size (README, "Parallel gzip"): one
// input file through the parallel gzip at each level and block size, and through one zlib stream.
import { createReadStream } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { GZIP_OS_BYTE, ParallelGzip } from '../src/compress.js';

// usage: node dist/bench/gzip-table.js FILE [LEVELS] [BLOCK_KIB...]; LEVELS like 1,3,6,9.
const [file, levelList = '1,3,6,9', ...blocks] = process.argv.slice(2);
if (!file) {
  console.error('usage: gzip-table FILE [LEVELS] [BLOCK_KIB ...]');
  process.exit(2);
}
const levels = levelList.split(',').map(Number);
const blockKib = blocks.length > 0 ? blocks.map(Number) : [128, 256, 1024, 4096];

async function measure(make: () => NodeJS.ReadWriteStream): Promise<{ wall: number; cpu: number; size: number }> {
  let size = 0;
  const sink = new Writable({ write(chunk: Buffer, _e, cb) { size += chunk.length; cb(); } });
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await pipeline(createReadStream(file!, { highWaterMark: 256 * 1024 }), make(), sink);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return { wall, cpu: (cpu.user + cpu.system) / 1e6, size };
}

console.log('| level | block | wall s | cpu s | size |');
console.log('|---|---|---|---|---|');
for (const level of levels) {
  const one = await measure(() => zlib.createGzip({ level }));
  console.log(`| ${level} | one stream | ${one.wall.toFixed(2)} | ${one.cpu.toFixed(2)} | ${one.size} |`);
  for (const kib of blockKib) {
    const r = await measure(() => new ParallelGzip({ level, blockSize: kib * 1024, osByte: GZIP_OS_BYTE }));
    console.log(`| ${level} | ${kib} KiB | ${r.wall.toFixed(2)} | ${r.cpu.toFixed(2)} | ${r.size} |`);
  }
}
