// The Digest type (parsed once, so that only "sha256:" + 64 lowercase hex can ever become a path)
// and a pass-through stream that hashes and counts the bytes flowing through it.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { UserError } from './errors.js';

declare const digestBrand: unique symbol;
/** "sha256:" followed by 64 lowercase hex digits; only `parseDigest` and `Hasher` make one. */
export type Digest = string & { readonly [digestBrand]: true };

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && DIGEST_RE.test(value);
}

/** Parse untrusted text into a Digest; `where` names the field for the error. */
export function parseDigest(value: unknown, where = 'digest'): Digest {
  if (isDigest(value)) return value;
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : String(value);
  if (typeof value === 'string' && /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:/.test(value) && !value.startsWith('sha256:')) {
    throw new UserError(`${where}: ${shown}: only sha256 digests are supported`, 'EUNSUPPORTED');
  }
  throw new UserError(`${where}: ${shown} is not a sha256 digest (sha256: and 64 lowercase hex digits)`, 'EDIGEST');
}

/** The 64 hex digits of a digest: the blob's file name. */
export function digestHex(digest: Digest): string {
  return digest.slice(7);
}

export function sha256(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
}

/** Digest and size of everything that has passed through a Hasher so far. */
export interface Measured {
  digest: Digest;
  size: number;
}

/**
 * A pass-through stream that records the sha256 and the byte count of what flows through it.
 * `result()` is valid once the stream has ended.
 */
export class Hasher extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;
  private final_: Measured | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.final_ = { digest: `sha256:${this.hash.digest('hex')}` as Digest, size: this.bytes };
    cb();
  }

  /** Bytes seen so far (for progress). */
  get size(): number {
    return this.bytes;
  }

  result(): Measured {
    if (!this.final_) throw new Error('Hasher.result() called before the stream ended');
    return this.final_;
  }
}
