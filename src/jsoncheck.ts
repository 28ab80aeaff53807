// A linear scan of untrusted JSON text for what JSON.parse accepts silently or dies on: duplicate
// keys (the last one wins, so two readers may see two documents) and nesting deep enough to overflow.
import { UserError } from './errors.js';
import { MAX_JSON_DEPTH } from './limits.js';

/**
 * The first reason `text` should not be trusted as JSON, or undefined: a duplicate key in one object
 * (named by its JSON pointer) or nesting deeper than `maxDepth`. Syntax errors are left to JSON.parse.
 */
export function jsonShapeProblem(text: string, maxDepth = MAX_JSON_DEPTH): string | undefined {
  // One frame per open container: the keys seen so far when it is an object, undefined for an array.
  const frames: { keys: Set<string> | undefined; path: string; index: number }[] = [];
  let lastString: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i++;
        else if (d === 0x22) break;
      }
      lastString = text.slice(start, i + 1);
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const top = frames[frames.length - 1];
      const path = top === undefined ? '' : `${top.path}/${top.keys ? pointerKey(lastString) : top.index}`;
      if (frames.length >= maxDepth) return `${path || '/'}: nested more than ${maxDepth} levels deep`;
      frames.push({ keys: c === 0x7b ? new Set() : undefined, path, index: 0 });
      lastString = undefined;
      continue;
    }
    if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      frames.pop();
      continue;
    }
    if (c === 0x2c /* , */) {
      const top = frames[frames.length - 1];
      if (top && !top.keys) top.index++;
      continue;
    }
    if (c === 0x3a /* : */) {
      const top = frames[frames.length - 1];
      if (top?.keys && lastString !== undefined) {
        const key = decodeKey(lastString);
        if (key !== undefined) {
          if (top.keys.has(key)) return `${top.path}/${escapePointer(key)}: the key appears twice in one object`;
          top.keys.add(key);
        }
      }
    }
  }
  return undefined;
}

function decodeKey(raw: string): string | undefined {
  try {
    return JSON.parse(raw) as string;
  } catch {
    return undefined;
  }
}

function pointerKey(raw: string | undefined): string {
  return escapePointer(raw === undefined ? '' : decodeKey(raw) ?? '');
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Parse untrusted JSON after the shape check: a UserError naming `where` instead of a RangeError. */
export function parseCheckedJson(data: Buffer, where: string): unknown {
  const text = data.toString('utf8');
  const shape = jsonShapeProblem(text);
  if (shape !== undefined) throw new UserError(`${where}: ${shape}`, 'EINPUT');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UserError(`${where}: not valid JSON: ${(err as Error).message}`, 'EINPUT');
  }
}
