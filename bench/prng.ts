// Deterministic pseudo-random bytes and text for the generated workloads: the same seed gives the
// same files on every machine, so results from two machines measure the same input.
import { createCipheriv, createHash } from 'node:crypto';

/** mulberry32: a tiny, fast 32-bit PRNG; returns floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Incompressible bytes, fast (AES-CTR runs at GB/s, a JS PRNG would set the pace of generating
 * gigabytes): the keystream of a key derived from the seed.
 */
export function randomStream(seed: string): (size: number) => Buffer {
  const key = createHash('sha256').update(`oci-pack-bench ${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return (size) => cipher.update(Buffer.alloc(size));
}

const LETTERS = 'etaoinshrdlcumwfgypbvkjxqz';

/** Words of a made-up language, the frequent ones short, picked with a Zipf-like skew: compresses like prose. */
export function textBlock(random: () => number, size: number, vocabulary = 4096): Buffer {
  const words: Buffer[] = [];
  for (let i = 0; i < vocabulary; i++) {
    const len = 1 + Math.floor(random() * (2 + Math.log2(i + 2)));
    let w = '';
    for (let j = 0; j < len; j++) w += LETTERS[Math.floor(random() * random() * LETTERS.length)];
    words.push(Buffer.from(w));
  }
  const out = Buffer.alloc(size);
  let at = 0;
  let line = 0;
  while (at < size) {
    const word = words[Math.floor(vocabulary * random() ** 3)]!;
    at += word.copy(out, at);
    line += word.length + 1;
    if (at < size) out[at++] = line > 72 ? 0x0a : random() < 0.08 ? 0x2c : 0x20;
    if (line > 72) line = 0;
  }
  return out;
}
