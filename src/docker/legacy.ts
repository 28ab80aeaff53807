// The legacy (pre-25) docker-save layer ids and `<id>/json` files, derived byte for byte as
// containers/image's docker-archive writer derives them, so skopeo and oci-pack agree on every id.
import { sha256, digestHex, type Digest } from '../digest.js';

/**
 * The config fields the top layer's `json` copies, in containers/image's list (docker's V1Image
 * fields): a field the config lacks is written as null, as Go marshals a nil RawMessage.
 */
const TOP_LAYER_FIELDS = ['architecture', 'config', 'container', 'container_config', 'created', 'docker_version', 'os'] as const;

export interface LegacyLayer {
  /** 64 hex digits: the folder name `<id>/` and the value of `parent` in the next layer's json. */
  id: string;
  /** The bytes of `<id>/json`. */
  json: Buffer;
  diffId: Digest;
}

/** docker's layer.CreateChainID: the first diff_id, then sha256("<chain> <diff_id>") for each next one. */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const diffId of diffIds) {
    const previous = out[out.length - 1];
    out.push(previous === undefined ? diffId : sha256(`${previous} ${diffId}`));
  }
  return out;
}

/**
 * The legacy layers of an image, bottom first. Each id is the sha256 of the layer's json as it is
 * before its own id is added and with `layer_id` (the chain ID) in it; the json written has the id
 * and no layer_id. The top layer's json carries the image config's fields, so two images with the
 * same layers but different configs get different top ids. `config` is the config blob's bytes.
 */
export function legacyLayers(diffIds: readonly Digest[], config: Buffer): LegacyLayer[] {
  const chains = chainIds(diffIds);
  const out: LegacyLayer[] = [];
  let parent: string | undefined;
  diffIds.forEach((diffId, i) => {
    const fields = new Map<string, Buffer>();
    if (parent !== undefined) fields.set('parent', goString(parent));
    if (i === diffIds.length - 1) {
      const raw = topLevelFields(config);
      for (const name of TOP_LAYER_FIELDS) fields.set(name, goCompact(raw.get(name) ?? Buffer.from('null')));
    }
    const id = digestHex(sha256(goObject(new Map([...fields, ['layer_id', goString(chains[i]!)]]))));
    fields.set('id', goString(id));
    out.push({ id, json: goObject(fields), diffId });
    parent = id;
  });
  return out;
}

/** A Go map[string]any marshalled by encoding/json: keys in byte order, values as given. */
function goObject(fields: ReadonlyMap<string, Buffer>): Buffer {
  const keys = [...fields.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const parts: Buffer[] = [Buffer.from('{')];
  keys.forEach((key, i) => {
    if (i > 0) parts.push(Buffer.from(','));
    parts.push(goString(key), Buffer.from(':'), fields.get(key)!);
  });
  parts.push(Buffer.from('}'));
  return Buffer.concat(parts);
}

/** A string as encoding/json writes one (HTML-escaped); ids and digests are plain ASCII. */
function goString(text: string): Buffer {
  return goCompact(Buffer.from(JSON.stringify(text), 'utf8'));
}

/**
 * What encoding/json does to a json.RawMessage it marshals: whitespace outside strings removed,
 * and <, >, &, U+2028 and U+2029 written as \u escapes. Works on bytes: the config is kept as is.
 */
export function goCompact(raw: Buffer): Buffer {
  const out: number[] = [];
  let inString = false;
  const escape = (code: string) => {
    for (const c of Buffer.from(`\\u${code}`, 'latin1')) out.push(c);
  };
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === 0x3c) escape('003c');
    else if (c === 0x3e) escape('003e');
    else if (c === 0x26) escape('0026');
    else if (c === 0xe2 && raw[i + 1] === 0x80 && (raw[i + 2] === 0xa8 || raw[i + 2] === 0xa9)) {
      escape(raw[i + 2] === 0xa8 ? '2028' : '2029');
      i += 2;
    } else if (inString) {
      out.push(c);
      if (c === 0x5c) out.push(raw[++i]!); // the escaped character, whatever it is
      else if (c === 0x22) inString = false;
    } else if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) {
      out.push(c);
      if (c === 0x22) inString = true;
    }
  }
  return Buffer.from(out);
}

/**
 * The raw bytes of each top-level field of a JSON object (as Go's json.Unmarshal into
 * map[string]*json.RawMessage keeps them; a repeated key keeps its last value). The document must
 * already be known to be valid JSON.
 */
export function topLevelFields(doc: Buffer): Map<string, Buffer> {
  const fields = new Map<string, Buffer>();
  let i = skipSpace(doc, 0);
  if (doc[i] !== 0x7b) throw new Error('topLevelFields: not a JSON object');
  i = skipSpace(doc, i + 1);
  while (i < doc.length && doc[i] !== 0x7d) {
    const keyEnd = skipValue(doc, i);
    const key = JSON.parse(doc.toString('utf8', i, keyEnd)) as string;
    i = skipSpace(doc, keyEnd);
    i = skipSpace(doc, i + 1); // the ':'
    const valueEnd = skipValue(doc, i);
    fields.set(key, doc.subarray(i, valueEnd));
    i = skipSpace(doc, valueEnd);
    if (doc[i] === 0x2c) i = skipSpace(doc, i + 1);
  }
  return fields;
}

function skipSpace(doc: Buffer, i: number): number {
  while (i < doc.length && (doc[i] === 0x20 || doc[i] === 0x09 || doc[i] === 0x0a || doc[i] === 0x0d)) i++;
  return i;
}

/** The index just past the JSON value that starts at i. */
function skipValue(doc: Buffer, i: number): number {
  const c = doc[i];
  if (c === 0x22) return skipString(doc, i);
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    while (i < doc.length) {
      const d = doc[i]!;
      if (d === 0x22) {
        i = skipString(doc, i);
        continue;
      }
      if (d === 0x7b || d === 0x5b) depth++;
      else if (d === 0x7d || d === 0x5d) {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return i;
  }
  while (i < doc.length && ![0x2c, 0x7d, 0x5d, 0x20, 0x09, 0x0a, 0x0d].includes(doc[i]!)) i++;
  return i;
}

function skipString(doc: Buffer, i: number): number {
  for (i++; i < doc.length; i++) {
    if (doc[i] === 0x5c) i++;
    else if (doc[i] === 0x22) return i + 1;
  }
  return i;
}
