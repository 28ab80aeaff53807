// JSON as we write it (compact, keys sorted at every level, so the same document always gives the
// same bytes and digest) and as we read it from input (size-checked before it is parsed).
import { UserError } from './errors.js';

/** Compact JSON with object keys in code-point order, as Go's encoder writes maps. */
export function canonicalJson(doc: unknown): Buffer {
  return Buffer.from(JSON.stringify(sortKeys(doc)), 'utf8');
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** Parse untrusted JSON text: refuses more than `limit` bytes and says which file was bad. */
export function parseJsonInput(data: Buffer | string, where: string, limit: number): unknown {
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  if (size > limit) throw new UserError(`${where}: ${size} bytes, more than the ${limit} allowed`, 'EINPUT');
  try {
    return JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch (err) {
    throw new UserError(`${where}: not valid JSON: ${(err as Error).message}`, 'EINPUT');
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
