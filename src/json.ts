// JSON as we write it (compact, keys sorted at every level, so the same document always gives the
// same bytes and digest) and as we read it from input (size-checked before it is parsed).
import { UserError } from './errors.js';
import { MAX_JSON_DEPTH } from './limits.js';

/**
 * Compact JSON with object keys sorted by their UTF-8 bytes at every level, as Go's encoding/json
 * writes maps. JSON.stringify cannot be given the order: it puts integer-like keys ("2", "10")
 * first in numeric order whatever the object says, and JavaScript sorts by UTF-16 units, which
 * put a key outside the BMP before one in U+E000-U+FFFF.
 */
export function canonicalJson(doc: unknown): Buffer {
  return Buffer.from(goJson(doc) ?? 'null', 'utf8');
}

function goJson(value: unknown): string | undefined {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON: () => unknown }).toJSON();
  }
  if (Array.isArray(value)) return `[${value.map((v) => goJson(v) ?? 'null').join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const parts: string[] = [];
    for (const key of Object.keys(value).sort(byUtf8)) {
      const v = goJson((value as Record<string, unknown>)[key]);
      if (v !== undefined) parts.push(`${JSON.stringify(key)}:${v}`);
    }
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Byte order of the UTF-8 encodings, which is code point order. */
function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Parse untrusted JSON text: refuses more than `limit` bytes or nesting deeper than
 * MAX_JSON_DEPTH (checked before parsing: JSON.parse and every walk after it recurse), and says
 * which file was bad.
 */
export function parseJsonInput(data: Buffer | string, where: string, limit: number): unknown {
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  if (size > limit) throw new UserError(`${where}: ${size} bytes, more than the ${limit} allowed`, 'EINPUT');
  const text = typeof data === 'string' ? data : data.toString('utf8');
  const depth = jsonDepth(text, MAX_JSON_DEPTH);
  if (depth > MAX_JSON_DEPTH) throw new UserError(`${where}: JSON nested more than ${MAX_JSON_DEPTH} levels deep`, 'EINPUT');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UserError(`${where}: not valid JSON: ${(err as Error).message}`, 'EINPUT');
  }
}

/**
 * The deepest nesting of [ and { outside strings, in one linear pass; stops counting once past
 * `stopAbove`. Malformed text gets some number; JSON.parse then says what is wrong with it.
 */
export function jsonDepth(text: string, stopAbove = Infinity): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > stopAbove) return deepest;
      }
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return deepest;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
